// Whole lines: JSON events, text events, timestamps, colour, and the safety
// guarantees for arbitrary traced bytes (valid JSON, no raw control bytes).
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { CallEvent, DecodedArg, Value } from '../../src/core/model.js';
import { UsageError } from '../../src/core/errors.js';
import { createFormatter, loadColors, resolveFormat, shouldUseColor, textValue, jsonValue, formatDuration } from '../../src/output/format/index.js';

beforeAll(async () => {
  // Absolute timestamps are local time; pin the zone so the expectations hold anywhere.
  process.env.TZ = 'UTC';
  // chalk is loaded only by runs that colour.
  await loadColors();
});

const enc = new TextEncoder();
const str = (s: string): Value => ({ kind: 'string', bytes: enc.encode(s), len: enc.encode(s).length, truncated: false });
const bytesValue = (bytes: Uint8Array): Value => ({ kind: 'string', bytes, len: bytes.length, truncated: false });
const arg = (name: string, type: string, value: Value): DecodedArg => ({ name, type, value });

// 2023-11-14T22:13:20.512345678Z
const T0 = 1700000000_512345678n;

function event(over: Partial<CallEvent> = {}): CallEvent {
  return {
    ts: T0, function: 'main.handler', pid: 4123, tid: 4125, ppid: 1, comm: 'server', goid: 17n,
    args: [arg('path', 'string', str('/api')), arg('code', 'int', { kind: 'int', value: 200n })],
    ...over,
  };
}

describe('JSON lines', () => {
  const json = createFormatter({ format: 'json', color: false, timestamps: 'absolute' });

  it('writes one object with every field', () => {
    expect(json.format(event())).toBe(
      '{"ts":1700000000512345678,"function":"main.handler","pid":4123,"tid":4125,"ppid":1,"comm":"server","goid":17,' +
        '"args":[{"name":"path","type":"string","value":"/api"},{"name":"code","type":"int","value":200}]}',
    );
  });

  it('writes null args when values are unknown, and returns and duration when present', () => {
    const line = json.format(event({
      function: 'main.div', args: null, durationNs: 1234n,
      returns: [arg('~r0', 'int', { kind: 'int', value: 3n }), arg('~r1', 'error', { kind: 'interface', typeAddress: 0n, dataAddress: 0n })],
    }));
    expect(line).toBe(
      '{"ts":1700000000512345678,"function":"main.div","pid":4123,"tid":4125,"ppid":1,"comm":"server","goid":17,"args":null,' +
        '"returns":[{"name":"~r0","type":"int","value":3},{"name":"~r1","type":"error","value":null}],"duration_ns":1234}',
    );
  });

  it('puts string and slice metadata beside value in the arg object', () => {
    const line = json.format(event({
      args: [
        arg('s', 'string', { kind: 'string', bytes: enc.encode('ab'), len: 4096, truncated: true }),
        arg('b', 'string', bytesValue(Uint8Array.of(0xc3, 0x28))),
        arg('xs', '[]int', { kind: 'slice', address: 0xc0n, len: 3n, cap: 4n, elems: [{ kind: 'int', value: 1n }], truncated: true }),
        arg('f', 'float64', { kind: 'unavailable', reason: 'passed in register X0, which eBPF cannot read' }),
      ],
    }));
    const parsed = JSON.parse(line);
    expect(parsed.args).toEqual([
      { name: 's', type: 'string', value: 'ab', len: 4096, truncated: true },
      { name: 'b', type: 'string', value: '\ufffd(', bytes_hex: 'c328' },
      { name: 'xs', type: '[]int', value: [1], len: 3, cap: 4, truncated: true },
      { name: 'f', type: 'float64', value: null, error: 'passed in register X0, which eBPF cannot read' },
    ]);
  });

  it('keeps every digit of integers beyond 2^53', () => {
    const line = json.format(event({
      ts: 18446744073709551615n, goid: 9007199254740993n,
      args: [arg('u', 'uint64', { kind: 'int', value: 18446744073709551615n }), arg('i', 'int64', { kind: 'int', value: -9223372036854775807n })],
    }));
    expect(line).toContain('"ts":18446744073709551615,');
    expect(line).toContain('"goid":9007199254740993,');
    expect(line).toContain('"value":18446744073709551615}');
    expect(line).toContain('"value":-9223372036854775807}');
  });

  it('escapes names and comm so the line stays valid JSON', () => {
    const line = json.format(event({ comm: 'a"b\n\x1b', function: 'main.f\u2028' }));
    const parsed = JSON.parse(line);
    expect(parsed.comm).toBe('a"b\n\x1b');
    expect(parsed.function).toBe('main.f\u2028');
    expect(line).not.toContain('\n');
  });
});

