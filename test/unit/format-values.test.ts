// Value → exact text and exact JSON. Float and quoting expectations were
// printed by Go 1.19 (fmt %v, strconv.Quote), not derived from our code.
import { describe, expect, it } from 'vitest';
import type { Value } from '../../src/core/model.js';
import { goFloat, jsonValue, shortestFloat, textValue } from '../../src/output/format/index.js';

const enc = new TextEncoder();
const int = (n: bigint | number): Value => ({ kind: 'int', value: BigInt(n) });
const f32 = (x: number): Value => ({ kind: 'float', value: Math.fround(x), bits: 32 });
const f64 = (x: number): Value => ({ kind: 'float', value: x, bits: 64 });
const str = (s: string | number[], opts: { len?: number; truncated?: boolean } = {}): Value => {
  const bytes = typeof s === 'string' ? enc.encode(s) : Uint8Array.from(s);
  return { kind: 'string', bytes, len: opts.len ?? bytes.length, truncated: opts.truncated ?? false };
};
const field = (name: string, value: Value) => ({ name, value });

describe('goFloat matches Go fmt %v', () => {
  const cases: [number, 32 | 64, string][] = [
    [0.1, 32, '0.1'], [1 / 3, 32, '0.33333334'], [16777216, 32, '1.6777216e+07'], [16777217, 32, '1.6777216e+07'],
    [1e-45, 32, '1e-45'], [3.4028235e38, 32, '3.4028235e+38'], [1e6, 32, '1e+06'], [123456, 32, '123456'],
    [1.5e-7, 32, '1.5e-07'], [2.5, 32, '2.5'], [-0, 32, '-0'], [1.17549435e-38, 32, '1.1754944e-38'], [100, 32, '100'], [0.3, 32, '0.3'],
    [0.1, 64, '0.1'], [1 / 3, 64, '0.3333333333333333'], [1e21, 64, '1e+21'], [1e20, 64, '1e+20'], [1e6, 64, '1e+06'],
    [999999, 64, '999999'], [0.0001, 64, '0.0001'], [0.00001, 64, '1e-05'], [5e-324, 64, '5e-324'], [1e100, 64, '1e+100'],
    [-2.5, 64, '-2.5'], [Number.MAX_VALUE, 64, '1.7976931348623157e+308'], [123456789, 64, '1.23456789e+08'],
    [NaN, 64, 'NaN'], [Infinity, 64, '+Inf'], [-Infinity, 64, '-Inf'], [-0, 64, '-0'],
  ];
  it.each(cases)('%s as float%s → %s', (x, bits, want) => {
    expect(goFloat(bits === 32 ? Math.fround(x) : x, bits)).toBe(want);
  });
});

describe('shortestFloat reads back to the same value', () => {
  it('for float32 values across the exponent range', () => {
    const view = new DataView(new ArrayBuffer(4));
    for (let i = 0; i < 20000; i++) {
      view.setUint32(0, Math.floor(Math.random() * 0x100000000));
      const x = view.getFloat32(0);
      if (!Number.isFinite(x)) continue;
      const s = shortestFloat(x, 32);
      expect(Math.fround(Number(s))).toBe(x);
      // At most 9 significant digits: what a float32 ever needs.
      expect(s.replace(/^-|e.*$|\./g, '').replace(/^0+|0+$/g, '').length).toBeLessThanOrEqual(9);
    }
  });
});

