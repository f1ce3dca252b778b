// `--filter` expressions, parsed into a small AST with 1-based columns so
// every mistake can be pointed at. Grammar (lowest precedence first):
//
//   filter     = [ function ":" ] expr
//   expr       = and { "||" and }
//   and        = unary { "&&" unary }
//   unary      = "!" unary | "(" expr ")" | comparison
//   comparison = operand [ op operand ]          (a lone operand must be a bool)
//   op         = "==" | "!=" | "<" | "<=" | ">" | ">=" | "contains" | "~" | "!~"
//   operand    = path | "len" "(" path ")" | number | string | true | false | nil
//   path       = name { "." name | "[" integer "]" }
//
// Strings are Go literals: "double quoted" with escapes, or `raw`.

import { FilterError } from './error.js';

export type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'contains' | '~' | '!~';

export type PathStep = { field: string } | { index: number };

export type Operand =
  | { kind: 'path'; root: string; steps: PathStep[]; column: number; text: string }
  | { kind: 'len'; path: Extract<Operand, { kind: 'path' }>; column: number; text: string }
  | { kind: 'int'; value: bigint; column: number; text: string }
  | { kind: 'float'; value: number; column: number; text: string }
  | { kind: 'string'; value: string; column: number; text: string }
  | { kind: 'bool'; value: boolean; column: number; text: string }
  | { kind: 'nil'; column: number; text: string };

export type PathOperand = Extract<Operand, { kind: 'path' }>;

export type Expr =
  | { kind: 'or' | 'and'; left: Expr; right: Expr }
  | { kind: 'not'; operand: Expr; column: number }
  | { kind: 'compare'; op: CompareOp; left: Operand; right: Operand; column: number }
  /** A bool argument on its own: `ok`, `!ok`. */
  | { kind: 'truth'; operand: Operand };

export interface ParsedFilter {
  /** The function the filter applies to; undefined: every traced function. */
  function?: string;
  functionColumn: number;
  expr: Expr;
  /** The text as given, for error messages. */
  source: string;
}

type Token =
  | { kind: 'name'; text: string; column: number }
  | { kind: 'number'; text: string; column: number }
  | { kind: 'string'; text: string; value: string; column: number }
  | { kind: 'punct'; text: string; column: number }
  | { kind: 'end'; text: ''; column: number };

const PUNCT = ['==', '!=', '<=', '>=', '&&', '||', '!~', '<', '>', '!', '(', ')', '.', '[', ']', '~', '='];

function isNameStart(c: string): boolean {
  return /[\p{L}_]/u.test(c);
}

function isNamePart(c: string): boolean {
  return /[\p{L}\p{Nd}_]/u.test(c);
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0' };

/** Splits `text` (which starts at column `base`) into tokens. */
function tokenize(text: string, base: number, source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const col = (at: number) => base + at;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    const start = i;
    if (isNameStart(c)) {
      while (i < text.length && isNamePart(text[i]!)) i++;
      tokens.push({ kind: 'name', text: text.slice(start, i), column: col(start) });
      continue;
    }
    if (/[0-9]/.test(c) || (c === '-' && /[0-9.]/.test(text[i + 1] ?? '')) || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      if (c === '-') i++;
      while (i < text.length && /[0-9a-zA-Z_.]/.test(text[i]!)) {
        // An exponent's sign belongs to the number: 1e-3.
        if (/[eE]/.test(text[i]!) && /[+-]/.test(text[i + 1] ?? '') && !/^-?0[xX]/.test(text.slice(start, i))) i++;
        i++;
      }
      tokens.push({ kind: 'number', text: text.slice(start, i), column: col(start) });
      continue;
    }
    if (c === '"') {
      i++;
      let value = '';
      for (;;) {
        if (i >= text.length) throw new FilterError('this string has no closing "', source, col(start));
        const d = text[i]!;
        if (d === '"') break;
        if (d === '\\') {
          const e = text[i + 1];
          if (e === undefined) throw new FilterError('this string has no closing "', source, col(start));
          if (e === 'x' || e === 'u') {
            const digits = e === 'x' ? 2 : 4;
            const hex = text.slice(i + 2, i + 2 + digits);
            if (!new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) {
              throw new FilterError(`\\${e} must be followed by ${digits} hexadecimal digits`, source, col(i));
            }
            value += String.fromCodePoint(parseInt(hex, 16));
            i += 2 + digits;
            continue;
          }
          const esc = ESCAPES[e];
          if (esc === undefined) throw new FilterError(`unknown escape \\${e} in a string`, source, col(i));
          value += esc;
          i += 2;
          continue;
        }
        value += d;
        i++;
      }
      i++;
      tokens.push({ kind: 'string', text: text.slice(start, i), value, column: col(start) });
      continue;
    }
    if (c === '`') {
      const end = text.indexOf('`', i + 1);
      if (end < 0) throw new FilterError('this string has no closing `', source, col(start));
      i = end + 1;
      tokens.push({ kind: 'string', text: text.slice(start, i), value: text.slice(start + 1, end), column: col(start) });
      continue;
    }
    const punct = PUNCT.find((p) => text.startsWith(p, i));
    if (punct === '=') throw new FilterError('= is not a comparison; write == to test equality', source, col(start));
    if (punct) {
      i += punct.length;
      tokens.push({ kind: 'punct', text: punct, column: col(start) });
      continue;
    }
    if (c === "'") throw new FilterError("strings are written in double quotes (\"…\") or backquotes, not single quotes", source, col(start));
    throw new FilterError(`unexpected character ${JSON.stringify(c)}`, source, col(start));
  }
  tokens.push({ kind: 'end', text: '', column: col(text.length) });
  return tokens;
}

