// The record plan: for one traced function, where each argument's bytes go
// in the record the BPF program writes. It is the single description both
// the C generator (src/bpf/codegen.ts) and the decoder (src/events/decode.ts) walk, so
// every offset used on either side comes from here.
//
// Layout of a call record:
//   header (src/spec/record.ts)
//   stack area: a copy of [sp+8, sp+8+N) holding every stack-assigned argument
//   register images: for each register-assigned argument, its in-memory image
//     rebuilt from the registers that carry its pieces
//   slots: data behind pointers (string bytes, slice elements), each
//     [u32 bytes copied][s32 error][bytes…] with a fixed capacity

import { IFACE_STRINGS, type FunctionNames, type RuntimeTypes } from '../binary/index.js';
import { alignOf, alignUp, DICTIONARY_PARAM, makeStruct, sizeOf, type FunctionSpec, type GoAbi, type GoType, type IntRegister, type ValueLocation } from '../core/index.js';
import { HEADER_SIZE } from './record.js';

export interface PlanOptions {
  /** Bytes of each string captured (--string-size); also of each []byte. */
  stringSize: number;
  /** Elements of each slice captured (--max-elements). */
  maxElements: number;
  /** Upper bound on one record's size (--max-event-size); containers shrink to fit. */
  maxRecordSize: number;
  /**
   * --max-elements as asked, when planFunction lowered maxElements to fit
   * --max-event-size: maps record it so that a cut can be told apart.
   */
  askedMaxElements?: number;
  /**
   * Levels of references followed from an argument (--depth): pointers,
   * slice elements, interface values, map and channel headers each take
   * one level; string bytes take none. Default 2.
   */
  depth?: number;
  /**
   * Descriptor addresses → types, for interface values, asked for only when
   * an interface is planned; without it interfaces show addresses only.
   */
  runtimeTypes?: () => RuntimeTypes | null;
  /**
   * Code addresses → function names, for func values; without it a func
   * value shows its address only.
   */
  functionNames?: () => FunctionNames;
  /**
   * How the binary's maps are laid out, for reading entries: the bucket
   * hash map before Go 1.24, Swiss tables from 1.24. Unknown: length only.
   */
  mapLayout?: MapLayout;
}

export type MapLayout = 'hmap' | 'swiss';

/**
 * The map layout a Go version uses (GOEXPERIMENT=noswissmap builds of
 * 1.24–1.25 are not told apart), for reading entries; undefined (length
 * only) when it is unknown or when the kernel has no bpf_loop, which runs
 * the walk over a map's storage (bpf/weaver.h weaver_map_walk).
 */
export function mapLayoutForVersion(goVersion: string | null, kernelHasBpfLoop: boolean): MapLayout | undefined {
  if (!kernelHasBpfLoop) return undefined;
  const m = goVersion ? /^go1\.(\d+)/.exec(goVersion) : null;
  if (!m) return undefined;
  return Number(m[1]) >= 24 ? 'swiss' : 'hmap';
}

/** Bytes of the map header read: hmap {count, flags, B, …, buckets at 16, oldbuckets at 24} / maps.Map {used, seed, dirPtr at 16, dirLen at 24}. */
export const MAP_HEADER_BYTES = 48;
/** Keys and values larger than this are stored behind pointers in both layouts: weaver shows only the length then. */
const MAX_INLINE_MAP_SLOT = 128;
/**
 * Steps of one map walk at most: each visits one bucket (or overflow
 * bucket), one group or one directory entry. A walk stopped by this bound
 * before it found enough entries shows fewer than the map's length, marked
 * truncated.
 */
export const MAP_WALK_STEPS = 1024;
/** Entries collected by a walk at most: the BPF scratch array's size (--max-elements is at most 1024). */
export const MAP_MAX_ENTRIES = 1024;
/**
 * Bits of a map walk's status word (the u32 after the entry count at
 * `walk`): the step bound stopped it; a bucket, group or table could not be
 * read; another program on the same CPU walked a map meanwhile, so nothing
 * was kept.
 */
export const MAP_WALK_STATUS = { stepBound: 1, unreadable: 2, interrupted: 4 } as const;

export const DEFAULT_PLAN_OPTIONS: PlanOptions = { stringSize: 64, maxElements: 16, maxRecordSize: 16384, depth: 2 };

export const DEFAULT_DEPTH = 2;

/** Bytes of a pointee captured at most; fields past them show as not captured. */
export const MAX_POINTEE_BYTES = 512;

