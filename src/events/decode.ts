// Decodes ring-buffer records into CallEvents by walking the same plans
// the C generator walked. Every read is checked against the record's length
// first; a record that does not match its plan is reported, never guessed at.

import { isSignedInt, sizeOf, type CallEvent, type DecodedArg, type GoType, type IntKind, type MapCut, type Value } from '../core/index.js';
import { HEADER_FLAG, HEADER_SIZE, MAP_WALK_STATUS, readHeader, readStackTail, SLOT_HEADER, type ArgPlan, type FunctionPlan, type RecordHeader, type ValuePlan } from '../spec/index.js';
import { blockPlan, dynamicLayout, withNestedNames } from './decode-dynamic.js';

export class MalformedRecordError extends Error {}

export class RecordDecoder {
  private readonly plans: Map<number, FunctionPlan>;

  /** `clockOffsetNs` turns the BPF monotonic clock into nanoseconds since the epoch. */
  constructor(plans: FunctionPlan[], private readonly clockOffsetNs: bigint) {
    this.plans = new Map(plans.map((p) => [p.id, p]));
  }

  decode(view: DataView, base: number, length: number): CallEvent {
    if (length < HEADER_SIZE || base + length > view.byteLength) {
      throw new MalformedRecordError(`record of ${length} bytes is shorter than its ${HEADER_SIZE}-byte header`);
    }
    const h = readHeader(view, base);
    const plan = this.plans.get(h.funcId);
    if (!plan) throw new MalformedRecordError(`record names function #${h.funcId}, which is not traced`);
    if (length < plan.recordSize) {
      throw new MalformedRecordError(`record for ${plan.name} has ${length} bytes, expected ${plan.recordSize}`);
    }
    const args = plan.args ? decodeArgs(view, base, plan.args, h.flags, 'the stack of the call could not be read') : null;
    const event: CallEvent = { ...callIdentity(h, h.ktimeNs + this.clockOffsetNs, plan.name), args };
    if (plan.stack) event.stack = decodeStack(view, base, length, plan);
    return event;
  }
}

/** What every event of a call carries first, from its record's header: when, which function, and who called it. */
export function callIdentity(h: RecordHeader, ts: bigint, name: string): Pick<CallEvent, 'ts' | 'function' | 'pid' | 'tid' | 'ppid' | 'comm' | 'goid'> {
  return { ts, function: name, pid: h.pid, tid: h.tid, ppid: h.ppid, comm: h.comm, goid: h.goid };
}

/**
 * The call stack tail as link-time return addresses: a PIE runs at a load
 * bias, which the probe's run-time address minus its link-time one gives.
 */
function decodeStack(view: DataView, base: number, length: number, plan: FunctionPlan): bigint[] {
  const { offset, frames, probeAddress } = plan.stack!;
  const tail = readStackTail(view, base, length, offset, frames);
  if (!tail) throw new MalformedRecordError(`record for ${plan.name} has no valid call stack of at most ${frames} frames at offset ${offset}`);
  const bias = tail.ip - BigInt(probeAddress);
  return tail.pcs.map((pc) => pc - bias);
}

function u64(view: DataView, base: number, off: number): bigint {
  return view.getBigUint64(base + off, true);
}

function hex(n: bigint): string {
  return `0x${n.toString(16)}`;
}

/**
 * Decodes arguments (or results) from a record whose header has `flags`;
 * values in the stack copy are unavailable, for `stackReason`, when it failed.
 */
export function decodeArgs(view: DataView, base: number, args: ArgPlan[], flags: number, stackReason: string): DecodedArg[] {
  const stackFailed = (flags & HEADER_FLAG.stackReadFailed) !== 0;
  return args.map((a) => ({
    name: a.name,
    type: a.type.name,
    value: a.onStack && stackFailed ? { kind: 'unavailable', reason: stackReason } : decodeValue(view, base, a.value),
  }));
}

/**
 * `path`: the pointers followed to reach this value, as address and type.
 * A pointer back to one of them (a list node pointing at itself, a child
 * at its parent) is a cycle: marked, not shown again until --depth.
 */
