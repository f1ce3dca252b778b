// The record plan: for one traced function, where each argument's bytes go
// in the record the BPF program writes. It is the single description both
// the C generator (src/codegen.ts) and the decoder (src/decode.ts) walk, so
// every offset used on either side comes from here.
//
// Layout of a call record:
//   header (src/record.ts)
//   stack area: a copy of [sp+8, sp+8+N) holding every stack-assigned argument
//   register images: for each register-assigned argument, its in-memory image
//     rebuilt from the registers that carry its pieces
//   slots: data behind pointers (string bytes, slice elements), each
//     [u32 bytes copied][s32 error][bytes…] with a fixed capacity

import { alignUp, sizeOf, type FunctionSpec, type GoType } from './gotypes.js';
import type { GoAbi, IntRegister, ValueLocation } from './model.js';
import { HEADER_SIZE } from './record.js';

export interface PlanOptions {
  /** Bytes of each string captured (--string-size). */
  stringSize: number;
  /** Elements of each slice captured (--max-elements). */
  maxElements: number;
  /** Upper bound on one record's size (--max-event-size); containers shrink to fit. */
  maxRecordSize: number;
}

export const DEFAULT_PLAN_OPTIONS: PlanOptions = { stringSize: 64, maxElements: 16, maxRecordSize: 16384 };

/** Bytes before a slot's data: u32 bytes copied, s32 error. */
export const SLOT_HEADER = 8;

export interface Slot {
  offset: number;
  capacity: number;
}

export type ValuePlan =
  /** bool, integers, floats, complex: `sizeOf(type)` bytes at `offset`. */
  | { kind: 'scalar'; type: GoType; offset: number }
  | { kind: 'string'; type: GoType; offset: number; data: Slot }
  /** `elems[i]` describes element i inside `data`; only elements fully copied are decoded. */
  | { kind: 'slice'; type: GoType; offset: number; data: Slot; elemSize: number; elems: ValuePlan[] }
  | { kind: 'pointer'; type: GoType; offset: number }
  | { kind: 'array'; type: GoType; offset: number; elems: ValuePlan[] }
  | { kind: 'struct'; type: GoType; offset: number; fields: { name: string; plan: ValuePlan }[] }
  /** interface, map, chan, func, opaque: words we show as addresses (decoded fully in later stages). */
  | { kind: 'words'; type: GoType; offset: number }
  /** Nothing of the value can be read; `reason` says why. */
  | { kind: 'unavailable'; type: GoType; reason: string };

export interface RegisterWrite {
  /** Record offset the register's low `size` bytes are written to. */
  recordOffset: number;
  size: number;
  reg: IntRegister;
}

export interface ArgPlan {
  name: string;
  type: GoType;
  /** Register pieces to copy into the record (empty for stack-assigned arguments). */
  registerWrites: RegisterWrite[];
  /** True when the argument lives in the stack area (its value is unreadable if that copy failed). */
  onStack: boolean;
  value: ValuePlan;
}

export interface FunctionPlan {
  id: number;
  name: string;
  abi: GoAbi;
  /** null in names-only mode: the record is the header alone. */
  args: ArgPlan[] | null;
  /** Where [sp+8, sp+8+size) is copied; null when no argument is on the stack. */
  stackArea: { offset: number; size: number } | null;
  /** Size of every record of this function. */
  recordSize: number;
}

/** Thrown (as plain Error; callers wrap it) when a record cannot be made to fit. */
export class PlanTooLargeError extends Error {}

/**
 * Plans one function. `locations` come from the ABI calculator for
 * `spec.params`; pass null for names-only tracing.
 */
export function planFunction(
  id: number,
  spec: FunctionSpec,
  abi: GoAbi,
  locations: ValueLocation[] | null,
  options: PlanOptions = DEFAULT_PLAN_OPTIONS,
): FunctionPlan {
  if (!locations) {
    return { id, name: spec.name, abi, args: null, stackArea: null, recordSize: HEADER_SIZE };
  }
  // Shrink containers until the record fits the budget: halve element
  // counts first, then string sizes, keeping at least one of each.
  let opts = { ...options };
  for (;;) {
    const plan = tryPlan(id, spec, abi, locations, opts);
    if (plan.recordSize <= options.maxRecordSize) return plan;
    if (opts.maxElements > 1) opts = { ...opts, maxElements: Math.max(1, Math.floor(opts.maxElements / 2)) };
    else if (opts.stringSize > 8) opts = { ...opts, stringSize: Math.max(8, Math.floor(opts.stringSize / 2)) };
    else {
      throw new PlanTooLargeError(
        `the arguments of ${spec.name} need ${plan.recordSize} bytes per call, more than --max-event-size ${options.maxRecordSize}`,
      );
    }
  }
}

