// Go's runtime type descriptors (runtime._type, abi.Type from Go 1.21) read
// straight from the ELF file, for binaries without DWARF: an interface holds
// the address of its dynamic type's descriptor, and the descriptor says the
// type's name, kind and size, and for composite kinds where its elements
// or fields are. Every descriptor lies in the types section
// (moduledata.types … etypes) whether or not the binary is stripped.
//
// Which descriptors: those moduledata.typelinks and the itabs of
// moduledata.itablinks lead to, with their element and field types, then
// every other 8-aligned place in the section that holds a well-formed
// descriptor (named types such as main.Pair or *errors.errorString are not
// typelinks, which list only unnamed composite types). A place that only
// looks like a descriptor costs a table entry and nothing else: an
// interface's type word always points at a real one.
//
// Layout (amd64, every release from 1.15 to 1.27):
//   0 Size_ · 8 PtrBytes · 16 Hash u32 · 20 TFlag · 21 Align_ · 22 FieldAlign_ · 23 Kind_
//   24 Equal · 32 GCData · 40 Str (name offset from types) · 44 PtrToThis, then by kind at 48:
//   pointer/slice/chan: Elem · array: Elem, Slice, Len · map: Key, Elem ·
//   struct: PkgPath, Fields{ptr,len,cap} of {Name *byte, Typ, Offset} (offset<<1|embedded before 1.19) ·
//   interface: PkgPath, Methods{ptr,len,cap}
// A name is a flags byte then its length, a varint from Go 1.17 (2 bytes,
// big-endian, before), then the bytes. TFlagExtraStar: drop a leading '*'.

import type { GoType, StructField } from '../../core/index.js';
import type { ElfFile } from './file.js';
import { findTypesSection, readWord, type TypesSection } from './moduledata.js';

export interface DescribedType {
  /** Link-time address of the descriptor. */
  address: number;
  name: string;
  type: GoType;
}

/** A compile-time itab: which dynamic type a non-empty interface holding it has. */
export interface StaticItab {
  /** Link-time address of the itab. */
  address: number;
  /** Link-time address of its concrete type's descriptor (itab word 1). */
  type: number;
}

export interface TypeDescriptors {
  types: DescribedType[];
  itabs: StaticItab[];
  section: TypesSection;
  /** Descriptors the typelinks and itabs lead to (with their elements and fields). */
  reachable: number;
}

const HEADER = 48;
const TFLAG_UNCOMMON = 1;
const TFLAG_EXTRA_STAR = 2;
/** Kind_ carried flags above the kind before Go 1.26 (direct iface, GC program). */
const KIND_MASK = 0x1f;
/** Types nest no deeper than this in real programs; deeper ones become opaque. */
const MAX_DEPTH = 64;
const MAX_NAME = 4096;
const MAX_FIELDS = 1 << 16;

const KINDS: (GoType['kind'] | 'unsafe')[] = [
  'opaque', 'bool', 'int', 'int8', 'int16', 'int32', 'int64', 'uint', 'uint8', 'uint16', 'uint32', 'uint64', 'uintptr',
  'float32', 'float64', 'complex64', 'complex128', 'array', 'chan', 'func', 'interface', 'map', 'pointer', 'slice',
  'string', 'struct', 'unsafe',
];

/** The size every value of a kind has; composites (array, struct) vary. */
const FIXED_SIZE: Partial<Record<string, number>> = {
  bool: 1, int: 8, int8: 1, int16: 2, int32: 4, int64: 8, uint: 8, uint8: 1, uint16: 2, uint32: 4, uint64: 8, uintptr: 8,
  float32: 4, float64: 8, complex64: 8, complex128: 16, chan: 8, func: 8, interface: 16, map: 8, pointer: 8, slice: 24,
  string: 16, unsafe: 8,
};

interface Header {
  size: number;
  ptrBytes: number;
  tflag: number;
  align: number;
  kind: (typeof KINDS)[number];
  name: string;
}

/**
 * Every type descriptor of `elf` with the type it describes; null when the
 * types section cannot be found. `goMinor` picks the name and struct-field
 * encodings (and which moduledata layout to try first).
 */
export function readTypeDescriptors(elf: ElfFile, goMinor: number | null): TypeDescriptors | null {
  const section = findTypesSection(elf, goMinor);
  if (!section) return null;
  const reader = new DescriptorReader(elf, section, goMinor);
  for (const address of section.typelinks) reader.typeAt(address);
  const itabs = staticItabs(reader, section);
  for (const itab of itabs) reader.typeAt(itab.type);
  const reachable = reader.count();
  // (Go 1.27's typedesclen covers the descriptors reflect needs to find; others follow it.)
  for (let address = section.base; address + HEADER <= section.end; address += 8) {
    if (reader.header(address)) reader.typeAt(address);
  }
  return { types: reader.all(), itabs, section, reachable };
}

/** Itab size limits: no interface has more methods than this. */
const MAX_ITAB_METHODS = 1 << 12;

/**
 * The itabs the linker wrote: listed by itablinks up to Go 1.26; from 1.27
 * laid one after another, each {inter, _type, hash, fun[n]} with n the
 * interface's method count (1 when fun[0] is 0: the type does not implement it).
 */
