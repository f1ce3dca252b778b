import { describe, expect, test } from 'vitest';
import { ParseError } from '../../src/core/errors.js';
import { parseFunctionsFile } from '../../src/spec/funcfile.js';
import { basic, makeStruct, type FunctionSpec } from '../../src/core/gotypes.js';

/** name(param:type, …) → (result:type, …): what a spec says, compactly. */
function summary(spec: FunctionSpec): string {
  const list = (ps: { name: string; type: { name: string } }[]) => ps.map((p) => `${p.name}:${p.type.name}`).join(', ');
  return `${spec.name}(${list(spec.params)})` + (spec.results ? ` → (${list(spec.results)})` : '') + (spec.hiddenDictionary ? ' +dict' : '');
}

function errorOf(text: string, options = {}): ParseError {
  try {
    parseFunctionsFile(text, 'funcs.txt', options);
  } catch (err) {
    if (err instanceof ParseError) return err;
    throw new Error(`expected a ParseError, got ${String(err)}`);
  }
  throw new Error('expected a ParseError, nothing was thrown');
}

describe('lines that parse', () => {
  test.each<[string, string]>([
    ['main.handler(string, int)', 'main.handler(arg0:string, arg1:int)'],
    ['main.addTwoNumbers(int, int8)', 'main.addTwoNumbers(arg0:int, arg1:int8)'],
    ['main.noArgs()', 'main.noArgs()'],
    ['net/http.Error(string, int)', 'net/http.Error(arg0:string, arg1:int)'],
    ['main.sum(x int, xs []int)', 'main.sum(x:int, xs:[]int)'],
    ['main.div(a int, b int) (int, error)', 'main.div(a:int, b:int) → (~r0:int, ~r1:error)'],
    ['main.div(a, b int) (q, r int)', 'main.div(a:int, b:int) → (q:int, r:int)'],
    ['main.f(int) error', 'main.f(arg0:int) → (~r0:error)'],
    ['main.f() ()', 'main.f() → ()'],
    ['main.f(int) *main.T', 'main.f(arg0:int) → (~r0:*main.T)'],
    ['main.variadic(format string, args ...interface{})', 'main.variadic(format:string, args:[]interface {})'],
    ['main.variadic(string, ...int)', 'main.variadic(arg0:string, arg1:[]int)'],
    ['main.grouped(a, b, c int8, s string)', 'main.grouped(a:int8, b:int8, c:int8, s:string)'],
    ['main.blank(_ int, _ string)', 'main.blank(_:int, _:string)'],
    ['main.trailingComma(int, string,)', 'main.trailingComma(arg0:int, arg1:string)'],
    ['  main.spaces ( int , string )  ', 'main.spaces(arg0:int, arg1:string)'],
    ['main.comment(int) # why', 'main.comment(arg0:int)'],
    ['main.comment(int) // why', 'main.comment(arg0:int)'],
    ['main.comment(int)# why', 'main.comment(arg0:int)'],
    ['main.st(s struct{ID int64; Name string})', 'main.st(s:struct{ID int64; Name string})'],
    ['main.cb(f func(int) error, n int)', 'main.cb(f:func(int) error, n:int)'],
    ['main.m(m map[string][]int, c <-chan bool)', 'main.m(m:map[string][]int, c:<-chan bool)'],
    ['main.p(unsafe.Pointer, *main.Cart)', 'main.p(arg0:unsafe.Pointer, arg1:*main.Cart)'],
    ['main.main.func1(int)', 'main.main.func1(arg0:int)'],
    ['main.init.0()', 'main.init.0()'],
    ['gopkg.in/yaml%2ev3.Unmarshal([]byte, any) error', 'gopkg.in/yaml%2ev3.Unmarshal(arg0:[]byte, arg1:any) → (~r0:error)'],
    ['github.com/acme/shop-api/v2/cart.New(int)', 'github.com/acme/shop-api/v2/cart.New(arg0:int)'],
  ])('%s', (line, expected) => {
    const specs = parseFunctionsFile(line, 'funcs.txt');
    expect(specs.map(summary)).toEqual([expected]);
  });

  test.each<[string, string]>([
    ['github.com/acme/shop/cart.(*Cart).Add(string, int64)', 'github.com/acme/shop/cart.(*Cart).Add(recv:*github.com/acme/shop/cart.Cart, arg0:string, arg1:int64)'],
    ['main.(*Cart).Total()', 'main.(*Cart).Total(recv:*main.Cart)'],
    ['main.(*Cart).Add(name string, qty int) error', 'main.(*Cart).Add(recv:*main.Cart, name:string, qty:int) → (~r0:error)'],
    ['main.(*List[...]).Push(int)', 'main.(*List[...]).Push(recv:*main.List[...], arg0:int)'],
    ['main.Point.String(struct{X, Y int})', 'main.Point.String(recv:struct{X int; Y int})'],
    ['main.Point.Scale(p *main.Point, k int)', 'main.Point.Scale(p:*main.Point, k:int)'],
    ['main.Point.Scale(*main.Point, int)', 'main.Point.Scale(recv:*main.Point, arg0:int)'],
    // The receiver written first, named or not, for pointer receivers as for value receivers.
    ['main.(*Cart).Add(c *main.Cart, item string, qty int)', 'main.(*Cart).Add(c:*main.Cart, item:string, qty:int)'],
    ['main.(*Cart).Add(*main.Cart, string, int)', 'main.(*Cart).Add(recv:*main.Cart, arg0:string, arg1:int)'],
    ['main.(*Cart).Total(c *main.Cart) int', 'main.(*Cart).Total(c:*main.Cart) → (~r0:int)'],
    ['github.com/acme/shop/cart.(*Cart).Add(c *github.com/acme/shop/cart.Cart, item string, qty int64)', 'github.com/acme/shop/cart.(*Cart).Add(c:*github.com/acme/shop/cart.Cart, item:string, qty:int64)'],
    ['main.(*Box[go.shape.int64]).Put(b *main.Box[go.shape.int64], v int64)', 'main.(*Box[go.shape.int64]).Put(b:*main.Box[go.shape.int64], v:int64) +dict'],
    ['main.(*Node).Link(n *main.Node, next *main.Node)', 'main.(*Node).Link(n:*main.Node, next:*main.Node)'],
    // A first parameter of another type cannot be the receiver: the line leaves it out.
    ['main.(*Cart).Add(c struct{N int}, qty int)', 'main.(*Cart).Add(recv:*main.Cart, c:struct{N int}, qty:int)'],
    ['main.(*Cart).Add(p *main.Point, qty int)', 'main.(*Cart).Add(recv:*main.Cart, p:*main.Point, qty:int)'],
    // Closures and method values inside a method take no receiver of their own.
    ['main.(*Cart).Add.func1(n int)', 'main.(*Cart).Add.func1(n:int)'],
    ['main.(*Cart).Add.func1.2()', 'main.(*Cart).Add.func1.2()'],
    ['main.(*Cart).Add-fm(item string)', 'main.(*Cart).Add-fm(item:string)'],
    ['main.Cart.Total-fm()', 'main.Cart.Total-fm()'],
    ['main.Cart.All-range1(n int) bool', 'main.Cart.All-range1(n:int) → (~r0:bool)'],
  ])('method %s', (line, expected) => {
    expect(parseFunctionsFile(line, 'funcs.txt').map(summary)).toEqual([expected]);
  });

  test('generic shape instantiations get a hidden dictionary', () => {
    const [spec] = parseFunctionsFile('main.Map[go.shape.int_0,go.shape.string_1](xs []int)', 'f');
    expect(summary(spec!)).toBe('main.Map[go.shape.int_0,go.shape.string_1](xs:[]int) +dict');
  });

  test('a pointer receiver gets its pointee from the resolver', () => {
    const cart = makeStruct('main.Cart', [{ name: 'N', type: basic('int') }]);
    const [spec] = parseFunctionsFile('main.(*Cart).Total()', 'f', { resolveType: (n) => (n === 'main.Cart' ? cart : undefined) });
    expect(spec!.params).toEqual([{ name: 'recv', type: { kind: 'pointer', name: '*main.Cart', elem: cart } }]);
  });

  test('a written pointer receiver gets its pointee from the resolver too', () => {
    const cart = makeStruct('main.Cart', [{ name: 'N', type: basic('int') }]);
    const [spec] = parseFunctionsFile('main.(*Cart).Total(c *main.Cart)', 'f', { resolveType: (n) => (n === 'main.Cart' ? cart : undefined) });
    expect(spec!.params).toEqual([{ name: 'c', type: { kind: 'pointer', name: '*main.Cart', elem: cart } }]);
  });

  test('origins give the line and the column of every parameter, result and the closing parenthesis', () => {
    const [written, implied] = parseFunctionsFile('  main.(*Cart).Add(c *main.Cart, item string) (n int, err error)\nmain.(*Cart).Put(string, int)', 'funcs.txt');
    expect(written!.origin).toEqual({
      file: 'funcs.txt', line: 1, text: '  main.(*Cart).Add(c *main.Cart, item string) (n int, err error)',
      columns: { name: 3, params: [20, 34], paramsEnd: 45, results: [48, 55] },
    });
    // A receiver the line leaves out points at the function name.
    expect(implied!.origin!.columns).toEqual({ name: 1, params: [1, 18, 26], paramsEnd: 29 });
  });

  test('named parameter types resolve through the resolver', () => {
    const account = makeStruct('main.Account', [{ name: 'ID', type: basic('int64') }]);
    const [spec] = parseFunctionsFile('main.open(a main.Account, as []main.Account)', 'f', { resolveType: (n) => (n === 'main.Account' ? account : undefined) });
    expect(spec!.params[0]!.type).toBe(account);
    expect(spec!.params[1]!.type).toEqual({ kind: 'slice', name: '[]main.Account', elem: account });
  });

  test('a whole file: comments, blank lines, CRLF, origins', () => {
    const text = [
      '# functions to trace',
      '',
      'main.handler(string, int)',
      '   // indented comment',
      'main.addTwoNumbers(int, int8)\r',
      '\t',
      'github.com/acme/shop/cart.(*Cart).Add(string, int64)   # pointer receiver',
    ].join('\n');
    const specs = parseFunctionsFile(text, 'funcs.txt');
    expect(specs.map((s) => [s.name, { file: s.origin?.file, line: s.origin?.line }])).toEqual([
      ['main.handler', { file: 'funcs.txt', line: 3 }],
      ['main.addTwoNumbers', { file: 'funcs.txt', line: 5 }],
      ['github.com/acme/shop/cart.(*Cart).Add', { file: 'funcs.txt', line: 7 }],
    ]);
    expect(specs[1]!.params.map((p) => p.type)).toEqual([basic('int'), basic('int8')]);
    expect(specs[0]!.results).toBeNull();
  });

  test('a byte-order mark before the first line is ignored', () => {
    expect(parseFunctionsFile('\uFEFFmain.f(int)\n', 'f').map(summary)).toEqual(['main.f(arg0:int)']);
  });

  test('an empty file has no functions', () => {
    expect(parseFunctionsFile('\n# nothing\n\n', 'f')).toEqual([]);
  });
});

