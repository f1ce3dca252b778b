// Decoding composite values from records written the way the generated
// BPF writes them: followed pointers (full, failed, nil), byte slices,
// interfaces with a dynamic type from the runtime type table, map and
// channel headers.

import { describe, expect, it } from 'vitest';
import { argumentLocations } from '../../src/abi/index.js';
import { decodeValue } from '../../src/decode.js';
import { basic, makeStruct, type GoType } from '../../src/gotypes.js';
import type { Value } from '../../src/model.js';
import { DEFAULT_PLAN_OPTIONS, SLOT_HEADER, planFunction, type Slot, type ValuePlan } from '../../src/plan.js';
import { runtimeTypesFromList } from '../../src/runtimetypes.js';
import { parseTypeExpr } from '../../src/typeexpr.js';

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
  function mapRecord(layout: 'hmap' | 'swiss') {
    const params = [{ name: 'm', type: parseTypeExpr('map[int64]int64') }];
    const p = planFunction(0, { name: 'main.f', params, results: null }, 'stack', argumentLocations(params, 'stack'), {
      ...DEFAULT_PLAN_OPTIONS, maxElements: 8, mapLayout: layout,
    });
    const plan = only(p.args![0]!.value, 'map');
    const view = new DataView(new ArrayBuffer(p.recordSize));
    const slot = (s: Slot, n: number) => view.setUint32(s.offset, n, true);
    const group = plan.data.offset + SLOT_HEADER;
    return { plan, view, slot, group };
  }

  it('hmap: full slots by tophash (>= 5), in bucket order; len from count', () => {
    const { plan, view, slot, group } = mapRecord('hmap');
    view.setBigUint64(plan.offset, 0xc000100000n, true);
    slot(plan.header, 48);
    view.setBigInt64(plan.header.offset + SLOT_HEADER, 2n, true);
    slot(plan.data, plan.groupSize);
    // Slot 0 empty (0), slot 1 evacuated (2), slots 3 and 6 full.
    [0, 2, 0, 0x9c, 0, 0, 5, 1].forEach((b, i) => view.setUint8(group + i, b));
    view.setBigInt64(group + 8 + 3 * 8, 7n, true);
    view.setBigInt64(group + 8 + 64 + 3 * 8, 49n, true);
    view.setBigInt64(group + 8 + 6 * 8, -1n, true);
    view.setBigInt64(group + 8 + 64 + 6 * 8, 1n, true);
    expect(decodeValue(view, 0, plan)).toEqual({
      kind: 'map', address: 0xc000100000n, len: 2n, truncated: false,
      entries: [[{ kind: 'int', value: 7n }, { kind: 'int', value: 49n }], [{ kind: 'int', value: -1n }, { kind: 'int', value: 1n }]],
    });
  });

  it('swiss: full slots have the control byte high bit clear; fewer than len found is truncated', () => {
    const { plan, view, slot, group } = mapRecord('swiss');
    view.setBigUint64(plan.offset, 0xc000100000n, true);
    slot(plan.header, 48);
    view.setBigInt64(plan.header.offset + SLOT_HEADER, 40n, true);
    slot(plan.data, plan.groupSize);
    [0x80, 0x12, 0xfe, 0x80, 0x80, 0x80, 0x80, 0x80].forEach((b, i) => view.setUint8(group + i, b));
    view.setBigInt64(group + 8 + 16, 3n, true);
    view.setBigInt64(group + 8 + 16 + 8, 9n, true);
    expect(decodeValue(view, 0, plan)).toEqual({
      kind: 'map', address: 0xc000100000n, len: 40n, truncated: true,
      entries: [[{ kind: 'int', value: 3n }, { kind: 'int', value: 9n }]],
    });
  });

  it('an unreadable header leaves the address only; nil is nil', () => {
    const { plan, view } = mapRecord('hmap');
    expect(decodeValue(view, 0, plan)).toEqual({ kind: 'map', address: 0n });
    view.setBigUint64(plan.offset, 0x40n, true);
    expect(decodeValue(view, 0, plan)).toEqual({ kind: 'map', address: 0x40n });
  });
});
