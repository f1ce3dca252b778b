// The one line weaver prints on stderr when it ends.

import { formatDurationMs } from './duration.js';

export interface SummaryFacts {
  shown: number;
  filteredOut: number;
  /** Records the kernel had no room for. */
  droppedInKernel: bigint;
  /** Lines dropped because the output could not keep up. */
  droppedAtOutput: number;
  malformed: number;
  elapsedMs: number;
  transport: 'ring' | 'perf';
  /** Why tracing ended, when it is worth saying (--count, --duration, the output closing). */
  stopReason?: string;
  /** Launch mode: how the program ended, e.g. "./server exited with code 0". */
  program?: string;
}

function plural(n: number | bigint, word: string): string {
  return `${n} ${word}${n === 1 || n === 1n ? '' : 's'}`;
}

export function formatSummary(f: SummaryFacts): string {
  const lost = f.droppedInKernel + BigInt(f.droppedAtOutput);
  let line = `weaver: ${plural(f.shown, 'event')}`;
  if (f.filteredOut > 0) line += ` shown (${f.filteredOut} filtered out)`;
  line += ` in ${formatDurationMs(f.elapsedMs)}, `;
  if (lost === 0n) line += 'none lost';
  else {
    const where: string[] = [];
    if (f.droppedInKernel > 0n) where.push(`${f.droppedInKernel} in the kernel ${f.transport} buffer`);
    if (f.droppedAtOutput > 0) where.push(`${f.droppedAtOutput} at a slow output`);
    line += `${lost} lost (${where.join(', ')})`;
  }
  if (f.malformed > 0) line += `, ${plural(f.malformed, 'malformed record')} skipped`;
  const tail = [f.stopReason, f.program].filter(Boolean);
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
 * first: where tracing slows the program most. Null when there are none.
 */
export function formatTwoTraps(functions: TwoTrapFunction[], verbose: boolean): string | null {
  if (functions.length === 0) return null;
  const busiest = [...functions].sort((a, b) => b.events - a.events || (a.name < b.name ? -1 : 1));
  const shown = verbose ? busiest : busiest.slice(0, TWO_TRAP_NAMES);
  const names = shown.map((f) => `${f.name} (${plural(f.events, 'event')})`).join(', ');
  const more = busiest.length - shown.length;
  const which = functions.length === 1 ? '1 function costs' : `${functions.length} functions cost`;
  return `weaver: ${which} two traps a call, the kernel single-stepping its probed instruction: ${names}${more > 0 ? `, and ${more} more (-v lists them)` : ''}`;
}
