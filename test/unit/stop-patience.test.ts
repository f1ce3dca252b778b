// outputPatience(): how long weaver waits for a reader that does not read
// once tracing is over. Until the first stop signal as long as it takes,
// then 2 s more; the second stop signal ends the wait at once, also when it
// came before the wait began (during the final read of the kernel buffer,
// which with perf buffers takes a quiet 250 ms: a second Ctrl-C then used to
// wait out the whole grace time).

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { outputPatience, SignalWatch } from '../../src/process/stop.js';

// A signal of its own, raised with process.emit: no real signal is sent, and
// weaver's usual ones are left alone.
const SIGNAL: NodeJS.Signals = 'SIGUSR2';
const watch = new SignalWatch([SIGNAL]);
const raise = () => process.emit(SIGNAL as never);

beforeEach(() => {
  vi.useFakeTimers();
  watch.count = 0;
});
afterEach(() => {
  vi.useRealTimers();
});

interface Case {
  name: string;
  /** Signals received before the wait begins. */
  before: number;
  /** When further signals come, in ms after the wait began. */
  at: number[];
  /** When the wait ends, in ms; null: not within 10 s. */
  endsAt: number | null;
}

const CASES: Case[] = [
  { name: 'no signal: waits as long as the reader takes', before: 0, at: [], endsAt: null },
  { name: 'no signal before, one during: 2 s after it', before: 0, at: [500], endsAt: 2500 },
  { name: 'no signal before, two during: at the second', before: 0, at: [500, 800], endsAt: 800 },
  { name: 'the signal that ended tracing: 2 s', before: 1, at: [], endsAt: 2000 },
  { name: 'the signal that ended tracing, then a second: at the second', before: 1, at: [300], endsAt: 300 },
  { name: 'a second signal before the wait began: at once', before: 2, at: [], endsAt: 0 },
  { name: 'a third signal before the wait began: at once', before: 3, at: [], endsAt: 0 },
];

describe('outputPatience', () => {
  it.each(CASES)('$name', async (c) => {
    for (let i = 0; i < c.before; i++) raise();
    const p = outputPatience(watch);
    let endedAt: number | null = null;
    const start = Date.now();
    void p.promise.then(() => (endedAt = Date.now() - start));
    for (const t of c.at) setTimeout(raise, t);
    await vi.advanceTimersByTimeAsync(0);
    while (endedAt === null && Date.now() - start < 10_000) await vi.advanceTimersByTimeAsync(50);
    p.cancel();
    if (c.endsAt === null) expect(endedAt).toBeNull();
    else {
      expect(endedAt).not.toBeNull();
      expect(endedAt!).toBeGreaterThanOrEqual(c.endsAt);
      expect(endedAt!).toBeLessThanOrEqual(c.endsAt + 50);
    }
  });

  it('cancelled before any signal: a later signal leaves no timer running', async () => {
    const p = outputPatience(watch);
    p.cancel();
    raise();
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
