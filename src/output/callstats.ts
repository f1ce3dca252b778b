// -c/--summary: per-function call statistics printed when tracing ends,
// like `strace -c`: calls, total, mean, p50, p99 and max duration, errors
// returned (a non-nil result of type `error`) and calls that never returned.
//
// Memory stays bounded however long tracing runs: percentiles are exact up
// to EXACT_LIMIT calls of a function; past that they come from a
// log-linear histogram (HDR-style: 2^SUB_BITS buckets per power of two),
// within 1/2^SUB_BITS (≈1.6%) of the exact value and clamped to [min, max].
// Counts, total, min and max are always exact.

import type { CallEvent, Value } from '../core/index.js';
import type { PairedEvent } from '../events/index.js';
import { formatDuration } from './format/index.js';

const SUB_BITS = 6;
const SUB = 1 << SUB_BITS;

/** Bucket index of a duration in ns: exact below 2^SUB_BITS, then SUB buckets per octave. */
export function bucketOf(ns: bigint): number {
  if (ns < BigInt(SUB)) return Number(ns);
  const bits = ns.toString(2).length; // ns in [2^(bits-1), 2^bits)
  const shift = bits - 1 - SUB_BITS;
  const mantissa = Number(ns >> BigInt(shift)) - SUB; // 0 … SUB-1
  return SUB + shift * SUB + mantissa;
}

/** The smallest duration of bucket `i` (bucketOf(bucketStart(i)) === i). */
export function bucketStart(i: number): bigint {
  if (i < SUB) return BigInt(i);
  const shift = Math.floor((i - SUB) / SUB);
  const mantissa = (i - SUB) % SUB;
  return BigInt(SUB + mantissa) << BigInt(shift);
}

export class DurationHistogram {
  private readonly counts = new Map<number, number>();
  count = 0;
  total = 0n;
  min = 0n;
  max = 0n;

  add(ns: bigint): void {
    if (ns < 0n) ns = 0n;
    const b = bucketOf(ns);
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1);
    if (this.count === 0 || ns < this.min) this.min = ns;
    if (ns > this.max) this.max = ns;
    this.count++;
    this.total += ns;
  }

  /** The q-quantile (0 < q ≤ 1) by the nearest-rank rule, to the bucket's precision; 0n when empty. */
  quantile(q: number): bigint {
    if (this.count === 0) return 0n;
    const rank = Math.max(1, Math.ceil(q * this.count));
    const buckets = [...this.counts.keys()].sort((a, b) => a - b);
    let seen = 0;
    for (const b of buckets) {
      seen += this.counts.get(b)!;
      if (seen >= rank) {
        // The middle of the bucket, so the error is at most half its width.
        const lo = bucketStart(b);
        const hi = bucketStart(b + 1);
        const mid = lo + (hi - lo - 1n) / 2n;
        return mid < this.min ? this.min : mid > this.max ? this.max : mid;
      }
    }
    return this.max;
  }
}

export interface SummaryRow {
  function: string;
  /** -c --by-caller: the immediate caller these calls came from. */
  caller?: string;
  /** Calls that returned (with a duration). */
  calls: number;
  totalNs: bigint;
  meanNs: bigint;
  p50Ns: bigint;
  p99Ns: bigint;
  maxNs: bigint;
  /** Returns with a non-nil `error` result. */
  errors: number;
  /** Entries seen that never returned. */
  notReturned: number;
}

/**
 * Exact percentiles while a function has at most EXACT_LIMIT calls (the
 * usual short trace), the histogram's beyond: memory per function is then
 * bounded by the limit plus the histogram.
 */
export const EXACT_LIMIT = 4096;

export class DurationStats extends DurationHistogram {
  private samples: bigint[] | null = [];
  private sorted = true;

  override add(ns: bigint): void {
    super.add(ns);
    if (this.samples === null) return;
    if (this.samples.length >= EXACT_LIMIT) {
      this.samples = null;
      return;
    }
    this.samples.push(ns < 0n ? 0n : ns);
    this.sorted = false;
  }

  override quantile(q: number): bigint {
    if (this.samples === null || this.count === 0) return super.quantile(q);
    if (!this.sorted) {
      this.samples.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      this.sorted = true;
    }
    return this.samples[Math.max(1, Math.ceil(q * this.count)) - 1]!;
  }
}

interface FunctionStats {
  durations: DurationStats;
  errors: number;
  notReturned: number;
}

export class CallStats {
  private readonly byFunction = new Map<string, FunctionStats & { function: string; caller?: string }>();

  /** `callerOf`: rows per function and immediate caller (-c --by-caller) instead of per function. */
  constructor(private readonly callerOf?: (ev: CallEvent) => string) {}

