// settle(): how long weaver waits at the end for records still in the
// kernel buffer. With the ring buffer's pending bytes it waits until they
// are read, however long the reader takes while it makes progress; without
// them (perf buffers) until the count of events has been quiet for a moment.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { settle } from '../../src/process/stop.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

interface Case {
  name: string;
  /** Events read by time t (ms since settle began). */
  count: (t: number) => number;
  /** Bytes not yet read at time t; undefined: not known. */
  pending?: (t: number) => number | undefined;
  options?: { quietToo?: boolean; quietMs?: number; stallMs?: number; maxMs?: number };
  /** When settle returns, in ms, to the 25 ms tick. */
  returnsAt: number;
}

const CASES: Case[] = [
  { name: 'nothing pending: returns at once', count: () => 0, pending: () => 0, returnsAt: 0 },
  {
    name: 'pending bytes: waits past the quiet time until they are read',
    count: (t) => Math.min(t, 1000),
    pending: (t) => (t < 1000 ? 4096 : 0),
    options: { maxMs: 60_000 },
    returnsAt: 1000,
  },
  {
    name: 'pending bytes but no progress: gives up after the stall time',
    count: () => 7,
    pending: () => 4096,
    options: { stallMs: 300, maxMs: 60_000 },
    returnsAt: 300,
  },
  {
    name: 'pending bytes and progress: stops at the time limit',
    count: (t) => t,
    pending: () => 4096,
    options: { maxMs: 2000 },
    returnsAt: 2000,
  },
  { name: 'pending unknown (perf buffers): the count quiet for 150 ms', count: (t) => Math.min(t, 100), returnsAt: 250 },
  {
    name: 'quiet too (Ctrl-C): nothing pending, then the count quiet for 150 ms',
    count: () => 3,
    pending: () => 0,
    options: { quietToo: true },
    returnsAt: 150,
  },
  {
    name: 'quiet too: a record still in a per-CPU batch is waited for, then 150 ms of quiet',
    count: (t) => (t < 160 ? 3 : 4),
    pending: (t) => (t < 160 ? 168 : 0),
    options: { quietToo: true },
    returnsAt: 325,
  },
  {
    name: 'quiet too and events keep coming: the time limit',
    count: (t) => t,
    pending: (t) => (t % 50 < 25 ? 0 : 4096),
    options: { quietToo: true },
    returnsAt: 2000,
  },
  { name: 'pending unknown and events keep coming: the time limit', count: (t) => t, options: { maxMs: 2000 }, returnsAt: 2000 },
];

describe('settle', () => {
  it.each(CASES)('$name', async (c) => {
    const start = Date.now();
    const t = () => Date.now() - start;
    let returned: number | undefined;
    const done = settle(() => c.count(t()), { ...c.options, pending: c.pending ? () => c.pending!(t()) : undefined }).then(() => {
      returned = t();
    });
    while (returned === undefined && t() < 120_000) await vi.advanceTimersByTimeAsync(25);
    await done;
    expect(returned).toBeGreaterThanOrEqual(c.returnsAt);
    expect(returned).toBeLessThanOrEqual(c.returnsAt + 25);
  });
});
