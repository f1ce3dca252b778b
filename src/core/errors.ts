// Typed errors. Each has a one-sentence message, an optional next step
// (`hint`) and an exit code; only the CLI entry (src/cli/main.ts) turns them
// into output and an exit status. `cause` chains the lower-level error,
// shown with -v.

export class WeaverError extends Error {
  readonly exitCode: number = 1;
  readonly hint?: string;

  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }
}

/** Bad command-line usage: an unknown flag, a bad number, conflicting options. */
export class UsageError extends WeaverError {
  override readonly exitCode = 2;
}

/** A file (binary, functions file) that is missing, unreadable or not what it must be. */
export class InputError extends WeaverError {}

/** A functions-file line that does not parse, with its position. */
export class ParseError extends InputError {
  constructor(
    message: string,
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly sourceLine: string,
    options: { hint?: string } = {},
  ) {
    super(message, options);
  }

  /** `file:line:col: message`, the source line, and a caret under the column. */
  format(): string {
    const caret = ' '.repeat(Math.max(0, this.column - 1)) + '^';
    return `${this.file}:${this.line}:${this.column}: ${this.message}\n  ${this.sourceLine}\n  ${caret}`;
  }
}

/** The binary is readable but is not something weaver can trace (not ELF, not Go, wrong architecture). */
export class NotSupportedError extends WeaverError {}

/** A function named by the user is not in the binary. */
export class SymbolNotFoundError extends InputError {
  constructor(readonly symbol: string, readonly suggestions: string[], options: { hint?: string } = {}) {
    super(
      `function ${symbol} is not in the binary` +
        (suggestions.length ? `; did you mean ${suggestions.join(', ')}?` : ''),
      options,
    );
  }
}

/** Something the machine lacks: root/CAP_BPF, clang, libbpf, tracefs. */
export class EnvironmentError extends WeaverError {
  override readonly exitCode = 3;
}

/** A BPF system call or libbpf operation failed. */
export class BpfError extends WeaverError {
  override readonly exitCode = 3;
  constructor(
    message: string,
    readonly operation: string,
    readonly errno: number,
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

/**
 * A WeaverError as plain data, to cross from the process that builds the
 * trace spec (src/cli/specprocess.ts) to the one that reports it: the
 * same sentence, hint, exit code and, for -v, the same chain of causes.
 */
export interface WeaverErrorData {
  name: string;
  message: string;
  hint?: string;
  exitCode: number;
  /** A ParseError's position, so that it is shown with its source line and caret. */
  parse?: { file: string; line: number; column: number; sourceLine: string };
  /** describeCauses of the error where it was thrown. */
  causes: string[];
}

export function weaverErrorData(err: WeaverError): WeaverErrorData {
  const parse = err instanceof ParseError ? { file: err.file, line: err.line, column: err.column, sourceLine: err.sourceLine } : undefined;
  return { name: err.name, message: err.message, ...(err.hint === undefined ? {} : { hint: err.hint }), exitCode: err.exitCode, ...(parse ? { parse } : {}), causes: describeCauses(err) };
}

/** The error `data` describes, as reported where it was thrown (its class only by name). */
class ReportedError extends WeaverError {
  override readonly exitCode: number;
  constructor(data: WeaverErrorData) {
    super(data.message, { hint: data.hint });
    this.exitCode = data.exitCode;
    restoreCauses(this, data);
  }
}

/** ParseError's own form, for the source line and caret; its class only by name. */
class ReportedParseError extends ParseError {
  override readonly exitCode: number;
  constructor(data: WeaverErrorData & { parse: NonNullable<WeaverErrorData['parse']> }) {
    const { file, line, column, sourceLine } = data.parse;
    super(data.message, file, line, column, sourceLine, { hint: data.hint });
    this.exitCode = data.exitCode;
    restoreCauses(this, data);
  }
}

export function weaverErrorFrom(data: WeaverErrorData): WeaverError {
  return data.parse ? new ReportedParseError({ ...data, parse: data.parse }) : new ReportedError(data);
}

/** The name, stacks and causes as they were, so -v shows where the error arose. */
function restoreCauses(err: Error, data: WeaverErrorData): void {
  err.name = data.name;
  const [own, ...causes] = data.causes;
  if (own !== undefined) err.stack = own;
  let at: Error = err;
  for (const stack of causes) {
    const cause = new Error(stack.split('\n')[0]);
    cause.stack = stack;
    Object.defineProperty(at, 'cause', { value: cause, configurable: true, writable: true });
    at = cause;
  }
}

/** Chains of causes, innermost last, for -v. */
export function describeCauses(err: unknown): string[] {
  const out: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur instanceof Error && depth < 10; depth++) {
    out.push(cur.stack ?? `${cur.name}: ${cur.message}`);
    cur = (cur as Error & { cause?: unknown }).cause;
  }
  return out;
}
