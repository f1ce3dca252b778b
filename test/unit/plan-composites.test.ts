// The record plan for composite values: where structs, followed pointers,
// byte slices, interfaces, maps and channels put their bytes, and how
// --depth and --max-event-size bound them.

import { describe, expect, it } from 'vitest';
import { argumentLocations } from '../../src/spec/abi/index.js';
import { generateC } from '../../src/bpf/codegen.js';
import { hashTable, typeSlotHash } from '../../src/bpf/codegen-values.js';
import { basic, makeStruct, sizeOf, type GoType } from '../../src/core/gotypes.js';
import type { GoAbi } from '../../src/core/model.js';
import {
  DEFAULT_PLAN_OPTIONS, IFACE_BLOCK_BYTES, MAX_POINTEE_BYTES, PlanTooLargeError, SLOT_HEADER,
  mapLayoutForVersion, planFunction, type FunctionPlan, type PlanOptions, type ValuePlan,
} from '../../src/spec/plan.js';
import { HEADER_SIZE } from '../../src/spec/record.js';
import { IFACE_STRINGS, runtimeTypesFromList } from '../../src/binary/runtimetypes.js';
import { parseTypeExpr } from '../../src/spec/typeexpr.js';

function plan(types: GoType[], abi: GoAbi = 'register', options: Partial<PlanOptions> = {}): FunctionPlan {
  const params = types.map((type, i) => ({ name: `a${i}`, type }));
  return planFunction(0, { name: 'main.f', params, results: null }, abi, argumentLocations(params, abi), { ...DEFAULT_PLAN_OPTIONS, ...options });
}

function argValue(p: FunctionPlan, i = 0): ValuePlan {
  return p.args![i]!.value;
}

/** A linked list node: struct { Val int64; Next *Node }, a cycle of objects as DWARF gives it. */
function nodeType(): GoType {
  const ptr = { kind: 'pointer', name: '*main.Node', elem: null } as Extract<GoType, { kind: 'pointer' }>;
  const node = makeStruct('main.Node', [{ name: 'Val', type: basic('int64') }, { name: 'Next', type: ptr }]);
  ptr.elem = node;
  return ptr;
}

/** How many pointers a plan follows down a chain of Next fields. */
function followedDepth(v: ValuePlan): number {
  let n = 0;
  let cur: ValuePlan | undefined = v;
  while (cur && cur.kind === 'pointer' && cur.target) {
    n++;
    const next: ValuePlan = cur.target.plan;
    cur = next.kind === 'struct' ? next.fields.find((f) => f.name === 'Next')?.plan : undefined;
  }
  return n;
}

describe('structs', () => {
  it('a register-assigned struct is rebuilt field by field, its string read into a slot', () => {
    const t = parseTypeExpr('struct{ID int64; Owner string; Active bool}');
    const p = plan([t]);
    const a = p.args![0]!;
    const base = HEADER_SIZE;
    expect(a.registerWrites).toEqual([
      { recordOffset: base, size: 8, reg: 'ax' },
      { recordOffset: base + 8, size: 8, reg: 'bx' },
      { recordOffset: base + 16, size: 8, reg: 'cx' },
      { recordOffset: base + 24, size: 1, reg: 'di' },
    ]);
    const v = a.value;
    expect(v.kind).toBe('struct');
    if (v.kind !== 'struct') return;
    expect(v.fields.map((f) => [f.name, f.plan.kind, 'offset' in f.plan ? f.plan.offset : -1])).toEqual([
      ['ID', 'scalar', base], ['Owner', 'string', base + 8], ['Active', 'scalar', base + 24],
    ]);
    const owner = v.fields[1]!.plan;
    expect(owner.kind === 'string' && owner.data).toEqual({ offset: base + 32, capacity: 64 });
  });

  it('a struct with more fields than integer registers is read from the stack area', () => {
    const fields = 'ABCDEFGHIJ'.split('').map((n) => `${n} int64`).join('; ');
    const p = plan([parseTypeExpr(`struct{${fields}}`)]);
    expect(p.args![0]!.onStack).toBe(true);
    expect(p.args![0]!.registerWrites).toEqual([]);
    expect(p.stackArea).toEqual({ offset: HEADER_SIZE, size: 80 });
  });
});