describe('text lines', () => {
  it('formats like strace/dlv trace', () => {
    const text = createFormatter({ format: 'text', color: false, timestamps: 'absolute' });
    expect(text.format(event())).toBe('22:13:20.512345 server[4123] g17 main.handler(path="/api", code=200)');
  });

  it('shows results and duration', () => {
    const text = createFormatter({ format: 'text', color: false, timestamps: 'none' });
    const line = text.format(event({
      function: 'main.div',
      args: [arg('a', 'int', { kind: 'int', value: 7n }), arg('b', 'int', { kind: 'int', value: 2n })],
      returns: [arg('~r0', 'int', { kind: 'int', value: 3n }), arg('~r1', 'error', { kind: 'interface', typeAddress: 0n, dataAddress: 0n })],
      durationNs: 1200n,
    }));
    expect(line).toBe('server[4123] g17 main.div(a=7, b=2) = 3, <nil>  [1.2µs]');
  });

  it('marks unknown argument values and omits an unknown goroutine', () => {
    const text = createFormatter({ format: 'text', color: false, timestamps: 'none' });
    expect(text.format(event({ args: null, goid: 0n }))).toBe('server[4123] main.handler(?)');
    expect(text.format(event({ args: [] }))).toBe('server[4123] g17 main.handler()');
  });

  it('relative timestamps count from the first event', () => {
    const text = createFormatter({ format: 'text', color: false, timestamps: 'relative' });
    const stamps = [T0, T0 + 1_234_567n, T0 + 2_000_000_000n, T0 + 61_500_000_000n, T0 - 3_000n].map(
      (ts) => text.format(event({ ts, args: [] })).split(' ')[0],
    );
    expect(stamps).toEqual(['+0.000000', '+0.001234', '+2.000000', '+61.500000', '-0.000003']);
  });

  it('absolute timestamps follow the clock across seconds', () => {
    const text = createFormatter({ format: 'text', color: false, timestamps: 'absolute' });
    const stamps = [T0, T0 + 999_999n, T0 + 487_654_322n, T0 + 3_600_000_000_000n].map(
      (ts) => text.format(event({ ts, args: [] })).split(' ')[0],
    );
    expect(stamps).toEqual(['22:13:20.512345', '22:13:20.513345', '22:13:21.000000', '23:13:20.512345']);
  });

  it('cuts each argument at maxValueChars', () => {
    const text = createFormatter({ format: 'text', color: false, timestamps: 'none', maxValueChars: 10 });
    const line = text.format(event({ args: [arg('s', 'string', str('abcdefghijklmnop')), arg('n', 'int', { kind: 'int', value: 1n })] }));
    expect(line).toBe('server[4123] g17 main.handler(s="abcdefghi…, n=1)');
  });

  it('escapes control characters in comm and function names', () => {
    const text = createFormatter({ format: 'text', color: false, timestamps: 'none' });
    expect(text.format(event({ comm: 'ev\x1b]0;x\x07', function: 'main.\u202ef', args: [] }))).toBe(
      'ev\\x1b]0;x\\a[4123] g17 main.\\u202ef()',
    );
  });
});

