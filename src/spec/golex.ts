// Tokens of one functions-file line (Go's type syntax plus `#`/`//` comments).
// Names are read whole with their package path, `github.com/acme/shop/cart.Cart`,
// since nothing in a type expression puts ".", "/" or "-" right after a name
// otherwise; a generic instantiation written without a space,
// `main.List[int]`, is part of the name too.

import { ParseError } from '../core/index.js';

export interface Token {
  kind: 'name' | 'number' | 'string' | 'punct' | 'eof';
  text: string;
  /** 0-based index of the token's first character in the line. */
  pos: number;
}

/** Anything that can turn a 0-based column into a positioned ParseError. */
export interface SourcePos {
  error(message: string, pos: number): ParseError;
}

const PUNCT = ['...', '<-', '(', ')', '[', ']', '{', '}', ',', ';', '*', '.'];

export function isNameStart(c: string): boolean {
  return /[\p{L}_]/u.test(c);
}

export function isNameChar(c: string): boolean {
  return /[\p{L}\p{N}_]/u.test(c);
}

export class Lexer implements SourcePos {
  private readonly tokens: Token[] = [];
  private index = 0;

  constructor(
    readonly text: string,
    start: number,
    readonly where: { file: string; line: number },
  ) {
    this.tokenize(start);
  }

  error(message: string, pos: number): ParseError {
    return new ParseError(message, this.where.file, this.where.line, pos + 1, this.text);
  }

  peek(): Token {
    return this.tokens[this.index]!;
  }

  /** The token next() returned last (the first token before any). */
  previous(): Token {
    return this.tokens[Math.max(0, this.index - 1)]!;
  }

  next(): Token {
    const t = this.tokens[this.index]!;
    if (t.kind !== 'eof') this.index++;
    return t;
  }

  private tokenize(start: number): void {
    const s = this.text;
    let i = start;
    while (i < s.length) {
      const c = s[i]!;
      if (c === ' ' || c === '\t' || c === '\r' || c === '\n' || c === '\f' || c === '\v') {
        i++;
      } else if (c === '#' || s.startsWith('//', i)) {
        break;
      } else if (s.startsWith('/*', i)) {
        const end = s.indexOf('*/', i + 2);
        if (end < 0) throw this.error('unterminated comment', i);
        i = end + 2;
      } else if (isNameStart(c)) {
        i = this.readName(i);
      } else if (/[0-9]/.test(c)) {
        const m = /^[0-9][0-9a-zA-Z_]*/.exec(s.slice(i))!;
        this.tokens.push({ kind: 'number', text: m[0], pos: i });
        i += m[0].length;
      } else if (c === '"' || c === '`') {
        i = this.readString(i, c);
      } else {
        const p = PUNCT.find((q) => s.startsWith(q, i));
        if (!p) throw this.error(`unexpected character "${c}"`, i);
        this.tokens.push({ kind: 'punct', text: p, pos: i });
        i += p.length;
      }
    }
    this.tokens.push({ kind: 'eof', text: '', pos: i });
  }

  private readName(start: number): number {
    const s = this.text;
    let i = start;
    for (;;) {
      while (i < s.length && isNameChar(s[i]!)) i++;
      const c = s[i];
      const joins = (c === '.' || c === '/' || c === '-' || c === '%') && i + 1 < s.length && isNameChar(s[i + 1]!);
      if (!joins) break;
      i++;
    }
    // Type arguments of a qualified generic name: main.List[int]
    if (s[i] === '[' && s.slice(start, i).includes('.')) i = this.skipBalanced(i, '[', ']');
    this.tokens.push({ kind: 'name', text: s.slice(start, i), pos: start });
    return i;
  }

  private skipBalanced(start: number, open: string, close: string): number {
    let depth = 0;
    for (let i = start; i < this.text.length; i++) {
      if (this.text[i] === open) depth++;
      else if (this.text[i] === close && --depth === 0) return i + 1;
    }
    throw this.error(`expected "${close}" to match "${open}"`, start);
  }

  private readString(start: number, quote: string): number {
    const s = this.text;
    for (let i = start + 1; i < s.length; i++) {
      if (quote === '"' && s[i] === '\\') i++;
      else if (s[i] === quote) {
        this.tokens.push({ kind: 'string', text: s.slice(start, i + 1), pos: start });
        return i + 1;
      }
    }
    throw this.error('unterminated string', start);
  }
}