/** Bytes copied behind an interface's data word: enough for small structs and errors. */
export const IFACE_BLOCK_BYTES = 64;

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
  /**
   * `[]byte` (data: a slot of up to --string-size bytes) or `[N]byte`
   * (data null: the first `shown` bytes of the image itself).
   */
  | { kind: 'bytes'; type: GoType; offset: number; data: Slot | null; shown: number }
  /** `target` when the pointer is followed: the pointee's bytes in `data`, laid out as `plan`. */
  | { kind: 'pointer'; type: GoType; offset: number; target: { data: Slot; plan: ValuePlan } | null }
  | { kind: 'array'; type: GoType; offset: number; elems: ValuePlan[] }
  | { kind: 'struct'; type: GoType; offset: number; fields: { name: string; plan: ValuePlan }[] }
  /**
   * An interface whose dynamic type BPF resolves at run time: `typeAt` gets
   * the descriptor's link-time address (8 bytes; 0 for nil or unreadable),
   * `data` the bytes behind the data word and `strings` the strings they
   * point to, as runtimetypes.ifaceRecipe says for that type.
   */
  | {
      kind: 'interface'; type: GoType; offset: number; empty: boolean;
      typeAt: number; data: Slot; strings: Slot[]; types: RuntimeTypes;
    }
  /**
   * A map or channel header read through its pointer: map count / channel
   * qcount and dataqsiz. For a func value, the funcval's first word (the
   * code pointer, which BPF turns into a link-time address: `code`) and the
   * table that names it.
   */
  | { kind: 'header'; type: GoType; offset: number; data: Slot; code?: FunctionNames }
  /**
   * A map with entries. BPF copies the header (hmap or maps.Map) into
   * `header`, walks the map's buckets or groups collecting up to
   * `keys.length` full slots, and copies the k-th slot's key and elem into
   * `keys[k]` / `elems[k]`: entry k's image, struct{key K; elem V} of
   * `entry.size` bytes with the elem at `entry.elemAt`, is at `entry.images
   * + k * entry.size`. At `walk`: u32 entries copied (entries 0..n-1 are
   * valid), u32 walk status (MAP_WALK_STATUS).
   */
  | {
      kind: 'map'; type: GoType; offset: number; layout: MapLayout; header: Slot; walk: number;
      group: MapGroupLayout; entry: { images: number; size: number; elemAt: number; keySize: number; elemSize: number };
      keys: ValuePlan[]; elems: ValuePlan[];
      /** Entries --max-elements asked for, when more than `keys.length` (fewer kept to fit --max-event-size). */
      asked?: number;
    }
  /** interface (types unknown), map, chan, func, opaque: words we show as addresses. */
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
  /** --stack: where the entry record's call stack tail is (src/spec/record.ts STACK_TAIL), its capacity, and the probe's link-time address. */
  stack?: { offset: number; frames: number; probeAddress: number };
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
  let opts = { ...options, askedMaxElements: options.askedMaxElements ?? options.maxElements };
  for (;;) {
    const plan = tryPlan(id, spec, abi, locations, opts);
    if (plan.recordSize <= options.maxRecordSize) return plan;
    if (opts.maxElements > 1) opts = { ...opts, maxElements: Math.max(1, Math.floor(opts.maxElements / 2)) };
    else if (opts.stringSize > 8) opts = { ...opts, stringSize: Math.max(8, Math.floor(opts.stringSize / 2)) };
    else if (depthOf(opts) > 0) opts = { ...opts, depth: depthOf(opts) - 1 };
    else {
      throw new PlanTooLargeError(
        `the arguments of ${spec.name} need ${plan.recordSize} bytes per call, more than --max-event-size ${options.maxRecordSize}`,
      );
    }
  }
}

function tryPlan(id: number, spec: FunctionSpec, abi: GoAbi, allLocations: ValueLocation[], options: PlanOptions): FunctionPlan {
  // A generic method's dictionary takes its register, but is the compiler's, not the caller's: not captured.
  const locations = allLocations.filter((l) => l.param.name !== DICTIONARY_PARAM);
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
  // take() leaves the cursor at the 8-aligned end of the area.
  const stackArea = stackEnd > 0 ? { offset: take(stackEnd), size: alignUp(stackEnd, 8) } : null;

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
    const value = planValue(loc.param.type, base, 0, unreadable, options, take, depthOf(options));
    return { name: loc.param.name, type: loc.param.type, registerWrites, onStack, value };
  });

  return { id, name: spec.name, abi, args, stackArea, recordSize: cursor };
}

