// Decoding composite values from records written the way the generated
// BPF writes them: followed pointers (full, failed, nil), byte slices,
// interfaces with a dynamic type from the runtime type table, map and
// channel headers, map entries and why a map's entries stop short.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { argumentLocations } from '../../src/spec/abi/index.js';
import { MalformedRecordError, decodeValue } from '../../src/events/decode.js';
import { basic, makeStruct, type GoType } from '../../src/core/gotypes.js';
import type { Value } from '../../src/core/model.js';
import { DEFAULT_PLAN_OPTIONS, MAP_WALK_STATUS, SLOT_HEADER, planFunction, type Slot, type ValuePlan } from '../../src/spec/plan.js';
import { runtimeTypesFromList } from '../../src/binary/runtimetypes.js';
import { parseTypeExpr } from '../../src/spec/typeexpr.js';

const STRING: GoType = { kind: 'string', name: 'string' };
const ACCOUNT = makeStruct('main.Account', [{ name: 'ID', type: basic('int64') }, { name: 'Owner', type: STRING }]);
const ERROR_STRING: GoType = { kind: 'pointer', name: '*errors.errorString', elem: makeStruct('errors.errorString', [{ name: 's', type: STRING }]) };

const TYPES = runtimeTypesFromList([
  { address: 0x1000, name: '*errors.errorString', type: ERROR_STRING },
  { address: 0x2000, name: 'int', type: basic('int') },
  { address: 0x3000, name: 'main.Account', type: ACCOUNT },
  { address: 0x4000, name: 'map[string]int', type: parseTypeExpr('map[string]int') },
]);

/** A record for one argument of `type`, and helpers to fill it as BPF would. */
function record(type: GoType) {
  const params = [{ name: 'x', type }];
  const p = planFunction(0, { name: 'main.f', params, results: null }, 'stack', argumentLocations(params, 'stack'), {
    ...DEFAULT_PLAN_OPTIONS, runtimeTypes: () => TYPES,
  });
  const buf = new ArrayBuffer(p.recordSize);
  const view = new DataView(buf);
  const bytes = new Uint8Array(buf);
  return {
    plan: p.args![0]!.value,
    u64: (at: number, v: bigint) => view.setBigUint64(at, v, true),
    slot(slot: Slot, data: Uint8Array | number[], error = 0) {
      view.setUint32(slot.offset, error ? 0 : data.length, true);
      view.setInt32(slot.offset + 4, error, true);
      if (!error) bytes.set(data, slot.offset + SLOT_HEADER);
    },
    decode: (): Value => decodeValue(view, 0, p.args![0]!.value),
  };
}

function le64(...words: bigint[]): Uint8Array {
  const out = new Uint8Array(words.length * 8);
  const v = new DataView(out.buffer);
  words.forEach((w, i) => v.setBigUint64(i * 8, w, true));
  return out;
}

const ascii = (s: string) => new TextEncoder().encode(s);

function only<K extends ValuePlan['kind']>(plan: ValuePlan, kind: K): Extract<ValuePlan, { kind: K }> {
  if (plan.kind !== kind) throw new Error(`plan is ${plan.kind}, not ${kind}`);
  return plan as Extract<ValuePlan, { kind: K }>;
}

