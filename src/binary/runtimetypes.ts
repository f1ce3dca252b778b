// Runtime type descriptors → Go types. An interface value holds the address
// of its dynamic type's descriptor (runtime._type), which only says what
// the value is once mapped to a name and layout: Go's DWARF gives every
// type that has a descriptor a DW_AT_go_runtime_type attribute with its
// address. The BPF side gets a small table from this (what to copy behind
// the data word, which string headers in it to follow) because it cannot
// know the dynamic type when the program is generated; the decoder gets
// names and layouts.

import { AT, TAG } from './dwarf/constants.js';
import { DwarfInfo } from './dwarf/info.js';
import { DwarfSections } from './dwarf/sections.js';
import type { ElfFile } from './elf/file.js';
import { parseGoVersion, readGoVersion } from './elf/buildinfo.js';
import { readTypeDescriptors, type StaticItab } from './elf/typedescriptors.js';
import { TypeBuilder } from './dwarf/types.js';
import { sizeOf, type GoType } from '../core/index.js';

/** DW_AT_go_runtime_type: the address of the type's runtime._type descriptor. */
const AT_GO_RUNTIME_TYPE = 0x2904;

/**
 * Strings behind one interface's data word that BPF follows (errorString.s,
 * wrapError.msg, a struct's first four string fields). Each costs every
 * interface value a --string-size slot; measured with -p net/http --returns
 * (273 functions) on Go 1.27, 4 instead of 2 loads in 38 s instead of 34.5 s.
 */
export const IFACE_STRINGS = 4;

export interface RuntimeType {
  /** Link-time address of the descriptor (what a non-PIE process holds). */
  address: number;
  /** Go's name for the type: `*errors.errorString`, `main.Account`, `int`. */
  name: string;
  type: GoType;
}

/** Descriptor addresses → types, for one binary. */
export interface RuntimeTypes {
  lookup(address: number): RuntimeType | undefined;
  /** Every known type, sorted by address. */
  list(): RuntimeType[];
  /** The concrete type's descriptor address of a compile-time itab (link-time addresses), if known. */
  itabType?(itab: number): number | undefined;
  /** The compile-time itabs whose concrete type is at `type`. */
  itabsOf?(type: number): number[];
  /** The table it was made from, when it was made from one (the spec cache keeps it: src/speccache.ts). */
  table?(): RuntimeTable;
}

/** A table from a plain list (tests, and binaries whose types were read another way). */
export function runtimeTypesFromList(types: RuntimeType[], itabs: StaticItab[] = []): RuntimeTypes {
  const sorted = [...types].sort((a, b) => a.address - b.address);
  const byAddress = new Map(sorted.map((t) => [t.address, t]));
  const itabType = new Map(itabs.map((i) => [i.address, i.type]));
  const itabsOf = new Map<number, number[]>();
  for (const i of itabs) itabsOf.set(i.type, [...(itabsOf.get(i.type) ?? []), i.address]);
  return {
    lookup: (a) => byAddress.get(a),
    list: () => sorted,
    itabType: (a) => itabType.get(a),
    itabsOf: (t) => itabsOf.get(t) ?? [],
    table: () => ({ types: sorted, itabs }),
  };
}

const TYPE_TAGS = new Set<number>([
  TAG.base_type, TAG.pointer_type, TAG.structure_type, TAG.typedef, TAG.array_type, TAG.subroutine_type,
]);

/**
 * The binary's runtime types from DWARF; null when it has no DWARF or the
 * DWARF cannot be read (interfaces then show their type by address).
 */
export function readRuntimeTypes(elf: ElfFile): RuntimeTypes | null {
  try {
    const base = typesSectionAddress(elf);
    if (base === undefined) return null;
    const dw = new DwarfInfo(new DwarfSections(elf));
    const builder = new TypeBuilder(dw);
    const types: RuntimeType[] = [];
    const seen = new Set<number>();
    for (const unit of dw.units()) {
      for (const die of dw.childrenWithTag(dw.root(unit), TYPE_TAGS)) {
        const offset = dw.addr(die, AT_GO_RUNTIME_TYPE);
        if (offset === undefined) continue;
        const address = base + offset;
        if (seen.has(address)) continue;
        const name = dw.str(die, AT.name);
        if (!name) continue;
        seen.add(address);
        // Named structs appear as a struct and a typedef of it; both carry the same address.
        types.push({ address, name, type: builder.typeAt(die.offset) });
      }
    }
    return types.length ? runtimeTypesFromList(types) : null;
  } catch {
    return null;
  }
}

function goMinorOf(elf: ElfFile): number | null {
  return parseGoVersion(readGoVersion(elf))?.minor ?? null;
}

/**
 * The linker writes DW_AT_go_runtime_type as an offset into the section
 * holding the type descriptors (.rodata, .data.rel.ro in PIE builds,
 * .go.type from Go 1.26), whose first symbol is runtime.types.
 */
function typesSectionAddress(elf: ElfFile): number | undefined {
  const sym = elf.symbols().find((s) => s.name === 'runtime.types');
  if (sym) {
    const section = elf.sections.find((s) => s.size > 0 && sym.value >= s.addr && sym.value < s.addr + s.size);
    if (section) return section.addr;
  }
  return (elf.section('.go.type') ?? (elf.isPie ? elf.section('.data.rel.ro') : undefined) ?? elf.section('.rodata'))?.addr;
}

