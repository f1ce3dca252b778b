// How large the kernel buffer for events is when --buffer-size is not
// given, and what to say when it still overflowed. A buffer holds the
// records that arrive while weaver's reader is busy; package mode traces
// hundreds of functions whose records are kilobytes (pointees, strings), and
// a burst of calls (one HTTP request runs a hundred of them) filled the old
// fixed 8 MiB faster than it was read. So the default grows with what the
// traced functions can write: room for BURST_RECORDS records of each, up
// to MAX_DEFAULT_BUFFER.

import type { TraceTarget } from './tracespec.js';

export const MIN_DEFAULT_BUFFER = 8 << 20;
/**
 * weaver maps the ring buffer's data twice (the kernel's ring buffer
 * layout), so a buffer of N bytes shows as 2N in its resident memory. 64
 * MiB took weaver alone to ~400 MB on a cold start of 3128 functions; 32
 * MiB (and even 16) still loses nothing of 200 requests to pprof's web UI
 * under -p net/http, the busiest case bench/ measures (bench/README.md 3e).
 */
export const MAX_DEFAULT_BUFFER = 32 << 20;
/** Records of each traced function (entry and return) the default buffer holds. */
export const BURST_RECORDS = 16;
/** --buffer-size's bound (src/cli/flags.ts). */
const MAX_BUFFER = 1 << 30;

function nextPowerOfTwo(n: number): number {
  let p = 4096;
  while (p < n) p *= 2;
  return p;
}

/** The default --buffer-size for these functions: a power of two from 8 MiB to 32 MiB. */
export function defaultBufferSize(targets: Pick<TraceTarget, 'plan' | 'returns'>[]): number {
  let bytes = 0;
  for (const t of targets) bytes += BURST_RECORDS * (t.plan.recordSize + (t.returns?.plan.recordSize ?? 0));
  return Math.min(MAX_DEFAULT_BUFFER, Math.max(MIN_DEFAULT_BUFFER, nextPowerOfTwo(bytes)));
}

/** `64M`, `1G`, `512K`: how --buffer-size values are written. */
export function formatBufferSize(bytes: number): string {
  if (bytes % (1 << 30) === 0) return `${bytes / (1 << 30)}G`;
  if (bytes % (1 << 20) === 0) return `${bytes / (1 << 20)}M`;
  return `${bytes / 1024}K`;
}

/**
 * The --buffer-size to suggest after `lost` of `seen` records did not fit a
 * buffer of `bufferSize` bytes: large enough for what was lost as well, at
 * least twice the current size; null when the largest is already in use.
 */
export function suggestedBufferSize(bufferSize: number, lost: bigint, seen: bigint): number | null {
  if (bufferSize >= MAX_BUFFER) return null;
  const factor = seen > 0n ? Number((seen + lost + seen - 1n) / seen) : 4;
  return Math.min(MAX_BUFFER, nextPowerOfTwo(bufferSize * Math.max(2, factor)));
}