const table: [string, Value, string, string][] = [
  // [label, value, text, json]
  ['true', { kind: 'bool', value: true }, 'true', 'true'],
  ['small int', int(3), '3', '3'],
  ['negative int', int(-42), '-42', '-42'],
  ['uint64 max', int(18446744073709551615n), '18446744073709551615', '18446744073709551615'],
  ['int64 min', int(-9223372036854775808n), '-9223372036854775808', '-9223372036854775808'],
  ['2^53+1', int(9007199254740993n), '9007199254740993', '9007199254740993'],
  ['float32 0.1', f32(0.1), '0.1', '0.1'],
  ['float32 1e-45', f32(1e-45), '1e-45', '1e-45'],
  ['float32 max', f32(3.4028235e38), '3.4028235e+38', '3.4028235e+38'],
  ['float32 2^24+1', f32(16777217), '1.6777216e+07', '16777216'],
  ['float64 1e21', f64(1e21), '1e+21', '1e+21'],
  ['float64 -0', f64(-0), '-0', '-0'],
  ['NaN', f64(NaN), 'NaN', '"NaN"'],
  ['+Inf', f32(Infinity), '+Inf', '"+Inf"'],
  ['-Inf', f64(-Infinity), '-Inf', '"-Inf"'],
  ['complex128', { kind: 'complex', real: 1, imag: 2, bits: 128 }, '(1+2i)', '{"real":1,"imag":2}'],
  ['complex64', { kind: 'complex', real: Math.fround(0.1), imag: -3, bits: 64 }, '(0.1-3i)', '{"real":0.1,"imag":-3}'],
  ['complex NaN/Inf', { kind: 'complex', real: NaN, imag: Infinity, bits: 128 }, '(NaN+Infi)', '{"real":"NaN","imag":"+Inf"}'],
  ['complex -Inf imag', { kind: 'complex', real: 0, imag: -Infinity, bits: 128 }, '(0-Infi)', '{"real":0,"imag":"-Inf"}'],
  ['ascii string', str('/api'), '"/api"', '"/api"'],
  ['empty string', str(''), '""', '""'],
  ['quote and backslash', str('say "hi"\\'), '"say \\"hi\\"\\\\"', '"say \\"hi\\"\\\\"'],
  ['unicode string', str('héllo 日本 😀'), '"héllo 日本 😀"', '"héllo 日本 😀"'],
  ['controls', str('a\tb\n\x1b[31m\x7f'), '"a\\tb\\n\\x1b[31m\\x7f"', '"a\\tb\\n\\u001b[31m\x7f"'],
  ['truncated string', str('abc', { len: 5000, truncated: true }), '"abc"…(len=5000)', '{"value":"abc","len":5000,"truncated":true}'],
  ['invalid utf-8', str([0x61, 0xff, 0x62]), '"a\\xffb"', '{"value":"a\ufffdb","bytes_hex":"61ff62"}'],
  ['truncated inside a character', str([0x61, 0xe6, 0x97], { len: 9, truncated: true }), '"a"…(len=9)', '{"value":"a","len":9,"truncated":true}'],
  ['nil pointer', { kind: 'pointer', address: 0n }, 'nil', 'null'],
  ['pointer', { kind: 'pointer', address: 0xc000012345n }, '0xc000012345', '"0xc000012345"'],
  ['followed pointer', { kind: 'pointer', address: 0xc00001a000n, target: { kind: 'struct', fields: [field('ID', int(7)), field('Owner', str('carol'))] } },
    '&{ID:7 Owner:"carol"}', '{"address":"0xc00001a000","value":{"ID":7,"Owner":"carol"}}'],
  ['pointer to int', { kind: 'pointer', address: 0x10n, target: int(42) }, '&42', '{"address":"0x10","value":42}'],
  ['array', { kind: 'array', elems: [int(1), int(2), int(3)] }, '[1 2 3]', '[1,2,3]'],
  ['pointer cycle', { kind: 'pointer', address: 0xc0n, target: { kind: 'struct', fields: [field('Val', int(1)), field('Next', { kind: 'pointer', address: 0xc0n, cycle: true })] } },
    '&{Val:1 Next:<cycle: 0xc0>}', '{"address":"0xc0","value":{"Val":1,"Next":{"value":"0xc0","cycle":true}}}'],
  // A [100]uint cut to --max-elements says so, as a slice does.
  ['array cut to --max-elements', { kind: 'array', elems: [int(1), int(2), int(3)], len: 100 }, '[1 2 3 …](len=100)', '{"value":[1,2,3],"len":100,"truncated":true}'],
  ['cut array nested in a struct', { kind: 'struct', fields: [field('A', { kind: 'array', elems: [int(7)], len: 4 })] },
    '{A:[7 …](len=4)}', '{"A":{"value":[7],"len":4,"truncated":true}}'],
  ['slice', { kind: 'slice', address: 0xc0n, len: 3n, cap: 4n, elems: [str('a'), str('b'), str('c')], truncated: false }, '["a" "b" "c"]', '{"value":["a","b","c"],"len":3,"cap":4}'],
  ['truncated slice', { kind: 'slice', address: 0xc0n, len: 100n, cap: 100n, elems: [int(1), int(2)], truncated: true }, '[1 2 …](len=100)', '{"value":[1,2],"len":100,"cap":100,"truncated":true}'],
  ['nil slice', { kind: 'slice', address: 0n, len: 0n, cap: 0n, elems: [], truncated: false }, 'nil', '{"value":null,"len":0,"cap":0}'],
  ['empty slice', { kind: 'slice', address: 0xc0n, len: 0n, cap: 8n, elems: [], truncated: false }, '[]', '{"value":[],"len":0,"cap":8}'],
  ['struct with nested slice and blanks', { kind: 'struct', fields: [
    field('Tags', { kind: 'slice', address: 0xc0n, len: 1n, cap: 1n, elems: [str('x')], truncated: false }),
    field('_', int(0)), field('_', int(0)), field('N', { kind: 'unavailable', reason: 'not captured' })] },
    '{Tags:["x"] _:0 _:0 N:<unavailable: not captured>}',
    '{"Tags":{"value":["x"],"len":1,"cap":1},"_":0,"_#2":0,"N":{"value":null,"error":"not captured"}}'],
  ['map', { kind: 'map', address: 0xc0n, len: 2n, entries: [[str('a'), int(1)], [str('b'), int(2)]] }, 'map["a":1 "b":2]', '{"value":[["a",1],["b",2]],"len":2}'],
  ['truncated map', { kind: 'map', address: 0xc0n, len: 5n, entries: [[int(1), { kind: 'bool', value: false }]], truncated: true }, 'map[1:false …](len=5)', '{"value":[[1,false]],"len":5,"truncated":true}'],
  // Why a map stops short: text says it unless it is --max-elements, JSON always.
  ...([
    ['max-elements', 'map[1:false …](len=5)'],
    ['event-size', 'map[1:false …](len=5, fewer to fit --max-event-size)'],
    ['walk-bound', 'map[1:false …](len=5, walk stopped after 1024 steps)'],
    ['unreadable', 'map[1:false …](len=5, map memory unreadable)'],
    ['map-changed', 'map[1:false …](len=5, map changed while read)'],
  ] as const).map(([why, text]): [string, Value, string, string] => [
    `map truncated by ${why}`,
    { kind: 'map', address: 0xc0n, len: 5n, entries: [[int(1), { kind: 'bool', value: false }]], truncated: true, truncatedBy: why },
    text,
    `{"value":[[1,false]],"len":5,"truncated":true,"truncated_by":"${why}"}`,
  ]),
  ['interrupted map walk', { kind: 'map', address: 0xc0n, len: 5n, entries: [], truncated: true, truncatedBy: 'interrupted' },
    'map[…](len=5, walk interrupted)', '{"value":[],"len":5,"truncated":true,"truncated_by":"interrupted"}'],
  ['truncated map nested in a struct', { kind: 'struct', fields: [field('M', {
    kind: 'map', address: 0xc0n, len: 40n, entries: [[int(3), int(9)]], truncated: true, truncatedBy: 'walk-bound' })] },
    '{M:map[3:9 …](len=40, walk stopped after 1024 steps)}',
    '{"M":{"value":[[3,9]],"len":40,"truncated":true,"truncated_by":"walk-bound"}}'],
  ['map by address', { kind: 'map', address: 0xc0n }, '0xc0', '"0xc0"'],
  ['map with length only', { kind: 'map', address: 0xc0n, len: 3n }, 'map[…](len=3)', '{"value":"0xc0","len":3}'],
  ['nil map', { kind: 'map', address: 0n }, 'nil', 'null'],
  ['nil interface', { kind: 'interface', typeAddress: 0n, dataAddress: 0n }, '<nil>', 'null'],
  ['interface with value', { kind: 'interface', typeAddress: 0x4a0000n, dataAddress: 0xc0n, typeName: 'int', value: int(5) }, 'int(5)', '{"type":"int","value":5}'],
  ['interface with pointer type', { kind: 'interface', typeAddress: 0x4a0000n, dataAddress: 0xc0n, typeName: '*errors.errorString',
    value: { kind: 'pointer', address: 0xc0n, target: { kind: 'struct', fields: [field('s', str('boom'))] } } },
    '(*errors.errorString)(&{s:"boom"})', '{"type":"*errors.errorString","value":{"address":"0xc0","value":{"s":"boom"}}}'],
  ['interface not decoded', { kind: 'interface', typeAddress: 0x4a0000n, dataAddress: 0xc0n, typeName: 'main.T' }, 'main.T(data=0xc0)', '{"type":"main.T","data":"0xc0"}'],
  // Inside a struct behind a pointer the data word is labelled too, never shown as the value (ENOENT is 2).
  ['interface not decoded, nested', { kind: 'pointer', address: 0xc000010000n, target: { kind: 'struct', fields: [
    field('Op', str('open')), field('Err', { kind: 'interface', typeAddress: 0x4a0000n, dataAddress: 0xf82cb8n, typeName: 'syscall.Errno' })] } },
    '&{Op:"open" Err:syscall.Errno(data=0xf82cb8)}',
    '{"address":"0xc000010000","value":{"Op":"open","Err":{"type":"syscall.Errno","data":"0xf82cb8"}}}'],
  ['interface of a pointer type not decoded', { kind: 'interface', typeAddress: 0x4a0000n, dataAddress: 0xc0n, typeName: '*main.T' }, '(*main.T)(data=0xc0)', '{"type":"*main.T","data":"0xc0"}'],
  ['interface of unknown type', { kind: 'interface', typeAddress: 0x4a0000n, dataAddress: 0xc0n }, 'iface(type=0x4a0000, data=0xc0)', '{"type":null,"type_address":"0x4a0000","data":"0xc0"}'],
  ['chan', { kind: 'chan', address: 0xc0n, len: 1n, cap: 4n }, '0xc0(len=1 cap=4)', '{"value":"0xc0","len":1,"cap":4}'],
  ['nil chan', { kind: 'chan', address: 0n }, 'nil', 'null'],
  ['func', { kind: 'func', address: 0x47e0a0n }, '0x47e0a0', '"0x47e0a0"'],
  ['func, named', { kind: 'func', address: 0xc000010000n, func: 'main.main.func1' }, 'main.main.func1', '{"value":"0xc000010000","func":"main.main.func1"}'],
  ['func, named, nil', { kind: 'func', address: 0n }, 'nil', 'null'],
  ['opaque', { kind: 'opaque', typeName: 'sync.Mutex', address: 0xc0n }, '<sync.Mutex at 0xc0>', '{"value":"0xc0","opaque":"sync.Mutex"}'],
  ['unavailable', { kind: 'unavailable', reason: 'passed in register X0, which eBPF cannot read' },
    '<unavailable: passed in register X0, which eBPF cannot read>', '{"value":null,"error":"passed in register X0, which eBPF cannot read"}'],
];

