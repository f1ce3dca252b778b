import { describe, expect, test } from 'vitest';
import { argumentFrameSize } from '../../src/spec/abi/index.js';
import { parseFunctionsFile } from '../../src/spec/funcfile.js';
import type { FunctionSpec, GoType } from '../../src/core/gotypes.js';
import { makeStruct, basic } from '../../src/core/gotypes.js';
import type { GoAbi } from '../../src/core/model.js';
import { checkedInPart, checkSignature } from '../../src/spec/signaturecheck.js';

const CART = makeStruct('main.Cart', [{ name: 'N', type: basic('int') }]);
const resolveType = (name: string): GoType | undefined => (name === 'main.Cart' ? CART : undefined);

function spec(line: string): FunctionSpec {
  return parseFunctionsFile(line, 'funcs.txt', { resolveType })[0]!;
}

/** What a check says: the column and the message, then the hint; '' when the line is right. */
function verdict(line: string, facts: { abi: GoAbi; dwarf?: string; frameSize?: number }): string {
  const problem = checkSignature(spec(line), { abi: facts.abi, frameSize: facts.frameSize, ...(facts.dwarf ? { dwarf: spec(facts.dwarf) } : {}) });
  return problem ? `${problem.column}: ${problem.message} | ${problem.hint}` : '';
}

describe('against DWARF (which accounts for the whole frame)', () => {
  test.each<[string, string, GoAbi, string]>([
    // Right lines: names and type names may differ, sizes and places may not.
    ['main.label(s string)', 'main.label(s string) (int)', 'register', ''],
    ['main.label(text string) int', 'main.label(s string) (int)', 'register', ''],
    ['main.p(x uintptr)', 'main.p(x *main.Cart)', 'register', ''],
    ['main.(*Cart).Add(c *main.Cart, n int)', 'main.(*Cart).Add(c *main.Cart, n int)', 'register', ''],
    ['main.(*Cart).Add(n int)', 'main.(*Cart).Add(c *main.Cart, n int)', 'register', ''],
    // The case: a string written as an int.
    ['main.label(s int)', 'main.label(s string) (int)', 'register',
      '12: parameter s of main.label is string (16 bytes, in AX, BX) in the binary, not int (8 bytes, in AX) | write instead: main.label(s string) (int)'],
    ['main.label(s int)', 'main.label(s string) (int)', 'stack',
      '12: parameter s of main.label is string (16 bytes, on the stack at +0) in the binary, not int (8 bytes, on the stack at +0) | write instead: main.label(s string) (int)'],
    // Unnamed parameters are called by the binary's name.
    ['main.label(int32)', 'main.label(n int64)', 'register',
      '12: parameter n of main.label is int64 (8 bytes, in AX) in the binary, not int32 (4 bytes, in AX) | write instead: main.label(n int64)'],
    // Same size, another place: a float goes in X0, an int in AX; an array of 2 on the stack, a struct in registers.
    ['main.f(x int64)', 'main.f(x float64)', 'register',
      '8: parameter x of main.f is float64 (8 bytes, in X0) in the binary, not int64 (8 bytes, in AX) | write instead: main.f(x float64)'],
    ['main.f(a struct{X, Y int})', 'main.f(a [2]int)', 'register',
      '8: parameter a of main.f is [2]int (16 bytes, on the stack at +0) in the binary, not struct{X int; Y int} (16 bytes, in AX, BX) | write instead: main.f(a [2]int)'],
    // Counts: too few points at ")", too many at the first extra one.
    ['main.f(a int)', 'main.f(a int, b string)', 'register',
      '13: main.f takes 2 parameters in the binary (a int, b string), not 1 | write instead: main.f(a int, b string)'],
    ['main.f(a int, b int)', 'main.f(a int)', 'register',
      '15: main.f takes 1 parameter in the binary (a int), not 2 | write instead: main.f(a int)'],
    // The old spelling with a *T first argument reads as receiver-first: the count says it is not.
    ['main.(*Cart).Link(next *main.Cart)', 'main.(*Cart).Link(c *main.Cart, next *main.Cart)', 'register',
      '34: main.(*Cart).Link takes 2 parameters in the binary (c *main.Cart, next *main.Cart), not 1 | write instead: main.(*Cart).Link(c *main.Cart, next *main.Cart)'],
    // A receiver written twice (weaver's old reading of README's example would add one).
    ['main.(*Cart).Add(c *main.Cart, n int, m int)', 'main.(*Cart).Add(c *main.Cart, n int)', 'register',
      '39: main.(*Cart).Add takes 2 parameters in the binary (c *main.Cart, n int), not 3 | write instead: main.(*Cart).Add(c *main.Cart, n int)'],
    // Results, when the line lists them.
    ['main.f(a int) (string)', 'main.f(a int) (int, error)', 'register',
      '16: main.f returns 2 results in the binary (int, error), not 1 | write instead: main.f(a int) (int, error)'],
    ['main.f(a int) (n int32, err error)', 'main.f(a int) (int, error)', 'register',
      '16: result n of main.f is int (8 bytes, in AX) in the binary, not int32 (4 bytes, in AX) | write instead: main.f(a int) (int, error)'],
  ])('%s where DWARF says %s (%s ABI)', (line, dwarf, abi, expected) => {
    expect(verdict(line, { abi, dwarf })).toBe(expected);
  });
});

