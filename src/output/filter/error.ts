// A --filter mistake: one sentence naming the column, and the filter with a
// caret under that column as the hint. Bad usage, so exit status 2.

import { UsageError } from '../../core/index.js';

export class FilterError extends UsageError {
  constructor(
    readonly reason: string,
    readonly source: string,
    /** 1-based column in the --filter value. */
    readonly column: number,
  ) {
    super(`bad --filter at column ${column}: ${reason}`, {
      hint: `${source}\n  ${' '.repeat(Math.max(0, column - 1))}^`,
    });
  }
}
