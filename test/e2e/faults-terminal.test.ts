// Terminal safety: traced strings, byte slices, runes and even the traced
// thread's name (comm) are untrusted. The hostile fixture passes every byte
// value alone and together, ANSI/OSC/DCS sequences, C1 controls, bidi
// overrides, zero-width characters and invalid UTF-8, from a thread named
// with an escape sequence. Text output (plain, and coloured on a terminal)
// must contain no control character or escape sequence of the program's
// making, and must still say exactly which bytes were passed; JSON output
// must be valid (jq) and carry the exact bytes.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureBuild } from '../helpers/fixtures.js';
import { requireBpfOrSkip, runWeaver, WEAVER_BIN } from '../helpers/weaver.js';

const canRun = requireBpfOrSkip();
const FUNCS = fileURLToPath(new URL('../../fixtures/hostile/funcs.txt', import.meta.url));
const THREAD_NAME = '\x1b[2J\x1b]0;x\x07';
/** show() is called once per byte value, once with all 256, then with 20 multi-byte cases; then showBytes and showRune twice. */
const EVENTS = 256 + 1 + 20 + 3;

/**
 * Code points that must never reach a terminal from a traced value: C0
 * controls (newline only as a line end), DEL, C1 controls, line/paragraph
 * separators, bidi embeddings/overrides/isolates, zero-width characters, BOM.
 */
const UNSAFE = /[\x00-\x09\x0b-\x1f\x7f\u0080-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200b-\u200f\ufeff]/u;

/** Reads a Go-style quoted string as weaver writes it ("\x1b", "\a", "\u202e", "\\"), back into its bytes. */
function unquote(literal: string): Buffer {
  const out: number[] = [];
  const body = literal.slice(1, -1); // the quotes, or the opening quote and the "…" of a cut string
  const simple: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, '"': 34, "'": 39 };
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      out.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const e = body[++i]!;
    if (e in simple) out.push(simple[e]!);
    else if (e === 'x') {
      out.push(parseInt(body.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (e === 'u' || e === 'U') {
      const n = e === 'u' ? 4 : 8;
      out.push(...Buffer.from(String.fromCodePoint(parseInt(body.slice(i + 1, i + 1 + n), 16)), 'utf8'));
      i += n;
    } else throw new Error(`unknown escape \\${e} in ${literal}`);
  }
  return Buffer.from(out);
}

/** The string argument of a show() line; a long one is cut with "…" in place of its closing quote. */
const SHOW_ARG = /main\.show\(s=("(?:[^"\\…]|\\.)*(?:"|…))\)/;

let dir: string;
let hostile: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'weaver-terminal-'));
  if (canRun) hostile = fixtureBuild({ fixture: 'hostile', toolchain: '1.19' }).path;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!canRun)('traced values cannot reach the terminal raw', () => {
  it('text output: no control characters, and every byte value reads back exactly', async () => {
    const out = join(dir, 'events.txt');
    const r = await runWeaver(['-f', FUNCS, '--format', 'text', '--string-size', '512', '-o', out, '--', hostile]);
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(out, 'utf8');
    const lines = text.split('\n').filter(Boolean);
    expect(lines.length).toBe(EVENTS);
    expect(lines.filter((l) => UNSAFE.test(l))).toEqual([]);
    expect(lines.every((l) => l.includes(String.raw`\x1b[2J\x1b]0;x\a`))).toBe(true);

    // The first 256 calls pass the bytes 0..255 in order; the 257th all of them.
    const shown = lines.filter((l) => SHOW_ARG.test(l)).map((l) => unquote(SHOW_ARG.exec(l)![1]!));
    for (let b = 0; b < 256; b++) expect(shown[b], `byte 0x${b.toString(16)}`).toEqual(Buffer.from([b]));
    // Text output shortens long values; what it shows is the start of 0..255.
    const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(shown[256]!.length).toBeGreaterThan(64);
    expect(shown[256]).toEqual(allBytes.subarray(0, shown[256]!.length));
    expect(shown[257]).toEqual(Buffer.from('\x1b[31mred\x1b[0m', 'latin1'));
    expect(shown[267]).toEqual(Buffer.from('abc\u202Eevil\u202Cdef', 'utf8'));
  });

  it('coloured text on a terminal: only weaver\'s own colour codes', () => {
    // script(1) gives weaver a terminal, so colours are on.
    const command = [process.execPath, WEAVER_BIN, '-f', FUNCS, '--string-size', '512', '--', hostile].map((a) => `'${a}'`).join(' ');
    const raw = execFileSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', timeout: 60_000 });
    // weaver's own lines on stderr (the two-trap line names main.show) are not events.
    const events = raw.split(/\r?\n/).filter((l) => l.includes('main.show') && !l.startsWith('weaver: '));
    // The program's own last line names main.show too, uncoloured.
    events.splice(events.findIndex((l) => l.startsWith('hostile: ')), 1);
    expect(events.length).toBe(EVENTS);
    const sgr = /\x1b\[[0-9;]*m/g;
    expect(events.every((l) => /\x1b\[[0-9;]*m/.test(l))).toBe(true);
    expect(events.map((l) => l.replace(sgr, '')).filter((l) => UNSAFE.test(l))).toEqual([]);
  }, 120_000);

  it('JSON output: valid for jq, with the exact bytes and thread name', async () => {
    const out = join(dir, 'events.jsonl');
    const r = await runWeaver(['-f', FUNCS, '--format', 'json', '--string-size', '512', '-o', out, '--', hostile]);
    expect(r.code, r.stderr).toBe(0);
    // jq reads every line; -c re-emits one object a line.
    const viaJq = execFileSync('jq', ['-c', '.', out], { encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(viaJq.length).toBe(EVENTS);

    const events = readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(new Set(events.map((e) => e.comm))).toEqual(new Set([THREAD_NAME]));
    const bytesOf = (arg: { value: string; bytes_hex?: string }) =>
      arg.bytes_hex !== undefined ? Buffer.from(arg.bytes_hex, 'hex') : Buffer.from(arg.value, 'utf8');
    const shows = events.filter((e) => e.function === 'main.show').map((e) => bytesOf(e.args[0]));
    for (let b = 0; b < 256; b++) expect(shows[b], `byte 0x${b.toString(16)}`).toEqual(Buffer.from([b]));
    expect(shows[256]).toEqual(Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
  });
});
