// The one line weaver prints on stderr when it ends, and the same facts as
// JSON for --summary-json. Every call the probes saw is accounted for once:
//   calls seen = shown + filtered out + after --count
//              + lost in the kernel + not written to the output + malformed
// The BPF programs count only what they could not store (weaver_drops), so
// "calls seen" is derived: records read plus records dropped. With --returns
// the kernel's count covers return records too, so it is not given then.

import { formatDurationMs } from '../core/index.js';
import { formatBufferSize, suggestedBufferSize } from '../bpf/index.js';
import type { PairingStats } from '../events/index.js';

export interface SummaryFacts {
  /** Events written to the output (or, with -c, counted into the statistics). */
  shown: number;
  filteredOut: number;
  /** Events that arrived after --count was reached, before the probes were removed. */
  afterCount?: number;
  /** Records the kernel had no room for. */
  droppedInKernel: bigint;
  /** Events that passed the filter but were not written: the output was too slow, failed, or was given up. */
  droppedAtOutput: number;
  malformed: number;
  /** Bytes of records still in the kernel buffer when weaver stopped reading (a second signal cut the wait short). */
  unreadBytes?: number;
  /** --returns: kernel drops include return records, so calls seen cannot be derived. */
  returns?: boolean;
  elapsedMs: number;
  transport: 'ring' | 'perf';
  /** Bytes of the kernel buffer, for the --buffer-size to suggest when records were lost in it. */
  bufferSize?: number;
  /** Why tracing ended, when it is worth saying (--count, --duration, the output failing). */
  stopReason?: string;
  /** Launch mode: how the program ended, e.g. "./server exited with code 0". */
  program?: string;
  /** --otlp: what became of the calls shown (exported + dropped = shown). */
  otlp?: OtlpSummary;
  /** --returns: how calls were paired with their returns (the `returns:` line). */
  pairing?: PairingCounts;
}

/** --otlp's counts (src/output/otlp/queue.ts QueueCounts). */
export interface OtlpSummary {
  exported: number;
  droppedFull: number;
  droppedFailed: number;
  droppedAtExit: number;
  lastError?: string;
}

/** `OTLP: 10 exported, 2 dropped (…why)`. */
export function formatOtlp(o: OtlpSummary): string {
  const dropped = o.droppedFull + o.droppedFailed + o.droppedAtExit;
  const why: string[] = [];
  if (o.droppedFull) why.push(`${o.droppedFull} with the queue full`);
  if (o.droppedFailed) why.push(`${o.droppedFailed} in failed requests${o.lastError ? `: ${o.lastError}` : ''}`);
  if (o.droppedAtExit) why.push(`${o.droppedAtExit} unsent when the exit flush ended`);
  return `OTLP: ${o.exported} exported, ${dropped} dropped${why.length ? ` (${why.join(', ')})` : ''}`;
}

/** What --returns pairing saw, under the names --summary-json gives them. */
export interface PairingCounts {
  /** Calls shown with their return. */
  paired: number;
  /** Frames gone without a return that only a panic explains. */
  unwoundByPanic: number;
  /** Calls that left where no probe sees them: a jump to another function, or a system stack. */
  leftUntraced: number;
  stillRunningAtExit: number;
  evicted: number;
  returnsWithoutEntry: number;
}

/** Pairing's statistics as --summary-json names them: "replaced" and "unwound" are both a panic's doing. */
export function pairingCounts(p: PairingStats): PairingCounts {
  const nr = p.notReturned;
  return {
    paired: p.paired,
    unwoundByPanic: nr.replaced + nr.unwound,
    leftUntraced: nr.untraced,
    stillRunningAtExit: nr.exit,
    evicted: nr.evicted,
    returnsWithoutEntry: p.returnsWithoutEntry,
  };
}

function plural(n: number | bigint, word: string): string {
  return `${n} ${word}${n === 1 || n === 1n ? '' : 's'}`;
}

/** Records weaver read from the kernel buffer: every one shown, filtered, after --count, not written or malformed. */
function recordsRead(f: SummaryFacts): bigint {
  return BigInt(f.shown + f.filteredOut + (f.afterCount ?? 0) + f.droppedAtOutput + f.malformed);
}

/** Every call the probes saw, or undefined with --returns. */
export function callsSeen(f: SummaryFacts): bigint | undefined {
  if (f.returns) return undefined;
  return recordsRead(f) + f.droppedInKernel;
}

/** `: --buffer-size 64M would hold more` after a kernel loss, sized from what was lost (src/bpf/buffersize.ts). */
function bufferAdvice(f: SummaryFacts): string {
  if (f.bufferSize === undefined) return '';
  const bigger = suggestedBufferSize(f.bufferSize, f.droppedInKernel, recordsRead(f));
  return bigger === null
    ? ` of ${formatBufferSize(f.bufferSize)}, the largest: trace fewer functions or lower --depth`
    : ` of ${formatBufferSize(f.bufferSize)}: --buffer-size ${formatBufferSize(bigger)} would hold more`;
}