function staticItabs(reader: DescriptorReader, section: TypesSection): StaticItab[] {
  const out: StaticItab[] = [];
  const add = (address: number) => {
    // itab {inter, _type, …}: the concrete type is its second word in every release.
    const type = reader.word(address + 8);
    if (type !== null && reader.header(type)) out.push({ address, type });
  };
  section.itabs.forEach(add);
  if (section.itabRange) {
    const end = section.base + section.itabRange.offset + section.itabRange.size;
    for (let at = section.base + section.itabRange.offset; at + 32 <= end; ) {
      const inter = reader.word(at);
      const fun0 = reader.word(at + 24);
      const methods = inter === null ? null : reader.word(inter + HEADER + 16);
      if (methods === null || fun0 === null || methods > MAX_ITAB_METHODS) break;
      add(at);
      at += 32 + (fun0 === 0 ? 0 : Math.max(methods - 1, 0) * 8);
    }
  }
  return out;
}

class DescriptorReader {
  private readonly built = new Map<number, GoType>();
  private readonly headers = new Map<number, Header | null>();
  private readonly varintNames: boolean;
  private readonly shiftedFieldOffsets: boolean;

  constructor(
    private readonly elf: ElfFile,
    private readonly section: TypesSection,
    goMinor: number | null,
  ) {
    // Unknown release: the current encodings.
    this.varintNames = goMinor === null || goMinor >= 17;
    this.shiftedFieldOffsets = goMinor !== null && goMinor < 19;
  }

  count(): number {
    return this.built.size;
  }

  all(): DescribedType[] {
    return [...this.built].map(([address, type]) => ({ address, name: type.name, type })).sort((a, b) => a.address - b.address);
  }

  /** The type of the descriptor at `address`, built once; null when no well-formed descriptor is there. */
  typeAt(address: number, depth = 0): GoType | null {
    const known = this.built.get(address);
    if (known) return known;
    const h = this.header(address);
    if (!h) return null;
    if (depth > MAX_DEPTH) return { kind: 'opaque', name: h.name, size: h.size, align: h.align };
    const at = address + HEADER;
    const elemAt = (off: number): GoType | null => {
      const p = this.word(at + off);
      return p === null ? null : this.typeAt(p, depth + 1);
    };
    switch (h.kind) {
      case 'unsafe':
        return this.keep(address, { kind: 'pointer', name: h.name, elem: null });
      case 'pointer': {
        // Placed before its element is built: a type can point to itself.
        const t: GoType = { kind: 'pointer', name: h.name, elem: null };
        this.keep(address, t);
        t.elem = elemAt(0);
        return t;
      }
      case 'slice': case 'chan': {
        const t = { kind: h.kind, name: h.name, elem: OPAQUE_BYTE } as GoType & { elem: GoType };
        this.keep(address, t);
        t.elem = elemAt(0) ?? OPAQUE_BYTE;
        return t;
      }
      case 'array': {
        const len = this.word(at + 16);
        const elem = elemAt(0);
        if (len === null || !elem) return this.keep(address, { kind: 'opaque', name: h.name, size: h.size, align: h.align });
        return this.keep(address, { kind: 'array', name: h.name, len, elem });
      }
      case 'map': {
        const t = { kind: 'map', name: h.name, key: OPAQUE_BYTE, elem: OPAQUE_BYTE } as GoType & { key: GoType; elem: GoType };
        this.keep(address, t);
        t.key = elemAt(0) ?? OPAQUE_BYTE;
        t.elem = elemAt(8) ?? OPAQUE_BYTE;
        return t;
      }
      case 'interface':
        return this.keep(address, { kind: 'interface', name: h.name, empty: this.word(at + 16) === 0 });
      case 'func':
        return this.keep(address, { kind: 'func', name: h.name });
      case 'struct':
        return this.struct(address, h, depth);
      case 'opaque':
        return null;
      default:
        return this.keep(address, { kind: h.kind, name: h.name } as GoType);
    }
  }

  private struct(address: number, h: Header, depth: number): GoType {
    const fields: StructField[] = [];
    const t: GoType = { kind: 'struct', name: h.name, fields, size: h.size, align: h.align };
    this.keep(address, t);
    const ptr = this.word(address + HEADER + 8);
    const len = this.word(address + HEADER + 16);
    if (ptr === null || len === null || len > MAX_FIELDS) return t;
    for (let i = 0; i < len; i++) {
      const f = ptr + i * 24;
      const namePtr = this.word(f);
      const typePtr = this.word(f + 8);
      const raw = this.word(f + 16);
      if (namePtr === null || typePtr === null || raw === null) break;
      const name = this.nameAt(namePtr);
      const type = this.typeAt(typePtr, depth + 1);
      if (name === null || !type) break;
      const offset = this.shiftedFieldOffsets ? Math.floor(raw / 2) : raw;
      const embedded = this.shiftedFieldOffsets ? raw % 2 === 1 : (name.flags & 8) !== 0;
      fields.push({ name: name.text, type, offset, ...(embedded ? { embedded: true } : {}) });
    }
    return t;
  }

