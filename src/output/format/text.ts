/*
 * Text output, for people (strace / dlv trace style):
 *
 *   12:03:04.512345 server[4123] g17 main.handler(path="/api", code=200)
 *   12:03:04.512399 server[4123] g17 main.div(a=7, b=2) = 3, <nil>  [1.2µs]
 *
 * Timestamp (local time, `+0.001234` seconds since the first event, or
 * none), comm[pid], goroutine (omitted when unknown), function, arguments
 * as name=value (`(?)` when argument values are unknown), then results and
 * duration when the event has them. Values use Go syntax:
 *
 *   int, bool         7, -3, true
 *   float             Go's %v: 0.1 (float32 shortest), 1e+06, -0, NaN, +Inf, -Inf
 *   complex           (1+2i)
 *   string            "a\tb\x1b[31m", printable Unicode as is; captured prefix of a
 *                     longer string: "abc"…(len=5000)
 *   pointer           0xc000012345, nil, followed: &{ID:7 Owner:"carol"}, &42; back to
 *                     a value it was reached through: <cycle: 0xc000012345>
 *   array / slice     [1 2 3]; nil slice: nil; fewer elements than len: [1 2 3 …](len=100)
 *   []byte, [N]byte   as Go's %q writes them: "GET /\x00\xff"; nil slice: nil; fewer bytes
 *                     than len: "GET"…(len=100)
 *   struct            {ID:7 Owner:"carol"}
 *   map               map["a":1 "b":2], map[…](len=3) when only the length is known,
 *                     nil, or the address when nothing else is known; fewer entries than
 *                     len: map[1:2 …](len=40), with why when not --max-elements:
 *                     map[1:2 …](len=40, walk stopped after 1024 steps)
 *   interface         <nil>, main.T(value), (*main.T)(&{…}), main.T(data=0xc0000a) when the
 *                     value was not decoded (the data word, labelled), iface(type=0x…, data=0x…) when the type is unknown
 *   chan / func       0xc000012345 (chan with (len=1 cap=4) when known), nil
 *   opaque            <sync.Mutex at 0xc000012345>
 *   unavailable       <unavailable: reason>
 *
 * Each argument's value is cut after maxValueChars characters, ending in `…`.
 * Every control character, DEL, C1 control, invisible format character
 * (bidi overrides, zero-width joiners) and non-ASCII separator from the
 * traced program — in strings, but also in comm and names — is escaped, so
 * output can never move the cursor, change colours or set a window title.
 */

import type { CallEvent, DecodedArg, MapCut, Value } from '../../core/index.js';
import { MAP_WALK_STEPS } from '../../spec/index.js';
import { goComplex, goFloat } from './floats.js';
import { goQuoteBytes, terminalSafe } from './strings.js';

export const DEFAULT_MAX_VALUE_CHARS = 200;

/**
 * Accumulates one value's text; stops growing once past its limit. The
 * outermost slice, map or struct ends with `tail` (its closing bracket and
 * what it says of itself: `(len=N)`, and why a map stopped short), kept
 * whole even past the limit; when its elements are cut it ends with
 * `cutTail` instead. The count and the reason matter more than one more
 * element.
 */
class Out {
  s = '';
  elided = false;
  tail = '';
  cutTail = '';
  /** Composite values being written around the current one. */
  depth = 0;
  constructor(readonly limit: number) {}
  get full(): boolean {
    return this.elided || this.s.length >= this.limit;
  }
  get room(): number {
    return this.limit - this.s.length;
  }
  finish(): string {
    if (!this.elided && this.s.length <= this.limit) return this.s + this.tail;
    let cut = this.limit;
    // Never split a surrogate pair.
    const c = this.s.charCodeAt(cut - 1);
    if (c >= 0xd800 && c <= 0xdbff) cut--;
    return `${this.s.slice(0, cut)}…${this.cutTail}`;
  }
}

/**
 * Writes a composite value: `body` writes its elements (returning early
 * once the text is full) and returns its closing text; `cutTail` is what it
 * ends with when cut. Nested, the closing text is written in place; the
 * outermost composite's becomes the Out's tail.
 */
function writeComposite(out: Out, body: () => string, cutTail: () => string): void {
  const outermost = out.depth === 0;
  out.depth++;
  let closing: string;
  try {
    closing = body();
  } finally {
    out.depth--;
  }
  if (outermost) {
    out.tail = closing;
    out.cutTail = cutTail();
  } else if (!out.elided) {
    out.s += closing;
  }
}

function hex(a: bigint): string {
  return `0x${a.toString(16)}`;
}

/**
 * A slice's or map's `[e0 e1 …]`: `count` items written by `item(i)`, then
 * ` …]` when `more` were not shown, followed by `note()` (e.g. `(len=N)`),
 * made only when said. Cut for room, it ends `…]` and its note, whatever
 * else was cut.
 */
