// The per-binary cache keeps runtime-type tables as JSON: every type a
// fixture build describes must come back deep-equal (cycles and all), and
// anything the encoder does not know field by field must be refused rather
// than stored approximately.

import { describe, expect, it } from 'vitest';
import { ElfFile } from '../../src/binary/elf/file.js';
import { goBinaryInfo } from '../../src/binary/elf/gobinary.js';
import type { GoType } from '../../src/core/gotypes.js';
import { readRuntimeTable } from '../../src/binary/runtimetypes.js';
import { NotStorableError, TypeEncoder, decodeTypes } from '../../src/binary/typecodec.js';
import { fixtureBuild, newestToolchain } from '../helpers/fixtures.js';

/** Encodes, goes through JSON text as the cache file does, decodes. */
function roundTrip(types: GoType[]): { decoded: GoType[]; nodes: number; bytes: number } {
  const encoder = new TypeEncoder();
  const indices = types.map((t) => encoder.encode(t));
  const text = JSON.stringify(encoder.nodes);
  const table = decodeTypes(JSON.parse(text));
  expect(table).not.toBeNull();
  return { decoded: indices.map((i) => table![i]!), nodes: encoder.nodes.length, bytes: text.length };
}

const BUILDS = (['composites', 'httpserver', 'types'] as const).flatMap((fixture) =>
  ['1.15', newestToolchain()].flatMap((toolchain) =>
    (['normal', 'stripped', 'pie'] as const).map((variant) => fixtureBuild({ fixture, toolchain, variant })),
  ),
);

describe('runtime-type tables through the cache encoding', () => {
  it.each(BUILDS)('every type of $fixture (Go $goVersion $variant) comes back deep-equal', (build) => {
    const elf = ElfFile.read(build.path);
    const table = readRuntimeTable(elf, goBinaryInfo(elf).hasDwarf);
    // Every build describes its types, stripped ones through the descriptors alone.
    expect(table.types.length).toBeGreaterThan(100);
    const { decoded, nodes } = roundTrip(table.types.map((t) => t.type));
    expect(decoded).toStrictEqual(table.types.map((t) => t.type));
    // Shared subtrees are written once: never more nodes than distinct objects reachable.
    expect(nodes).toBeLessThanOrEqual(countDistinct(table.types.map((t) => t.type)));
  });

  it('keeps a cycle a cycle and a shared type shared', () => {
    const int64: GoType = { kind: 'int64', name: 'int64' };
    const node = { kind: 'struct', name: 'main.Node', size: 16, align: 8, fields: [] } as unknown as Extract<GoType, { kind: 'struct' }>;
    const ptr: GoType = { kind: 'pointer', name: '*main.Node', elem: node };
    node.fields.push({ name: 'Val', type: int64, offset: 0 }, { name: 'Next', type: ptr, offset: 8, embedded: false });
    const { decoded } = roundTrip([node, ptr]);
    const [n, p] = decoded as [typeof node, Extract<GoType, { kind: 'pointer' }>];
    expect(n).toStrictEqual(node);
    expect(n.fields[1]!.type).toBe(p);
    expect(p.elem).toBe(n);
    // `embedded: false` stays present; an absent one stays absent.
    expect('embedded' in n.fields[1]!).toBe(true);
    expect('embedded' in n.fields[0]!).toBe(false);
  });

  it.each([
    ['every kind', [
      { kind: 'string', name: 'string' },
      { kind: 'func', name: 'func(int) error' },
      { kind: 'interface', name: 'error', empty: false },
      { kind: 'pointer', name: 'unsafe.Pointer', elem: null },
      { kind: 'array', name: '[3]uint8', len: 3, elem: { kind: 'uint8', name: 'uint8' } },
      { kind: 'slice', name: '[]complex128', elem: { kind: 'complex128', name: 'complex128' } },
      { kind: 'chan', name: 'chan bool', elem: { kind: 'bool', name: 'bool' } },
      { kind: 'map', name: 'map[string]any', key: { kind: 'string', name: 'string' }, elem: { kind: 'interface', name: 'interface {}', empty: true } },
      { kind: 'opaque', name: 'runtime.hchan', size: 96, align: 8 },
    ] as GoType[]],
  ])('round-trips %s', (_, types) => {
    expect(roundTrip(types).decoded).toStrictEqual(types);
  });

  it.each([
    ['an unknown kind', { kind: 'tuple', name: 't' }],
    ['a property GoType does not have', { kind: 'string', name: 'string', extra: 1 }],
    ['a missing property', { kind: 'slice', name: '[]int' }],
    ['an undefined embedded flag', { kind: 'struct', name: 's', size: 8, align: 8, fields: [{ name: 'a', type: { kind: 'int', name: 'int' }, offset: 0, embedded: undefined }] }],
    ['a field property StructField does not have', { kind: 'struct', name: 's', size: 8, align: 8, fields: [{ name: 'a', type: { kind: 'int', name: 'int' }, offset: 0, tag: 'json' }] }],
    ['a non-finite size', { kind: 'opaque', name: 'o', size: Infinity, align: 8 }],
  ])('refuses %s', (_, type) => {
    expect(() => new TypeEncoder().encode(type as unknown as GoType)).toThrow(NotStorableError);
  });

  it.each([
    ['not a list', { 0: ['int', 'int'] }],
    ['a node that is not a list', [{ kind: 'int' }]],
    ['an unknown kind', [['tuple', 't']]],
    ['a reference past the table', [['slice', '[]int', 1]]],
    ['a negative reference', [['int', 'int'], ['slice', '[]int', -1]]],
    ['a fractional reference', [['int', 'int'], ['slice', '[]int', 0.5]]],
    ['a basic type with parts', [['int', 'int', 8]]],
    ['a struct field without offset', [['int', 'int'], ['struct', 's', 8, 8, [['a', 0]]]]],
    ['a non-boolean embedded flag', [['int', 'int'], ['struct', 's', 8, 8, [['a', 0, 0, 1]]]]],
    ['an interface without its flag', [['interface', 'error']]],
    ['a string length as text', [['int', 'int'], ['array', '[2]int', '2', 0]]],
  ])('decodes %s as nothing', (_, nodes) => {
    expect(decodeTypes(nodes)).toBeNull();
  });
});

function countDistinct(roots: GoType[]): number {
  const seen = new Set<GoType>();
  const walk = (t: GoType | null): void => {
    if (!t || seen.has(t)) return;
    seen.add(t);
    if ('elem' in t) walk(t.elem);
    if (t.kind === 'map') walk(t.key);
    if (t.kind === 'struct') for (const f of t.fields) walk(f.type);
  };
  roots.forEach(walk);
  return seen.size;
}
