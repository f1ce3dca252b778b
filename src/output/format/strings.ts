// Byte-string helpers for both formatters. Traced strings are arbitrary
// bytes (Go strings need not be UTF-8) and untrusted: the JSON side must
// stay valid JSON for any bytes, the text side must never let a traced
// value reach the terminal as a control sequence.

import { Buffer, isUtf8 } from 'node:buffer';

const HEX = '0123456789abcdef';

export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Length of `bytes` without an incomplete UTF-8 sequence at the very end.
 * A capture cut at --string-size bytes can split a multi-byte character;
 * those trailing bytes are an artefact of the cut, not of the traced
 * program, so formatters drop them from truncated strings.
 */
export function completeLength(bytes: Uint8Array): number {
  const n = bytes.length;
  for (let j = n - 1; j >= 0 && j >= n - 4; j--) {
    const b = bytes[j]!;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return n - j < need && b < 0xf8 ? j : n;
  }
  return n;
}

/** True when every byte is printable ASCII other than `"` and `\`: such bytes need no escaping anywhere. */
function isPlainAscii(bytes: Uint8Array, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const b = bytes[i]!;
    if (b < 0x20 || b > 0x7e || b === 0x22 || b === 0x5c) return false;
  }
  return true;
}

function latin1(bytes: Uint8Array, end: number): string {
  // For short strings fromCharCode avoids Buffer's per-call overhead.
  if (end <= 64) return String.fromCharCode.apply(null, bytes.subarray(0, end) as unknown as number[]);
  return asBuffer(bytes).toString('latin1', 0, end);
}

/**
 * True when `[]byte` contents read as text: valid UTF-8 without control
 * characters other than tab, newline and carriage return. Formatters show
 * such bytes as a string and others in hex.
 */
export function isPrintableBytes(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if ((b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) || b === 0x7f) return false;
  }
  return isUtf8(asBuffer(bytes));
}

export interface JsonString {
  /** A JSON string literal (with quotes). */
  quoted: string;
  /** Hex of the captured bytes when they are not valid UTF-8 (then `quoted` has U+FFFD replacements). */
  hex?: string;
}

/** The captured bytes of a Go string as a JSON string literal. */
export function jsonStringFromBytes(bytes: Uint8Array, truncated: boolean): JsonString {
  const end = truncated ? completeLength(bytes) : bytes.length;
  if (isPlainAscii(bytes, end)) return { quoted: `"${latin1(bytes, end)}"` };
  const buf = asBuffer(bytes).subarray(0, end);
  const text = buf.toString('utf8');
  if (isUtf8(buf)) return { quoted: JSON.stringify(text) };
  return { quoted: JSON.stringify(text), hex: buf.toString('hex') };
}

// Printability of code points >= 0x80, Go's unicode.IsPrint approximated
// with Unicode categories: not Other (C*: controls, format characters such as
// bidi overrides and zero-width joiners, surrogates, private use,
// unassigned) and not a separator (Z*) other than ASCII space.
const NON_PRINTABLE = /[\p{C}\p{Z}]/u;
const bmpPrintable = new Uint8Array(0x10000); // 0 unknown, 1 printable, 2 not
const astralPrintable = new Map<number, boolean>();

function isPrintable(cp: number): boolean {
  if (cp < 0x10000) {
    let p = bmpPrintable[cp]!;
    if (p === 0) {
      p = NON_PRINTABLE.test(String.fromCharCode(cp)) ? 2 : 1;
      bmpPrintable[cp] = p;
    }
    return p === 1;
  }
  let p = astralPrintable.get(cp);
  if (p === undefined) {
    p = !NON_PRINTABLE.test(String.fromCodePoint(cp));
    astralPrintable.set(cp, p);
  }
  return p;
}

const SHORT_ESCAPES: Record<number, string> = {
  0x07: '\\a', 0x08: '\\b', 0x0c: '\\f', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t', 0x0b: '\\v',
  0x22: '\\"', 0x5c: '\\\\',
};

function byteEscape(b: number): string {
  return `\\x${HEX[b >> 4]}${HEX[b & 15]}`;
}

function runeEscape(cp: number): string {
  if (cp < 0x10000) return `\\u${cp.toString(16).padStart(4, '0')}`;
  return `\\U${cp.toString(16).padStart(8, '0')}`;
}

