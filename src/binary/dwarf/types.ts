// DWARF type entries → the Go type model (src/core/gotypes.ts). Go describes its
// types with a few DWARF shapes plus its own DW_AT_go_kind (a reflect.Kind):
// strings, slices and interfaces are structures, maps and channels are
// typedefs of runtime pointers, named types are typedefs or named base types.

import { type GoType, type StructField, BASIC_TYPE_NAMES, type BasicKind, alignOf, sizeOf } from '../../core/index.js';
import { AT, ATE, GO_KIND, TAG } from './constants.js';
import { corrupt } from './errors.js';
import type { Die, DwarfInfo } from './info.js';

const MAX_NESTING = 2000;

const KIND_BY_GO_KIND: Record<number, BasicKind> = {
  [GO_KIND.bool]: 'bool', [GO_KIND.int]: 'int', [GO_KIND.int8]: 'int8', [GO_KIND.int16]: 'int16',
  [GO_KIND.int32]: 'int32', [GO_KIND.int64]: 'int64', [GO_KIND.uint]: 'uint', [GO_KIND.uint8]: 'uint8',
  [GO_KIND.uint16]: 'uint16', [GO_KIND.uint32]: 'uint32', [GO_KIND.uint64]: 'uint64', [GO_KIND.uintptr]: 'uintptr',
  [GO_KIND.float32]: 'float32', [GO_KIND.float64]: 'float64', [GO_KIND.complex64]: 'complex64', [GO_KIND.complex128]: 'complex128',
};

/** Converts type DIEs to GoTypes, once per DIE: recursive types become object cycles. */
export class TypeBuilder {
  private readonly memo = new Map<number, GoType>();
  /** DIEs being converted right now, to cut cycles that do not pass through a memoized shell. */
  private readonly active = new Set<number>();

  constructor(private readonly dw: DwarfInfo) {}

  /** The Go type of the DIE at `offset` (a DW_AT_type value). */
  typeAt(offset: number): GoType {
    const known = this.memo.get(offset);
    if (known) return known;
    if (this.active.has(offset)) return this.reentered(offset);
    // Real Go types nest a few dozen levels at most; corrupt references could chain without end.
    if (this.active.size >= MAX_NESTING) throw corrupt(this.dw.infoName, offset, `types nest more than ${MAX_NESTING} levels deep`);
    this.active.add(offset);
    try {
      const t = this.convert(this.dw.die(offset));
      this.memo.set(offset, t);
      return t;
    } catch (err) {
      // Shells of the types being built stay half-filled: forget them all rather than hand them out later.
      this.memo.clear();
      throw err;
    } finally {
      this.active.delete(offset);
    }
  }

  /**
   * A cycle came back to a DIE that has no shell in the memo yet. Only
   * typedefs do that (`main.Node` the typedef → `main.Node` the struct →
   * `*main.Node` → the typedef again): answer with what the typedef names,
   * whose shell exists by now.
   */
  private reentered(offset: number): GoType {
    const die = this.dw.die(offset);
    const under = die.tag === TAG.typedef ? this.dw.ref(die, AT.type) : undefined;
    if (under !== undefined && !this.active.has(under)) return this.typeAt(under);
    const known = under === undefined ? undefined : this.memo.get(under);
    return known ?? { kind: 'opaque', name: this.dw.str(die, AT.name) ?? '?', size: 0, align: 1 };
  }

  /** The type referenced by `die`'s `at` attribute; null when it has none. */
  private refType(die: Die, at: number): GoType | null {
    const ref = this.dw.ref(die, at);
    return ref === undefined ? null : this.typeAt(ref);
  }

  private convert(die: Die): GoType {
    const dw = this.dw;
    const name = dw.str(die, AT.name) ?? '';
    const goKind = dw.num(die, AT.go_kind);
    switch (die.tag) {
      case TAG.base_type: return this.baseType(die, name, goKind);
      case TAG.pointer_type: {
        const shell: GoType = { kind: 'pointer', name, elem: null };
        this.memo.set(die.offset, shell);
        if (name !== 'unsafe.Pointer' && goKind !== GO_KIND.unsafePointer) shell.elem = this.refType(die, AT.type);
        if (!shell.name) shell.name = shell.elem ? `*${shell.elem.name}` : 'unsafe.Pointer';
        return shell;
      }
      case TAG.structure_type: return this.structType(die, name, goKind);
      case TAG.array_type: return this.arrayType(die, name);
      case TAG.subroutine_type: return { kind: 'func', name: name || 'func()' };
      case TAG.typedef: return this.typedef(die, name, goKind);
      default:
        return this.opaque(die, name || `<DWARF tag 0x${die.tag.toString(16)}>`);
    }
  }

