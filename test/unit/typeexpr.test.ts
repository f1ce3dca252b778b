import { describe, expect, test } from 'vitest';
import { ParseError } from '../../src/core/errors.js';
import { makeStruct, basic, type GoType } from '../../src/core/gotypes.js';
import { formatSupportedTypes, SUPPORTED_TYPES } from '../../src/cli/supported.js';
import { parseTypeExpr } from '../../src/spec/typeexpr.js';

/** The parts of a GoType a test cares about, without object cycles. */
function shape(t: GoType | null): unknown {
  if (t === null) return null;
  switch (t.kind) {
    case 'pointer': return { kind: 'pointer', name: t.name, elem: shape(t.elem) };
    case 'array': return { kind: 'array', name: t.name, len: t.len, elem: shape(t.elem) };
    case 'slice': return { kind: 'slice', name: t.name, elem: shape(t.elem) };
    case 'map': return { kind: 'map', name: t.name, key: shape(t.key), elem: shape(t.elem) };
    case 'chan': return { kind: 'chan', name: t.name, elem: shape(t.elem) };
    case 'struct':
      return { kind: 'struct', name: t.name, size: t.size, align: t.align, fields: t.fields.map((f) => [f.name, f.offset, shape(f.type), f.embedded ?? false]) };
    default: return t;
  }
}

function parseError(fn: () => unknown): ParseError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ParseError) return err;
    throw new Error(`expected a ParseError, got ${String(err)}`);
  }
  throw new Error('expected a ParseError, nothing was thrown');
}

describe('basic types', () => {
  test.each([
    ['bool', 'bool'], ['byte', 'uint8'], ['rune', 'int32'],
    ['int', 'int'], ['int8', 'int8'], ['int16', 'int16'], ['int32', 'int32'], ['int64', 'int64'],
    ['uint', 'uint'], ['uint8', 'uint8'], ['uint16', 'uint16'], ['uint32', 'uint32'], ['uint64', 'uint64'],
    ['uintptr', 'uintptr'], ['float32', 'float32'], ['float64', 'float64'],
    ['complex64', 'complex64'], ['complex128', 'complex128'],
  ])('%s is kind %s', (text, kind) => {
    expect(parseTypeExpr(text)).toEqual({ kind, name: text });
  });

  test.each([
    ['string', { kind: 'string', name: 'string' }],
    ['any', { kind: 'interface', name: 'any', empty: true }],
    ['interface{}', { kind: 'interface', name: 'interface {}', empty: true }],
    ['interface { }', { kind: 'interface', name: 'interface {}', empty: true }],
    ['error', { kind: 'interface', name: 'error', empty: false }],
    ['interface{ String() string }', { kind: 'interface', name: 'interface { String() string }', empty: false }],
    ['interface{ fmt.Stringer; Close() error }', { kind: 'interface', name: 'interface { fmt.Stringer; Close() error }', empty: false }],
    ['unsafe.Pointer', { kind: 'pointer', name: 'unsafe.Pointer', elem: null }],
    ['func()', { kind: 'func', name: 'func()' }],
    ['func(int, string) error', { kind: 'func', name: 'func(int, string) error' }],
    ['func(w http.ResponseWriter, r *http.Request)', { kind: 'func', name: 'func(http.ResponseWriter, *http.Request)' }],
    ['func(a, b int) (n int, err error)', { kind: 'func', name: 'func(int, int) (int, error)' }],
    ['func(...int)', { kind: 'func', name: 'func(...int)' }],
  ])('%s', (text, expected) => {
    expect(parseTypeExpr(text)).toEqual(expected);
  });
});