/** What a token is called in "expected X, found Y". */
function describe(t: Token): string {
  if (t.kind === 'end') return 'the end of the filter';
  return t.kind === 'string' ? `the string ${t.text}` : `"${t.text}"`;
}

const COMPARE_OPS = new Set<string>(['==', '!=', '<', '<=', '>', '>=', '~', '!~']);

class Parser {
  private pos = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly source: string,
  ) {}

  private peek(): Token {
    return this.tokens[this.pos]!;
  }

  private next(): Token {
    return this.tokens[this.pos++]!;
  }

  private fail(message: string, at: Token = this.peek()): never {
    throw new FilterError(message, this.source, at.column);
  }

  private isPunct(text: string): boolean {
    const t = this.peek();
    return t.kind === 'punct' && t.text === text;
  }

  parseAll(): Expr {
    if (this.peek().kind === 'end') this.fail('the filter has no condition; write one such as code >= 500');
    const expr = this.parseOr();
    const t = this.peek();
    if (t.kind !== 'end') {
      if (t.kind === 'punct' && t.text === ')') this.fail('this ) has no matching (');
      this.fail(`expected &&, || or the end of the filter, found ${describe(t)}`);
    }
    return expr;
  }

  private parseOr(): Expr {
    let left = this.parseAnd();
    while (this.isPunct('||')) {
      this.next();
      left = { kind: 'or', left, right: this.parseAnd() };
    }
    return left;
  }

  private parseAnd(): Expr {
    let left = this.parseUnary();
    while (this.isPunct('&&')) {
      this.next();
      left = { kind: 'and', left, right: this.parseUnary() };
    }
    return left;
  }

  private parseUnary(): Expr {
    const t = this.peek();
    if (t.kind === 'punct' && t.text === '!') {
      this.next();
      return { kind: 'not', operand: this.parseUnary(), column: t.column };
    }
    if (t.kind === 'punct' && t.text === '(') {
      this.next();
      const inner = this.parseOr();
      if (!this.isPunct(')')) this.fail(`expected ) to close the ( at column ${t.column}, found ${describe(this.peek())}`);
      this.next();
      return inner;
    }
    return this.parseComparison();
  }

  private parseComparison(): Expr {
    const left = this.parseOperand();
    const t = this.peek();
    let op: CompareOp | undefined;
    if (t.kind === 'punct' && COMPARE_OPS.has(t.text)) op = t.text as CompareOp;
    else if (t.kind === 'name' && t.text === 'contains') op = 'contains';
    if (!op) return { kind: 'truth', operand: left };
    this.next();
    const right = this.parseOperand(op);
    return { kind: 'compare', op, left, right, column: t.column };
  }

  private parseOperand(after?: string): Operand {
    const t = this.next();
    const expected = `expected an argument name, a number, a string, true, false or nil${after ? ` after ${after}` : ''}, found ${describe(t)}`;
    switch (t.kind) {
      case 'number':
        return numberOperand(t, this.source);
      case 'string':
        return { kind: 'string', value: t.value, column: t.column, text: t.text };
      case 'name':
        if (t.text === 'true' || t.text === 'false') return { kind: 'bool', value: t.text === 'true', column: t.column, text: t.text };
        if (t.text === 'nil') return { kind: 'nil', column: t.column, text: t.text };
        if (t.text === 'len' && this.isPunct('(')) {
          this.next();
          const inner = this.next();
          if (inner.kind !== 'name') this.fail(`len takes an argument name, found ${describe(inner)}`, inner);
          const path = this.parsePath(inner);
          if (!this.isPunct(')')) this.fail(`expected ) to close len(, found ${describe(this.peek())}`);
          const close = this.next();
          return { kind: 'len', path, column: t.column, text: this.source.slice(t.column - 1, close.column) };
        }
        return this.parsePath(t);
      default:
        return this.fail(expected, t);
    }
  }

  private parsePath(first: Token): PathOperand {
    const steps: PathStep[] = [];
    let endColumn = first.column + first.text.length;
    for (;;) {
      if (this.isPunct('.')) {
        this.next();
        const f = this.next();
        if (f.kind !== 'name') this.fail(`expected a field name after ".", found ${describe(f)}`, f);
        steps.push({ field: f.text });
        endColumn = f.column + f.text.length;
      } else if (this.isPunct('[')) {
        this.next();
        const n = this.next();
        if (n.kind !== 'number' || !/^\d+$/.test(n.text)) this.fail(`expected an element index such as [0], found ${describe(n)}`, n);
        if (!this.isPunct(']')) this.fail(`expected ] after the index, found ${describe(this.peek())}`);
        const close = this.next();
        steps.push({ index: Number(n.text) });
        endColumn = close.column + 1;
      } else break;
    }
    return { kind: 'path', root: first.text, steps, column: first.column, text: this.source.slice(first.column - 1, endColumn - 1) };
  }
}