describe('pointers and --depth', () => {
  it.each([
    [0, 0], [1, 1], [2, 2], [5, 5],
  ])('a linked list at --depth %i follows %i pointers and then stops', (depth, followed) => {
    expect(followedDepth(argValue(plan([nodeType()], 'register', { depth })))).toBe(followed);
  });

  it('the pointee goes into a slot of its own size, its fields laid out inside it', () => {
    const acct = parseTypeExpr('*struct{ID int64; Owner string}');
    const v = argValue(plan([acct]));
    if (v.kind !== 'pointer' || !v.target) throw new Error('not followed');
    expect(v.target.data.capacity).toBe(24);
    const inner = v.target.plan;
    expect(inner.kind).toBe('struct');
    if (inner.kind !== 'struct') return;
    expect(inner.offset).toBe(v.target.data.offset + SLOT_HEADER);
    expect(inner.fields[1]!.plan.kind).toBe('string');
  });

  it.each([
    ['unsafe.Pointer', { kind: 'pointer', name: 'unsafe.Pointer', elem: null } as GoType],
    ['*struct{}', parseTypeExpr('*struct{}')],
    ['*func()', parseTypeExpr('*func()')],
  ])('%s is not followed', (_name, t) => {
    const v = argValue(plan([t]));
    expect(v.kind === 'pointer' && v.target).toBe(null);
  });

  it(`a pointee larger than ${MAX_POINTEE_BYTES} bytes is captured in part; fields past that are unavailable`, () => {
    const v = argValue(plan([parseTypeExpr('*struct{Head [500]int8; Tail int64; Name string}')]));
    if (v.kind !== 'pointer' || !v.target || v.target.plan.kind !== 'struct') throw new Error('not followed');
    expect(v.target.data.capacity).toBe(MAX_POINTEE_BYTES);
    const [, tail, name] = v.target.plan.fields;
    expect(tail!.plan.kind).toBe('scalar');
    expect(name!.plan).toMatchObject({ kind: 'unavailable', reason: `beyond the first ${MAX_POINTEE_BYTES} bytes of struct{Head [500]int8; Tail int64; Name string} that weaver captures` });
  });

  it('slice elements take a level: []*T at --depth 1 shows the pointers by address', () => {
    const t = parseTypeExpr('[]*struct{ID int64}');
    const at2 = argValue(plan([t], 'register', { depth: 2, maxElements: 2 }));
    const at1 = argValue(plan([t], 'register', { depth: 1, maxElements: 2 }));
    const at0 = argValue(plan([t], 'register', { depth: 0, maxElements: 2 }));
    expect(at2.kind === 'slice' && at2.elems.map((e) => e.kind === 'pointer' && e.target !== null)).toEqual([true, true]);
    expect(at1.kind === 'slice' && at1.elems.map((e) => e.kind === 'pointer' && e.target !== null)).toEqual([false, false]);
    expect(at0.kind === 'slice' && at0.elems.length).toBe(0);
  });
});

describe('bytes, interfaces, maps, channels', () => {
  it('[]byte reads up to --string-size bytes into one slot; [N]byte shows its own image', () => {
    const p = plan([parseTypeExpr('[]byte'), parseTypeExpr('[4]byte'), parseTypeExpr('[100]uint8')], 'stack', { stringSize: 32 });
    expect(argValue(p, 0)).toMatchObject({ kind: 'bytes', shown: 32, data: { capacity: 32 } });
    expect(argValue(p, 1)).toMatchObject({ kind: 'bytes', shown: 4, data: null });
    expect(argValue(p, 2)).toMatchObject({ kind: 'bytes', shown: 32, data: null });
  });

  it('an interface gets a type word, a block and string slots when runtime types are known', () => {
    const types = runtimeTypesFromList([]);
    const withTypes = argValue(plan([parseTypeExpr('error')], 'register', { runtimeTypes: () => types }));
    expect(withTypes).toMatchObject({ kind: 'interface', empty: false, data: { capacity: IFACE_BLOCK_BYTES } });
    expect(withTypes.kind === 'interface' && withTypes.strings.map((s) => s.capacity)).toEqual(Array(IFACE_STRINGS).fill(64));
    expect(argValue(plan([parseTypeExpr('any')], 'register', { runtimeTypes: () => types }))).toMatchObject({ kind: 'interface', empty: true });
    expect(argValue(plan([parseTypeExpr('error')], 'register', { runtimeTypes: () => null })).kind).toBe('words');
    expect(argValue(plan([parseTypeExpr('error')], 'register', { runtimeTypes: () => types, depth: 0 })).kind).toBe('words');
  });

  it('runtime types are asked for only when an interface is planned', () => {
    let asked = 0;
    plan([parseTypeExpr('[]string')], 'register', { runtimeTypes: () => (asked++, null) });
    expect(asked).toBe(0);
  });

  it.each([
    ['map[string]int', 8],
    ['chan int', 16],
  ])('%s reads a %i-byte header through its pointer', (text, bytes) => {
    expect(argValue(plan([parseTypeExpr(text)]))).toMatchObject({ kind: 'header', data: { capacity: bytes } });
    expect(argValue(plan([parseTypeExpr(text)], 'register', { depth: 0 })).kind).toBe('words');
  });
});

