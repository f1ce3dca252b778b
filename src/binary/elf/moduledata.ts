// Where a Go binary keeps its runtime type descriptors, found without
// DWARF or .symtab: runtime.firstmoduledata, the linker-filled record the
// runtime itself reads, holds the bounds of the types section and the
// typelinks / itablinks tables. It is found by its first word, which
// points at the pclntab (the pcHeader from Go 1.16, the pclntable slice
// before), a table every Go binary has even when stripped.
//
// Field positions (words of 8 bytes), from runtime/symtab.go of each release:
//   1.2–1.15   pclntable[3] ftab[3] filetab[3] findfunctab minpc maxpc text(12) … types(25) etypes textsectmap[3] typelinks(30)[3] itablinks(33)[3]
//   1.16–1.17  pcHeader funcnametab[3] cutab[3] filetab[3] pctab[3] pclntable[3] ftab[3] findfunctab minpc maxpc text(22) … types(35) etypes textsectmap[3] typelinks(40) itablinks(43)
//   1.18–1.19  as 1.16, then rodata gofunc after etypes: typelinks(42) itablinks(45)
//   1.20–1.25  covctrs ecovctrs before end: types(37) etypes(38) rodata gofunc textsectmap[3] typelinks(44) itablinks(47)
//   1.27       types(37) typedesclen etypes itaboffset itabsize: no typelinks; descriptors and itabs lie one after another
// Checked against the sources of 1.15, 1.19, 1.22, 1.24 and 1.27 and their builds;
// the others from published copies of the struct (covctrs from 1.20, rodata
// and gofunc from 1.18). Which of 1.26/1.27 changed to typedesclen is not
// known here: every layout is tried, the release's first, and the one whose
// fields make sense is kept.

import { PF_W, PF_X, PT_LOAD, type ElfFile } from './file.js';
import { findPclntab } from './pclntab.js';

export interface TypesSection {
  /** moduledata.types: name and type offsets are relative to it. */
  base: number;
  /** moduledata.etypes. */
  end: number;
  /** Descriptor addresses listed by moduledata.typelinks (Go ≤1.26; empty from 1.27). */
  typelinks: number[];
  /** Addresses of the itabs listed by moduledata.itablinks (Go ≤1.26). */
  itabs: number[];
  /** Go 1.27+: the descriptors lie one after another in [base + 8, base + typedescLength). */
  typedescLength?: number;
  /** Go 1.27+: the itabs lie one after another in [base + itabOffset, + itabSize). */
  itabRange?: { offset: number; size: number };
}

interface Layout {
  name: string;
  text: number;
  types: number;
  etypes: number;
  typelinks?: number;
  itablinks?: number;
  /** Go 1.27: typedesclen after types, then etypes, itaboffset, itabsize. */
  typedesc?: boolean;
}

const LAYOUTS: Layout[] = [
  { name: '1.27', text: 22, types: 37, etypes: 39, typedesc: true },
  { name: '1.20', text: 22, types: 37, etypes: 38, typelinks: 44, itablinks: 47 },
  { name: '1.18', text: 22, types: 35, etypes: 36, typelinks: 42, itablinks: 45 },
  { name: '1.16', text: 22, types: 35, etypes: 36, typelinks: 40, itablinks: 43 },
  { name: '1.15', text: 12, types: 25, etypes: 26, typelinks: 30, itablinks: 33 },
];

/** Layouts to try for a release, the expected one first. */
function layoutsFor(goMinor: number | null): Layout[] {
  const expected = goMinor === null ? undefined : goMinor >= 27 ? '1.27' : goMinor >= 20 ? '1.20' : goMinor >= 18 ? '1.18' : goMinor >= 16 ? '1.16' : '1.15';
  return [...LAYOUTS.filter((l) => l.name === expected), ...LAYOUTS.filter((l) => l.name !== expected)];
}

/** Words of moduledata read: enough for every field above. */
const MODULEDATA_WORDS = 50;
/** More typelinks or itabs than any program has: a bigger length is not a length. */
const MAX_LINKS = 1 << 20;

/**
 * The types section of `elf` from its moduledata; null when no moduledata
 * is found (not a Go binary the runtime could start, or an unknown layout).
 */