describe('errors: one sentence, file, line and column of the offending token', () => {
  test.each<[string, number, number, string]>([
    ['main.f(int65)', 1, 8, 'unknown type "int65"; did you mean "int64"?'],
    ['main.f(int, strng)', 1, 13, 'unknown type "strng"; did you mean "string"?'],
    ['main.f(int, string', 1, 19, 'expected ")" after parameter list'],
    ['main.f(int string', 1, 18, 'expected ")" after parameter list'],
    ['main.f(int; string)', 1, 11, 'expected "," or ")" in parameter list, found ";"'],
    ['(int, string)', 1, 1, 'missing function name'],
    ['   (int)', 1, 4, 'missing function name'],
    ['main.(int)', 1, 6, 'missing function name'],
    ['main.f', 1, 7, 'expected "(" after function name main.f, found end of line'],
    ['main.f int', 1, 8, 'expected "(" after function name main.f, found "int"'],
    ['main.f(int) string extra', 1, 20, 'unexpected "extra" after the function\'s signature'],
    ['main.f(int) (int', 1, 17, 'expected ")" after result list'],
    ['handler(int)', 1, 1, 'function name handler has no package; write it with its package, e.g. main.handler'],
    ['.f(int)', 1, 1, 'missing package name before "." in .f'],
    ['main.f.(int)', 1, 8, 'missing function name'],
    ['main.f.g.(int)', 1, 10, 'missing function name'],
    ['main.(Cart).Add(int)', 1, 6, 'a method with a value receiver is written without parentheses: main.Cart.Add'],
    ['main.(*).Add(int)', 1, 8, 'missing receiver type name'],
    ['main.(*Cart)(int)', 1, 6, 'missing function name'],
    ['main.f.(*Cart).Add(int)', 1, 8, 'a receiver is written as .(*T) right after the package name'],
    ['main.Point.String()', 1, 18, 'main.Point.String is a method: write its receiver as the first parameter, e.g. main.Point.String(p main.Point)'],
    ['github.com/acme/shop/cart.Cart.Describe()', 1, 40, 'github.com/acme/shop/cart.Cart.Describe is a method: write its receiver as the first parameter, e.g. github.com/acme/shop/cart.Cart.Describe(c github.com/acme/shop/cart.Cart)'],
    ['main.f(x int, string)', 1, 15, 'mixed named and unnamed parameters'],
    ['main.f(x int, y)', 1, 15, 'mixed named and unnamed parameters'],
    ['main.f(a int, a string)', 1, 15, 'duplicate parameter name "a"'],
    ['main.f(xs ...int, n int)', 1, 11, 'only the final parameter can be variadic ("...")'],
    ['main.f() (...int)', 1, 11, 'results cannot be variadic'],
    ['main.f() (x int, error)', 1, 18, 'mixed named and unnamed results'],
    ['main.f(main.Account)', 1, 8, 'named type main.Account is unknown without debug info (DWARF); if it is an interface, write any, error or interface{ M() }; otherwise write *main.Account to capture its address, or spell out its struct type'],
    ['main.F[int(int)', 1, 7, 'expected "]" to match "[" in function name'],
    ['main.f(int) $', 1, 13, 'unexpected character "$"'],
    ['main.f(int)\nmain.g(bool)\nmain.f(string)', 3, 1, 'function main.f is already listed on line 1'],
    ['# ok\n\nmain.g(\tint65)', 3, 9, 'unknown type "int65"; did you mean "int64"?'],
  ])('%j → %i:%i %s', (text, line, column, message) => {
    const err = errorOf(text);
    expect([err.file, err.line, err.column, err.message]).toEqual(['funcs.txt', line, column, message]);
  });

  test('format() points a caret at the column', () => {
    expect(errorOf('main.handler(string, int65)').format()).toBe(
      'funcs.txt:1:22: unknown type "int65"; did you mean "int64"?\n  main.handler(string, int65)\n                       ^',
    );
  });

  test('named types known to the resolver are suggested', () => {
    const err = errorOf('main.f(main.Acount)', { resolveType: () => undefined, typeNames: ['main.Account'] });
    expect(err.message).toBe('named type main.Acount is not in the binary\'s debug info; did you mean "main.Account"?');
  });
});
