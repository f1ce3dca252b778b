// From decoded events to output lines: the --filter test, the --count
// limit, then the formatter, then the writer. Counts every event it is
// given as shown, filtered out or past --count, for the summary.

import { openSync } from 'node:fs';
import { InputError, type CallEvent } from '../core/index.js';
import type { EventFilter } from './filter/index.js';
import type { Formatter } from './format/index.js';
import type { OutputWriter } from './writer.js';

export class EventPrinter {
  /** Events that passed the filter and went to the output (or to -c's statistics). */
  shown = 0;
  filteredOut = 0;
  /** Events that arrived once --count had been reached (before the probes were gone). */
  afterLimit = 0;
  /** Resolves once --count events have been shown. */
  readonly limitReached: Promise<void>;
  private reachLimit: () => void = () => {};

  constructor(
    private readonly formatter: Formatter,
    private readonly output: OutputWriter,
    private readonly filter: EventFilter,
    private readonly limit?: number,
    /** -c/--summary: shown events go here instead of to the output. */
    private readonly collect?: (ev: CallEvent) => void,
    /** --otlp: every shown event also goes here. */
    private readonly exportTo?: (ev: CallEvent) => void,
  ) {
    this.limitReached = new Promise((resolve) => (this.reachLimit = resolve));
  }

  get full(): boolean {
    return this.limit !== undefined && this.shown >= this.limit;
  }

  print(events: CallEvent[]): void {
    if (this.full) {
      this.afterLimit += events.length;
      return;
    }
    const lines: string[] = [];
    for (let i = 0; i < events.length; i++) {
      const ev = events[i]!;
      if (!this.filter.test(ev)) {
        this.filteredOut++;
        continue;
      }
      if (this.collect) this.collect(ev);
      else lines.push(this.formatter.format(ev));
      if (this.exportTo) this.exportTo(ev);
      this.shown++;
      if (this.full) {
        this.reachLimit();
        this.afterLimit += events.length - i - 1;
        break;
      }
    }
    this.output.writeLines(lines);
  }
}

/** Opens --output for writing (created or truncated) now, so a bad path fails before anything is loaded; returns its descriptor. */
export function openOutputFile(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, 'w', 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'its directory does not exist' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : `${code}`;
    throw new InputError(`cannot write --output ${path}: ${why}`, { cause: err });
  }
  return fd;
}
