// The load bias a return program works out at a RET of a PIE (codegen
// returnTypesBiasDefinition): evaluated here as C would, for page-aligned
// biases and RETs near each other, far apart, and sharing their low bits.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { returnTypesBiasDefinition } from '../../src/bpf/codegen.js';

const MASK64 = (1n << 64n) - 1n;

/** The macro's body as a BigInt expression of ip (unsigned 64-bit, as in C). */
function biasAt(definition: string, ip: bigint): bigint {
  const body = /#define WEAVER_TYPES_BIAS\(ctx\) (.*)$/m.exec(definition)![1]!;
  const js = body
    .replace(/\(ctx\)->ip/g, 'ip')
    .replace(/(0x[0-9a-f]+)(ULL)?/g, '$1n')
    .replace(/~(0x[0-9a-f]+n)/g, '(MASK64 ^ $1)')
    .replace(/(?<![0-9a-fx])0\)$/, '0n)')
    .replace(/^0$/, '0n');
  const value = new Function('ip', 'MASK64', `return (${js});`)(ip, MASK64) as bigint;
  return ((value % (1n << 64n)) + (1n << 64n)) & MASK64;
}

describe('WEAVER_TYPES_BIAS at the RETs of a PIE', () => {
  const cases: { name: string; rets: number[]; unknown: number[] }[] = [
    { name: 'one RET', rets: [0x490f95], unknown: [] },
    { name: 'RETs within a page', rets: [0x490f95, 0x491010, 0x491f90], unknown: [] },
    { name: 'RETs more than a page apart', rets: [0x490f95, 0x492010, 0x4950a1], unknown: [] },
    { name: 'two RETs with the same low 12 bits', rets: [0x490f95, 0x491a00, 0x492f95], unknown: [0x490f95, 0x492f95] },
  ];
  for (const c of cases) {
    it(`${c.name}: the bias at each RET, or 0 where it cannot be told`, () => {
      const definition = returnTypesBiasDefinition(c.rets, true);
      for (const bias of [0n, 0x1000n, 0x55b8d3c00000n, 0x7ffff7a3f000n]) {
        for (const ret of c.rets) {
          const want = c.unknown.includes(ret) ? 0n : bias;
          expect(biasAt(definition, bias + BigInt(ret)), `RET 0x${ret.toString(16)}, bias 0x${bias.toString(16)}`).toBe(want);
        }
      }
    });
  }

  it('is 0 in a non-PIE binary and without RETs', () => {
    expect(returnTypesBiasDefinition([0x401000, 0x401100], false)).toBe('#undef WEAVER_TYPES_BIAS\n#define WEAVER_TYPES_BIAS(ctx) 0');
    expect(returnTypesBiasDefinition([], true)).toBe('#undef WEAVER_TYPES_BIAS\n#define WEAVER_TYPES_BIAS(ctx) 0');
  });

  it('gives every page-aligned bias back at every RET whose low bits are its own', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0x1000, max: 0x200000 }), { minLength: 1, maxLength: 12 }),
        fc.bigInt({ min: 0n, max: 0x7fffffffn }),
        (rets, pages) => {
          const bias = pages << 12n;
          const definition = returnTypesBiasDefinition(rets, true);
          const spread = Math.max(...rets) - Math.min(...rets);
          for (const ret of rets) {
            const shared = rets.filter((r) => r % 0x1000 === ret % 0x1000).length > 1;
            const want = shared && spread >= 0x1000 ? 0n : bias;
            expect(biasAt(definition, bias + BigInt(ret))).toBe(want);
          }
        },
      ),
    );
  });
});
