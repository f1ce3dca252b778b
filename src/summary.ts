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