describe('colour', () => {
  const ESC = '\x1b[';
  it('colours function names stably and dims the prefix', () => {
    const a = createFormatter({ format: 'text', color: true, timestamps: 'absolute' });
    const b = createFormatter({ format: 'text', color: true, timestamps: 'absolute' });
    const lineA = a.format(event());
    expect(lineA).toBe(b.format(event()));
    expect(lineA).toMatch(/^\x1b\[2m22:13:20\.512345\x1b\[22m \x1b\[2mserver\[4123\] g17\x1b\[22m \x1b\[\d+mmain\.handler\x1b\[39m\(/);
  });
  it('uses no escape codes when off', () => {
    const line = createFormatter({ format: 'text', color: false, timestamps: 'absolute' }).format(event());
    expect(line).not.toContain(ESC);
  });
  it('gives different functions different colours (for these two names)', () => {
    const f = createFormatter({ format: 'text', color: true, timestamps: 'none' });
    const colourOf = (fn: string) => /\x1b\[(\d+)m(main\.\w+)/.exec(f.format(event({ function: fn, args: [] })))![1];
    const colours = new Set(['main.a', 'main.b', 'main.c', 'main.d', 'main.e'].map(colourOf));
    expect(colours.size).toBeGreaterThan(1);
  });

  const envCases: [string, { isTTY?: boolean }, Record<string, string | undefined>, boolean][] = [
    ['tty', { isTTY: true }, {}, true],
    ['pipe', { isTTY: false }, {}, false],
    ['stream without isTTY', {}, {}, false],
    ['NO_COLOR on a tty', { isTTY: true }, { NO_COLOR: '1' }, false],
    ['empty NO_COLOR is ignored', { isTTY: true }, { NO_COLOR: '' }, true],
    ['TERM=dumb', { isTTY: true }, { TERM: 'dumb' }, false],
    ['FORCE_COLOR on a pipe', { isTTY: false }, { FORCE_COLOR: '1' }, true],
    ['FORCE_COLOR=0 on a tty', { isTTY: true }, { FORCE_COLOR: '0' }, false],
    ['NO_COLOR beats FORCE_COLOR', { isTTY: true }, { NO_COLOR: '1', FORCE_COLOR: '1' }, false],
  ];
  it.each(envCases)('shouldUseColor: %s', (_l, stream, env, want) => {
    expect(shouldUseColor(stream, env)).toBe(want);
  });
});

describe('createFormatter options', () => {
  it.each([0, -5, 2.5, NaN])('rejects maxValueChars %s with a UsageError', (n) => {
    expect(() => createFormatter({ format: 'text', color: false, timestamps: 'none', maxValueChars: n })).toThrow(
      new UsageError(`the value length limit must be a whole number of characters, at least 1 (got ${n})`),
    );
    expect(() => createFormatter({ format: 'text', color: false, timestamps: 'none', maxValueChars: n })).toThrow(UsageError);
  });
});

describe('resolveFormat', () => {
  it.each([
    ['auto', true, 'text'], ['auto', false, 'json'], ['text', false, 'text'], ['json', true, 'json'],
  ] as const)('%s on tty=%s → %s', (flag, tty, want) => {
    expect(resolveFormat(flag, tty)).toBe(want);
  });
});

describe('formatDuration', () => {
  it.each([
    [0n, '0ns'], [350n, '350ns'], [1000n, '1µs'], [1200n, '1.2µs'], [1234n, '1.234µs'], [15_250_000n, '15.25ms'],
    [2_000_123_000n, '2.000123s'], [90_000_000_000n, '90s'],
  ])('%s ns → %s', (ns, want) => {
    expect(formatDuration(ns)).toBe(want);
  });
});

// Raw characters a terminal would act on: C0 controls, DEL, C1 controls,
// bidi embeddings/overrides/isolates.
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

describe('any bytes', () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);

  it('every single byte 0–255 gives valid JSON and safe text', () => {
    for (let b = 0; b < 256; b++) {
      const v = bytesValue(Uint8Array.of(0x61, b, 0x62));
      const parsed = JSON.parse(jsonValue(v));
      const decoded = typeof parsed === 'string' ? parsed : parsed.value;
      if (b < 0x80) expect(decoded).toBe(`a${String.fromCharCode(b)}b`);
      else expect(parsed.bytes_hex).toBe(`61${b.toString(16)}62`);
      expect(textValue(v)).not.toMatch(UNSAFE);
    }
  });

  it('all 256 bytes in one string survive jq', () => {
    const json = createFormatter({ format: 'json', color: false, timestamps: 'none' });
    const lines = [
      json.format(event({ args: [arg('s', 'string', bytesValue(all))] })),
      json.format(event({ args: [arg('s', 'string', bytesValue(enc.encode('\u202e\u2066\x1b[2J\x1b]0;pwned\x07\u0085 ok é')))] })),
    ];
    let out: string;
    try {
      out = execFileSync('jq', ['-c', '.args[0].bytes_hex // .args[0].value'], { input: lines.join('\n') + '\n' }).toString();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // jq not installed: JSON.parse checks above still hold
      throw e;
    }
    const [hex, text] = out.trim().split('\n').map((l) => JSON.parse(l));
    expect(hex).toBe(Buffer.from(all).toString('hex'));
    expect(text).toBe('\u202e\u2066\x1b[2J\x1b]0;pwned\x07\u0085 ok é');
  });

  it('random byte strings: JSON parses back, text has no raw control characters', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (bytes, truncated) => {
        const v: Value = { kind: 'string', bytes, len: bytes.length + (truncated ? 10 : 0), truncated };
        const parsed = JSON.parse(jsonValue(v));
        const valid = Buffer.from(bytes).toString('utf8') === new TextDecoder().decode(bytes) &&
          !Buffer.from(bytes).toString('utf8').includes('\ufffd');
        if (!truncated && valid) expect(parsed).toBe(Buffer.from(bytes).toString('utf8'));
        if (typeof parsed === 'object' && parsed.bytes_hex !== undefined) {
          expect(Buffer.from(parsed.bytes_hex, 'hex').equals(Buffer.from(bytes).subarray(0, parsed.bytes_hex.length / 2))).toBe(true);
        }
        expect(textValue(v, 10_000)).not.toMatch(UNSAFE);
      }),
      { numRuns: 2000 },
    );
  });

  it('random Unicode text round-trips through JSON and prints without unsafe characters', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (s) => {
        const v = str(s);
        expect(JSON.parse(jsonValue(v))).toBe(s);
        expect(textValue(v, 10_000)).not.toMatch(UNSAFE);
      }),
      { numRuns: 2000 },
    );
  });
});