describe('value formatting', () => {
  it.each(table)('%s: text', (_label, v, text) => {
    expect(textValue(v)).toBe(text);
  });
  it.each(table)('%s: json', (_label, v, _text, json) => {
    expect(jsonValue(v)).toBe(json);
    expect(() => JSON.parse(jsonValue(v))).not.toThrow();
  });
});

describe('Go strconv.Quote compatibility', () => {
  it('escapes like strconv.Quote', () => {
    const s = 'a\tb\n\x1b[31m\x7f\xff\u0085\u202e\u00e9日本\u00a0\u200b\u{1F600}\u{E0001}\x07\b\f\v\r"\\';
    // \xff above stands for the raw invalid byte 0xff, spliced in below.
    const bytes: number[] = [];
    for (const ch of s) {
      if (ch === '\xff') bytes.push(0xff);
      else bytes.push(...enc.encode(ch));
    }
    expect(textValue(str(bytes))).toBe(
      '"a\\tb\\n\\x1b[31m\\x7f\\xff\\u0085\\u202eé日本\\u00a0\\u200b😀\\U000e0001\\a\\b\\f\\v\\r\\"\\\\"',
    );
  });
});

describe('elision', () => {
  it('cuts a long string after maxChars characters and marks it', () => {
    const t = textValue(str('x'.repeat(1000)), 200);
    expect(t).toBe(`"${'x'.repeat(199)}…`);
  });
  it('cuts long escaped strings without scanning them all', () => {
    const t = textValue(str('\x01'.repeat(100000)), 50);
    expect(t.length).toBeLessThanOrEqual(51);
    expect(t.endsWith('…')).toBe(true);
    expect(t.startsWith('"\\x01\\x01')).toBe(true);
  });
  it('stops listing elements once past the limit', () => {
    const elems = Array.from({ length: 1000 }, (_, i) => int(i));
    const t = textValue({ kind: 'slice', address: 1n, len: 1000n, cap: 1000n, elems, truncated: false }, 30);
    // The slice's length still ends the text.
    expect(t).toBe('[0 1 2 3 4 5 6 7 8 9 10 11 12 …](len=1000)');
  });
  it.each<[string, Value, number, string]>([
    [
      'a map cut for room still says its length and why it stopped short',
      { kind: 'map', address: 1n, len: 40n, entries: Array.from({ length: 12 }, (_, i) => [int(i * 1000 + 999), int(i)] as [Value, Value]), truncated: true, truncatedBy: 'walk-bound' },
      30,
      'map[999:0 1999:1 2999:2 3999:3…](len=40, walk stopped after 1024 steps)',
    ],
    [
      'a map cut for room, cut by --max-elements: its length only',
      { kind: 'map', address: 1n, len: 40n, entries: Array.from({ length: 12 }, (_, i) => [int(i), int(i)] as [Value, Value]), truncated: true, truncatedBy: 'max-elements' },
      20,
      'map[0:0 1:1 2:2 3:3 …](len=40)',
    ],
    [
      'a whole map cut for room: its length',
      { kind: 'map', address: 1n, len: 12n, entries: Array.from({ length: 12 }, (_, i) => [int(i), int(i)] as [Value, Value]), truncated: false },
      20,
      'map[0:0 1:1 2:2 3:3 …](len=12)',
    ],
    [
      'only the outermost composite keeps its tail: a slice in a struct',
      { kind: 'struct', fields: [{ name: 'S', value: { kind: 'slice', address: 1n, len: 100n, cap: 100n, elems: Array.from({ length: 100 }, (_, i) => int(i)), truncated: false } }] },
      20,
      '{S:[0 1 2 3 4 5 6 7 …',
    ],
    [
      'entries that fit, and the length and reason past the limit: kept whole',
      { kind: 'map', address: 1n, len: 40n, entries: [[int(1), int(1)], [int(2), int(2)], [int(3), int(3)]], truncated: true, truncatedBy: 'walk-bound' },
      20,
      'map[1:1 2:2 3:3 …](len=40, walk stopped after 1024 steps)',
    ],
    [
      'a map inside an interface is not the outermost value: cut as any value',
      { kind: 'interface', typeAddress: 1n, dataAddress: 2n, typeName: 'map[int]int', value: { kind: 'map', address: 1n, len: 40n, entries: Array.from({ length: 12 }, (_, i) => [int(i), int(i)] as [Value, Value]), truncated: true, truncatedBy: 'walk-bound' } },
      30,
      'map[int]int(map[0:0 1:1 2:2 3:…',
    ],
    ['a slice inside a pointer is still the outermost composite', { kind: 'pointer', address: 1n, target: { kind: 'slice', address: 1n, len: 100n, cap: 100n, elems: Array.from({ length: 100 }, (_, i) => int(i)), truncated: false } }, 12, '&[0 1 2 3 4 …](len=100)'],
  ])('%s', (_name, value, max, want) => {
    expect(textValue(value, max)).toBe(want);
  });
  it('never splits a surrogate pair', () => {
    const t = textValue(str('a😀😀😀😀'), 3);
    expect(t).toBe('"a…');
  });
  it('leaves values under the limit alone', () => {
    expect(textValue(str('x'.repeat(50)), 52)).toBe(`"${'x'.repeat(50)}"`);
  });
});
