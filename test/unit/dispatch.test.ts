// Sharing probes out between dispatcher programs (src/tracespec.ts): each
// program goes to exactly one dispatcher, within its limits, and each probe
// gets the cookie of its program in that dispatcher.

import { describe, expect, it } from 'vitest';
import { DISPATCH_LIMITS, groupDispatchers, type ProbeSite } from '../../src/tracespec.js';

describe('groupDispatchers', () => {
  it('gives a program probed at several offsets (its RETs) one cookie for all of them', () => {
    const probes: ProbeSite[] = [
      { program: 'weaver_r0', attachOffset: 0x110 },
      { program: 'weaver_r0', attachOffset: 0x130 },
      { program: 'weaver_f0', attachOffset: 0x100 },
      { program: 'weaver_f1', attachOffset: 0x200 },
    ];
    expect(groupDispatchers(probes, () => 100)).toEqual([
      {
        program: 'weaver_dispatch0',
        calls: ['weaver_r0', 'weaver_f0', 'weaver_f1'],
        offsets: [0x110, 0x130, 0x100, 0x200],
        cookies: [0, 0, 1, 2],
      },
    ]);
  });

  it.each([
    ['by count', DISPATCH_LIMITS.programs * 2 + 1, () => 1, [DISPATCH_LIMITS.programs, DISPATCH_LIMITS.programs, 1]],
    ['by record bytes', 5, () => DISPATCH_LIMITS.recordBytes / 2, [2, 2, 1]],
  ] as const)('starts a new dispatcher when one is full %s', (_how, n, weight, sizes) => {
    const probes = Array.from({ length: n }, (_, i) => ({ program: `weaver_f${i}`, attachOffset: i * 16 }));
    const groups = groupDispatchers(probes, weight);
    expect(groups.map((g) => g.calls.length)).toEqual(sizes);
    expect(groups.map((g) => g.program)).toEqual(sizes.map((_, i) => `weaver_dispatch${i}`));
    // Every probe lands exactly once, with the index of its program as cookie.
    const seen = groups.flatMap((g) => g.offsets.map((o, k) => [o, g.calls[g.cookies[k]!]]));
    expect(seen).toEqual(probes.map((p) => [p.attachOffset, p.program]));
  });
});