function writeSequence(out: Out, open: string, count: number, item: (i: number) => void, more: boolean, note: (() => string) | undefined): void {
  writeComposite(
    out,
    () => {
      out.s += open;
      for (let i = 0; i < count; i++) {
        if (out.full) { out.elided = true; return ''; }
        if (i) out.s += ' ';
        item(i);
      }
      return (more ? (count ? ' …]' : '…]') : ']') + (more && note ? note() : '');
    },
    () => `]${note ? note() : ''}`,
  );
}

function writeElems(out: Out, elems: Value[], more: boolean, len: bigint | number | undefined): void {
  writeSequence(out, '[', elems.length, (i) => write(out, elems[i]!), more, len !== undefined ? () => `(len=${len})` : undefined);
}

function write(out: Out, v: Value): void {
  switch (v.kind) {
    case 'bool':
      out.s += v.value ? 'true' : 'false';
      return;
    case 'int':
      out.s += v.value.toString();
      return;
    case 'float':
      out.s += goFloat(v.value, v.bits);
      return;
    case 'complex':
      out.s += goComplex(v.real, v.imag, v.bits);
      return;
    case 'string': {
      const q = goQuoteBytes(v.bytes, v.truncated, out.room);
      out.s += q.text;
      if (!q.complete) out.elided = true;
      else if (v.truncated) out.s += `…(len=${v.len})`;
      return;
    }
    case 'pointer':
      if (v.address === 0n) out.s += 'nil';
      else if (v.cycle) out.s += `<cycle: ${hex(v.address)}>`;
      else if (v.target === undefined) out.s += hex(v.address);
      else {
        out.s += '&';
        write(out, v.target);
      }
      return;
    case 'array':
      writeElems(out, v.elems, v.len !== undefined, v.len);
      return;
    case 'bytes': {
      if (v.address === 0n && v.len === 0n) { out.s += 'nil'; return; }
      const q = goQuoteBytes(v.bytes, v.truncated, out.room);
      out.s += q.text;
      if (!q.complete) out.elided = true;
      else if (v.truncated) out.s += `…(len=${v.len})`;
      return;
    }
    case 'slice':
      if (v.address === 0n && v.len === 0n) out.s += 'nil';
      else writeElems(out, v.elems, v.truncated || BigInt(v.elems.length) < v.len, v.len);
      return;
    case 'struct':
      writeComposite(
        out,
        () => {
          out.s += '{';
          for (let i = 0; i < v.fields.length; i++) {
            if (out.full) { out.elided = true; return ''; }
            const f = v.fields[i]!;
            out.s += `${i ? ' ' : ''}${terminalSafe(f.name)}:`;
            write(out, f.value);
          }
          return '}';
        },
        // A struct says nothing of itself; only the outermost composite may.
        () => '',
      );
      return;
    case 'map':
      writeMap(out, v);
      return;
    case 'interface':
      writeInterface(out, v);
      return;
    case 'chan':
      if (v.address === 0n) { out.s += 'nil'; return; }
      out.s += hex(v.address);
      if (v.len !== undefined || v.cap !== undefined) {
        const parts: string[] = [];
        if (v.len !== undefined) parts.push(`len=${v.len}`);
        if (v.cap !== undefined) parts.push(`cap=${v.cap}`);
        out.s += `(${parts.join(' ')})`;
      }
      return;
    case 'func':
      out.s += v.address === 0n ? 'nil' : v.func !== undefined ? terminalSafe(v.func) : hex(v.address);
      return;
    case 'opaque':
      out.s += `<${terminalSafe(v.typeName)}${v.address !== undefined ? ` at ${hex(v.address)}` : ''}>`;
      return;
    case 'unavailable':
      out.s += `<unavailable: ${terminalSafe(v.reason)}>`;
      return;
  }
}

function writeMap(out: Out, v: Extract<Value, { kind: 'map' }>): void {
  if (v.address === 0n) { out.s += 'nil'; return; }
  if (v.entries === undefined) {
    out.s += v.len !== undefined ? `map[…](len=${v.len})` : hex(v.address);
    return;
  }
  const entries = v.entries;
  const len = v.len;
  const why = v.truncatedBy === undefined ? undefined : MAP_CUT_TEXT[v.truncatedBy];
  const note = len === undefined ? undefined : () => (why === undefined ? `(len=${len})` : `(len=${len}, ${why})`);
  const more = v.truncated === true || (len !== undefined && BigInt(entries.length) < len);
  const entry = (i: number) => {
    const [k, val] = entries[i]!;
    write(out, k);
    out.s += ':';
    write(out, val);
  };
  writeSequence(out, 'map[', entries.length, entry, more, note);
}

/** Why a map's entries stop short, said only when it is not the --max-elements everyone asked for. */
const MAP_CUT_TEXT: Record<MapCut, string | undefined> = {
  'max-elements': undefined,
  'event-size': 'fewer to fit --max-event-size',
  'walk-bound': `walk stopped after ${MAP_WALK_STEPS} steps`,
  unreadable: 'map memory unreadable',
  interrupted: 'walk interrupted',
  'map-changed': 'map changed while read',
};