describe('composite types', () => {
  const int = basic('int');
  test.each<[string, unknown]>([
    ['*int', { kind: 'pointer', name: '*int', elem: int }],
    ['**int', { kind: 'pointer', name: '**int', elem: { kind: 'pointer', name: '*int', elem: int } }],
    ['[]int', { kind: 'slice', name: '[]int', elem: int }],
    ['[4]byte', { kind: 'array', name: '[4]byte', len: 4, elem: { kind: 'uint8', name: 'byte' } }],
    ['[0x10]int', { kind: 'array', name: '[16]int', len: 16, elem: int }],
    ['[1_000]int8', { kind: 'array', name: '[1000]int8', len: 1000, elem: basic('int8') }],
    ['[][2]string', { kind: 'slice', name: '[][2]string', elem: { kind: 'array', name: '[2]string', len: 2, elem: { kind: 'string', name: 'string' } } }],
    ['map[string]int', { kind: 'map', name: 'map[string]int', key: { kind: 'string', name: 'string' }, elem: int }],
    ['map[[2]int][]string', { kind: 'map', name: 'map[[2]int][]string', key: { kind: 'array', name: '[2]int', len: 2, elem: int }, elem: { kind: 'slice', name: '[]string', elem: { kind: 'string', name: 'string' } } }],
    ['chan int', { kind: 'chan', name: 'chan int', elem: int }],
    ['chan<- int', { kind: 'chan', name: 'chan<- int', elem: int }],
    ['<-chan int', { kind: 'chan', name: '<-chan int', elem: int }],
    ['(*int)', { kind: 'pointer', name: '*int', elem: int }],
    ['*main.Cart', { kind: 'pointer', name: '*main.Cart', elem: null }],
    ['*github.com/acme/shop/cart.Cart', { kind: 'pointer', name: '*github.com/acme/shop/cart.Cart', elem: null }],
    ['*main.List[int]', { kind: 'pointer', name: '*main.List[int]', elem: null }],
  ])('%s', (text, expected) => {
    expect(shape(parseTypeExpr(text))).toEqual(expected);
  });

  test('struct fields are laid out like Go: struct{ID int64; Name string; Ok bool}', () => {
    const t = parseTypeExpr('struct{ID int64; Name string; Ok bool}');
    expect(shape(t)).toEqual({
      kind: 'struct', name: 'struct{ID int64; Name string; Ok bool}', size: 32, align: 8,
      fields: [['ID', 0, basic('int64'), false], ['Name', 8, { kind: 'string', name: 'string' }, false], ['Ok', 24, basic('bool'), false]],
    });
  });

  test.each<[string, [string, number][], number, number]>([
    ['struct{}', [], 0, 1],
    ['struct{A int8; B int64; C int8}', [['A', 0], ['B', 8], ['C', 16]], 24, 8],
    ['struct{A, B int8; C int16}', [['A', 0], ['B', 1], ['C', 2]], 4, 2],
    ['struct{int8; int64}', [['int8', 0], ['int64', 8]], 16, 8],
    ['struct{A int8; B float32}', [['A', 0], ['B', 4]], 8, 4],
    ['struct{A int32; B complex64}', [['A', 0], ['B', 4]], 12, 4],
    ['struct{A int64; Z struct{}}', [['A', 0], ['Z', 8]], 16, 8],
    ['struct{X [3]uint16; Y byte}', [['X', 0], ['Y', 6]], 8, 2],
    ['struct{P *main.T; S []int}', [['P', 0], ['S', 8]], 32, 8],
    ['struct{*main.Node; N int32 `json:"n"`}', [['Node', 0], ['N', 8]], 16, 8],
  ])('%s: field offsets, size and alignment', (text, fields, size, align) => {
    const t = parseTypeExpr(text);
    if (t.kind !== 'struct') throw new Error('not a struct');
    expect(t.fields.map((f) => [f.name, f.offset])).toEqual(fields);
    expect([t.size, t.align]).toEqual([size, align]);
  });

  test('embedded fields are marked embedded', () => {
    const t = parseTypeExpr('struct{int8; *main.Node; X int}');
    if (t.kind !== 'struct') throw new Error('not a struct');
    expect(t.fields.map((f) => [f.name, f.embedded ?? false])).toEqual([['int8', true], ['Node', true], ['X', false]]);
    expect(t.name).toBe('struct{int8; *main.Node; X int}');
  });

  test('a struct type equals the one makeStruct builds', () => {
    const expected = makeStruct('', [{ name: 'A', type: basic('int8') }, { name: 'B', type: basic('float32') }]);
    expect(shape(parseTypeExpr('struct { A int8; B float32 }'))).toEqual(shape(expected));
  });
});

describe('named types', () => {
  const account = makeStruct('main.Account', [{ name: 'ID', type: basic('int64') }, { name: 'Name', type: { kind: 'string', name: 'string' } }]);
  const resolveType = (name: string) => (name === 'main.Account' ? account : undefined);

  test('are looked up with the resolver', () => {
    expect(parseTypeExpr('main.Account', { resolveType })).toBe(account);
    expect(shape(parseTypeExpr('[]main.Account', { resolveType }))).toEqual({ kind: 'slice', name: '[]main.Account', elem: shape(account) });
    expect(shape(parseTypeExpr('*main.Account', { resolveType }))).toEqual({ kind: 'pointer', name: '*main.Account', elem: shape(account) });
  });

  test('behind a pointer an unknown one leaves the pointee unknown', () => {
    expect(parseTypeExpr('*main.Other', { resolveType })).toEqual({ kind: 'pointer', name: '*main.Other', elem: null });
  });

  // A stripped binary's type descriptors tell an interface from a struct.
  const namedKind = (name: string) => (({ 'context.Context': 'interface', 'net/http.Request': 'struct' }) as Record<string, 'interface' | 'struct'>)[name];

  test.each<[string, { resolveType?: typeof resolveType; typeNames?: string[]; namedKind?: typeof namedKind }, number, string]>([
    ['context.Context', { namedKind }, 1, 'context.Context is an interface, unknown by name without debug info (DWARF); write any, error or interface{ M() } for it: values show their dynamic type'],
    ['net/http.Request', { namedKind }, 1, 'named type net/http.Request is unknown without debug info (DWARF); write *net/http.Request to capture its address, or spell out its struct type'],
    ['main.Account', {}, 1, 'named type main.Account is unknown without debug info (DWARF); if it is an interface, write any, error or interface{ M() }; otherwise write *main.Account to capture its address, or spell out its struct type'],
    ['[]main.Account', {}, 3, 'named type main.Account is unknown without debug info (DWARF); if it is an interface, write any, error or interface{ M() }; otherwise write *main.Account to capture its address, or spell out its struct type'],
    ['main.Acount', { resolveType, typeNames: ['main.Account', 'main.Cart'] }, 1, 'named type main.Acount is not in the binary\'s debug info; did you mean "main.Account"?'],
    ['main.Zzz', { resolveType }, 1, 'named type main.Zzz is not in the binary\'s debug info; write *main.Zzz to capture its address, or spell out its struct type'],
    ['Account', { resolveType }, 1, 'unknown type "Account"; a named type is written with its package, e.g. main.Account'],
    ['*Cart', {}, 2, 'unknown type "Cart"; a named type is written with its package, e.g. main.Cart'],
  ])('%s → error', (text, options, column, message) => {
    const err = parseError(() => parseTypeExpr(text, options));
    expect([err.column, err.message]).toEqual([column, message]);
  });
});

