// Plain data passed between pipeline stages. Each stage module takes and
// returns these shapes; nothing here holds resources or does I/O.

import type { GoType, Param } from './gotypes.js';

export type GoAbi = 'stack' | 'register';

/** A function found in the binary (from .symtab or .gopclntab). */
export interface FunctionSymbol {
  name: string;
  /** Virtual address of the entry point. */
  address: number;
  /** Size in bytes when known (.symtab, or the next .gopclntab entry); 0 when not. */
  size: number;
  /** Where the entry point is in the file: what a uprobe is attached at. */
  fileOffset: number;
  /**
   * An assembly function or ABI wrapper (`pkg.f.abi0` in .symtab): it takes
   * its arguments on the stack whatever the Go version. Only known with a
   * .symtab; absent for Go functions.
   */
  abi0?: true;
}

/** What the ELF stage learns about a Go binary. */
export interface GoBinaryInfo {
  path: string;
  arch: 'amd64';
  /** `go1.19.8`; null when neither .go.buildinfo nor runtime.buildVersion can be read. */
  goVersion: string | null;
  abi: GoAbi;
  pie: boolean;
  /** True when .symtab is absent (stripped, `-ldflags=-s`). */
  stripped: boolean;
  hasDwarf: boolean;
  /** Every function by its full Go name. */
  functions: Map<string, FunctionSymbol>;
}

/** amd64 general-purpose registers as named in struct pt_regs. */
export type IntRegister = 'ax' | 'bx' | 'cx' | 'di' | 'si' | 'r8' | 'r9' | 'r10' | 'r11';

/** Where one piece of a value is when the function is entered (or at a RET, for results). */
export type PieceLocation =
  | { kind: 'reg'; reg: IntRegister }
  /** XMM registers cannot be read from a uprobe: the piece is unavailable. */
  | { kind: 'freg'; reg: number }
  /** Relative to the start of the argument area, sp+8 at function entry. */
  | { kind: 'stack'; offset: number };

/**
 * One piece of a value: `size` bytes that belong at `offset` in the value's
 * in-memory image. A register-assigned string is two pieces (ptr at 0 in one
 * register, len at 8 in the next); a stack-assigned value is one piece.
 */
export interface Piece {
  offset: number;
  size: number;
  location: PieceLocation;
}

export interface ValueLocation {
  param: Param;
  /** Pieces in increasing offset; empty for zero-size values. */
  pieces: Piece[];
}

/**
 * Why a map shows fewer entries than its length:
 * - max-elements: --max-elements entries were read (expected);
 * - event-size: fewer than --max-elements, to fit --max-event-size;
 * - walk-bound: the BPF walk stopped after its step bound (plan.ts MAP_WALK_STEPS);
 * - unreadable: a bucket, group or table of the map could not be read;
 * - interrupted: another walk began on the same CPU, so the entries copied were dropped;
 * - map-changed: the walk read the whole map but found fewer entries than its
 *   length said (the program changed the map meanwhile), or an entry found
 *   could no longer be copied.
 */
export type MapCut = 'max-elements' | 'event-size' | 'walk-bound' | 'unreadable' | 'interrupted' | 'map-changed';

/**
 * A value as decoded from a record. Integers are bigints so that 64-bit
 * values keep every digit.
 */
export type Value =
  | { kind: 'bool'; value: boolean }
  | { kind: 'int'; value: bigint }
  | { kind: 'float'; value: number; bits: 32 | 64 }
  | { kind: 'complex'; real: number; imag: number; bits: 64 | 128 }
  /** `bytes` holds at most --string-size bytes; `len` is Go's length. */
  | { kind: 'string'; bytes: Uint8Array; len: number; truncated: boolean }
  /**
   * `address` 0n is nil. `target` is present when the pointer was followed;
   * `cycle` when it points back at a value it was reached through.
   */
  | { kind: 'pointer'; address: bigint; target?: Value; cycle?: true }
  /** `len` (Go's length) is present when fewer elements were captured (--max-elements). */
  | { kind: 'array'; elems: Value[]; len?: number }
  /**
   * `[]byte` or `[N]byte`: `bytes` holds what was captured (at most
   * --string-size bytes), `len` is Go's length. `cap` and `address` are
   * present for slices only (address 0n is a nil slice).
   */
  | { kind: 'bytes'; bytes: Uint8Array; len: bigint; cap?: bigint; address?: bigint; truncated: boolean }
  /** `elems` holds at most --max-elements values; `truncated` when len is larger. */
  | { kind: 'slice'; address: bigint; len: bigint; cap: bigint; elems: Value[]; truncated: boolean }
  | { kind: 'struct'; fields: { name: string; value: Value }[] }
  | { kind: 'interface'; typeAddress: bigint; dataAddress: bigint; typeName?: string; value?: Value }
  /** `truncatedBy` says why fewer than len entries were read, when `truncated`. */
  | { kind: 'map'; address: bigint; len?: bigint; entries?: [Value, Value][]; truncated?: boolean; truncatedBy?: MapCut }
  | { kind: 'chan'; address: bigint; len?: bigint; cap?: bigint }
  /** `func`: the function its code pointer is in (read at --depth 1 and more). */
  | { kind: 'func'; address: bigint; func?: string }
  /** Known only by type and address. */
  | { kind: 'opaque'; typeName: string; address?: bigint }
  /** Could not be read; `reason` is one sentence, e.g. "passed in register X0, which eBPF cannot read". */
  | { kind: 'unavailable'; reason: string };

export interface DecodedArg {
  name: string;
  /** The Go type as written: `int`, `[]string`, `*main.Cart`. */
  type: string;
  value: Value;
}

/** One traced call, as handed to the formatters. */
export interface CallEvent {
  /** Nanoseconds since the Unix epoch. */
  ts: bigint;
  function: string;
  pid: number;
  tid: number;
  ppid: number;
  comm: string;
  /** Goroutine ID; 0n when unknown. */
  goid: bigint;
  args: DecodedArg[] | null;
  returns?: DecodedArg[];
  durationNs?: bigint;
  /** --stack: return addresses as linked in the binary, the caller's first (src/output/stack.ts names them). */
  stack?: bigint[];
}

export type { GoType, Param };