function numberOperand(t: Token, source: string): Operand {
  const text = t.text.replace(/_/g, '');
  if (/^-?(0|[1-9]\d*)$/.test(text) || /^-?0[xX][0-9a-fA-F]+$/.test(text) || /^-?0[oO]?[0-7]+$/.test(text) || /^-?0[bB][01]+$/.test(text)) {
    const neg = text.startsWith('-');
    let body = neg ? text.slice(1) : text;
    if (/^0[0-7]+$/.test(body)) body = `0o${body.slice(1)}`;
    const value = BigInt(body);
    return { kind: 'int', value: neg ? -value : value, column: t.column, text: t.text };
  }
  if (/^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
    return { kind: 'float', value: Number(text), column: t.column, text: t.text };
  }
  throw new FilterError(`${t.text} is not a number`, source, t.column);
}

// A Go function name (main.handler, main.(*Cart).Add, net/http.Error) holds
// a dot and never spaces, quotes or operators, so such a name followed by
// ":" is the function; otherwise the whole text is the condition.
const FUNCTION_PREFIX = /^(\s*)([^\s:"`'=<>!&|~]*\.[^\s:"`'=<>!&|~]*)\s*:/;

/** Parses one --filter value; throws FilterError with the column of the first mistake. */
export function parseFilter(source: string): ParsedFilter {
  const m = FUNCTION_PREFIX.exec(source);
  if (!m && /^\s*:/.test(source)) throw new FilterError('expected a function name before ":"', source, source.indexOf(':') + 1);
  const bare = /^(\s*)[\p{L}_][\p{L}\p{Nd}_]*\s*:/u.exec(source);
  if (bare) {
    throw new FilterError('a function is named with its package, such as main.handler', source, bare[1]!.length + 1);
  }
  const fn = m ? m[2] : undefined;
  const functionColumn = m ? m[1]!.length + 1 : 1;
  const bodyStart = m ? m[0].length : 0;
  const tokens = tokenize(source.slice(bodyStart), bodyStart + 1, source);
  const expr = new Parser(tokens, source).parseAll();
  return { function: fn, functionColumn, expr, source };
}