function tryPlan(id: number, spec: FunctionSpec, abi: GoAbi, locations: ValueLocation[], options: PlanOptions): FunctionPlan {
  let cursor = HEADER_SIZE;
  const take = (size: number): number => {
    const at = cursor;
    cursor = alignUp(cursor + size, 8);
    return at;
  };

  // One copy of the stack area covers every stack-assigned argument.
  let stackEnd = 0;
  for (const loc of locations) {
    for (const p of loc.pieces) {
      if (p.location.kind === 'stack') stackEnd = Math.max(stackEnd, p.location.offset + p.size);
    }
  }
  const stackArea = stackEnd > 0 ? { offset: take(stackEnd), size: alignUp(stackEnd, 8) } : null;
  if (stackArea) cursor = stackArea.offset + stackArea.size;

  // Register images, then slots (allocated while planning values).
  const images = locations.map((loc) => {
    const onStack = loc.pieces.some((p) => p.location.kind === 'stack');
    if (onStack) return { onStack, base: stackArea!.offset + stackOffsetOf(loc) };
    return { onStack, base: take(sizeOf(loc.param.type)) };
  });

  const args: ArgPlan[] = locations.map((loc, i) => {
    const { onStack, base } = images[i];
    const registerWrites: RegisterWrite[] = [];
    const unreadable: { start: number; end: number; reason: string }[] = [];
    for (const p of loc.pieces) {
      if (p.location.kind === 'reg') registerWrites.push({ recordOffset: base + p.offset, size: p.size, reg: p.location.reg });
      else if (p.location.kind === 'freg') {
        unreadable.push({
          start: p.offset,
          end: p.offset + p.size,
          reason: `passed in register X${p.location.reg}, which eBPF cannot read`,
        });
      }
    }
    const value = planValue(loc.param.type, base, 0, unreadable, options, take);
    return { name: loc.param.name, type: loc.param.type, registerWrites, onStack, value };
  });

  return { id, name: spec.name, abi, args, stackArea, recordSize: cursor };
}

function stackOffsetOf(loc: ValueLocation): number {
  const p = loc.pieces.find((x) => x.location.kind === 'stack')!;
  return (p.location as { offset: number }).offset - p.offset;
}

type Take = (size: number) => number;

/**
 * Plans a value whose image starts at record offset `offset`; `imageOffset`
 * is its offset inside the top-level argument (for the unreadable ranges,
 * which only top-level register arguments have).
 */
function planValue(
  type: GoType,
  offset: number,
  imageOffset: number,
  unreadable: { start: number; end: number; reason: string }[],
  options: PlanOptions,
  take: Take,
): ValuePlan {
  const size = sizeOf(type);
  const blocked = unreadable.find((u) => u.start < imageOffset + Math.max(size, 1) && imageOffset < u.end);
  switch (type.kind) {
    case 'struct':
      return {
        kind: 'struct',
        type,
        offset,
        fields: type.fields.map((f) => ({
          name: f.name,
          plan: planValue(f.type, offset + f.offset, imageOffset + f.offset, unreadable, options, take),
        })),
      };
    case 'array': {
      const elemSize = sizeOf(type.elem);
      const shown = Math.min(type.len, options.maxElements);
      const elems: ValuePlan[] = [];
      for (let i = 0; i < shown; i++) {
        elems.push(planValue(type.elem, offset + i * elemSize, imageOffset + i * elemSize, unreadable, options, take));
      }
      return { kind: 'array', type, offset, elems };
    }
    default:
      break;
  }
  if (blocked) return { kind: 'unavailable', type, reason: blocked.reason };
  switch (type.kind) {
    case 'string': {
      const data = takeSlot(options.stringSize, take);
      return { kind: 'string', type, offset, data };
    }
    case 'slice': {
      const elemSize = sizeOf(type.elem);
      if (elemSize === 0) {
        return { kind: 'slice', type, offset, data: takeSlot(0, take), elemSize, elems: [] };
      }
      const data = takeSlot(options.maxElements * elemSize, take);
      const elems: ValuePlan[] = [];
      for (let i = 0; i < options.maxElements; i++) {
        // Elements inside a slot were copied from memory: nothing in them is unreadable.
        elems.push(planValue(type.elem, data.offset + SLOT_HEADER + i * elemSize, 0, [], options, take));
      }
      return { kind: 'slice', type, offset, data, elemSize, elems };
    }
    case 'pointer':
      return { kind: 'pointer', type, offset };
    case 'interface': case 'map': case 'chan': case 'func': case 'opaque':
      return { kind: 'words', type, offset };
    default:
      return { kind: 'scalar', type, offset };
  }
}

function takeSlot(capacity: number, take: Take): Slot {
  return { offset: take(SLOT_HEADER + capacity), capacity };
}