describe('--max-event-size', () => {
  it('shrinks elements, then strings, then depth, until the record fits', () => {
    const t = parseTypeExpr('[]*struct{Name string; Next *struct{Name string}}');
    const full = plan([t]);
    expect(full.recordSize).toBeGreaterThan(1024);
    const small = plan([t], 'register', { maxRecordSize: 256 });
    expect(small.recordSize).toBeLessThanOrEqual(256);
    const v = argValue(small);
    expect(v.kind === 'slice' && v.elems.length).toBeLessThanOrEqual(1);
  });

  it('says how many bytes a call needs when nothing can shrink enough', () => {
    const big = parseTypeExpr(`struct{A [${64}]int64}`);
    expect(sizeOf(big)).toBe(512);
    expect(() => plan([big], 'stack', { maxRecordSize: 256 })).toThrow(PlanTooLargeError);
    expect(() => plan([big], 'stack', { maxRecordSize: 256 })).toThrow('the arguments of main.f need 576 bytes per call, more than --max-event-size 256');
  });
});

describe('generated C', () => {
  it('follows a pointer only after a full copy, and resolves interfaces through the type table', () => {
    const types = runtimeTypesFromList([
      { address: 0x4c10c0, name: '*errors.errorString', type: { kind: 'pointer', name: '*errors.errorString', elem: makeStruct('errors.errorString', [{ name: 's', type: { kind: 'string', name: 'string' } }]) } },
      { address: 0x4b0000, name: 'int', type: basic('int') },
    ]);
    const p = plan([nodeType(), parseTypeExpr('error')], 'register', { runtimeTypes: () => types, depth: 1 });
    const c = generateC([{ plan: p, probeAddress: 0x401000 }], { abi: 'register', goidOffset: 152, pie: true });
    const node = argValue(p, 0);
    if (node.kind !== 'pointer' || !node.target) throw new Error('not followed');
    expect(c).toContain(`weaver_read_slot(rec + ${node.target.data.offset}, 16, *(u64 *)(rec + ${node.offset}), 16);`);
    // The pointer's table entry copies the 16-byte errorString and follows s at 0; an int copies 8 bytes.
    const rows = c.split('\n').filter((l) => /^\t\{ 0x/.test(l));
    const none = (n: number) => Array(n).fill(65535);
    expect(rows.filter((r) => !r.startsWith('\t{ 0, 0,'))).toEqual([
      `\t{ 0x4b0000ULL, 8, { ${none(IFACE_STRINGS).join(', ')} } },`,
      `\t{ 0x4c10c0ULL, 16, { ${[0, ...none(IFACE_STRINGS - 1)].join(', ')} } },`,
    ]);
    expect(c).toContain('#define WEAVER_ITYPE_MASK 15');
    expect(c).toContain('#define WEAVER_TYPES_BIAS(ctx) ((ctx)->ip - 0x401000ULL)');
    const nonPie = generateC([{ plan: p, probeAddress: 0x401000 }], { abi: 'register', goidOffset: 152 });
    expect(nonPie).toContain('#define WEAVER_TYPES_BIAS(ctx) 0');
  });
});

describe('interface type table', () => {
  it.each([
    ['a few dense addresses', Array.from({ length: 5 }, (_, i) => 0x4b0000 + i * 0x40)],
    ['two thousand descriptors 0x20 apart', Array.from({ length: 2000 }, (_, i) => 0x494000 + i * 0x20)],
    ['clustered and sparse', [...Array.from({ length: 300 }, (_, i) => 0x4c0000 + i * 8), ...Array.from({ length: 300 }, (_, i) => 0x500000 + i * 0x1000)]],
  ])('%s: every key is found within the probe bound, each slot holds one key', (_what, keys) => {
    const { slots, probes } = hashTable(keys);
    const mask = slots.length - 1;
    expect(slots.length & mask).toBe(0);
    expect(slots.length).toBeGreaterThanOrEqual(2 * keys.length);
    expect(probes).toBeLessThanOrEqual(9);
    keys.forEach((key, i) => {
      const h = typeSlotHash(key, mask);
      const found = Array.from({ length: probes }, (_, k) => slots[(h + k) & mask]).indexOf(i);
      expect(found, `0x${key.toString(16)}`).toBeGreaterThanOrEqual(0);
    });
    expect(new Set(slots.filter((x) => x >= 0)).size).toBe(keys.length);
  });
});

describe('map entries', () => {
  it.each([
    ['go1.15.15', true, 'hmap'],
    ['go1.23.4', true, 'hmap'],
    ['go1.24.0', true, 'swiss'],
    ['go1.27.3', true, 'swiss'],
    // Without bpf_loop (src/bpf/features.ts) the walk cannot run: length only.
    ['go1.22.12', false, undefined],
    ['go1.27.3', false, undefined],
    [null, true, undefined],
    ['devel +abc', true, undefined],
  ] as const)('%s, kernel has bpf_loop: %s: %s', (goVersion, bpfLoop, layout) => {
    expect(mapLayoutForVersion(goVersion, bpfLoop)).toBe(layout);
  });

  // Where slot i's key and elem are, from the bucket/group start, worked out by hand from
  // runtime/map.go (tophash [8]uint8, keys [8]K, elems [8]V, overflow *bmap) and
  // cmd/compile/internal/reflectdata/map.go (ctrl uint64, [8]struct{key K; elem V}).
  it.each([
    ['hmap', 'map[string]int64', { groupSize: 208, keysOff: 8, keyStride: 16, elemsOff: 136, elemStride: 8 }],
    ['swiss', 'map[string]int64', { groupSize: 200, keysOff: 8, keyStride: 24, elemsOff: 24, elemStride: 24 }],
    ['hmap', 'map[int32]int8', { groupSize: 56, keysOff: 8, keyStride: 4, elemsOff: 40, elemStride: 1 }],
    ['swiss', 'map[int32]int8', { groupSize: 72, keysOff: 8, keyStride: 8, elemsOff: 12, elemStride: 8 }],
    // A zero-size elem: nothing in the bucket; in a Swiss slot, a padding byte rounded up to the key's alignment.
    ['hmap', 'map[int64]struct{}', { groupSize: 80, keysOff: 8, keyStride: 8, elemsOff: 72, elemStride: 0 }],
    ['swiss', 'map[int64]struct{}', { groupSize: 136, keysOff: 8, keyStride: 16, elemsOff: 16, elemStride: 16 }],
    ['hmap', 'map[int8]complex128', { groupSize: 152, keysOff: 8, keyStride: 1, elemsOff: 16, elemStride: 16 }],
    ['swiss', 'map[int8]complex128', { groupSize: 200, keysOff: 8, keyStride: 24, elemsOff: 16, elemStride: 24 }],
  ] as const)('%s %s: slot layout %j', (layout, text, group) => {
    const v = argValue(plan([parseTypeExpr(text)], 'register', { mapLayout: layout }));
    if (v.kind !== 'map') throw new Error(`planned as ${v.kind}`);
    expect(v.group).toEqual(group);
    expect(v.layout).toBe(layout);
  });

  // One register argument: its 8-byte image, then the header slot (8 + 48), the walk word,
  // then the entry images struct{key; elem}, then the slots of strings inside them.
  it.each([
    ['hmap', 'map[string]int64', 16, 24, 16, 16 * 72],
    ['swiss', 'map[string]int64', 4, 24, 16, 4 * 72],
    ['swiss', 'map[int64]string', 16, 24, 8, 16 * 72],
    ['hmap', 'map[int32]int8', 16, 8, 4, 0],
    ['hmap', 'map[int64]struct{}', 10, 16, 8, 0],
    ['swiss', 'map[int64]int64', 1024, 16, 8, 0],
  ] as const)('%s %s with --max-elements %i: entries of %i bytes, elem at %i', (layout, text, maxElements, entrySize, elemAt, slotBytes) => {
    const p = plan([parseTypeExpr(text)], 'register', { mapLayout: layout, maxElements, maxRecordSize: 1 << 20 });
    const v = argValue(p);
    if (v.kind !== 'map') throw new Error(`planned as ${v.kind}`);
    expect(v.header).toEqual({ offset: HEADER_SIZE + 8, capacity: 48 });
    expect(v.walk).toBe(HEADER_SIZE + 64);
    const images = HEADER_SIZE + 72;
    expect(v.keys.length).toBe(maxElements);
    expect(v.elems.length).toBe(maxElements);
    v.keys.forEach((k, i) => expect('offset' in k && k.offset).toBe(images + i * entrySize));
    expect(v.entry).toMatchObject({ images, size: entrySize, elemAt });
    v.elems.forEach((e, i) => expect('offset' in e && e.offset).toBe(images + i * entrySize + elemAt));
    expect(p.recordSize).toBe(images + maxElements * entrySize + slotBytes);
    const strings = [...v.keys, ...v.elems].filter((x) => x.kind === 'string');
    strings.forEach((x, i) => expect(x.kind === 'string' && x.data.offset).toBe(images + maxElements * entrySize + i * 72));
  });

  it('strings and pointers inside entries are followed one level deeper than the map', () => {
    const t = parseTypeExpr('map[string]*int64');
    const at2 = argValue(plan([t], 'register', { mapLayout: 'swiss', depth: 2 }));
    const at1 = argValue(plan([t], 'register', { mapLayout: 'swiss', depth: 1 }));
    expect(at2.kind === 'map' && at2.elems.map((e) => e.kind === 'pointer' && e.target !== null)).toEqual(Array(16).fill(true));
    expect(at1.kind === 'map' && at1.elems.map((e) => e.kind === 'pointer' && e.target !== null)).toEqual(Array(16).fill(false));
    // String bytes take no level.
    expect(at1.kind === 'map' && at1.keys.every((k) => k.kind === 'string')).toBe(true);
    expect(argValue(plan([t], 'register', { mapLayout: 'swiss', depth: 0 })).kind).toBe('words');
  });

  it('a record budget too small for every entry halves the entries shown', () => {
    const p = plan([parseTypeExpr('map[string]int64')], 'register', { mapLayout: 'hmap', maxElements: 64, maxRecordSize: 2048 });
    const v = argValue(p);
    // n entries need 72 + n * (24 + 72) bytes after the record header: 32 do not fit 2048, 16 do.
    expect(v.kind === 'map' && v.keys.length).toBe(16);
    expect(p.recordSize).toBe(HEADER_SIZE + 72 + 16 * 96);
  });

  it.each([
    ['no known layout', 'map[string]int', {}],
    ['keys stored indirectly (over 128 bytes)', 'map[[200]byte]int', { mapLayout: 'hmap' }],
    ['values stored indirectly (over 128 bytes)', 'map[int][129]byte', { mapLayout: 'swiss' }],
    ['--max-elements 0', 'map[int]int', { mapLayout: 'swiss', maxElements: 0 }],
  ] as const)('%s: only the length is read', (_why, text, options) => {
    const v = argValue(plan([parseTypeExpr(text)], 'register', options));
    expect(v.kind === 'header' && v.data.capacity).toBe(8);
  });

  it('the generated C walks and copies each map once', () => {
    const p = plan([parseTypeExpr('map[string]int64'), parseTypeExpr('map[int64]int64')], 'register', { mapLayout: 'hmap', maxElements: 4 });
    const c = generateC([{ plan: p }], { abi: 'register', goidOffset: 0 });
    expect(c.match(/weaver_map_walk\(/g)?.length).toBe(2);
    expect(c.match(/weaver_map_copy\(/g)?.length).toBe(2);
    // Each map has its reader, whose header slot comes first in its slots.
    expect(c.match(/weaver_map_walk\(sub->b \+ 8, 0, (208|144), 4, /g)?.length).toBe(2);
    expect(c).toContain(`weaver_v0((void *)(rec + ${HEADER_SIZE}), (void *)(rec + ${HEADER_SIZE + 16}));`);
  });

  // Up to two strings (or []byte) an entry, alike in every entry, are read by the copy loop;
  // anything else to follow is unrolled per entry, after the copy.
  it.each([
    ['map[string]int64', '.strings = 1,', 0],
    ['map[string]string', '.strings = 2,', 0],
    ['map[int64][]byte', '.strings = 1,', 0],
    ['map[int64]main.Point', '.strings = 1,', 0],
    ['map[string][2]string', null, 4 * 3],
    ['map[int64]*int64', null, 4],
    ['map[int64]int64', null, 0],
  ] as const)('%s: %s, %i unrolled reads', (text, strings, unrolled) => {
    const point = makeStruct('main.Point', [{ name: 'X', type: basic('int32') }, { name: 'Label', type: { kind: 'string', name: 'string' } }]);
    const type = text === 'map[int64]main.Point' ? { kind: 'map', name: text, key: basic('int64'), elem: point } as GoType : parseTypeExpr(text);
    const c = generateC([{ plan: plan([type], 'register', { mapLayout: 'swiss', maxElements: 4 }) }], { abi: 'register', goidOffset: 0 });
    if (strings) expect(c).toContain(strings);
    else expect(c).not.toContain('.strings =');
    const body = c.slice(c.indexOf('weaver_map_copy(&copy'));
    expect(body.match(/weaver_read_slot\(/g)?.length ?? 0).toBe(unrolled);
  });

});