/**
 * Decodes one UTF-8 sequence at `i` with Go's rules (no overlong forms, no
 * surrogates, nothing above U+10FFFF). Returns the code point times 8 plus
 * the width, or -1 for an invalid byte.
 */
function decodeRune(bytes: Uint8Array, i: number, end: number): number {
  const b0 = bytes[i]!;
  let cp: number;
  let width: number;
  let min: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) { cp = b0 & 0x1f; width = 2; min = 0x80; }
  else if (b0 >= 0xe0 && b0 <= 0xef) { cp = b0 & 0x0f; width = 3; min = 0x800; }
  else if (b0 >= 0xf0 && b0 <= 0xf4) { cp = b0 & 0x07; width = 4; min = 0x10000; }
  else return -1;
  if (i + width > end) return -1;
  for (let k = 1; k < width; k++) {
    const b = bytes[i + k]!;
    if ((b & 0xc0) !== 0x80) return -1;
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
  return cp * 8 + width;
}

export interface Escaped {
  text: string;
  /** False when `budget` ran out before the end of the bytes. */
  complete: boolean;
}

/**
 * Go `strconv.Quote`-style escaping of bytes[0..end), without the quotes:
 * `\n`, `\t`, `\x1b`, `\x7f`, `\xff` for invalid UTF-8, `\u0085` and
 * `\u202e` for non-printable code points; printable text (é, 日本) as is.
 * `escapeQuotes` also escapes `"` and `\` (for quoted strings). Stops once
 * about `budget` characters are produced.
 */
export function escapeBytes(bytes: Uint8Array, end: number, escapeQuotes: boolean, budget: number): Escaped {
  const buf = asBuffer(bytes);
  let out = '';
  let runStart = 0;
  let i = 0;
  while (i < end) {
    if (out.length + (i - runStart) >= budget) {
      out += buf.toString('utf8', runStart, i);
      return { text: out, complete: false };
    }
    const b = bytes[i]!;
    let escape: string | undefined;
    let width = 1;
    if (b < 0x80) {
      if (b >= 0x20 && b !== 0x7f && ((b !== 0x22 && b !== 0x5c) || !escapeQuotes)) { i++; continue; }
      escape = SHORT_ESCAPES[b] ?? byteEscape(b);
    } else {
      const r = decodeRune(bytes, i, end);
      if (r < 0) escape = byteEscape(b);
      else {
        width = r & 7;
        const cp = (r - width) / 8;
        if (isPrintable(cp)) { i += width; continue; }
        escape = runeEscape(cp);
      }
    }
    if (i > runStart) out += buf.toString('utf8', runStart, i);
    out += escape;
    i += width;
    runStart = i;
  }
  if (runStart === 0) return { text: end > 0 ? buf.toString('utf8', 0, end) : '', complete: true };
  if (end > runStart) out += buf.toString('utf8', runStart, end);
  return { text: out, complete: true };
}

/** Go-quoted text of a byte string, cut after about `budget` characters. */
export function goQuoteBytes(bytes: Uint8Array, truncated: boolean, budget: number): Escaped {
  const end = truncated ? completeLength(bytes) : bytes.length;
  if (end <= budget && isPlainAscii(bytes, end)) return { text: `"${latin1(bytes, end)}"`, complete: true };
  const e = escapeBytes(bytes, end, true, budget);
  return { text: e.complete ? `"${e.text}"` : `"${e.text}`, complete: e.complete };
}

const PLAIN_TEXT = /^[\x20-\x7e]*$/;
const safeCache = new Map<string, string>();

/**
 * A name from the traced side (function, type, field, comm) made safe for a
 * terminal: non-printable characters escaped as in Go strings, nothing else
 * changed. Names repeat on every event, so results are cached.
 */
export function terminalSafe(s: string): string {
  if (PLAIN_TEXT.test(s)) return s;
  let safe = safeCache.get(s);
  if (safe === undefined) {
    const bytes = Buffer.from(s, 'utf8');
    safe = escapeBytes(bytes, bytes.length, false, Infinity).text;
    if (safeCache.size > 4096) safeCache.clear();
    safeCache.set(s, safe);
  }
  return safe;
}
