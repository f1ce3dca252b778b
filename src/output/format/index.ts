// Entry point of the formatting stage: CallEvent in, one output line out.

import { UsageError, type CallEvent } from '../../core/index.js';
import { colorStyle } from './color.js';
import { jsonEvent } from './json.js';
import { TextFormatter, type TimestampMode } from './text.js';

export { jsonArg, jsonEvent, jsonValue } from './json.js';
export { DEFAULT_MAX_VALUE_CHARS, formatDuration, TextFormatter, textValue, type TimestampMode } from './text.js';
export { functionColorName, loadColors, shouldUseColor } from './color.js';
export { goFloat, shortestFloat } from './floats.js';

export type OutputFormat = 'text' | 'json';

export interface FormatOptions {
  format: OutputFormat;
  /** Text only: ANSI colours (decide with shouldUseColor; await loadColors() first). */
  color: boolean;
  /** Text only. */
  timestamps: TimestampMode;
  /** Text only: each value is cut after this many characters (default 200). */
  maxValueChars?: number;
}

export interface Formatter {
  /** One line, without the newline. */
  format(ev: CallEvent): string;
}

export function createFormatter(opts: FormatOptions): Formatter {
  const max = opts.maxValueChars;
  if (max !== undefined && !(Number.isInteger(max) && max >= 1)) {
    throw new UsageError(`the value length limit must be a whole number of characters, at least 1 (got ${max})`);
  }
  if (opts.format === 'json') return { format: jsonEvent };
  return new TextFormatter({
    timestamps: opts.timestamps,
    maxValueChars: opts.maxValueChars,
    style: opts.color ? colorStyle() : undefined,
  });
}

/** `--format auto`: text for a person at a terminal, JSON lines for a pipe or file. */
export function resolveFormat(flag: 'auto' | OutputFormat, stdoutIsTty: boolean): OutputFormat {
  if (flag === 'auto') return stdoutIsTty ? 'text' : 'json';
  return flag;
}