  private keep(address: number, t: GoType): GoType {
    this.built.set(address, t);
    return t;
  }

  /** The descriptor header at `address`, if it is a well-formed one. */
  header(address: number): Header | null {
    if (this.headers.has(address)) return this.headers.get(address)!;
    const h = this.parseHeader(address);
    this.headers.set(address, h);
    return h;
  }

  private parseHeader(address: number): Header | null {
    const { base, end } = this.section;
    if (address % 8 !== 0 || address < base || address + HEADER > end) return null;
    const o = this.offset(address, HEADER);
    if (o < 0) return null;
    const b = this.elf.buffer;
    const size = readWord(b, o);
    const ptrBytes = readWord(b, o + 8);
    const tflag = b[o + 20]!;
    const align = b[o + 21]!;
    const fieldAlign = b[o + 22]!;
    const kindByte = b[o + 23]!;
    const kind = KINDS[kindByte & KIND_MASK];
    if (!kind || kind === 'opaque' || kindByte >= 0x80 || tflag >= 0x40) return null;
    if (![1, 2, 4, 8].includes(align) || ![1, 2, 4, 8].includes(fieldAlign)) return null;
    if (size % align !== 0 || size > 2 ** 40 || ptrBytes > size || ptrBytes % 8 !== 0) return null;
    const fixed = FIXED_SIZE[kind];
    if (fixed !== undefined && size !== fixed) return null;
    // Equal is a func value: a pointer to a closure record in read-only data, or nil.
    const equal = readWord(b, o + 24);
    if (equal !== 0 && this.offset(equal, 8) < 0) return null;
    const str = b.readInt32LE(o + 40);
    const ptrToThis = b.readInt32LE(o + 44);
    if (ptrToThis !== 0 && (ptrToThis < 0 || ptrToThis % 8 !== 0 || base + ptrToThis >= end)) return null;
    if (str <= 0 || base + str >= end) return null;
    const name = this.nameAt(base + str);
    if (!name || name.text.length === 0) return null;
    let text = name.text;
    if (tflag & TFLAG_EXTRA_STAR) {
      if (!text.startsWith('*')) return null;
      text = text.slice(1);
    }
    if (!plausibleTypeName(text, kind)) return null;
    return { size, ptrBytes, tflag, align, kind, name: text };
  }

  /** A name at `address`: flags byte, length, bytes. */
  private nameAt(address: number): { flags: number; text: string } | null {
    const o = this.offset(address, 3);
    if (o < 0) return null;
    const b = this.elf.buffer;
    let length = 0;
    let at = 1;
    if (this.varintNames) {
      for (let shift = 0; ; shift += 7) {
        if (shift > 21 || this.offset(address + at, 1) < 0) return null;
        const byte = b[o + at]!;
        at++;
        length += (byte & 0x7f) * 2 ** shift;
        if ((byte & 0x80) === 0) break;
      }
    } else {
      length = b.readUInt16BE(o + 1);
      at = 3;
    }
    if (length > MAX_NAME || this.offset(address + at, length) < 0) return null;
    try {
      return { flags: b[o]!, text: UTF8.decode(b.subarray(o + at, o + at + length)) };
    } catch {
      return null;
    }
  }

  /** The 8-byte word at `address` in the file's loaded data, or null. */
  word(address: number): number | null {
    const o = this.offset(address, 8);
    return o < 0 ? null : readWord(this.elf.buffer, o);
  }

  /** Where the `length` bytes at `address` are in the file's buffer; -1: not in its loaded data. */
  private offset(address: number, length: number): number {
    return this.elf.virtualOffset(address, length);
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** What an unknown element is taken as: shown by name, never decoded. */
const OPAQUE_BYTE: GoType = { kind: 'opaque', name: '?', size: 1, align: 1 };

/**
 * Type names are printable and, for unnamed composite kinds, start the way
 * Go writes them: a check that keeps out bytes which only parse as a header.
 */
function plausibleTypeName(name: string, kind: string): boolean {
  if (/[\x00-\x1f\x7f]/.test(name)) return false;
  switch (kind) {
    case 'pointer': return name.startsWith('*') || /^[\w./-]+\.[\w]/.test(name);
    case 'slice': return name.startsWith('[]') || /^[\w./-]+\.\w/.test(name);
    case 'array': return /^\[\d+\]/.test(name) || /^[\w./-]+\.\w/.test(name);
    case 'map': return name.startsWith('map[') || /^[\w./-]+\.\w/.test(name);
    case 'chan': return /^(chan|<-chan)\b/.test(name) || /^[\w./-]+\.\w/.test(name);
    case 'func': return name.startsWith('func(') || /^[\w./-]+\.\w/.test(name);
    case 'interface': return name.startsWith('interface {') || /^[\w./-]+\.\w/.test(name) || name === 'error' || name === 'any';
    case 'struct': return name.startsWith('struct {') || /^[\w./-]+\.\w/.test(name);
    default: return !/\s/.test(name) || /^[\w./-]+\.\w/.test(name);
  }
}