export function formatSummary(f: SummaryFacts): string {
  const lost = f.droppedInKernel + BigInt(f.droppedAtOutput);
  let line = `weaver: ${plural(f.shown, 'event')}`;
  const notShown: string[] = [];
  if (f.filteredOut > 0) notShown.push(`${f.filteredOut} filtered out`);
  if (f.afterCount) notShown.push(`${f.afterCount} after --count`);
  if (notShown.length) line += ` shown (${notShown.join(', ')})`;
  line += ` in ${formatDurationMs(f.elapsedMs)}, `;
  if (lost === 0n) line += 'none lost';
  else {
    const where: string[] = [];
    if (f.droppedInKernel > 0n) where.push(`${f.droppedInKernel} in the kernel ${f.transport} buffer${bufferAdvice(f)}`);
    if (f.droppedAtOutput > 0) where.push(`${f.droppedAtOutput} not written to the output`);
    line += `${lost} lost (${where.join(', ')})`;
  }
  if (f.malformed > 0) line += `, ${plural(f.malformed, 'malformed record')} skipped`;
  const seen = callsSeen(f);
  const tail: string[] = [];
  if (f.unreadBytes) {
    tail.push(`${seen === undefined ? '' : `at least ${plural(seen, 'call')} seen, `}${f.unreadBytes} bytes of records left unread in the kernel buffer`);
  } else if (seen !== undefined && seen !== BigInt(f.shown)) {
    tail.push(`${plural(seen, 'call')} seen`);
  }
  if (f.otlp) tail.push(formatOtlp(f.otlp));
  tail.push(...[f.stopReason, f.program].filter((s): s is string => Boolean(s)));
  if (tail.length) line += `; ${tail.join('; ')}`;
  return line;
}

/** A traced function whose entry probe the kernel single-steps, and how many of the events came from it. */
export interface TwoTrapFunction {
  name: string;
  events: number;
}

/** Names listed without -v; the busiest first. */
const TWO_TRAP_NAMES = 5;

/**
 * The line after the summary naming the functions whose probe costs two
 * traps a call (the kernel single-steps the probed instruction), busiest
 * first: where tracing slows the program most. Null when none of them was
 * called.
 */
export function formatTwoTraps(all: TwoTrapFunction[], verbose: boolean): string | null {
  // Only functions that were called slowed the program: package mode probes
  // hundreds that never run (136 of net/http's in pprof's web UI).
  const functions = all.filter((f) => f.events > 0);
  if (functions.length === 0) return null;
  const busiest = [...functions].sort((a, b) => b.events - a.events || (a.name < b.name ? -1 : 1));
  const shown = verbose ? busiest : busiest.slice(0, TWO_TRAP_NAMES);
  const names = shown.map((f) => `${f.name} (${plural(f.events, 'event')})`).join(', ');
  const more = busiest.length - shown.length;
  const which = functions.length === 1 ? '1 function costs' : `${functions.length} functions cost`;
  return `weaver: ${which} two traps a call, the kernel single-stepping its probed instruction: ${names}${more > 0 ? `, and ${more} more (-v lists them)` : ''}`;
}

/** --summary-json: the summary's facts under stable names, plus how weaver ended. */
export function summaryRecord(f: SummaryFacts, end: { exitStatus: number; outputError?: string }): Record<string, unknown> {
  const seen = callsSeen(f);
  return {
    callsSeen: seen === undefined ? null : Number(seen),
    shown: f.shown,
    filteredOut: f.filteredOut,
    afterCount: f.afterCount ?? 0,
    lostInKernel: Number(f.droppedInKernel),
    lostAtOutput: f.droppedAtOutput,
    malformed: f.malformed,
    unreadBytes: f.unreadBytes ?? 0,
    transport: f.transport,
    bufferSize: f.bufferSize ?? null,
    elapsedMs: Math.round(f.elapsedMs),
    stopReason: f.stopReason ?? null,
    program: f.program ?? null,
    otlp: f.otlp
      ? {
          exported: f.otlp.exported,
          dropped: f.otlp.droppedFull + f.otlp.droppedFailed + f.otlp.droppedAtExit,
          droppedQueueFull: f.otlp.droppedFull,
          droppedFailed: f.otlp.droppedFailed,
          droppedAtExit: f.otlp.droppedAtExit,
          lastError: f.otlp.lastError ?? null,
        }
      : null,
    outputError: end.outputError ?? null,
    exitStatus: end.exitStatus,
    returns: f.pairing ?? null,
  };
}