export function decodeValue(view: DataView, base: number, plan: ValuePlan, path: readonly string[] = []): Value {
  switch (plan.kind) {
    case 'unavailable':
      return { kind: 'unavailable', reason: plan.reason };
    case 'scalar':
      return decodeScalar(view, base + plan.offset, plan.type);
    case 'pointer':
      return decodePointer(view, base, plan, path);
    case 'bytes':
      return decodeBytes(view, base, plan);
    case 'interface':
      return decodeInterface(view, base, plan, path);
    case 'header':
      return decodeHeader(view, base, plan);
    case 'map':
      return decodeMap(view, base, plan, path);
    case 'array': {
      const elems = plan.elems.map((e) => decodeValue(view, base, e, path));
      const len = plan.type.kind === 'array' ? plan.type.len : elems.length;
      return len > elems.length ? { kind: 'array', elems, len } : { kind: 'array', elems };
    }
    case 'struct':
      return { kind: 'struct', fields: plan.fields.map((f) => ({ name: f.name, value: decodeValue(view, base, f.plan, path) })) };
    case 'string': {
      const ptr = u64(view, base, plan.offset);
      const len = view.getBigInt64(base + plan.offset + 8, true);
      if (len === 0n) return { kind: 'string', bytes: new Uint8Array(0), len: 0, truncated: false };
      if (len < 0n) return { kind: 'unavailable', reason: `invalid string length ${len}` };
      const { copied, error } = slotStatus(view, base, plan.data.offset, plan.data.capacity);
      if (error !== 0 || copied === 0) {
        return { kind: 'unavailable', reason: `could not read the string's ${len} bytes at ${hex(ptr)} (error ${error})` };
      }
      const bytes = slotBytes(view, base, plan.data.offset + SLOT_HEADER, copied);
      return { kind: 'string', bytes, len: Number(len), truncated: BigInt(copied) < len };
    }
    case 'slice': {
      const address = u64(view, base, plan.offset);
      const len = view.getBigInt64(base + plan.offset + 8, true);
      const cap = view.getBigInt64(base + plan.offset + 16, true);
      if (len < 0n || cap < len) return { kind: 'unavailable', reason: `invalid slice header (len ${len}, cap ${cap})` };
      const { copied, error } = slotStatus(view, base, plan.data.offset, plan.data.capacity);
      if (len > 0n && plan.elemSize > 0 && (error !== 0 || copied === 0)) {
        return { kind: 'unavailable', reason: `could not read the slice's elements at ${hex(address)} (error ${error})` };
      }
      const count = plan.elemSize === 0 ? 0 : Math.min(plan.elems.length, Math.floor(copied / plan.elemSize));
      const elems: Value[] = [];
      for (let i = 0; i < count; i++) elems.push(decodeValue(view, base, plan.elems[i], path));
      return { kind: 'slice', address, len, cap, elems, truncated: BigInt(elems.length) < len };
    }
    case 'words':
      return decodeWords(view, base, plan.offset, plan.type);
  }
}

/** errno values bpf_probe_read_user returns, for reasons people can act on. */
const ERRNO_NAMES: Record<number, string> = { [-14]: 'EFAULT: nothing readable is mapped there', [-1]: 'EPERM' };

function readFailure(what: string, address: bigint, error: number): Value {
  const why = ERRNO_NAMES[error] ?? `error ${error}`;
  return { kind: 'unavailable', reason: `cannot read ${what} at ${hex(address)} (${why})` };
}

function decodePointer(view: DataView, base: number, plan: Extract<ValuePlan, { kind: 'pointer' }>, path: readonly string[]): Value {
  const address = u64(view, base, plan.offset);
  if (!plan.target || address === 0n) return { kind: 'pointer', address };
  // The type too: a pointer to a struct's first field has the struct's address.
  const step = `${address}:${plan.type.name}`;
  if (path.includes(step)) return { kind: 'pointer', address, cycle: true };
  const { data } = plan.target;
  const { copied, error } = slotStatus(view, base, data.offset, data.capacity);
  if (copied < data.capacity) {
    const elem = plan.type.kind === 'pointer' && plan.type.elem ? plan.type.elem.name : 'the pointee';
    return { kind: 'pointer', address, target: readFailure(`${data.capacity} bytes of ${elem}`, address, error) };
  }
  return { kind: 'pointer', address, target: decodeValue(view, base, plan.target.plan, [...path, step]) };
}

/**
 * A view of `n` record bytes, not a copy: copying each string into a buffer
 * of its own made decoding 4× slower (bench/decode.mjs). The view keeps the
 * batch alive while the value lives, which the batch allows (loader.ts).
 */
function slotBytes(view: DataView, base: number, offset: number, n: number): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset + base + offset, n);
}

function decodeBytes(view: DataView, base: number, plan: Extract<ValuePlan, { kind: 'bytes' }>): Value {
  if (!plan.data) {
    const len = plan.type.kind === 'array' ? plan.type.len : plan.shown;
    const bytes = slotBytes(view, base, plan.offset, plan.shown);
    return { kind: 'bytes', bytes, len: BigInt(len), truncated: plan.shown < len };
  }
  const address = u64(view, base, plan.offset);
  const len = view.getBigInt64(base + plan.offset + 8, true);
  const cap = view.getBigInt64(base + plan.offset + 16, true);
  if (len < 0n || cap < len) return { kind: 'unavailable', reason: `invalid slice header (len ${len}, cap ${cap})` };
  const { copied, error } = slotStatus(view, base, plan.data.offset, plan.data.capacity);
  if (len > 0n && plan.data.capacity > 0 && copied === 0) return readFailure(`the slice's ${len} bytes`, address, error);
  const bytes = slotBytes(view, base, plan.data.offset + SLOT_HEADER, copied);
  return { kind: 'bytes', bytes, len, cap, address, truncated: BigInt(copied) < len };
}