function writeInterface(out: Out, v: Extract<Value, { kind: 'interface' }>): void {
  if (v.typeAddress === 0n) { out.s += '<nil>'; return; }
  if (v.typeName === undefined) {
    out.s += `iface(type=${hex(v.typeAddress)}, data=${hex(v.dataAddress)})`;
    return;
  }
  const name = terminalSafe(v.typeName);
  // Go conversion syntax: a pointer type needs parentheses, (*main.T)(…).
  out.s += name.startsWith('*') ? `(${name})(` : `${name}(`;
  // The closing parenthesis comes after the value: it is not the outermost.
  out.depth++;
  // Not decoded: the data word is labelled, as JSON's "data" is; shown bare
  // it would read as the value (syscall.Errno(0xf82cb8) for ENOENT).
  if (v.value !== undefined) write(out, v.value);
  else out.s += `data=${hex(v.dataAddress)}`;
  out.depth--;
  out.s += ')';
}

/** A value in Go-like syntax, cut after `maxChars` characters with `…`. */
export function textValue(v: Value, maxChars: number = DEFAULT_MAX_VALUE_CHARS): string {
  const out = new Out(maxChars);
  write(out, v);
  return out.finish();
}

/** Go's time.Duration style for durations under a minute: 350ns, 1.2µs, 15.25ms, 2.000123s. */
export function formatDuration(ns: bigint): string {
  const neg = ns < 0n;
  const abs = neg ? -ns : ns;
  const sign = neg ? '-' : '';
  if (abs < 1000n) return `${sign}${abs}ns`;
  const [unit, scale, digits] =
    abs < 1_000_000n ? ['µs', 1000n, 3] : abs < 1_000_000_000n ? ['ms', 1_000_000n, 6] : ['s', 1_000_000_000n, 9];
  const whole = abs / scale;
  const frac = (abs % scale).toString().padStart(digits as number, '0').replace(/0+$/, '');
  return `${sign}${whole}${frac ? `.${frac}` : ''}${unit}`;
}

export type TimestampMode = 'absolute' | 'relative' | 'none';

export interface TextStyle {
  dim(s: string): string;
  fn(name: string): string;
}

const PLAIN_STYLE: TextStyle = { dim: (s) => s, fn: (s) => s };

export interface TextFormatterOptions {
  timestamps: TimestampMode;
  maxValueChars?: number;
  style?: TextStyle;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/** Formats events as text lines; keeps the state that relative timestamps need. */
export class TextFormatter {
  private readonly maxChars: number;
  private readonly style: TextStyle;
  private firstTs: bigint | undefined;
  private cachedSecond = -1n;
  private cachedClock = '';

  constructor(private readonly opts: TextFormatterOptions) {
    this.maxChars = opts.maxValueChars ?? DEFAULT_MAX_VALUE_CHARS;
    this.style = opts.style ?? PLAIN_STYLE;
  }

  /** `12:03:04.512345` local time, `+0.001234`, or '' for none. */
  timestamp(ts: bigint): string {
    switch (this.opts.timestamps) {
      case 'none':
        return '';
      case 'relative': {
        if (this.firstTs === undefined) this.firstTs = ts;
        const d = ts - this.firstTs;
        const abs = d < 0n ? -d : d;
        const micros = (abs / 1000n) % 1_000_000n;
        return `${d < 0n ? '-' : '+'}${abs / 1_000_000_000n}.${micros.toString().padStart(6, '0')}`;
      }
      case 'absolute': {
        const second = ts / 1_000_000_000n;
        if (second !== this.cachedSecond) {
          const d = new Date(Number(second) * 1000);
          this.cachedClock = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
          this.cachedSecond = second;
        }
        const micros = (ts / 1000n) % 1_000_000n;
        return `${this.cachedClock}.${micros.toString().padStart(6, '0')}`;
      }
    }
  }

  private values(args: DecodedArg[], named: boolean): string {
    let out = '';
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (i) out += ', ';
      if (named) out += `${terminalSafe(a.name)}=`;
      out += textValue(a.value, this.maxChars);
    }
    return out;
  }

  format(ev: CallEvent): string {
    const ts = this.timestamp(ev.ts);
    let prefix = `${terminalSafe(ev.comm)}[${ev.pid}]`;
    if (ev.goid !== 0n) prefix += ` g${ev.goid}`;
    let line = `${ts ? `${this.style.dim(ts)} ` : ''}${this.style.dim(prefix)} ${this.style.fn(terminalSafe(ev.function))}(`;
    line += ev.args === null ? '?' : this.values(ev.args, true);
    line += ')';
    if (ev.returns !== undefined && ev.returns.length > 0) line += ` = ${this.values(ev.returns, false)}`;
    if (ev.durationNs !== undefined) line += `  ${this.style.dim(`[${formatDuration(ev.durationNs)}]`)}`;
    return line;
  }
}