describe('followed pointers', () => {
  const type: GoType = { kind: 'pointer', name: '*main.Account', elem: ACCOUNT };

  it('a full copy decodes the pointee, its string from its own slot', () => {
    const r = record(type);
    const p = only(r.plan, 'pointer');
    r.u64(p.offset, 0xc000010000n);
    r.slot(p.target!.data, le64(7n, 0xc000020000n, 5n));
    const owner = only(p.target!.plan, 'struct').fields[1]!.plan;
    r.slot(only(owner, 'string').data, ascii('carol'));
    expect(r.decode()).toEqual({
      kind: 'pointer', address: 0xc000010000n,
      target: { kind: 'struct', fields: [
        { name: 'ID', value: { kind: 'int', value: 7n } },
        { name: 'Owner', value: { kind: 'string', bytes: ascii('carol'), len: 5, truncated: false } },
      ] },
    });
  });

  it('a failed copy is an unavailable target that says why, keeping the address', () => {
    const r = record(type);
    const p = only(r.plan, 'pointer');
    r.u64(p.offset, 0x1000n);
    r.slot(p.target!.data, [], -14);
    expect(r.decode()).toEqual({
      kind: 'pointer', address: 0x1000n,
      target: { kind: 'unavailable', reason: 'cannot read 24 bytes of main.Account at 0x1000 (EFAULT: nothing readable is mapped there)' },
    });
  });

  it('nil has no target', () => {
    const r = record(type);
    expect(r.decode()).toEqual({ kind: 'pointer', address: 0n });
  });

  it('a pointer back at a value it was reached through is a cycle, not followed again', () => {
    // type Node struct { Val int64; Next *Node }, with n.Next == n.
    const next: GoType = { kind: 'pointer', name: '*main.Node', elem: null };
    const node = makeStruct('main.Node', [{ name: 'Val', type: basic('int64') }, { name: 'Next', type: next }]);
    (next as { elem: GoType | null }).elem = node;
    const r = record(next);
    const p = only(r.plan, 'pointer');
    r.u64(p.offset, 0xc000010000n);
    r.slot(p.target!.data, le64(1n, 0xc000010000n));
    const inner = only(only(p.target!.plan, 'struct').fields[1]!.plan, 'pointer');
    if (inner.target) r.slot(inner.target.data, le64(1n, 0xc000010000n));
    expect(r.decode()).toEqual({
      kind: 'pointer', address: 0xc000010000n,
      target: { kind: 'struct', fields: [
        { name: 'Val', value: { kind: 'int', value: 1n } },
        { name: 'Next', value: { kind: 'pointer', address: 0xc000010000n, cycle: true } },
      ] },
    });
  });

  it('a pointer to the first field of a struct, at the same address, is not a cycle', () => {
    const inner = makeStruct('main.Inner', [{ name: 'N', type: basic('int64') }]);
    const outer = makeStruct('main.Outer', [{ name: 'In', type: inner }, { name: 'P', type: { kind: 'pointer', name: '*main.Inner', elem: inner } }]);
    const r = record({ kind: 'pointer', name: '*main.Outer', elem: outer });
    const p = only(r.plan, 'pointer');
    r.u64(p.offset, 0xc000010000n);
    r.slot(p.target!.data, le64(5n, 0xc000010000n));
    r.slot(only(only(p.target!.plan, 'struct').fields[1]!.plan, 'pointer').target!.data, le64(5n));
    const pField = (r.decode() as { target: { fields: { value: Value }[] } }).target.fields[1]!.value;
    expect(pField).toEqual({ kind: 'pointer', address: 0xc000010000n, target: { kind: 'struct', fields: [{ name: 'N', value: { kind: 'int', value: 5n } }] } });
  });
});

describe('[]byte', () => {
  it.each([
    ['a full copy', 'GET /', 5n, false],
    ['a capture shorter than len', 'GET /', 300n, true],
  ])('%s', (_what, text, len, truncated) => {
    const r = record(parseTypeExpr('[]byte'));
    const p = only(r.plan, 'bytes');
    r.u64(p.offset, 0xc000030000n);
    r.u64(p.offset + 8, len);
    r.u64(p.offset + 16, 512n);
    r.slot(p.data!, ascii(text));
    expect(r.decode()).toEqual({ kind: 'bytes', bytes: ascii(text), len, cap: 512n, address: 0xc000030000n, truncated });
  });

  it('an unreadable backing array is unavailable', () => {
    const r = record(parseTypeExpr('[]byte'));
    const p = only(r.plan, 'bytes');
    r.u64(p.offset, 0x10n);
    r.u64(p.offset + 8, 3n);
    r.u64(p.offset + 16, 3n);
    r.slot(p.data!, [], -14);
    expect(r.decode()).toEqual({ kind: 'unavailable', reason: "cannot read the slice's 3 bytes at 0x10 (EFAULT: nothing readable is mapped there)" });
  });
});