  add(ev: PairedEvent | CallEvent): void {
    const caller = this.callerOf?.(ev);
    const key = caller === undefined ? ev.function : `${ev.function}\0${caller}`;
    let s = this.byFunction.get(key);
    if (!s) {
      s = { function: ev.function, durations: new DurationStats(), errors: 0, notReturned: 0 };
      if (caller !== undefined) s.caller = caller;
      this.byFunction.set(key, s);
    }
    if ((ev as PairedEvent).returned === false) {
      s.notReturned++;
      return;
    }
    if (ev.durationNs !== undefined) s.durations.add(ev.durationNs);
    if (ev.returns?.some((r) => r.type === 'error' && isNonNilInterface(r.value))) s.errors++;
  }

  /** Rows by total time, largest first (as strace -c), then by name. */
  rows(): SummaryRow[] {
    const rows = [...this.byFunction.values()].map((s): SummaryRow => {
      const h = s.durations;
      return {
        function: s.function,
        ...(s.caller !== undefined ? { caller: s.caller } : {}),
        calls: h.count,
        totalNs: h.total,
        meanNs: h.count ? h.total / BigInt(h.count) : 0n,
        p50Ns: h.quantile(0.5),
        p99Ns: h.quantile(0.99),
        maxNs: h.max,
        errors: s.errors,
        notReturned: s.notReturned,
      };
    });
    const name = (r: SummaryRow) => (r.caller === undefined ? r.function : `${r.function}\0${r.caller}`);
    return rows.sort((a, b) => (a.totalNs !== b.totalNs ? (a.totalNs > b.totalNs ? -1 : 1) : name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0));
  }
}

function isNonNilInterface(v: Value): boolean {
  return v.kind === 'interface' && (v.typeAddress !== 0n || v.dataAddress !== 0n);
}

const HEADERS = ['% time', 'calls', 'total', 'mean', 'p50', 'p99', 'max', 'errors', 'unreturned', 'function'];

/** The strace -c style table; durations in Go's time.Duration notation. */
export function callStatsText(rows: SummaryRow[]): string {
  const byCaller = rows.some((r) => r.caller !== undefined);
  const headers = byCaller ? [...HEADERS, 'caller'] : HEADERS;
  const grand = rows.reduce((t, r) => t + r.totalNs, 0n);
  const percent = (ns: bigint) => (grand === 0n ? '0.00' : ((Number(ns) * 100) / Number(grand)).toFixed(2));
  const body = rows.map((r) => [
    percent(r.totalNs),
    String(r.calls),
    formatDuration(r.totalNs),
    formatDuration(r.meanNs),
    formatDuration(r.p50Ns),
    formatDuration(r.p99Ns),
    formatDuration(r.maxNs),
    String(r.errors),
    String(r.notReturned),
    r.function,
    ...(byCaller ? [r.caller ?? '?'] : []),
  ]);
  const total = [
    grand === 0n ? '0.00' : '100.00',
    String(rows.reduce((t, r) => t + r.calls, 0)),
    formatDuration(grand),
    '', '', '', '',
    String(rows.reduce((t, r) => t + r.errors, 0)),
    String(rows.reduce((t, r) => t + r.notReturned, 0)),
    'total',
    ...(byCaller ? [''] : []),
  ];
  const widths = headers.map((h, i) => Math.max(h.length, total[i]!.length, ...body.map((row) => row[i]!.length)));
  const last = headers.length - 1;
  // Names are left-aligned (padded when the caller follows), numbers right-aligned.
  const functionColumn = HEADERS.length - 1;
  const line = (cells: string[]) => cells.map((c, i) => (i === last ? c : i === functionColumn ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(headers), rule, ...body.map(line), rule, line(total)].join('\n');
}

/** One JSON object: {"summary":[{function, calls, total_ns, …}, …]}, durations as integer nanoseconds. */
export function callStatsJson(rows: SummaryRow[]): string {
  const items = rows.map(
    (r) =>
      `{"function":${JSON.stringify(r.function)},${r.caller !== undefined ? `"caller":${JSON.stringify(r.caller)},` : ''}"calls":${r.calls},"total_ns":${r.totalNs},"mean_ns":${r.meanNs},` +
      `"p50_ns":${r.p50Ns},"p99_ns":${r.p99Ns},"max_ns":${r.maxNs},"errors":${r.errors},"not_returned":${r.notReturned}}`,
  );
  return `{"summary":[${items.join(',')}]}`;
}

/** The --summary output for the chosen format. */
export function callStatsOutput(stats: CallStats, format: 'text' | 'json'): string {
  const rows = stats.rows();
  return format === 'json' ? callStatsJson(rows) : callStatsText(rows);
}
