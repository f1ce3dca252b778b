// How []byte and [N]byte values are written: JSON strings when printable,
// hex (with "encoding":"hex") otherwise, len/cap beside slices; Go's %q in text.

import { describe, expect, it } from 'vitest';
import { jsonArg, jsonValue } from '../../src/output/format/json.js';
import { textValue } from '../../src/output/format/text.js';
import type { Value } from '../../src/core/model.js';

const b = (s: string | number[]) => (typeof s === 'string' ? new TextEncoder().encode(s) : new Uint8Array(s));

const slice = (bytes: Uint8Array, len = BigInt(bytes.length), cap = len, address = 0xc000010000n): Value =>
  ({ kind: 'bytes', bytes, len, cap, address, truncated: BigInt(bytes.length) < len });
const array = (bytes: Uint8Array, len = BigInt(bytes.length)): Value => ({ kind: 'bytes', bytes, len, truncated: BigInt(bytes.length) < len });

describe('bytes values', () => {
  it.each<[string, Value, string, string]>([
    ['printable slice', slice(b('GET /'), 5n, 8n), '{"name":"b","type":"[]byte","value":"GET /","len":5,"cap":8}', '"GET /"'],
    ['binary slice', slice(b([0, 0xff, 0x10, 0x41])), '{"name":"b","type":"[]byte","value":"00ff1041","len":4,"cap":4,"encoding":"hex"}', '"\\x00\\xff\\x10A"'],
    ['text with newline and UTF-8', slice(b('zoë\n')), '{"name":"b","type":"[]byte","value":"zoë\\n","len":5,"cap":5}', '"zoë\\n"'],
    ['nil slice', slice(b([]), 0n, 0n, 0n), '{"name":"b","type":"[]byte","value":null,"len":0,"cap":0}', 'nil'],
    ['empty non-nil slice', slice(b([]), 0n, 4n), '{"name":"b","type":"[]byte","value":"","len":0,"cap":4}', '""'],
    ['truncated slice', slice(b('GET'), 300n, 512n), '{"name":"b","type":"[]byte","value":"GET","len":300,"cap":512,"truncated":true}', '"GET"…(len=300)'],
    ['printable array', array(b('ping')), '{"name":"b","type":"[4]byte","value":"ping"}', '"ping"'],
    ['binary array', array(b([1, 2, 0xfe])), '{"name":"b","type":"[3]byte","value":"0102fe","encoding":"hex"}', '"\\x01\\x02\\xfe"'],
    ['array shown in part', array(b('abc'), 100n), '{"name":"b","type":"[100]byte","value":"abc","len":100,"truncated":true}', '"abc"…(len=100)'],
  ])('%s', (_what, value, json, text) => {
    const type = value.kind === 'bytes' && value.cap === undefined ? `[${value.len}]byte` : '[]byte';
    expect(jsonArg({ name: 'b', type, value })).toBe(json);
    expect(JSON.parse(json)).toBeTruthy();
    expect(textValue(value)).toBe(text);
  });

  it('nested: bare when nothing but the bytes, else an object with the extras', () => {
    expect(jsonValue(array(b('ping')))).toBe('"ping"');
    expect(jsonValue(array(b([1, 2])))).toBe('{"value":"0102","encoding":"hex"}');
    expect(jsonValue(slice(b('ok'), 2n, 2n))).toBe('{"value":"ok","len":2,"cap":2}');
  });
});