/**
 * Whether Go stores a value of type t directly in an interface's data word
 * (pointer-shaped types) rather than a pointer to a copy of it.
 */
export function isDirectIface(t: GoType): boolean {
  switch (t.kind) {
    case 'pointer': case 'map': case 'chan': case 'func':
      return true;
    case 'struct': {
      const sized = t.fields.filter((f) => sizeOf(f.type) > 0);
      return sized.length === 1 && t.fields.length >= 1 && sizeOf(t) === 8 && isDirectIface(sized[0]!.type);
    }
    case 'array':
      return t.len === 1 && isDirectIface(t.elem);
    default:
      return false;
  }
}

/** What BPF does behind an interface of one dynamic type. */
export interface IfaceRecipe {
  /** Bytes to copy from the data word's address (0: nothing). */
  size: number;
  /** Offsets, inside those bytes, of string headers whose bytes to copy too (at most IFACE_STRINGS). */
  strings: number[];
}

/**
 * For a direct pointer the bytes are the pointee's; for an indirect value
 * they are the value's own. Both are cut at `blockCapacity`.
 */
export function ifaceRecipe(t: GoType, blockCapacity: number): IfaceRecipe {
  let shown: GoType | null = t;
  if (isDirectIface(t)) shown = t.kind === 'pointer' && t.elem && t.elem.kind !== 'opaque' ? t.elem : null;
  if (!shown) return { size: 0, strings: [] };
  const size = Math.min(sizeOf(shown), blockCapacity);
  const strings: number[] = [];
  collectStrings(shown, 0, size, strings);
  return { size, strings };
}

function collectStrings(t: GoType, at: number, limit: number, out: number[]): void {
  if (out.length >= IFACE_STRINGS || at >= limit) return;
  switch (t.kind) {
    case 'string':
      if (at + 16 <= limit) out.push(at);
      return;
    case 'struct':
      for (const f of t.fields) collectStrings(f.type, at + f.offset, limit, out);
      return;
    case 'array': {
      const size = sizeOf(t.elem);
      for (let i = 0; i < t.len && size > 0 && at + i * size < limit && out.length < IFACE_STRINGS; i++) {
        collectStrings(t.elem, at + i * size, limit, out);
      }
      return;
    }
    default:
      return;
  }
}

/** Tables already read, per opened binary: entry and return plans of one trace share one. */
const readTables = new WeakMap<ElfFile, RuntimeTypes | null>();

/** What a runtime-type table is made of: plain data, so it can be kept between runs. */
export interface RuntimeTable {
  types: RuntimeType[];
  itabs: StaticItab[];
}

/** Somewhere tables are kept between runs (src/binary/probecache.ts): gives the kept one, or computes and keeps it. */
export interface RuntimeTableStore {
  runtimeTable(compute: () => RuntimeTable): RuntimeTable;
}

/**
 * A provider that reads the binary's runtime types on first use only (most
 * traces have no interface). Every provider of one ElfFile shares the table,
 * and `store`, when given, keeps it between runs (reading it costs ~150 ms
 * for a 7 MB program).
 */
export function lazyRuntimeTypes(elf: ElfFile, hasDwarf: boolean, store?: RuntimeTableStore): () => RuntimeTypes | null {
  return () => {
    let table = readTables.get(elf);
    if (table === undefined) {
      const compute = () => readRuntimeTable(elf, hasDwarf);
      const { types, itabs } = store ? store.runtimeTable(compute) : compute();
      table = types.length ? runtimeTypesFromList(types, itabs) : null;
      readTables.set(elf, table);
    }
    return table;
  };
}

/**
 * Every runtime type the binary describes. DWARF names types by import path
 * (`github.com/acme/shop/cart.Item`); the type descriptors in the binary
 * name them as the runtime does (`cart.Item`), and also describe what DWARF
 * leaves out (*flag.stringValue, func types) or a stripped binary lacks:
 * DWARF's entries win, the descriptors fill in the rest and give the
 * compile-time itabs.
 */
export function readRuntimeTable(elf: ElfFile, hasDwarf: boolean): RuntimeTable {
  const dwarf = hasDwarf ? readRuntimeTypes(elf) : null;
  const described = describedTypes(elf);
  const known = new Set(dwarf?.list().map((t) => t.address));
  const types = [...(dwarf?.list() ?? []), ...(described?.types ?? []).filter((t) => !known.has(t.address))];
  return { types: [...types].sort((a, b) => a.address - b.address), itabs: described?.itabs ?? [] };
}

/** The table from the type descriptors in the binary alone; null when they cannot be found. */
export function readDescriptorTypes(elf: ElfFile): RuntimeTypes | null {
  const found = describedTypes(elf);
  return found && found.types.length ? runtimeTypesFromList(found.types, found.itabs) : null;
}

function describedTypes(elf: ElfFile): { types: RuntimeType[]; itabs: StaticItab[] } | null {
  try {
    return readTypeDescriptors(elf, goMinorOf(elf));
  } catch {
    return null;
  }
}