describe('errors point at the offending token', () => {
  test.each<[string, number, string]>([
    ['int65', 1, 'unknown type "int65"; did you mean "int64"?'],
    ['[]strin', 3, 'unknown type "strin"; did you mean "string"?'],
    ['map[string]flaot64', 12, 'unknown type "flaot64"; did you mean "float64"?'],
    ['', 1, 'missing type'],
    ['[]', 3, 'missing type'],
    ['[3', 3, 'expected "]" after array length, found end of line'],
    ['[x]int', 2, 'expected array length or "]", found "x"'],
    ['[-1]int', 2, 'unexpected character "-"'],
    ['[99999999999]int', 2, 'array length 99999999999 is not a whole number up to 1073741824'],
    ['[100000000]string', 1, 'array type [100000000]string is too large'],
    ['struct{A [40000000]string; B [40000000]string}', 1, 'struct type is too large'],
    ['map[]int', 5, 'expected a type, found "]"'],
    ['map[[]int]bool', 5, 'invalid map key type []int'],
    ['map string', 5, 'expected "[" after "map", found "string"'],
    ['struct{A int, B int}', 13, 'expected ";" or "}" after struct field, found ","'],
    ['struct{A int; A string}', 15, 'duplicate field name "A"'],
    ['struct{A int', 13, 'expected ";" or "}" after struct field, found end of line'],
    ['struct{', 8, 'expected "}" to end the struct'],
    ['func(main.T string)', 13, 'expected "," or ")" in parameter list, found "string"'],
    ['struct{1 int}', 8, 'expected a field name, found "1"'],
    ['int string', 5, 'unexpected "string" after type'],
    ['<-int', 3, 'expected "chan" after "<-", found "int"'],
    ['func(a int, string)', 13, 'mixed named and unnamed parameters'],
    ['func(...int, int)', 6, 'only the final parameter can be variadic ("...")'],
    ['func(int', 9, 'expected ")" after parameter list'],
    ['int @', 5, 'unexpected character "@"'],
    ['struct{A int `tag}', 14, 'unterminated string'],
    ['*'.repeat(100) + 'int', 66, 'type is nested too deeply'],
  ])('%j → column %i: %s', (text, column, message) => {
    const err = parseError(() => parseTypeExpr(text, { file: 'types.txt', line: 7 }));
    expect([err.file, err.line, err.column, err.message]).toEqual(['types.txt', 7, column, message]);
  });

  test('format() shows the line and a caret under the column', () => {
    const err = parseError(() => parseTypeExpr('[]int65', { file: 'f.txt', line: 3 }));
    expect(err.format()).toBe('f.txt:3:3: unknown type "int65"; did you mean "int64"?\n  []int65\n    ^');
  });
});

describe('the --types list', () => {
  test('every concrete type it names parses', () => {
    const concrete = SUPPORTED_TYPES.flatMap((t) => t.syntax.split(', ')).filter((s) => !/\bT\b|\bK\b|\bV\b|\bN\b|pkg\.Name|\.\.\./.test(s));
    expect(concrete).toEqual(expect.arrayContaining(['bool', 'int8', 'uintptr', 'rune', 'complex128', 'string', 'struct{A int; B string}', 'interface{}', 'any', 'error', 'unsafe.Pointer']));
    for (const text of concrete) expect(() => parseTypeExpr(text), text).not.toThrow();
  });

  test('is printed one type a line, descriptions aligned', () => {
    const lines = formatSupportedTypes().trimEnd().split('\n');
    expect(lines).toHaveLength(SUPPORTED_TYPES.length);
    expect(lines[0]).toMatch(/^bool {2,}true or false$/);
    expect(new Set(lines.map((l, i) => l.indexOf(SUPPORTED_TYPES[i]!.description))).size).toBe(1);
  });
});