/** x86-64 pages: a PIE's load bias is a multiple of this. */
const PAGE = 4096n;

function decodeInterface(view: DataView, base: number, plan: Extract<ValuePlan, { kind: 'interface' }>, path: readonly string[]): Value {
  const typeAddress = u64(view, base, plan.offset);
  const dataAddress = u64(view, base, plan.offset + 8);
  if (typeAddress === 0n) return { kind: 'interface', typeAddress, dataAddress };
  let linkAddress = u64(view, base, plan.typeAt);
  let rt = linkAddress === 0n ? undefined : plan.types.lookup(Number(linkAddress));
  // `any` written for a value that is really a non-empty interface holds an
  // itab, not a type. BPF then took the itab's type word when that type is
  // one whose bytes it copies: the type word minus the type is no load bias
  // (a whole number of pages; a 1 in 512 chance of looking like one). For
  // other types (maps, funcs, …), a compile-time itab names the type here.
  let throughItab = plan.empty && (typeAddress < linkAddress || (typeAddress - linkAddress) % PAGE !== 0n);
  if (!rt && plan.empty && linkAddress !== 0n) {
    const descriptor = plan.types.itabType?.(Number(linkAddress));
    rt = descriptor === undefined ? undefined : plan.types.lookup(descriptor);
    if (rt) {
      linkAddress = BigInt(descriptor!);
      throughItab = true;
    }
  }
  if (!rt) return { kind: 'interface', typeAddress, dataAddress };
  const layout = dynamicLayout(rt.type, plan.data.offset + SLOT_HEADER, plan.data.capacity, plan.strings);
  const { copied, error } = slotStatus(view, base, plan.data.offset, plan.data.capacity);
  const iface = { kind: 'interface' as const, typeAddress, dataAddress, typeName: rt.name };
  if (layout.direct && rt.type.kind !== 'pointer') {
    // The data word is the value (a map, chan, func, or a struct holding one pointer).
    return { ...iface, value: decodeValue(view, base, blockPlan(rt.type, plan.offset + 8, 0, 8, new Map())) };
  }
  if (!layout.block) {
    return { ...iface, value: layout.direct ? { kind: 'pointer', address: dataAddress } : { kind: 'unavailable', reason: `weaver does not read ${rt.name} behind an interface` } };
  }
  let value: Value;
  if (layout.direct && dataAddress === 0n) value = { kind: 'pointer', address: 0n };
  else if (copied < layout.recipe.size) value = readFailure(`${layout.recipe.size} bytes of ${rt.name}`, dataAddress, error);
  else value = withNestedNames(decodeValue(view, base, layout.block, path), rt.type, throughItab ? { empty: false, types: plan.types } : plan, typeAddress, linkAddress);
  if (layout.direct && dataAddress !== 0n) value = { kind: 'pointer', address: dataAddress, target: value };
  return { ...iface, value };
}

function decodeHeader(view: DataView, base: number, plan: Extract<ValuePlan, { kind: 'header' }>): Value {
  const address = u64(view, base, plan.offset);
  const { copied } = slotStatus(view, base, plan.data.offset, plan.data.capacity);
  const read = address !== 0n && copied === plan.data.capacity;
  const word = (i: number) => view.getBigInt64(base + plan.data.offset + SLOT_HEADER + 8 * i, true);
  if (plan.code) {
    const name = read ? plan.code.at(view.getBigUint64(base + plan.data.offset + SLOT_HEADER, true)) : null;
    return name ? { kind: 'func', address, func: name } : { kind: 'func', address };
  }
  if (plan.type.kind === 'chan') {
    return read ? { kind: 'chan', address, len: word(0), cap: word(1) } : { kind: 'chan', address };
  }
  return read ? { kind: 'map', address, len: word(0) } : { kind: 'map', address };
}

/**
 * A map's entries: the first `n` entry images, n being what the walk
 * copied (at `plan.walk`). Truncated when fewer than the map's length were
 * shown, `truncatedBy` saying why (mapCut).
 */
