// Function names and entry points from Go's .gopclntab, the table the
// runtime itself uses for tracebacks; it survives `-ldflags=-s -w`. Layouts
// by header magic (see /work/shared/go-binary-facts.md):
//   0xfffffffb  Go 1.2–1.15   uintptr {entry, funcoff} pairs after nfunc; names relative to the table
//   0xfffffffa  Go 1.16–1.17  header offsets; uintptr pairs; names relative to funcnametab
//   0xfffffff0  Go 1.18–1.19  header offsets; u32 {entryoff, funcoff} pairs relative to the text start
//   0xfffffff1  Go 1.20+      as 1.18; from Go 1.26 the header's text start is 0

import { InputError, type FunctionSymbol } from '../../core/index.js';
import { PF_W, PF_X, PT_LOAD, type ElfFile } from './file.js';

export const PCLNTAB_GO12 = 0xfffffffb;
export const PCLNTAB_GO116 = 0xfffffffa;
export const PCLNTAB_GO118 = 0xfffffff0;
export const PCLNTAB_GO120 = 0xfffffff1;
const MAGICS = [PCLNTAB_GO12, PCLNTAB_GO116, PCLNTAB_GO118, PCLNTAB_GO120];

/** Section names: `.gopclntab`, or in PIE builds the relocatable-read-only copy. */
export const PCLNTAB_SECTIONS = ['.gopclntab', '.data.rel.ro.gopclntab'];

export interface Pclntab {
  magic: number;
  /** Virtual address of the table (for messages); data is the table itself. */
  addr: number;
  data: Buffer;
  /** Text start the 1.18+ entry offsets are relative to; 0 for older layouts. */
  textStart: number;
}

export interface PclnFunction {
  name: string;
  entry: number;
  /** Distance to the next entry (or to the end of text for the last one). */
  size: number;
  /** `_func.funcID`: 0 for ordinary functions; runtime specials and wrappers otherwise (Go 1.16+; else 0). */
  funcID: number;
  /** `_func.flag` (Go 1.17+; else 0); bit 2 (FUNCFLAG_ASM) marks assembly. */
  flag: number;
  /**
   * `_func.args`: bytes of the argument frame the compiler reserved, the
   * function's arguments and results on the stack plus the spill slots of
   * register arguments (see src/spec/abi/index.ts argumentFrameSize); negative
   * (ArgsSizeUnknown) for some assembly functions.
   */
  args: number;
  /** Offset of the function's `_func` record in the table (src/binary/elf/pcline.ts reads its line tables from it). */
  funcOffset: number;
}

export const FUNCFLAG_ASM = 0x4;

/** All functions listed in .gopclntab, in address order, with file offsets. */
export function readPclntab(elf: ElfFile): FunctionSymbol[] {
  const table = findPclntab(elf);
  if (!table) {
    throw new InputError(`${elf.path} has no .gopclntab function table`);
  }
  return parsePclntab(table, elf.path).map((f) => ({
    name: f.name,
    address: f.entry,
    size: f.size,
    fileOffset: elf.vaddrToFileOffset(f.entry),
  }));
}

/**
 * The table from its section; else (external linkers merge it into
 * .data.rel.ro in PIE builds) from the runtime.pclntab symbol; else found
 * by its header in a read-only or relro segment.
 */
export function findPclntab(elf: ElfFile): Pclntab | undefined {
  for (const name of PCLNTAB_SECTIONS) {
    const sec = elf.section(name);
    if (sec && sec.data.length >= 16) return tableAt(elf, sec.addr, sec.data);
  }
  const symbols = elf.symbols();
  const start = symbols.find((s) => s.name === 'runtime.pclntab');
  const end = symbols.find((s) => s.name === 'runtime.epclntab');
  if (start && end && end.value - start.value >= 16) {
    try {
      return tableAt(elf, start.value, elf.readVirtual(start.value, end.value - start.value));
    } catch {
      // Symbols that point nowhere: search instead.
    }
  }
  return searchSegments(elf);
}

function tableAt(elf: ElfFile, addr: number, data: Buffer): Pclntab {
  const magic = data.readUInt32LE(0);
  return { magic, addr, data, textStart: textStartFor(elf, data, magic, addr) };
}