  private baseType(die: Die, name: string, goKind: number | undefined): GoType {
    const byGoKind = goKind === undefined ? undefined : KIND_BY_GO_KIND[goKind];
    const kind = byGoKind ?? BASIC_TYPE_NAMES[name] ?? this.kindFromEncoding(die);
    if (!kind) return this.opaque(die, name);
    return { kind, name: name || kind };
  }

  /** For producers without DW_AT_go_kind: the encoding and size decide (int64 for an unnamed signed 8-byte type). */
  private kindFromEncoding(die: Die): BasicKind | undefined {
    const enc = this.dw.num(die, AT.encoding);
    const size = this.dw.num(die, AT.byte_size) ?? 0;
    const bySize = (kinds: Record<number, BasicKind>): BasicKind | undefined => kinds[size];
    switch (enc) {
      case ATE.boolean: return size === 1 ? 'bool' : undefined;
      case ATE.signed: case ATE.signed_char: return bySize({ 1: 'int8', 2: 'int16', 4: 'int32', 8: 'int64' });
      case ATE.unsigned: case ATE.unsigned_char: return bySize({ 1: 'uint8', 2: 'uint16', 4: 'uint32', 8: 'uint64' });
      case ATE.float: return bySize({ 4: 'float32', 8: 'float64' });
      case ATE.complex_float: return bySize({ 8: 'complex64', 16: 'complex128' });
      default: return undefined;
    }
  }

  private structType(die: Die, name: string, goKind: number | undefined): GoType {
    const dw = this.dw;
    const members = dw.children(die).filter((c) => c.tag === TAG.member);
    const memberNames = members.map((m) => dw.str(m, AT.name));
    const isString = goKind === GO_KIND.string || (goKind === undefined && name === 'string' && sameNames(memberNames, ['str', 'len']));
    if (isString) return { kind: 'string', name: name || 'string' };
    const isSlice = goKind === GO_KIND.slice || (goKind === undefined && name.startsWith('[]') && sameNames(memberNames, ['array', 'len', 'cap']));
    if (isSlice) {
      const shell = { kind: 'slice', name, elem: null as unknown as GoType } as Extract<GoType, { kind: 'slice' }>;
      this.memo.set(die.offset, shell);
      let elem = this.refType(die, AT.go_elem);
      if (!elem) {
        const arrayPtr = members.find((m) => dw.str(m, AT.name) === 'array');
        const ptr = arrayPtr ? this.refType(arrayPtr, AT.type) : null;
        elem = ptr && ptr.kind === 'pointer' ? ptr.elem : null;
      }
      shell.elem = elem ?? { kind: 'opaque', name: '?', size: 0, align: 1 };
      if (!shell.name) shell.name = `[]${shell.elem.name}`;
      return shell;
    }
    // The shell goes into the memo before the fields, so a field that leads back here finds it.
    const fields: StructField[] = [];
    const shell = { kind: 'struct', name, fields, size: dw.num(die, AT.byte_size) ?? 0, align: 1 } as Extract<GoType, { kind: 'struct' }>;
    this.memo.set(die.offset, shell);
    for (const m of members) {
      const type = this.refType(m, AT.type) ?? { kind: 'opaque', name: '?', size: 0, align: 1 };
      const field: StructField = { name: dw.str(m, AT.name) ?? '', type, offset: this.memberOffset(m) };
      if (dw.flag(m, AT.go_embedded_field)) field.embedded = true;
      fields.push(field);
    }
    shell.align = fields.reduce((a, f) => Math.max(a, safeAlign(f.type)), 1);
    if (!shell.name) shell.name = `struct { ${fields.map((f) => `${f.name} ${f.type.name}`).join('; ')} }`;
    return shell;
  }