export function findTypesSection(elf: ElfFile, goMinor: number | null): TypesSection | null {
  for (const words of moduledataCandidates(elf)) {
    for (const layout of layoutsFor(goMinor)) {
      const found = readLayout(elf, words, layout);
      if (found) return found;
    }
  }
  return null;
}

/** moduledata's words: at runtime.firstmoduledata, or wherever a writable segment holds a word pointing at the pclntab. */
function* moduledataCandidates(elf: ElfFile): Generator<number[]> {
  const symbol = elf.symbols().find((s) => s.name === 'runtime.firstmoduledata');
  if (symbol) {
    const words = wordsAt(elf, symbol.value, MODULEDATA_WORDS);
    if (words) yield words;
  }
  const pclntab = findPclntab(elf);
  if (!pclntab || pclntab.addr === 0) return;
  const needle = Buffer.alloc(8);
  needle.writeBigUInt64LE(BigInt(pclntab.addr));
  for (const seg of elf.segments) {
    if (seg.type !== PT_LOAD || (seg.flags & PF_W) === 0 || (seg.flags & PF_X) !== 0) continue;
    const data = elf.readVirtual(seg.vaddr, seg.filesz);
    for (let off = data.indexOf(needle); off >= 0; off = data.indexOf(needle, off + 1)) {
      if (off % 8 !== 0) continue;
      const words = wordsAt(elf, seg.vaddr + off, MODULEDATA_WORDS);
      if (words) yield words;
    }
  }
}

function readLayout(elf: ElfFile, w: number[], layout: Layout): TypesSection | null {
  const base = w[layout.types]!;
  const end = w[layout.etypes]!;
  const [text, etext] = [w[layout.text]!, w[layout.text + 1]!];
  if (!inExecutable(elf, text) || !(text < etext) || !inExecutable(elf, etext - 1)) return null;
  if (!(base < end) || !loaded(elf, base, end - base)) return null;
  if (layout.typedesc) {
    const typedescLength = w[layout.types + 1]!;
    const itabRange = { offset: w[layout.etypes + 1]!, size: w[layout.etypes + 2]! };
    if (typedescLength === 0 || typedescLength > end - base) return null;
    if (itabRange.offset < typedescLength || itabRange.offset + itabRange.size > end - base) return null;
    return { base, end, typelinks: [], itabs: [], typedescLength, itabRange };
  }
  const typelinks = sliceAt(elf, w, layout.typelinks!, 4);
  const itabs = sliceAt(elf, w, layout.itablinks!, 8);
  if (!typelinks || !itabs) return null;
  const typeAddresses: number[] = [];
  for (let i = 0; i < typelinks.length; i += 4) typeAddresses.push(base + typelinks.readInt32LE(i));
  if (typeAddresses.some((a) => a < base || a >= end)) return null;
  const itabAddresses: number[] = [];
  for (let i = 0; i < itabs.length; i += 8) itabAddresses.push(readWord(itabs, i));
  return { base, end, typelinks: typeAddresses, itabs: itabAddresses };
}

/** The bytes of the slice header at word `at` ({ptr, len, cap}), `elemSize` bytes an element; null when it is not one. */
function sliceAt(elf: ElfFile, w: number[], at: number, elemSize: number): Buffer | null {
  const [ptr, len, cap] = [w[at]!, w[at + 1]!, w[at + 2]!];
  if (len !== cap || len > MAX_LINKS) return null;
  if (len === 0) return Buffer.alloc(0);
  try {
    return elf.readVirtual(ptr, len * elemSize);
  } catch {
    return null;
  }
}

function wordsAt(elf: ElfFile, address: number, count: number): number[] | null {
  let data: Buffer;
  try {
    data = elf.readVirtual(address, count * 8);
  } catch {
    return null;
  }
  return Array.from({ length: count }, (_, i) => readWord(data, i * 8));
}

function loaded(elf: ElfFile, address: number, length: number): boolean {
  return elf.segments.some((s) => s.type === PT_LOAD && address >= s.vaddr && address + length <= s.vaddr + s.filesz);
}

export function inExecutable(elf: ElfFile, address: number): boolean {
  return elf.segments.some((s) => s.type === PT_LOAD && (s.flags & PF_X) !== 0 && address >= s.vaddr && address < s.vaddr + s.filesz);
}

export function readWord(data: Buffer, off: number): number {
  return data.readUInt32LE(off) + data.readUInt32LE(off + 4) * 0x1_0000_0000;
}