/**
 * The address 1.18+ entry offsets are relative to: where runtime.text is.
 * Go's own tools take the `.text` section address, but with external linking
 * (cgo) `.text` starts with C runtime code and runtime.text comes later, and
 * from Go 1.26 the header field is 0. So, in order: the runtime.text symbol;
 * the header field; the `text` field of runtime.firstmoduledata, found by
 * its first two words (pointers to this table and to its name table); the
 * `.text` section; one page into the executable segment that starts with
 * the ELF headers (where Go's internal linker puts it).
 */
function textStartFor(elf: ElfFile, data: Buffer, magic: number, addr: number): number {
  if (magic !== PCLNTAB_GO118 && magic !== PCLNTAB_GO120) return 0;
  const symbol = elf.symbols().find((s) => s.name === 'runtime.text');
  if (symbol) return symbol.value;
  const fromHeader = readWord(data, 8 + 2 * 8);
  if (fromHeader !== 0) return fromHeader;
  const fromModuledata = moduledataText(elf, addr, addr + readWord(data, 8 + 3 * 8));
  if (fromModuledata !== undefined) return fromModuledata;
  const text = elf.section('.text');
  if (text) return text.addr;
  const exec = elf.segments.find((s) => s.type === PT_LOAD && (s.flags & PF_X) !== 0);
  return exec ? exec.vaddr + (exec.offset === 0 ? 0x1000 : 0) : 0;
}

/** Word index of `text` in runtime.moduledata (Go 1.18 through 1.27). */
const MODULEDATA_TEXT_WORD = 22;

function moduledataText(elf: ElfFile, pclntabAddr: number, funcnametabAddr: number): number | undefined {
  const signature = Buffer.alloc(16);
  signature.writeBigUInt64LE(BigInt(pclntabAddr), 0);
  signature.writeBigUInt64LE(BigInt(funcnametabAddr), 8);
  for (const seg of elf.segments) {
    if (seg.type !== PT_LOAD || (seg.flags & PF_W) === 0 || (seg.flags & PF_X) !== 0) continue;
    const data = elf.readVirtual(seg.vaddr, seg.filesz);
    for (let off = data.indexOf(signature); off >= 0; off = data.indexOf(signature, off + 1)) {
      const at = off + MODULEDATA_TEXT_WORD * 8;
      if (off % 8 !== 0 || at + 8 > data.length) continue;
      const text = readWord(data, at);
      const exec = elf.segments.some((s) => s.type === PT_LOAD && (s.flags & PF_X) !== 0 && text >= s.vaddr && text < s.vaddr + s.filesz);
      if (exec) return text;
    }
  }
  return undefined;
}

function searchSegments(elf: ElfFile): Pclntab | undefined {
  // Magic, two zero bytes, x86 instruction quantum 1, 8-byte pointers.
  const patterns = MAGICS.map((m) => {
    const p = Buffer.from([0, 0, 0, 0, 0, 0, 1, 8]);
    p.writeUInt32LE(m, 0);
    return p;
  });
  for (const seg of elf.segments) {
    if (seg.type !== PT_LOAD || (seg.flags & PF_X) !== 0 || seg.filesz < 16) continue;
    const data = elf.readVirtual(seg.vaddr, seg.filesz);
    for (const pattern of patterns) {
      for (let off = data.indexOf(pattern); off >= 0; off = data.indexOf(pattern, off + 1)) {
        if (off % 8 !== 0) continue;
        const table = tableAt(elf, seg.vaddr + off, data.subarray(off));
        try {
          if (parsePclntab(table, elf.path).length > 0) return table;
        } catch {
          // A chance match of the header bytes; keep looking.
        }
      }
    }
  }
  return undefined;
}

function readWord(data: Buffer, off: number): number {
  return data.readUInt32LE(off) + data.readUInt32LE(off + 4) * 0x1_0000_0000;
}

