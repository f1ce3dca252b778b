import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ParseError } from '../../src/core/errors.js';
import { parseFunctionsFile } from '../../src/spec/funcfile.js';
import { sizeOf } from '../../src/core/gotypes.js';
import { parseTypeExpr } from '../../src/spec/typeexpr.js';

// The parser must answer every input with specs or a ParseError that points
// inside the line: never another exception, never a hang.

const SEED = 20240611;

const VALID_LINES = [
  'main.handler(string, int)',
  'github.com/acme/shop/cart.(*Cart).Add(string, int64)   # pointer receiver',
  'net/http.Error(string, int)',
  'main.sum(x int, xs []int)',
  'main.div(a int, b int) (int, error)',
  'main.st(s struct{ID int64; Name string}, m map[string][]*int, c <-chan [2]bool)',
  'main.cb(f func(a, b int) (int, error), xs ...interface{}) // comment',
  'main.Point.String(struct{X, Y float64})',
  'main.F[go.shape.int_0](v [0x10]uint8, p unsafe.Pointer, t struct{A int `json:"a"`})',
];

const ALPHABET = [...'abcmainxyz019._/*()[]{},;<-#" `\t~%$@\\', 'int', 'string', 'struct', 'func', 'map', 'chan', '...', 'interface', '\u00e9', '\u{1F600}'];

/** Checks the one allowed failure shape. */
function parsesOrFailsCleanly(text: string): void {
  try {
    parseFunctionsFile(text, 'prop.txt');
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    const lines = text.split(/\r\n|\n|\r/);
    expect(err.line).toBeGreaterThanOrEqual(1);
    expect(err.line).toBeLessThanOrEqual(lines.length);
    expect(err.column).toBeGreaterThanOrEqual(1);
    expect(err.column).toBeLessThanOrEqual(lines[err.line - 1]!.length + 1);
    expect(err.sourceLine).toBe(lines[err.line - 1]);
    expect(err.message.length).toBeGreaterThan(0);
    expect(err.message).not.toMatch(/undefined|\[object/);
  }
}

const mutation = fc.oneof(
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom(...ALPHABET) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), text: fc.constant('') }),
  fc.record({ op: fc.constant('replace' as const), at: fc.nat(), text: fc.constantFrom(...ALPHABET) }),
);

function mutate(line: string, muts: { op: 'insert' | 'delete' | 'replace'; at: number; text: string }[]): string {
  let s = line;
  for (const m of muts) {
    const at = s.length === 0 ? 0 : m.at % (s.length + 1);
    if (m.op === 'insert') s = s.slice(0, at) + m.text + s.slice(at);
    else if (m.op === 'delete') s = s.slice(0, at) + s.slice(at + 1);
    else s = s.slice(0, at) + m.text + s.slice(at + 1);
  }
  return s;
}

describe('the functions-file parser never throws anything but ParseError', () => {
  test('random lines', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...ALPHABET), { maxLength: 60 }).map((parts) => parts.join('')), (line) => {
        parsesOrFailsCleanly(line);
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  test('any string at all, multi-line', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200, unit: 'grapheme' }), (text) => {
        parsesOrFailsCleanly(text);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  test('mutated valid lines', () => {
    fc.assert(
      fc.property(fc.constantFrom(...VALID_LINES), fc.array(mutation, { minLength: 1, maxLength: 4 }), (line, muts) => {
        parsesOrFailsCleanly(mutate(line, muts));
      }),
      { seed: SEED, numRuns: 5000 },
    );
  });

  test('deep nesting and long lines end quickly', () => {
    const start = performance.now();
    for (const text of [
      'main.f(' + '['.repeat(5000) + ')',
      'main.f(' + '*'.repeat(100_000) + 'int)',
      'main.f(' + 'func('.repeat(2000) + ')',
      'main.f(' + 'struct{A '.repeat(2000) + ')',
      'main.' + '('.repeat(10_000) + 'f(int)',
      'main.f(' + 'int, '.repeat(20_000) + 'int)',
    ]) {
      parsesOrFailsCleanly(text);
    }
    expect(performance.now() - start).toBeLessThan(2000);
  });

  test('the valid lines are valid', () => {
    expect(parseFunctionsFile(VALID_LINES.join('\n'), 'prop.txt')).toHaveLength(VALID_LINES.length);
  });
});

// Random well-formed types: whatever is generated must parse to a type of the
// same written name, with a size that is a multiple of its alignment.
const typeText: fc.Arbitrary<string> = fc.letrec<{ t: string }>((tie) => ({
  t: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom('int', 'int8', 'uint16', 'int32', 'float32', 'float64', 'complex64', 'complex128', 'bool', 'string', 'uintptr', 'error', 'any'),
    tie('t').map((t) => `*${t}`),
    tie('t').map((t) => `[]${t}`),
    fc.tuple(fc.integer({ min: 0, max: 4 }), tie('t')).map(([n, t]) => `[${n}]${t}`),
    fc.tuple(tie('t'), tie('t')).map(([k, v]) => `map[${k.startsWith('[]') || k.startsWith('map[') ? 'int' : k}]${v}`),
    tie('t').map((t) => `chan ${t}`),
    fc.array(tie('t'), { maxLength: 4 }).map((ts) => `struct{${ts.map((t, i) => `F${i} ${t}`).join('; ')}}`),
  ),
})).t;

test('random well-formed types parse to themselves', () => {
  fc.assert(
    fc.property(typeText, (text) => {
      const t = parseTypeExpr(text);
      expect(t.name).toBe(text);
      const size = sizeOf(t);
      expect(Number.isInteger(size) && size >= 0).toBe(true);
      if (t.kind === 'struct') expect(size % t.align).toBe(0);
      const [spec] = parseFunctionsFile(`main.f(x ${text}, y int) (${text})`, 'p');
      expect(spec!.params.map((p) => p.type.name)).toEqual([text, 'int']);
    }),
    { seed: SEED, numRuns: 1000 },
  );
});