  /** DW_AT_data_member_location is a constant in Go's DWARF; older producers wrote `DW_OP_plus_uconst n`. */
  private memberOffset(m: Die): number {
    const i = m.ats.indexOf(AT.data_member_location);
    if (i < 0) return 0;
    const v = m.values[i];
    if (typeof v === 'number') return v;
    if (Buffer.isBuffer(v) && v.length >= 2 && v[0] === 0x23 /* DW_OP_plus_uconst */) {
      let result = 0;
      let mul = 1;
      for (let j = 1; j < v.length && j < 11; j++) {
        result += (v[j]! & 0x7f) * mul;
        if ((v[j]! & 0x80) === 0) break;
        mul *= 128;
      }
      return result;
    }
    return 0;
  }

  private arrayType(die: Die, name: string): GoType {
    const dw = this.dw;
    const shell = { kind: 'array', name, len: 0, elem: null as unknown as GoType } as Extract<GoType, { kind: 'array' }>;
    this.memo.set(die.offset, shell);
    shell.elem = this.refType(die, AT.type) ?? { kind: 'opaque', name: '?', size: 0, align: 1 };
    const range = dw.children(die).find((c) => c.tag === TAG.subrange_type);
    let len = range ? dw.num(range, AT.count) : undefined;
    if (len === undefined && range) {
      const upper = dw.num(range, AT.upper_bound);
      if (upper !== undefined) len = upper + 1;
    }
    if (len === undefined) {
      // No subrange: derive the length from the sizes.
      const size = dw.num(die, AT.byte_size);
      const elemSize = sizeOf(shell.elem);
      len = size !== undefined && elemSize > 0 ? Math.floor(size / elemSize) : 0;
    }
    shell.len = len;
    if (!shell.name) shell.name = `[${len}]${shell.elem.name}`;
    return shell;
  }

  private typedef(die: Die, name: string, goKind: number | undefined): GoType {
    switch (goKind) {
      case GO_KIND.interface: {
        // runtime.eface is interface{}/any; runtime.iface has methods. Only the name is needed, not its fields.
        const ref = this.dw.ref(die, AT.type);
        const under = ref === undefined ? undefined : this.dw.str(this.dw.die(ref), AT.name);
        return { kind: 'interface', name, empty: under === 'runtime.eface' || (under === undefined && name === 'interface {}') };
      }
      case GO_KIND.map: {
        const shell = { kind: 'map', name, key: null as unknown as GoType, elem: null as unknown as GoType } as Extract<GoType, { kind: 'map' }>;
        this.memo.set(die.offset, shell);
        shell.key = this.refType(die, AT.go_key) ?? opaquePointer('?');
        shell.elem = this.refType(die, AT.go_elem) ?? opaquePointer('?');
        return shell;
      }
      case GO_KIND.chan: {
        const shell = { kind: 'chan', name, elem: null as unknown as GoType } as Extract<GoType, { kind: 'chan' }>;
        this.memo.set(die.offset, shell);
        shell.elem = this.refType(die, AT.go_elem) ?? opaquePointer('?');
        return shell;
      }
      case GO_KIND.func:
        return { kind: 'func', name };
      default: {
        const under = this.refType(die, AT.type);
        if (!under) return this.opaque(die, name);
        // `.paramN` typedefs stand for type parameters of a shape function: the shape type says more.
        if (!name || name === under.name || name.startsWith('.param')) return under;
        return renamed(under, name);
      }
    }
  }

  private opaque(die: Die, name: string): GoType {
    const size = this.dw.num(die, AT.byte_size) ?? 0;
    return { kind: 'opaque', name, size, align: naturalAlign(size) };
  }
}

/** A named type over another type: same layout, the typedef's name. */
function renamed(t: GoType, name: string): GoType {
  return { ...t, name } as GoType;
}

function opaquePointer(name: string): GoType {
  return { kind: 'opaque', name, size: 8, align: 8 };
}

function sameNames(actual: (string | undefined)[], expected: string[]): boolean {
  return actual.length === expected.length && actual.every((n, i) => n === expected[i]);
}

function naturalAlign(size: number): number {
  if (size >= 8) return 8;
  if (size >= 4) return 4;
  if (size >= 2) return 2;
  return 1;
}

/** alignOf, tolerant of a shell whose element is still being built (only a type that contains itself). */
function safeAlign(t: GoType): number {
  if (t.kind === 'array') return t.elem ? safeAlign(t.elem) : 1;
  return alignOf(t);
}
