// The ways a trace ends, as promises to race: a signal, a timer, the
// traced processes going away. Each comes with a cancel() so nothing
// lingers (a pending timer would keep Node running).

import { processAlive } from './procfs.js';

export interface StopSource<T = string> {
  promise: Promise<T>;
  cancel(): void;
}

export const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Resolves with the name of the first of `signals` received. */
export function onSignal(signals: NodeJS.Signals[] = STOP_SIGNALS): StopSource {
  const handlers: [NodeJS.Signals, () => void][] = [];
  const cancel = () => {
    for (const [sig, h] of handlers) process.off(sig, h);
  };
  const promise = new Promise<string>((resolve) => {
    for (const sig of signals) {
      const h = () => {
        cancel();
        resolve(sig);
      };
      handlers.push([sig, h]);
      process.on(sig, h);
    }
  });
  return { promise, cancel };
}

export function after<T>(ms: number, value: T): StopSource<T> {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(value), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** Resolves once none of `pids` runs any more (checked every `intervalMs`). */
export function whenAllExit(pids: number[], intervalMs = 250, proc = '/proc'): StopSource<number[]> {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<number[]>((resolve) => {
    timer = setInterval(() => {
      if (pids.every((pid) => !processAlive(pid, proc))) {
        clearInterval(timer);
        resolve(pids);
      }
    }, intervalMs);
  });
  return { promise, cancel: () => clearInterval(timer) };
}

/**
 * Waits for the records still in the kernel buffer to be read. With
 * `pending` (bytes not yet decoded, known for the ring buffer) it waits until
 * that is 0, or until no record arrived for `stallMs` (the reader is stuck);
 * with `quietToo` it also waits for `count()` to have been quiet for
 * `quietMs`. Without `pending`, until `count()` has not changed for
 * `quietMs`. At most `maxMs` either way: while the traced program keeps
 * calling, the buffer never empties.
 */
export async function settle(
  count: () => number,
  options: { pending?: () => number | undefined; quietToo?: boolean; quietMs?: number; stallMs?: number; maxMs?: number } = {},
): Promise<void> {
  const { pending, quietToo = false, quietMs = 150, stallMs = 2000, maxMs = 2000 } = options;
  const end = Date.now() + maxMs;
  let last = count();
  let quietSince = Date.now();
  while (Date.now() < end) {
    const left = pending?.();
    if (left === 0 && (!quietToo || Date.now() - quietSince >= quietMs)) return;
    await new Promise((r) => setTimeout(r, 25));
    const now = count();
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= (left === undefined ? quietMs : stallMs)) return;
  }
}

/**
 * Counts stop signals from the moment it is made to the end of the process
 * (it is never removed: once tracing ends, a signal must not kill weaver
 * before it has summed up). `received(n)` resolves at the n-th signal.
 */
export class SignalWatch {
  count = 0;
  private waiting: Array<{ n: number; resolve: (sig: string) => void }> = [];

  constructor(signals: NodeJS.Signals[] = STOP_SIGNALS) {
    for (const sig of signals) {
      process.on(sig, () => {
        this.count++;
        for (const w of this.waiting.filter((w) => w.n <= this.count)) w.resolve(sig);
        this.waiting = this.waiting.filter((w) => w.n > this.count);
      });
    }
  }

  /** Resolves once `n` signals have been received in all. */
  received(n: number): Promise<string> {
    if (this.count >= n) return Promise.resolve('');
    return new Promise((resolve) => this.waiting.push({ n, resolve }));
  }
}

/**
 * How long to wait for a slow reader once tracing is over: as long as it
 * takes, until a signal; then `graceMs` more; at once on the second signal,
 * also one that came before this wait began (during the final read of the
 * kernel buffer, which with perf buffers lasts a quiet moment).
 * Resolves when the wait should end.
 */
export function outputPatience(signals: SignalWatch, graceMs = 2000): StopSource<void> {
  let timer: NodeJS.Timeout | undefined;
  let cancelled = false;
  const promise = new Promise<void>((resolve) => {
    const grace = () => {
      if (!cancelled) timer = setTimeout(resolve, graceMs);
    };
    if (signals.count >= 2) resolve();
    else if (signals.count === 1) grace();
    else void signals.received(1).then(grace);
    void signals.received(2).then(() => resolve());
  });
  return {
    promise,
    cancel: () => {
      // A signal after this must not start a timer that keeps Node running.
      cancelled = true;
      clearTimeout(timer);
    },
  };
}