describe('against the argument frame in .gopclntab', () => {
  const frameOf = (line: string, abi: GoAbi) => {
    const s = spec(line);
    return argumentFrameSize(s.params, s.results ?? [], abi, { hiddenDictionary: s.hiddenDictionary });
  };
  const HINT = 'check the number and types of its parameters (the binary has no debug information to say more): string and interface values take 16 bytes, slices 24, ints and pointers 8';

  test.each<[string, string, GoAbi, string]>([
    ['main.label(s string)', 'main.label(s string) int', 'register', ''],
    ['main.label(s string) int', 'main.label(s string) int', 'stack', ''],
    // Stack ABI without a result list: the rest of the frame may be results.
    ['main.label(s string)', 'main.label(s string) int', 'stack', ''],
    ['main.label(s int)', 'main.label(s string)', 'register',
      `1: main.label's argument frame is 16 bytes in the binary (.gopclntab), but the line needs 8 | ${HINT}; if it returns values on the stack (an array, or more than 9 words), list its results`],
    ['main.label(s int) int', 'main.label(s string) int', 'stack',
      `1: main.label's argument frame is 24 bytes in the binary (.gopclntab), but the line needs 16 | ${HINT}`],
    ['main.label(s string, n int)', 'main.label(s string)', 'stack',
      `1: main.label's argument frame is 16 bytes in the binary (.gopclntab), but the line needs 24 | ${HINT}`],
    // The old spelling of a pointer method: the receiver it leaves out is counted.
    ['main.(*Cart).Add(n int)', 'main.(*Cart).Add(c *main.Cart, n int)', 'register', ''],
    ['main.(*Cart).Add(c *main.Cart, n int)', 'main.(*Cart).Add(c *main.Cart, n int)', 'register', ''],
  ])('%s where the function is %s (%s ABI)', (line, actual, abi, expected) => {
    expect(verdict(line, { abi, frameSize: frameOf(actual, abi) })).toBe(expected);
  });

  test('register ABI frames as the compiler lays them out (spill slots at each type\'s alignment)', () => {
    // f(a int8, s string, b int8, x [2]int) (r [2]int): a, s, b spilled at 0, 8, 24 → 32;
    // x and r on the stack: 16 + 16. Stack ABI: a 0, s 8, b 24, x 32, rounded to 48; r 48.
    const s = spec('main.f(a int8, s string, b int8, x [2]int) (r [2]int)');
    expect(argumentFrameSize(s.params, s.results!, 'register')).toBe(64);
    expect(argumentFrameSize(s.params, s.results!, 'stack')).toBe(64);
    const small = spec('main.f(a int8, b int8, s string) (r int8)');
    expect(argumentFrameSize(small.params, small.results!, 'register')).toBe(24);
    expect(argumentFrameSize(small.params, small.results!, 'stack')).toBe(32);
  });

  test('DWARF that does not account for the frame is not trusted: the frame decides', () => {
    // Go 1.15–1.19 leave a blank parameter out of DWARF: `func parse(_ *cache, fh Header) error`.
    const dwarf = 'main.parse(fh int) (error)';
    const frameSize = frameOf('main.parse(_ *main.Cart, fh int) (error)', 'stack');
    expect(verdict('main.parse(c *main.Cart, fh int) (error)', { abi: 'stack', dwarf, frameSize })).toBe('');
    expect(verdict('main.parse(fh int) (error)', { abi: 'stack', dwarf, frameSize })).toBe(
      "1: main.parse's argument frame is 32 bytes in the binary (.gopclntab), but the line needs 24 | check the number and types of its parameters (its debug info leaves a parameter out, so only this size can be checked): string and interface values take 16 bytes, slices 24, ints and pointers 8",
    );
  });

  test('a stack-ABI line without results, and without DWARF to trust, is checked only in part', () => {
    const frameSize = frameOf('main.label(s string) int', 'stack');
    expect(checkedInPart(spec('main.label(s int)'), { abi: 'stack', frameSize })).toBe(true);
    expect(checkedInPart(spec('main.label(s string) int'), { abi: 'stack', frameSize })).toBe(false);
    expect(checkedInPart(spec('main.label(s int)'), { abi: 'stack', frameSize, dwarf: spec('main.label(s string) (int)') })).toBe(false);
    expect(checkedInPart(spec('main.label(s int)'), { abi: 'register', frameSize: 16 })).toBe(false);
    expect(checkedInPart(spec('main.f(a int, b int)'), { abi: 'stack', frameSize: 16 })).toBe(false);
  });
});