describe('interfaces', () => {
  function iface(typeAt: bigint, data: bigint, block: Uint8Array | null, strings: string[] = []) {
    const r = record(parseTypeExpr('error'));
    const p = only(r.plan, 'interface');
    r.u64(p.offset, 0x7000n); // itab
    r.u64(p.offset + 8, data);
    r.u64(p.typeAt, typeAt);
    if (block) r.slot(p.data, block);
    strings.forEach((s, i) => r.slot(p.strings[i]!, ascii(s)));
    return r.decode();
  }

  it('*errors.errorString: a pointer to the struct, its message followed', () => {
    expect(iface(0x1000n, 0xc000040000n, le64(0xc000050000n, 9n), ['disk full'])).toEqual({
      kind: 'interface', typeAddress: 0x7000n, dataAddress: 0xc000040000n, typeName: '*errors.errorString',
      value: { kind: 'pointer', address: 0xc000040000n, target: { kind: 'struct', fields: [
        { name: 's', value: { kind: 'string', bytes: ascii('disk full'), len: 9, truncated: false } },
      ] } },
    });
  });

  it('an int stored behind the data word', () => {
    expect(iface(0x2000n, 0xc000060000n, le64(12345n))).toMatchObject({ typeName: 'int', value: { kind: 'int', value: 12345n } });
  });

  it('a struct behind the data word, its string in the first string slot', () => {
    const v = iface(0x3000n, 0xc000060000n, le64(8n, 0xc000070000n, 4n), ['dave']);
    expect(v).toMatchObject({ typeName: 'main.Account', value: { kind: 'struct', fields: [
      { name: 'ID', value: { kind: 'int', value: 8n } },
      { name: 'Owner', value: { kind: 'string', bytes: ascii('dave') } },
    ] } });
  });

  it('a map is the data word itself', () => {
    expect(iface(0x4000n, 0xc000080000n, null)).toMatchObject({ typeName: 'map[string]int', value: { kind: 'map', address: 0xc000080000n } });
  });

  it('a type weaver does not know shows addresses only', () => {
    expect(iface(0x9999n, 0xc000090000n, null)).toEqual({ kind: 'interface', typeAddress: 0x7000n, dataAddress: 0xc000090000n });
  });

  it('a data word that could not be read is unavailable, named by type', () => {
    const r = record(parseTypeExpr('error'));
    const p = only(r.plan, 'interface');
    r.u64(p.offset, 0x7000n);
    r.u64(p.offset + 8, 0x20n);
    r.u64(p.typeAt, 0x2000n);
    r.slot(p.data, [], -14);
    expect(r.decode()).toMatchObject({
      typeName: 'int', value: { kind: 'unavailable', reason: 'cannot read 8 bytes of int at 0x20 (EFAULT: nothing readable is mapped there)' },
    });
  });

  it('nil: a zero type word, nothing else looked at', () => {
    const r = record(parseTypeExpr('error'));
    const p = only(r.plan, 'interface');
    r.u64(p.typeAt, 0x2000n);
    expect(r.decode()).toStrictEqual({ kind: 'interface', typeAddress: 0n, dataAddress: 0n });
  });
});

