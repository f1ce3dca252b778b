// Sharing probes out between dispatcher programs (src/bpf/tracespec.ts): each
// shape goes to exactly one dispatcher, within its limits, and each probe
// gets a cookie naming its shape's call index there and its own facts
// (src/spec/sitecookie.ts).

import { describe, expect, it } from 'vitest';
import { DISPATCH_LIMITS, groupDispatchers, type ProbeSite } from '../../src/bpf/tracespec.js';
import { COOKIE_FIELDS, CookieRangeError, cookieCDefinitions, readCookie, siteCookie } from '../../src/spec/sitecookie.js';

const site = (program: string, attachOffset: number, func: number): ProbeSite => ({ program, attachOffset, site: { func } });

describe('groupDispatchers', () => {
  it('gives functions of one shape one call index, and each probe its function in the cookie', () => {
    const probes: ProbeSite[] = [
      site('weaver_r0', 0x110, 0),
      site('weaver_r0', 0x130, 0),
      site('weaver_f0', 0x100, 0),
      site('weaver_f1', 0x200, 1),
      site('weaver_f2', 0x300, 2),
    ];
    const shapeOf = (p: string) => ({ weaver_r0: 'weaver_s2', weaver_f0: 'weaver_s0', weaver_f1: 'weaver_s1', weaver_f2: 'weaver_s0' })[p]!;
    const [d, ...rest] = groupDispatchers(probes, shapeOf, () => 100);
    expect(rest).toEqual([]);
    expect(d!.program).toBe('weaver_dispatch0');
    expect(d!.calls).toEqual(['weaver_s2', 'weaver_s0', 'weaver_s1']);
    expect(d!.offsets).toEqual([0x110, 0x130, 0x100, 0x200, 0x300]);
    expect(d!.cookies.map((c) => [readCookie(c, 'call'), readCookie(c, 'func')])).toEqual([[0, 0], [0, 0], [1, 0], [2, 1], [1, 2]]);
  });

  it.each([
    ['by subprograms', 300, () => 1, () => new Set<string>(), [DISPATCH_LIMITS.subprograms - DISPATCH_LIMITS.fixedSubprograms, 300 - (DISPATCH_LIMITS.subprograms - DISPATCH_LIMITS.fixedSubprograms)]],
    ['by subprograms, counting the readers shapes reach', 10, () => 1, (s: string) => new Set([`r-${s}`, 'shared']), [10]],
    ['by text', 5, () => DISPATCH_LIMITS.textBytes / 2, () => new Set<string>(), [2, 2, 1]],
  ] as const)('starts a new dispatcher when one is full %s', (_how, n, weight, readersOf, sizes) => {
    const probes = Array.from({ length: n }, (_, i) => site(`weaver_f${i}`, i * 16, i));
    const groups = groupDispatchers(probes, (p) => p.replace('_f', '_s'), weight, readersOf);
    expect(groups.map((g) => g.calls.length)).toEqual(sizes);
    expect(groups.map((g) => g.program)).toEqual(sizes.map((_, i) => `weaver_dispatch${i}`));
    // Every probe lands exactly once, with the index of its shape and its function in the cookie.
    const seen = groups.flatMap((g) => g.offsets.map((o, k) => [o, g.calls[readCookie(g.cookies[k]!, 'call')], readCookie(g.cookies[k]!, 'func')]));
    expect(seen).toEqual(probes.map((p) => [p.attachOffset, p.program.replace('_f', '_s'), p.site.func]));
  });

  it('counts a reader shared by two shapes once', () => {
    const room = DISPATCH_LIMITS.subprograms - DISPATCH_LIMITS.fixedSubprograms;
    // Each shape reaches one reader of its own and the same 100 others.
    const shared = Array.from({ length: 100 }, (_, i) => `shared${i}`);
    const probes = Array.from({ length: 80 }, (_, i) => site(`weaver_f${i}`, i * 16, i));
    const groups = groupDispatchers(probes, (p) => p, () => 1, (s) => new Set([`own-${s}`, ...shared]));
    // 100 shared + 2 per shape (itself and its reader) must fit in the room.
    expect(groups[0]!.calls.length).toBe(Math.floor((room - 100) / 2));
  });
});

describe('site cookies', () => {
  it.each([
    [{ call: 5, func: 7 }, { call: 5, func: 7, failFlags: 0, linkPage: 0 }],
    [{ call: 4095, func: 2 ** 20 - 1, failFlags: 0x41, linkAddress: 0x4a5fff }, { call: 4095, func: 2 ** 20 - 1, failFlags: 0x41, linkPage: 0x4a5 }],
    [{ call: 1, func: 3, linkAddress: 0xfffff000 * 1 }, { call: 1, func: 3, failFlags: 0, linkPage: 0xfffff }],
    [{ call: 2, func: 9, frame: 0x1234 }, { call: 2, func: 9, frame: 0x1234 }],
  ] as const)('%o packs as %o', (fields, want) => {
    const cookie = siteCookie(fields);
    for (const [field, value] of Object.entries(want)) expect(readCookie(cookie, field as keyof typeof COOKIE_FIELDS)).toBe(value);
  });

  it.each([
    [{ call: 4096, func: 0 }, 'call 4096 does not fit in a probe cookie (at most 4095)'],
    [{ call: 0, func: 2 ** 20 }, 'func 1048576 does not fit in a probe cookie (at most 1048575)'],
    [{ call: 0, func: 0, failFlags: 0x1000 }, 'failFlags 4096 does not fit in a probe cookie (at most 4095)'],
    [{ call: 0, func: 0, linkAddress: 2 ** 32 }, 'linkPage 1048576 does not fit in a probe cookie (at most 1048575)'],
  ] as const)('refuses %o', (fields, message) => {
    expect(() => siteCookie(fields)).toThrow(new CookieRangeError(message));
  });

  it('generates the C macros from the same layout', () => {
    expect(cookieCDefinitions().split('\n').slice(1)).toEqual([
      '#define WEAVER_COOKIE_CALL(c) ((u32)(((c) >> 0) & 0xfffULL))',
      '#define WEAVER_COOKIE_FUNC(c) ((u32)(((c) >> 12) & 0xfffffULL))',
      '#define WEAVER_COOKIE_FAIL_FLAGS(c) ((u32)(((c) >> 32) & 0xfffULL))',
      '#define WEAVER_COOKIE_LINK_PAGE(c) ((u32)(((c) >> 44) & 0xfffffULL))',
      '#define WEAVER_COOKIE_FRAME(c) ((u32)(((c) >> 32) & 0xffffffffULL))',
    ]);
  });
});