function decodeMap(view: DataView, base: number, plan: Extract<ValuePlan, { kind: 'map' }>, path: readonly string[]): Value {
  const address = u64(view, base, plan.offset);
  if (address === 0n) return { kind: 'map', address };
  const header = slotStatus(view, base, plan.header.offset, plan.header.capacity);
  if (header.copied < plan.header.capacity) return { kind: 'map', address };
  const len = view.getBigInt64(base + plan.header.offset + SLOT_HEADER, true);
  const shown = view.getUint32(base + plan.walk, true);
  if (shown > plan.keys.length) {
    throw new MalformedRecordError(`map at ${plan.offset} claims ${shown} entries, more than its ${plan.keys.length}`);
  }
  const entries: [Value, Value][] = [];
  for (let k = 0; k < shown; k++) entries.push([decodeValue(view, base, plan.keys[k]!, path), decodeValue(view, base, plan.elems[k]!, path)]);
  if (BigInt(shown) >= len) return { kind: 'map', address, len, entries, truncated: false };
  const status = view.getUint32(base + plan.walk + 4, true);
  return { kind: 'map', address, len, entries, truncated: true, truncatedBy: mapCut(plan, shown, status) };
}

/**
 * Why a walk showed `shown` entries, fewer than the map's length. Every
 * entry asked for is a plain limit whatever else the walk met (an
 * unreadable bucket it passed, say); short of that, the status bits BPF set
 * tell, the one that drops everything first. A walk with none set read the
 * whole map without finding len entries, or found one it then could not
 * copy: the map changed while it was read.
 */
function mapCut(plan: Extract<ValuePlan, { kind: 'map' }>, shown: number, status: number): MapCut {
  if (shown === plan.keys.length) return plan.asked !== undefined ? 'event-size' : 'max-elements';
  if (status & MAP_WALK_STATUS.interrupted) return 'interrupted';
  if (status & MAP_WALK_STATUS.unreadable) return 'unreadable';
  if (status & MAP_WALK_STATUS.stepBound) return 'walk-bound';
  return 'map-changed';
}

function slotStatus(view: DataView, base: number, offset: number, capacity: number): { copied: number; error: number } {
  const copied = view.getUint32(base + offset, true);
  const error = view.getInt32(base + offset + 4, true);
  if (copied > capacity) throw new MalformedRecordError(`slot at ${offset} claims ${copied} bytes, more than its ${capacity}`);
  return { copied, error };
}

function decodeWords(view: DataView, base: number, offset: number, type: GoType): Value {
  switch (type.kind) {
    case 'interface':
      return { kind: 'interface', typeAddress: u64(view, base, offset), dataAddress: u64(view, base, offset + 8) };
    case 'slice': {
      // A slice header inside an interface's value: not followed.
      const address = u64(view, base, offset);
      const len = view.getBigInt64(base + offset + 8, true);
      const cap = view.getBigInt64(base + offset + 16, true);
      if (type.elem.kind === 'uint8') return { kind: 'bytes', bytes: new Uint8Array(0), len, cap, address, truncated: len > 0n };
      return { kind: 'slice', address, len, cap, elems: [], truncated: len > 0n };
    }
    case 'map':
      return { kind: 'map', address: u64(view, base, offset) };
    case 'chan':
      return { kind: 'chan', address: u64(view, base, offset) };
    case 'func':
      return { kind: 'func', address: u64(view, base, offset) };
    default:
      return sizeOf(type) >= 8
        ? { kind: 'opaque', typeName: type.name, address: u64(view, base, offset) }
        : { kind: 'opaque', typeName: type.name };
  }
}

function decodeScalar(view: DataView, at: number, type: GoType): Value {
  switch (type.kind) {
    case 'bool':
      return { kind: 'bool', value: view.getUint8(at) !== 0 };
    case 'float32':
      return { kind: 'float', value: view.getFloat32(at, true), bits: 32 };
    case 'float64':
      return { kind: 'float', value: view.getFloat64(at, true), bits: 64 };
    case 'complex64':
      return { kind: 'complex', real: view.getFloat32(at, true), imag: view.getFloat32(at + 4, true), bits: 64 };
    case 'complex128':
      return { kind: 'complex', real: view.getFloat64(at, true), imag: view.getFloat64(at + 8, true), bits: 128 };
    default:
      return { kind: 'int', value: readInt(view, at, type.kind as IntKind) };
  }
}

function readInt(view: DataView, at: number, kind: IntKind): bigint {
  const signed = isSignedInt(kind);
  switch (sizeOf({ kind, name: kind })) {
    case 1: return BigInt(signed ? view.getInt8(at) : view.getUint8(at));
    case 2: return BigInt(signed ? view.getInt16(at, true) : view.getUint16(at, true));
    case 4: return BigInt(signed ? view.getInt32(at, true) : view.getUint32(at, true));
    default: return signed ? view.getBigInt64(at, true) : view.getBigUint64(at, true);
  }
}