describe('map and channel headers', () => {
  it.each([
    ['map[string]int', [3n], { kind: 'map', address: 0xc0000a0000n, len: 3n }],
    ['chan int', [2n, 4n], { kind: 'chan', address: 0xc0000a0000n, len: 2n, cap: 4n }],
  ])('%s', (text, words, expected) => {
    const r = record(parseTypeExpr(text));
    const p = only(r.plan, 'header');
    r.u64(p.offset, 0xc0000a0000n);
    r.slot(p.data, le64(...words));
    expect(r.decode()).toEqual(expected);
  });

  it('an unreadable header leaves only the address', () => {
    const r = record(parseTypeExpr('chan int'));
    const p = only(r.plan, 'header');
    r.u64(p.offset, 0x30n);
    r.slot(p.data, [], -14);
    expect(r.decode()).toEqual({ kind: 'chan', address: 0x30n });
  });
});

describe('map entries', () => {
  /** A record for m map[K]V as BPF writes it: header (count first), walk word, entry images. */
  function mapRecord(text: string, maxElements = 4, maxRecordSize = DEFAULT_PLAN_OPTIONS.maxRecordSize) {
    const params = [{ name: 'm', type: parseTypeExpr(text) }];
    const p = planFunction(0, { name: 'main.f', params, results: null }, 'stack', argumentLocations(params, 'stack'), {
      ...DEFAULT_PLAN_OPTIONS, maxElements, maxRecordSize, mapLayout: 'swiss',
    });
    const plan = only(p.args![0]!.value, 'map');
    const view = new DataView(new ArrayBuffer(p.recordSize));
    const offsetOf = (v: ValuePlan) => ('offset' in v ? v.offset : -1);
    return {
      plan, view,
      fill(address: bigint, len: bigint, shown: number, status = 0) {
        view.setBigUint64(plan.offset, address, true);
        view.setUint32(plan.header.offset, 48, true);
        view.setBigInt64(plan.header.offset + SLOT_HEADER, len, true);
        view.setUint32(plan.walk, shown, true);
        view.setUint32(plan.walk + 4, status, true);
      },
      int(v: ValuePlan, n: bigint) { view.setBigInt64(offsetOf(v), n, true); },
      str(v: ValuePlan, text: string) {
        if (v.kind !== 'string') throw new Error(`planned as ${v.kind}`);
        const bytes = new TextEncoder().encode(text);
        view.setBigUint64(v.offset, 0xc000200000n, true);
        view.setBigInt64(v.offset + 8, BigInt(bytes.length), true);
        view.setUint32(v.data.offset, bytes.length, true);
        new Uint8Array(view.buffer).set(bytes, v.data.offset + SLOT_HEADER);
      },
    };
  }

  const int = (value: bigint): Value => ({ kind: 'int', value });

  const { stepBound, unreadable, interrupted } = MAP_WALK_STATUS;

  it.each([
    // shown, len, walk status, why truncated: fewer shown than len is truncated, and the reason is kept.
    [0, 0n, 0, undefined],
    [3, 3n, 0, undefined],
    [4, 4n, 0, undefined],
    // A walk that found all its entries but not all of the map's: neither the walk bound nor a bucket it passed
    // could read matter then, --max-elements cut it.
    [4, 4n, stepBound, undefined],
    [4, 1000n, 0, 'max-elements'],
    [4, 1000n, unreadable, 'max-elements'],
    [2, 3n, stepBound, 'walk-bound'],
    [2, 3n, unreadable, 'unreadable'],
    [0, 5n, unreadable, 'unreadable'],
    // Both: the unreadable memory is said, being the one that is not a limit weaver set.
    [1, 40n, stepBound | unreadable, 'unreadable'],
    // Another walk on the CPU dropped the copies.
    [0, 5n, interrupted, 'interrupted'],
    [0, 5n, interrupted | stepBound, 'interrupted'],
    // No bit set: the walk read the whole map and found fewer than len, or could not copy an entry it found.
    [2, 3n, 0, 'map-changed'],
  ] as const)('%i entries copied of a map of len %i, walk status %i: truncated by %s', (shown, len, status, truncatedBy) => {
    const r = mapRecord('map[int64]int64');
    r.fill(0xc000100000n, len, shown, status);
    for (let k = 0; k < 4; k++) {
      r.int(r.plan.keys[k]!, BigInt(10 + k));
      r.int(r.plan.elems[k]!, BigInt(-k));
    }
    const entries = Array.from({ length: shown }, (_, k) => [int(BigInt(10 + k)), int(BigInt(-k))]);
    const want = truncatedBy === undefined ? { truncated: false } : { truncated: true, truncatedBy };
    expect(decodeValue(r.view, 0, r.plan)).toEqual({ kind: 'map', address: 0xc000100000n, len, entries, ...want });
  });

  it.each([
    // entries copied, why truncated: the plan kept 2 of the 4 entries asked for, to fit the record.
    [2, 'event-size'],
    [1, 'map-changed'],
  ] as const)('a map planned with fewer entries than --max-elements to fit --max-event-size, %i copied: %s', (shown, truncatedBy) => {
    const full = mapRecord('map[int64]int64').view.byteLength;
    // 2 of 4 entries of 16 bytes fit; the plan halves --max-elements once.
    const r = mapRecord('map[int64]int64', 4, full - 1);
    expect([r.plan.keys.length, r.plan.asked]).toEqual([2, 4]);
    r.fill(0xc000100000n, 9n, shown);
    expect(decodeValue(r.view, 0, r.plan)).toMatchObject({ kind: 'map', len: 9n, truncated: true, truncatedBy });
  });

  it('reads the status bits bpf/weaver.h sets', () => {
    const header = readFileSync(new URL('../../bpf/weaver.h', import.meta.url), 'utf8');
    const bit = (name: string) => Number(new RegExp(`#define ${name} (\\d+)`).exec(header)?.[1]);
    expect([bit('WEAVER_MAP_STEP_BOUND'), bit('WEAVER_MAP_UNREADABLE'), bit('WEAVER_MAP_INTERRUPTED')]).toEqual([stepBound, unreadable, interrupted]);
  });

  it('a plan that kept every entry asked for records no asked count', () => {
    expect(mapRecord('map[int64]int64').plan.asked).toBeUndefined();
  });

  it('string keys and values are read from their slots', () => {
    const r = mapRecord('map[string]string', 2);
    r.fill(0xc000100000n, 2n, 2);
    r.str(r.plan.keys[0]!, 'apple');
    r.str(r.plan.elems[0]!, 'red');
    r.str(r.plan.keys[1]!, 'kiwi');
    r.str(r.plan.elems[1]!, '');
    const v = decodeValue(r.view, 0, r.plan);
    if (v.kind !== 'map') throw new Error(`decoded as ${v.kind}`);
    const text = (x: Value) => (x.kind === 'string' ? `${new TextDecoder().decode(x.bytes)}/${x.len}/${x.truncated}` : x.kind);
    expect(v.entries!.map(([k, e]) => [text(k), text(e)])).toEqual([['apple/5/false', 'red/3/false'], ['kiwi/4/false', '/0/false']]);
    expect(v.truncated).toBe(false);
  });

  it('a walk claiming more entries than planned is a malformed record', () => {
    const r = mapRecord('map[int64]int64');
    r.fill(0xc000100000n, 10n, 5);
    expect(() => decodeValue(r.view, 0, r.plan)).toThrow(new MalformedRecordError(`map at ${r.plan.offset} claims 5 entries, more than its 4`));
  });

  it('an unreadable header leaves the address only; nil is nil', () => {
    const r = mapRecord('map[int64]int64');
    expect(decodeValue(r.view, 0, r.plan)).toEqual({ kind: 'map', address: 0n });
    r.view.setBigUint64(r.plan.offset, 0x40n, true);
    r.view.setUint32(r.plan.header.offset, 0, true);
    r.view.setInt32(r.plan.header.offset + 4, -14, true);
    expect(decodeValue(r.view, 0, r.plan)).toEqual({ kind: 'map', address: 0x40n });
  });
});
