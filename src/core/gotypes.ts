// The Go type model shared by every stage: the functions-file parser and the
// DWARF reader produce it, the ABI calculator, the record planner and the
// decoder consume it. Plain data only; recursive types (a linked list read
// from DWARF) are object cycles, so never JSON.stringify a GoType.

export type IntKind =
  | 'int' | 'int8' | 'int16' | 'int32' | 'int64'
  | 'uint' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'uintptr';
export type FloatKind = 'float32' | 'float64';
export type ComplexKind = 'complex64' | 'complex128';
export type BasicKind = 'bool' | IntKind | FloatKind | ComplexKind;

export interface StructField {
  name: string;
  type: GoType;
  /** Byte offset of the field inside the struct. */
  offset: number;
  embedded?: boolean;
}

/**
 * `name` is how the type is written in Go: `int`, `byte`, `rune`,
 * `[]string`, `*main.Cart`, `main.Account`, `struct{ID int64; Name string}`.
 */
export type GoType =
  | { kind: BasicKind; name: string }
  | { kind: 'string'; name: string }
  /** `elem` is null for unsafe.Pointer and for pointee types we know nothing of. */
  | { kind: 'pointer'; name: string; elem: GoType | null }
  | { kind: 'array'; name: string; len: number; elem: GoType }
  | { kind: 'slice'; name: string; elem: GoType }
  | { kind: 'struct'; name: string; fields: StructField[]; size: number; align: number }
  /** `empty` is true for `interface{}`/`any` (runtime.eface), false for runtime.iface. */
  | { kind: 'interface'; name: string; empty: boolean }
  | { kind: 'map'; name: string; key: GoType; elem: GoType }
  | { kind: 'chan'; name: string; elem: GoType }
  | { kind: 'func'; name: string }
  /** A type we can only size (from DWARF): shown by type name, never decoded. */
  | { kind: 'opaque'; name: string; size: number; align: number };

export type GoTypeKind = GoType['kind'];

/** One parameter or result of a function. */
export interface Param {
  /** Declared name; `arg0`, `arg1`, … (or `~r0` for results) when there is none. */
  name: string;
  type: GoType;
}

/** What to trace: one function and the types of what it is passed. */
export interface FunctionSpec {
  /** Full symbol name as in the binary: `main.f`, `net/http.Error`, `main.(*Cart).Add`. */
  name: string;
  /** Receiver first (for methods), then the arguments in order. */
  params: Param[];
  /** Results, when known (functions file with a result list, or DWARF); null when unknown. */
  results: Param[] | null;
  /**
   * Generic shape instantiations (`main.F[go.shape.int_0]`) take a hidden
   * dictionary pointer before the first parameter that DWARF does not list.
   */
  hiddenDictionary?: boolean;
  /** Where the spec came from, for error messages. */
  origin?: SpecOrigin;
}

/** A functions-file line, and the columns (1-based) the signature check points at. */
export interface SpecOrigin {
  file: string;
  line: number;
  text?: string;
  columns?: {
    /** The function name. */
    name: number;
    /** One per entry of `params`; a receiver the line leaves out points at the name. */
    params: number[];
    /** The ")" that closes the parameter list. */
    paramsEnd: number;
    /** One per result, when the line lists results. */
    results?: number[];
  };
}

export const POINTER_SIZE = 8;

/**
 * The dictionary parameter of a generic method (Go 1.20+ passes it after
 * the receiver): it takes a register like any parameter but is never shown.
 */
export const DICTIONARY_PARAM = '.dict';

const BASIC_SIZES: Record<BasicKind, number> = {
  bool: 1, int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, float32: 4,
  int: 8, uint: 8, int64: 8, uint64: 8, uintptr: 8, float64: 8, complex64: 8, complex128: 16,
};

export function isBasicKind(kind: string): kind is BasicKind {
  return Object.prototype.hasOwnProperty.call(BASIC_SIZES, kind);
}

export function isIntKind(kind: string): kind is IntKind {
  return isBasicKind(kind) && kind !== 'bool' && !kind.startsWith('float') && !kind.startsWith('complex');
}

export function isSignedInt(kind: IntKind): boolean {
  return !kind.startsWith('uint');
}

/** Size in bytes of a value of type t in memory (amd64). */
export function sizeOf(t: GoType): number {
  switch (t.kind) {
    case 'string': return 16;
    case 'slice': return 24;
    case 'interface': return 16;
    case 'pointer': case 'map': case 'chan': case 'func': return POINTER_SIZE;
    case 'array': return t.len * sizeOf(t.elem);
    case 'struct': return t.size;
    case 'opaque': return t.size;
    default: return BASIC_SIZES[t.kind];
  }
}

/** Alignment in bytes of type t (amd64): what Go uses for struct fields and stack arguments. */
export function alignOf(t: GoType): number {
  switch (t.kind) {
    case 'string': case 'slice': case 'interface':
    case 'pointer': case 'map': case 'chan': case 'func':
      return POINTER_SIZE;
    case 'array': return alignOf(t.elem);
    case 'struct': return t.align;
    case 'opaque': return t.align;
    case 'complex64': return 4;
    case 'complex128': return 8;
    default: return BASIC_SIZES[t.kind];
  }
}

export function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

/**
 * Lays out fields the way the Go compiler does: each at its type's alignment,
 * the struct's size rounded up to its alignment. A final zero-size field gets
 * one byte of padding so that its address stays inside the struct.
 */
export function makeStruct(name: string, fields: { name: string; type: GoType; embedded?: boolean }[]): GoType {
  let offset = 0;
  let align = 1;
  const laidOut: StructField[] = [];
  for (const f of fields) {
    const a = alignOf(f.type);
    align = Math.max(align, a);
    offset = alignUp(offset, a);
    laidOut.push({ name: f.name, type: f.type, offset, ...(f.embedded ? { embedded: true } : {}) });
    offset += sizeOf(f.type);
  }
  const last = laidOut[laidOut.length - 1];
  if (last && sizeOf(last.type) === 0 && offset > 0) offset += 1;
  const size = alignUp(offset, align);
  const typeName = name || `struct{${fields.map((f) => (f.embedded ? f.type.name : `${f.name} ${f.type.name}`)).join('; ')}}`;
  return { kind: 'struct', name: typeName, fields: laidOut, size, align };
}

export function basic(kind: BasicKind, name: string = kind): GoType {
  return { kind, name };
}

/** Go's built-in names for basic types, with their aliases. */
export const BASIC_TYPE_NAMES: Record<string, BasicKind> = {
  bool: 'bool', byte: 'uint8', rune: 'int32',
  int: 'int', int8: 'int8', int16: 'int16', int32: 'int32', int64: 'int64',
  uint: 'uint', uint8: 'uint8', uint16: 'uint16', uint32: 'uint32', uint64: 'uint64', uintptr: 'uintptr',
  float32: 'float32', float64: 'float64', complex64: 'complex64', complex128: 'complex128',
};
