import { describe, expect, test } from 'vitest';
import { parseFunctionsFile } from '../../src/spec/funcfile.js';
import { basic, type FunctionSpec, type Param } from '../../src/core/gotypes.js';
import { signatureLine, writable } from '../../src/spec/signatureline.js';

const p = (name: string, type: Param['type']): Param => ({ name, type });
const ptr = (name: string) => ({ kind: 'pointer' as const, name: `*${name}`, elem: null });
const str = { kind: 'string' as const, name: 'string' };
const err = { kind: 'interface' as const, name: 'error', empty: false };

describe('signatureLine: how weaver list writes a DWARF signature', () => {
  test.each<[string, FunctionSpec, string]>([
    ['a pointer receiver, first and named',
      { name: 'main.(*Cart).Add', params: [p('c', ptr('main.Cart')), p('item', str)], results: [] },
      'main.(*Cart).Add(c *main.Cart, item string)'],
    ['a value receiver', { name: 'main.Cart.Total', params: [p('c', basic('int'))], results: [p('~r0', basic('int'))] }, 'main.Cart.Total(c int) (int)'],
    ['parameters without a name (~p0, ~p1) are written _',
      { name: 'net/http.(*noBody).Read', params: [p('~p0', ptr('net/http.noBody')), p('~p1', { kind: 'slice', name: '[]uint8', elem: basic('uint8') })], results: [p('~r0', basic('int')), p('~r1', err)] },
      'net/http.(*noBody).Read(_ *net/http.noBody, _ []uint8) (int, error)'],
    ['a blank result among named ones is _',
      { name: 'main.match', params: [], results: [p('~r0', ptr('main.node')), p('matches', str), p('~b1', err)] },
      'main.match() (_ *main.node, matches string, _ error)'],
    ['non-ASCII identifiers: a function, a method, its receiver type and its parameters',
      { name: 'main.(*Café).Añadir', params: [p('c', ptr('main.Café')), p('número', basic('int')), p('ü', str)], results: [p('straße', basic('int'))] },
      'main.(*Café).Añadir(c *main.Café, número int, ü string) (straße int)'],
    ['a non-ASCII function name with a digit after a letter', { name: 'main.Größe2', params: [p('µ', basic('int')), p('_ø1', str)], results: [] }, 'main.Größe2(µ int, _ø1 string)'],
    ['the dictionary of a generic method is implied by its name',
      { name: 'main.(*Box[go.shape.int64]).Put', params: [p('b', ptr('main.Box[go.shape.int64]')), p('.dict', ptr('unsafe.Pointer')), p('v', basic('int64', 'go.shape.int64'))], results: [] },
      'main.(*Box[go.shape.int64]).Put(b *main.Box[go.shape.int64], v int64)'],
  ])('%s', (_, spec, line) => {
    expect(writable(spec)).toBe(true);
    expect(signatureLine(spec)).toBe(line);
    // What it writes reads back to the same parameters and results.
    const [back] = parseFunctionsFile(line, 'list');
    expect(back!.params.map((q) => sizeName(q))).toEqual(spec.params.filter((q) => q.name !== '.dict').map((q) => sizeName(q)));
    expect(back!.results?.length ?? 0).toBe(spec.results?.length ?? 0);
  });

  test.each(['&x', '1ü', 'a-b', 'ü·'])('%s is not an identifier: the line cannot be written', (name) => {
    expect(writable({ name: 'main.f.func1', params: [p(name, ptr('int'))], results: [] })).toBe(false);
  });

  test('non-ASCII names read back exactly: function, receiver type, parameter names', () => {
    const [spec] = parseFunctionsFile('main.(*Café).Añadir(c *main.Café, número int) (straße int)', 'list');
    expect(spec!.name).toBe('main.(*Café).Añadir');
    expect(spec!.params.map((q) => [q.name, q.type.name])).toEqual([['c', '*main.Café'], ['número', 'int']]);
    expect(spec!.results!.map((q) => [q.name, q.type.name])).toEqual([['straße', 'int']]);
  });
});

function sizeName(q: Param): string {
  return q.type.name.replace(/^go\.shape\./, '');
}