function stackOffsetOf(loc: ValueLocation): number {
  const p = loc.pieces.find((x) => x.location.kind === 'stack')!;
  return (p.location as { offset: number }).offset - p.offset;
}

type Take = (size: number) => number;

function depthOf(options: PlanOptions): number {
  return options.depth ?? DEFAULT_DEPTH;
}

interface Unreadable {
  start: number;
  end: number;
  reason: string;
}

/**
 * Plans a value whose image starts at record offset `offset`; `imageOffset`
 * is its offset inside the image that `unreadable` ranges refer to (a
 * top-level register argument, or a pointee copied only in part). `depth`
 * is how many more references may be followed.
 */
function planValue(
  type: GoType,
  offset: number,
  imageOffset: number,
  unreadable: Unreadable[],
  options: PlanOptions,
  take: Take,
  depth: number,
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
          plan: planValue(f.type, offset + f.offset, imageOffset + f.offset, unreadable, options, take, depth),
        })),
      };
    case 'array': {
      if (isByte(type.elem)) {
        const shown = Math.min(type.len, options.stringSize);
        const cut = unreadable.find((u) => u.start < imageOffset + Math.max(shown, 1) && imageOffset < u.end);
        if (cut) return { kind: 'unavailable', type, reason: cut.reason };
        return { kind: 'bytes', type, offset, data: null, shown };
      }
      const elemSize = sizeOf(type.elem);
      const shown = Math.min(type.len, options.maxElements);
      const elems: ValuePlan[] = [];
      for (let i = 0; i < shown; i++) {
        elems.push(planValue(type.elem, offset + i * elemSize, imageOffset + i * elemSize, unreadable, options, take, depth));
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
      if (isByte(type.elem)) {
        if (depth <= 0) return { kind: 'bytes', type, offset, data: takeSlot(0, take), shown: 0 };
        return { kind: 'bytes', type, offset, data: takeSlot(options.stringSize, take), shown: options.stringSize };
      }
      const elemSize = sizeOf(type.elem);
      const count = depth > 0 ? options.maxElements : 0;
      if (elemSize === 0 || count === 0) {
        return { kind: 'slice', type, offset, data: takeSlot(0, take), elemSize, elems: [] };
      }
      const data = takeSlot(count * elemSize, take);
      const elems: ValuePlan[] = [];
      for (let i = 0; i < count; i++) {
        // Elements inside a slot were copied from memory: nothing in them is unreadable.
        elems.push(planValue(type.elem, data.offset + SLOT_HEADER + i * elemSize, 0, [], options, take, depth - 1));
      }
      return { kind: 'slice', type, offset, data, elemSize, elems };
    }
    case 'pointer': {
      const elem = type.elem;
      if (depth <= 0 || !elem || !followable(elem)) return { kind: 'pointer', type, offset, target: null };
      const elemSize = sizeOf(elem);
      const captured = Math.min(elemSize, MAX_POINTEE_BYTES);
      const cut: Unreadable[] =
        captured < elemSize
          ? [{ start: captured, end: elemSize, reason: `beyond the first ${captured} bytes of ${elem.name} that weaver captures` }]
          : [];
      const data = takeSlot(captured, take);
      const plan = planValue(elem, data.offset + SLOT_HEADER, 0, cut, options, take, depth - 1);
      return { kind: 'pointer', type, offset, target: { data, plan } };
    }
    case 'interface': {
      const types = depth > 0 ? options.runtimeTypes?.() : null;
      if (!types) return { kind: 'words', type, offset };
      const typeAt = take(8);
      const data = takeSlot(IFACE_BLOCK_BYTES, take);
      const strings: Slot[] = [];
      for (let i = 0; i < IFACE_STRINGS; i++) strings.push(takeSlot(options.stringSize, take));
      return { kind: 'interface', type, offset, empty: type.empty, typeAt, data, strings, types };
    }
    case 'map':
      if (depth <= 0) return { kind: 'words', type, offset };
      return planMap(type, offset, options, take, depth);
    case 'chan':
      if (depth <= 0) return { kind: 'words', type, offset };
      // hchan starts qcount, dataqsiz in every Go version.
      return { kind: 'header', type, offset, data: takeSlot(16, take) };
    case 'func': {
      const names = depth > 0 ? options.functionNames?.() : undefined;
      if (!names) return { kind: 'words', type, offset };
      return { kind: 'header', type, offset, data: takeSlot(8, take), code: names };
    }
    case 'opaque':
      return { kind: 'words', type, offset };
    default:
      return { kind: 'scalar', type, offset };
  }
}

