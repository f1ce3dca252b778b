// TimeOrder (src/events/reorder.ts): records from per-CPU batches go on in time
// order up to the reader's watermark; later ones wait for the next one.

import { describe, expect, it } from 'vitest';
import { TimeOrder } from '../../src/events/reorder.js';
import { HEADER_SIZE } from '../../src/spec/record.js';

/** A batch of header-sized records; each record's func_id (offset 4) is its label, ktime_ns (offset 8) its time. */
function batch(records: [label: number, time: bigint][]): { view: DataView; records: [number, number][] } {
  const bytes = new Uint8Array(records.length * HEADER_SIZE);
  const view = new DataView(bytes.buffer);
  const out: [number, number][] = [];
  records.forEach(([label, time], i) => {
    const at = i * HEADER_SIZE;
    view.setUint32(at, 1, true);
    view.setUint32(at + 4, label, true);
    view.setBigUint64(at + 8, time, true);
    out.push([at, HEADER_SIZE]);
  });
  return { view, records: out };
}

describe('TimeOrder', () => {
  it.each<[string, [number, bigint][][], bigint[], number[][]]>([
    ['in order, all before the watermark: as they came', [[[1, 10n], [2, 20n], [3, 30n]]], [100n], [[1, 2, 3]]],
    ['out of order within a batch: sorted', [[[1, 30n], [2, 10n], [3, 20n]]], [100n], [[2, 3, 1]]],
    ['after the watermark: held for the next', [[[1, 10n], [2, 150n], [3, 20n]]], [100n], [[1, 3]]],
    [
      "two CPUs' batches, the later CPU first: merged by time",
      [
        [[5, 50n], [6, 60n]],
        [[1, 10n], [2, 55n], [3, 70n]],
      ],
      [40n, 100n],
      [[], [1, 5, 2, 6, 3]],
    ],
    ['equal times keep the order they came in', [[[1, 10n], [2, 10n]], [[3, 10n]]], [5n, 20n], [[], [1, 2, 3]]],
    ['held records go on with a later watermark and no new records', [[[1, 10n], [2, 200n]], []], [100n, 300n], [[1], [2]]],
    ['a watermark that does not move keeps holding', [[[1, 200n]], [[2, 150n]]], [100n, 100n], [[], []]],
    ['times past 2^32 ns compare by both words', [[[1, 0x1_0000_0000n], [2, 0xffff_ffffn]]], [0x2_0000_0000n], [[2, 1]]],
  ])('%s', (_name, batches, watermarks, want) => {
    const order = new TimeOrder();
    const got: number[][] = [];
    batches.forEach((records, i) => {
      const b = batch(records);
      const out: number[] = [];
      order.push(b.view, b.records, watermarks[i], (view, offset) => out.push(view.getUint32(offset + 4, true)));
      got.push(out);
    });
    expect(got).toEqual(want);
  });

  it('drain hands on every held record, oldest first, and holds none afterwards', () => {
    const order = new TimeOrder();
    const b = batch([
      [1, 300n],
      [2, 200n],
      [3, 50n],
    ]);
    const now: number[] = [];
    order.push(b.view, b.records, 100n, (view, offset) => now.push(view.getUint32(offset + 4, true)));
    expect(now).toEqual([3]);
    expect(order.heldCount).toBe(2);
    const rest: number[] = [];
    order.drain((view, offset) => rest.push(view.getUint32(offset + 4, true)));
    expect(rest).toEqual([2, 1]);
    expect(order.heldCount).toBe(0);
  });

  it('a record too short for a timestamp goes first, for the decoder to report', () => {
    const order = new TimeOrder();
    const b = batch([[1, 10n]]);
    const short = new DataView(new ArrayBuffer(12));
    const out: string[] = [];
    order.push(b.view, b.records, 5n, () => out.push('late'));
    order.push(short, [[0, 12]], 5n, (_v, _o, length) => out.push(`short ${length}`));
    expect(out).toEqual(['short 12']);
    order.drain(() => out.push('drained'));
    expect(out).toEqual(['short 12', 'drained']);
  });

  it('holds at most maxHeld records: past that the oldest go on without waiting', () => {
    const order = new TimeOrder(2);
    const b = batch([
      [1, 40n],
      [2, 10n],
      [3, 30n],
      [4, 20n],
    ]);
    const out: number[] = [];
    order.push(b.view, b.records, 0n, (view, offset) => out.push(view.getUint32(offset + 4, true)));
    expect(out).toEqual([2, 4]);
    expect(order.heldCount).toBe(2);
  });

  it('rejects a negative bound', () => {
    expect(() => new TimeOrder(-1)).toThrow('maxHeld must be a non-negative integer, not -1');
  });
});
