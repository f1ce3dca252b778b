// Decodes ring-buffer records into CallEvents by walking the same plans
// the C generator walked. Every read is checked against the record's length
// first; a record that does not match its plan is reported, never guessed at.

import { isSignedInt, sizeOf, type GoType, type IntKind } from './gotypes.js';
import type { CallEvent, DecodedArg, Value } from './model.js';
import { SLOT_HEADER, type FunctionPlan, type ValuePlan } from './plan.js';
import { HEADER_FLAG, HEADER_SIZE, readHeader } from './record.js';

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
    const stackFailed = (h.flags & HEADER_FLAG.stackReadFailed) !== 0;
    let args: DecodedArg[] | null = null;
    if (plan.args) {
      args = plan.args.map((a) => ({
        name: a.name,
        type: a.type.name,
        value:
          a.onStack && stackFailed
            ? { kind: 'unavailable', reason: 'the stack of the call could not be read' }
            : decodeValue(view, base, a.value),
      }));
    }
    return {
      ts: h.ktimeNs + this.clockOffsetNs,
      function: plan.name,
      pid: h.pid,
      tid: h.tid,
      ppid: h.ppid,
      comm: h.comm,
      goid: h.goid,
      args,
    };
  }
}

function u64(view: DataView, base: number, off: number): bigint {
  return view.getBigUint64(base + off, true);
}

function hex(n: bigint): string {
  return `0x${n.toString(16)}`;
}

export function decodeValue(view: DataView, base: number, plan: ValuePlan): Value {
  switch (plan.kind) {
    case 'unavailable':
      return { kind: 'unavailable', reason: plan.reason };
    case 'scalar':
      return decodeScalar(view, base + plan.offset, plan.type);
    case 'pointer':
      return { kind: 'pointer', address: u64(view, base, plan.offset) };
    case 'array':
      return { kind: 'array', elems: plan.elems.map((e) => decodeValue(view, base, e)) };
    case 'struct':
      return { kind: 'struct', fields: plan.fields.map((f) => ({ name: f.name, value: decodeValue(view, base, f.plan) })) };
    case 'string': {
      const ptr = u64(view, base, plan.offset);
      const len = view.getBigInt64(base + plan.offset + 8, true);
      if (len === 0n) return { kind: 'string', bytes: new Uint8Array(0), len: 0, truncated: false };
      if (len < 0n) return { kind: 'unavailable', reason: `invalid string length ${len}` };
      const { copied, error } = slotStatus(view, base, plan.data.offset, plan.data.capacity);
      if (error !== 0 || copied === 0) {
        return { kind: 'unavailable', reason: `could not read the string's ${len} bytes at ${hex(ptr)} (error ${error})` };
      }
      const start = view.byteOffset + base + plan.data.offset + SLOT_HEADER;
      const bytes = new Uint8Array(view.buffer.slice(start, start + copied));
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
      for (let i = 0; i < count; i++) elems.push(decodeValue(view, base, plan.elems[i]));
      return { kind: 'slice', address, len, cap, elems, truncated: BigInt(elems.length) < len };
    }
    case 'words':
      return decodeWords(view, base, plan.offset, plan.type);
  }
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