/**
 * Where slot i's key and elem are in a bucket (hmap) or group (Swiss),
 * from its start: at `keysOff + i * keyStride` and `elemsOff + i * elemStride`.
 * Slot i's tophash / control byte is byte i of the first word in both.
 */
export interface MapGroupLayout {
  groupSize: number;
  keysOff: number;
  keyStride: number;
  elemsOff: number;
  elemStride: number;
}

export function mapGroupLayout(layout: MapLayout, key: GoType, elem: GoType): MapGroupLayout {
  const ks = sizeOf(key);
  const vs = sizeOf(elem);
  if (layout === 'hmap') {
    // tophash [8]uint8, keys [8]K, elems [8]V, overflow pointer.
    const overflowAt = alignUp(8 + 8 * ks + 8 * vs, 8);
    return { groupSize: overflowAt + 8, keysOff: 8, keyStride: ks, elemsOff: 8 + 8 * ks, elemStride: vs };
  }
  // ctrl uint64, then [8]struct{key K; elem V} (Go 1.24's only layout, 1.27's default; GOEXPERIMENT=mapsplitgroup is not told apart).
  const slot = makeStruct('', [{ name: 'key', type: key }, { name: 'elem', type: elem }]);
  const slotSize = sizeOf(slot);
  const elemOff = slot.kind === 'struct' ? slot.fields[1]!.offset : ks;
  const groupSize = alignUp(8 + 8 * slotSize, Math.max(8, alignOf(slot)));
  return { groupSize, keysOff: 8, keyStride: slotSize, elemsOff: 8 + elemOff, elemStride: slotSize };
}

/**
 * A map's record part: header, walk word, then one image per entry shown,
 * each laid out as struct{key K; elem V}, followed by the slots its strings
 * and pointers lead to.
 */
function planMap(type: Extract<GoType, { kind: 'map' }>, offset: number, options: PlanOptions, take: Take, depth: number): ValuePlan {
  const layout = options.mapLayout;
  const inline = sizeOf(type.key) <= MAX_INLINE_MAP_SLOT && sizeOf(type.elem) <= MAX_INLINE_MAP_SLOT;
  const count = Math.min(options.maxElements, MAP_MAX_ENTRIES);
  const asked = Math.min(options.askedMaxElements ?? options.maxElements, MAP_MAX_ENTRIES);
  if (!layout || !inline || count === 0) {
    // count (old hmap) and used (Swiss Map) are both the first word.
    return { kind: 'header', type, offset, data: takeSlot(8, take) };
  }
  const header = takeSlot(MAP_HEADER_BYTES, take);
  const walk = take(8);
  const entry = makeStruct('', [{ name: 'key', type: type.key }, { name: 'elem', type: type.elem }]);
  const entrySize = sizeOf(entry);
  const elemOff = entry.kind === 'struct' ? entry.fields[1]!.offset : 0;
  const images = take(count * entrySize);
  const keys: ValuePlan[] = [];
  const elems: ValuePlan[] = [];
  for (let k = 0; k < count; k++) {
    // Entry images were copied from memory: nothing in them is unreadable.
    keys.push(planValue(type.key, images + k * entrySize, 0, [], options, take, depth - 1));
    elems.push(planValue(type.elem, images + k * entrySize + elemOff, 0, [], options, take, depth - 1));
  }
  return {
    kind: 'map', type, offset, layout, header, walk, group: mapGroupLayout(layout, type.key, type.elem),
    entry: { images, size: entrySize, elemAt: elemOff, keySize: sizeOf(type.key), elemSize: sizeOf(type.elem) }, keys, elems,
    ...(asked > count ? { asked } : {}),
  };
}

function isByte(t: GoType): boolean {
  return t.kind === 'uint8';
}

/** Pointees worth copying: something the decoder can show, of non-zero size. */
function followable(t: GoType): boolean {
  return t.kind !== 'opaque' && t.kind !== 'func' && sizeOf(t) > 0;
}

function takeSlot(capacity: number, take: Take): Slot {
  return { offset: take(SLOT_HEADER + capacity), capacity };
}
