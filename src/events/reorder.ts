// Puts records from per-CPU batches back in time order.
//
// With per-CPU batches (bpf/weaver.h) the ring buffer holds each CPU's
// records in the order they were made, but the CPUs' batches in the order
// they were sent: a goroutine that moved to another CPU between its call
// and its return could have its return read first. The reader runs the
// flush program on every CPU and then passes a watermark, the time that
// round began: every record timed before it has been delivered. So records
// are sorted by their timestamp (the header's ktime_ns), those before the
// watermark go on, and the rest wait for the next watermark, at most one
// flush period (10 ms) later. Call/return pairing (src/events/pairing.ts) relies on
// each goroutine's records coming in order, which this restores.

import { HEADER_FIELDS } from '../spec/index.js';

const KTIME_OFFSET = HEADER_FIELDS.find((f) => f.name === 'ktime_ns')!.offset;
const TWO_32 = 4294967296;

/** Records held at most; past this the oldest go on without waiting (a watermark that stopped moving). */
export const DEFAULT_MAX_HELD = 1 << 18;

export type RecordSink = (view: DataView, offset: number, length: number) => void;

interface Held {
  view: DataView;
  offset: number;
  length: number;
  time: number;
}

/**
 * A record's ktime_ns as a number: exact below 2^53 ns (104 days of
 * uptime), and past that still ordered but for records a few hundred ns
 * apart. A record too short to hold it sorts first (the decoder will
 * report it as malformed).
 */
function recordTime(view: DataView, offset: number, length: number): number {
  if (length < KTIME_OFFSET + 8) return -1;
  return view.getUint32(offset + KTIME_OFFSET + 4, true) * TWO_32 + view.getUint32(offset + KTIME_OFFSET, true);
}

export class TimeOrder {
  private held: Held[] = [];

  constructor(private readonly maxHeld = DEFAULT_MAX_HELD) {
    if (!Number.isSafeInteger(maxHeld) || maxHeld < 0) throw new RangeError(`maxHeld must be a non-negative integer, not ${maxHeld}`);
  }

  /** Records waiting for a later watermark. */
  get heldCount(): number {
    return this.held.length;
  }

  /**
   * Takes the records of one batch (`records` lists each one's offset and
   * length in `view`) and calls `sink` for every record, of this batch or
   * held from before, timed before `watermark`, oldest first; records of
   * equal time keep the order they came in. The others are held.
   */
  push(view: DataView, records: readonly [number, number][], watermark: bigint, sink: RecordSink): void {
    const mark = Number(watermark);
    const times = records.map(([offset, length]) => recordTime(view, offset, length));
    if (this.held.length === 0 && inOrderBefore(times, mark)) {
      for (const [offset, length] of records) sink(view, offset, length);
      return;
    }
    const all = this.held;
    records.forEach(([offset, length], i) => all.push({ view, offset, length, time: times[i]! }));
    all.sort((a, b) => a.time - b.time);
    let ready = 0;
    while (ready < all.length && all[ready]!.time < mark) ready++;
    // A watermark that stopped moving (a CPU whose batch stayed busy) must
    // not make memory grow: the oldest go on regardless.
    if (all.length - ready > this.maxHeld) ready = all.length - this.maxHeld;
    for (let i = 0; i < ready; i++) sink(all[i]!.view, all[i]!.offset, all[i]!.length);
    this.held = all.slice(ready);
  }

  /** Every held record, oldest first (tracing ends); none is held afterwards. */
  drain(sink: RecordSink): void {
    const all = this.held;
    this.held = [];
    for (const r of all) sink(r.view, r.offset, r.length);
  }
}

function inOrderBefore(times: readonly number[], mark: number): boolean {
  for (let i = 0; i < times.length; i++) {
    if (times[i]! >= mark || (i > 0 && times[i]! < times[i - 1]!)) return false;
  }
  return true;
}
