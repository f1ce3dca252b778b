// From decoded events to output lines: the --filter test, the --count
// limit, then the formatter, then the writer. Counts what it shows and
// what it filters out, for the summary.

import { createWriteStream, openSync } from 'node:fs';
import { InputError } from './errors.js';
import type { EventFilter } from './filter/index.js';
import type { Formatter } from './format/index.js';
import type { CallEvent } from './model.js';
import type { OutputWriter } from './output.js';

export class EventPrinter {
  shown = 0;
  filteredOut = 0;
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
  ) {
    this.limitReached = new Promise((resolve) => (this.reachLimit = resolve));
  }

  get full(): boolean {
    return this.limit !== undefined && this.shown >= this.limit;
  }

  print(events: CallEvent[]): void {
    if (this.full) return;
    const lines: string[] = [];
    for (const ev of events) {
      if (!this.filter.test(ev)) {
        this.filteredOut++;
        continue;
      }
      if (this.collect) this.collect(ev);
      else lines.push(this.formatter.format(ev));
      this.shown++;
      if (this.full) {
        this.reachLimit();
        break;
      }
    }
    this.output.writeLines(lines);
  }
}

/** Opens --output for writing (created or truncated) now, so a bad path fails before anything is loaded. */
export function openOutputFile(path: string): NodeJS.WritableStream & { writableLength?: number } {
  let fd: number;
  try {
    fd = openSync(path, 'w', 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'its directory does not exist' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : `${code}`;
    throw new InputError(`cannot write --output ${path}: ${why}`, { cause: err });
  }
  return createWriteStream(path, { fd });
}
