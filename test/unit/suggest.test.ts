import { describe, expect, test } from 'vitest';
import { boundedEditDistance, closestFunctions, closestNames, didYouMean } from '../../src/core/suggest.js';

describe('boundedEditDistance', () => {
  test.each<[string, string, number, number]>([
    ['int65', 'int64', 3, 1],
    ['strng', 'string', 3, 1],
    ['flaot64', 'float64', 3, 1], // a swap of neighbours costs 1
    ['kitten', 'sitting', 5, 3],
    ['', 'abc', 5, 3],
    ['abc', 'abc', 0, 0],
    ['abcdef', 'uvwxyz', 2, 3], // over the limit: limit + 1
    ['a', 'abcdefgh', 2, 3],
  ])('%s ~ %s (limit %i) = %i', (a, b, limit, d) => {
    expect(boundedEditDistance(a, b, limit)).toBe(d);
  });
});

describe('closestNames', () => {
  const types = ['bool', 'int', 'int8', 'int16', 'int32', 'int64', 'uint64', 'string', 'float64'];

  test.each<[string, string[]]>([
    ['int65', ['int64']],
    ['strin', ['string']],
    ['uint65', ['uint64', 'int64']],
    ['zzzzzz', []],
  ])('%s → %j', (name, expected) => {
    expect(closestNames(name, types)).toEqual(expected);
  });

  test('the best first, at most max', () => {
    expect(closestNames('int', ['int8', 'uint', 'in', 'int16'], 2)).toEqual(['in', 'int8']);
  });

  test('a function written without its package matches by its last part first', () => {
    expect(closestNames('handler', ['main.handler', 'main.handle', 'handle'])).toEqual(['main.handler', 'handle']);
  });

  test('the exact name and duplicates are not suggested', () => {
    expect(closestNames('main.f', ['main.f', 'main.g', 'main.g'])).toEqual(['main.g']);
  });

  test('50k candidates take well under a second', () => {
    const names = Array.from({ length: 50_000 }, (_, i) => `github.com/acme/pkg${i % 97}.Function${i}`);
    const start = performance.now();
    const found = closestNames('github.com/acme/pkg3.Functoin100', names);
    expect(performance.now() - start).toBeLessThan(1000);
    expect(found[0]).toBe('github.com/acme/pkg3.Function100');
  });
});

test.each<[string[], string]>([
  [[], ''],
  [['int64'], '; did you mean "int64"?'],
  [['a', 'b'], '; did you mean "a" or "b"?'],
  [['a', 'b', 'c'], '; did you mean "a", "b" or "c"?'],
])('didYouMean(%j)', (names, text) => {
  expect(didYouMean(names)).toBe(text);
});

describe('closestFunctions: a generic function named without its shape', () => {
  const names = ['main.Max[go.shape.int64]', 'main.Max[go.shape.string]', 'main.(*Box[go.shape.int64_0]).Put', 'main.(*Box[go.shape.string_0]).Put', 'main.max', 'main.int64s', 'main.Put'];
  test.each<[string, string[]]>([
    ['main.Max', ['main.Max[go.shape.int64]', 'main.Max[go.shape.string]']],
    ['main.Max[int64]', ['main.Max[go.shape.int64]', 'main.Max[go.shape.string]']],
    ['main.(*Box[int64]).Put', ['main.(*Box[go.shape.int64_0]).Put', 'main.(*Box[go.shape.string_0]).Put']],
    ['main.(*Box).Put', ['main.(*Box[go.shape.int64_0]).Put', 'main.(*Box[go.shape.string_0]).Put']],
    // Not generic: the closest names, as before.
    ['main.mux', ['main.max', 'main.Put']],
  ])('%s', (name, expected) => {
    expect(closestFunctions(name, names)).toEqual(expected);
  });
});