/** Decodes the function list; throws InputError on any out-of-range offset. */
export function parsePclntab(table: Pclntab, path: string): PclnFunction[] {
  const { data } = table;
  const corrupt = (why: string) => new InputError(`${path} has a corrupt .gopclntab: ${why}`);
  if (data.length < 16) throw corrupt(`it is only ${data.length} bytes long`);
  const magic = data.readUInt32LE(0);
  if (!MAGICS.includes(magic)) {
    throw corrupt(`unknown header magic 0x${magic.toString(16)}`);
  }
  if (data[4] !== 0 || data[5] !== 0 || data[7] !== 8) {
    throw corrupt('the header is not that of a 64-bit program');
  }
  const word = (off: number) => {
    if (off < 0 || off + 8 > data.length) throw corrupt(`offset ${off} is past the end of the table`);
    return readWord(data, off);
  };
  const u32 = (off: number) => {
    if (off < 0 || off + 4 > data.length) throw corrupt(`offset ${off} is past the end of the table`);
    return data.readUInt32LE(off);
  };
  const i32 = (off: number) => u32(off) | 0;
  const cstring = (off: number) => {
    if (off < 0 || off >= data.length) throw corrupt(`a function name offset ${off} is past the end of the table`);
    const end = data.indexOf(0, off);
    if (end < 0) throw corrupt('a function name is not terminated');
    return data.toString('utf8', off, end);
  };

  const nfunc = word(8);
  if (nfunc * 8 > data.length) throw corrupt(`it claims ${nfunc} functions, more than fit in ${data.length} bytes`);

  // Per layout: where the pairs start, how wide they are, how an entry and a
  // name are found from a pair.
  let pairAt: (i: number) => { entry: number; funcAt: number };
  let nameBase: number;
  if (magic === PCLNTAB_GO12) {
    const ftab = 16;
    pairAt = (i) => ({ entry: word(ftab + i * 16), funcAt: word(ftab + i * 16 + 8) });
    nameBase = 0;
  } else if (magic === PCLNTAB_GO116) {
    const funcnameOffset = word(8 + 2 * 8);
    const pcln = word(8 + 6 * 8);
    pairAt = (i) => ({ entry: word(pcln + i * 16), funcAt: pcln + word(pcln + i * 16 + 8) });
    nameBase = funcnameOffset;
  } else {
    const funcnameOffset = word(8 + 3 * 8);
    const pcln = word(8 + 7 * 8);
    const text = table.textStart;
    pairAt = (i) => ({ entry: text + u32(pcln + i * 8), funcAt: pcln + u32(pcln + i * 8 + 4) });
    nameBase = funcnameOffset;
  }
  const wide = magic === PCLNTAB_GO12 || magic === PCLNTAB_GO116;
  // Where _func.funcID is; the flag byte follows it.
  const funcIDAt = magic === PCLNTAB_GO12 ? -1 : magic === PCLNTAB_GO118 ? 36 : 40;

  const out: PclnFunction[] = [];
  let next = pairAt(0);
  for (let i = 0; i < nfunc; i++) {
    const cur = next;
    // The pair after the last function holds only the end of text.
    next = i + 1 < nfunc ? pairAt(i + 1) : { entry: endOfText(i + 1), funcAt: 0 };
    // The _func record repeats the entry: a cheap check that the layout is right.
    const funcEntry = wide ? word(cur.funcAt) : table.textStart + u32(cur.funcAt);
    if (funcEntry !== cur.entry) {
      throw corrupt(`function ${i} has entry 0x${cur.entry.toString(16)} in the index but 0x${funcEntry.toString(16)} in its record`);
    }
    const name = cstring(nameBase + i32(cur.funcAt + (wide ? 8 : 4)));
    const funcID = funcIDAt < 0 ? 0 : u32(cur.funcAt + funcIDAt) & 0xff;
    const flag = funcIDAt < 0 ? 0 : (u32(cur.funcAt + funcIDAt) >> 8) & 0xff;
    // `args` follows the entry and the name offset in every layout.
    const args = i32(cur.funcAt + (wide ? 12 : 8));
    out.push({ name, entry: cur.entry, size: Math.max(0, next.entry - cur.entry), funcID, flag, args, funcOffset: cur.funcAt });
  }
  return out;

  function endOfText(i: number): number {
    if (magic === PCLNTAB_GO12) return word(16 + i * 16);
    if (magic === PCLNTAB_GO116) return word(word(8 + 6 * 8) + i * 16);
    return table.textStart + u32(word(8 + 7 * 8) + i * 8);
  }
}
