// --filter: parsing (with exact error columns), type checks against the
// traced functions' parameters, and evaluation on decoded events.

import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import { compileFilters, FilterError, parseFilter, type FilterTarget } from '../../src/output/filter/index.js';
import { basic, makeStruct, type GoType } from '../../src/core/gotypes.js';
import type { CallEvent, DecodedArg, Value } from '../../src/core/model.js';

const str: GoType = { kind: 'string', name: 'string' };
const int = basic('int');
const u64 = basic('uint64');
const f64 = basic('float64');
const bool = basic('bool');
const user = makeStruct('main.User', [
  { name: 'Name', type: str },
  { name: 'Age', type: int },
]);
const userPtr: GoType = { kind: 'pointer', name: '*main.User', elem: user };
const ints: GoType = { kind: 'slice', name: '[]int', elem: int };
const errType: GoType = { kind: 'interface', name: 'error', empty: false };

const HANDLER: FilterTarget = {
  name: 'main.handler',
  params: [
    { name: 'path', type: str },
    { name: 'code', type: int },
    { name: 'ok', type: bool },
    { name: 'ratio', type: f64 },
    { name: 'big', type: u64 },
    { name: 'u', type: userPtr },
    { name: 'xs', type: ints },
    { name: 'err', type: errType },
  ],
};
const OTHER: FilterTarget = { name: 'main.other', params: [{ name: 'code', type: int }] };
const NAMES_ONLY: FilterTarget = { name: 'main.opaque', params: null };

const s = (text: string, len = text.length): Value => {
  const bytes = new TextEncoder().encode(text);
  return { kind: 'string', bytes, len, truncated: len > bytes.length };
};
const i = (n: number | bigint): Value => ({ kind: 'int', value: BigInt(n) });

interface Args {
  path?: string;
  code?: number;
  ok?: boolean;
  ratio?: number | null;
  big?: bigint;
  user?: { name: string; age: number } | 'nil' | 'unfollowed';
  xs?: number[] | null;
  err?: 'nil' | 'set';
}

function handlerEvent(a: Args): CallEvent {
  const userValue: Value =
    a.user === 'nil' || a.user === undefined
      ? { kind: 'pointer', address: 0n }
      : a.user === 'unfollowed'
        ? { kind: 'pointer', address: 0xc000010000n }
        : {
            kind: 'pointer',
            address: 0xc000010000n,
            target: { kind: 'struct', fields: [{ name: 'Name', value: s(a.user.name) }, { name: 'Age', value: i(a.user.age) }] },
          };
  const args: DecodedArg[] = [
    { name: 'path', type: 'string', value: s(a.path ?? '/') },
    { name: 'code', type: 'int', value: i(a.code ?? 200) },
    { name: 'ok', type: 'bool', value: { kind: 'bool', value: a.ok ?? true } },
    {
      name: 'ratio',
      type: 'float64',
      value: a.ratio === null ? { kind: 'unavailable', reason: 'passed in register X0' } : { kind: 'float', value: a.ratio ?? 0.5, bits: 64 },
    },
    { name: 'big', type: 'uint64', value: i(a.big ?? 0n) },
    { name: 'u', type: '*main.User', value: userValue },
    {
      name: 'xs',
      type: '[]int',
      value:
        a.xs === null || a.xs === undefined
          ? { kind: 'slice', address: 0n, len: 0n, cap: 0n, elems: [], truncated: false }
          : { kind: 'slice', address: 0xc000020000n, len: BigInt(a.xs.length), cap: BigInt(a.xs.length), elems: a.xs.map(i), truncated: false },
    },
    {
      name: 'err',
      type: 'error',
      value: a.err === 'set' ? { kind: 'interface', typeAddress: 0x4a0000n, dataAddress: 0xc000030000n } : { kind: 'interface', typeAddress: 0n, dataAddress: 0n },
    },
  ];
  return { ts: 1n, function: 'main.handler', pid: 1, tid: 1, ppid: 0, comm: 't', goid: 1n, args };
}

function otherEvent(code: number): CallEvent {
  return { ts: 1n, function: 'main.other', pid: 1, tid: 1, ppid: 0, comm: 't', goid: 1n, args: [{ name: 'code', type: 'int', value: i(code) }] };
}

describe('filter evaluation', () => {
  const cases: [string, Args, boolean][] = [
    ['main.handler: code >= 500', { code: 500 }, true],
    ['main.handler: code >= 500', { code: 499 }, false],
    ['main.handler: code > 500', { code: 500 }, false],
    ['main.handler: code < 300', { code: 299 }, true],
    ['main.handler: code <= 300', { code: 301 }, false],
    ['main.handler: code == 404', { code: 404 }, true],
    ['main.handler: code != 404', { code: 404 }, false],
    ['main.handler: code == -1', { code: -1 }, true],
    ['main.handler: code == 0x1f4', { code: 500 }, true],
    ['main.handler: code > 499.5', { code: 500 }, true],
    ['main.handler: code > 500.5', { code: 500 }, false],
    ['main.handler: big == 18446744073709551615', { big: 18446744073709551615n }, true],
    ['main.handler: big == 18446744073709551614', { big: 18446744073709551615n }, false],
    ['main.handler: big > 9007199254740992', { big: 9007199254740993n }, true],
    ['main.handler: ratio < 1', { ratio: 0.25 }, true],
    ['main.handler: ratio >= 0.5', { ratio: 0.25 }, false],
    ['main.handler: ratio == 1e-3', { ratio: 0.001 }, true],
    ['main.handler: ratio < 1', { ratio: null }, false],
    ['main.handler: !(ratio < 1)', { ratio: null }, true],
    ['main.handler: ratio != 1', { ratio: NaN }, true],
    ['main.handler: ratio == 1', { ratio: NaN }, false],
    ['main.handler: path == "/api"', { path: '/api' }, true],
    ['main.handler: path == "/api"', { path: '/api/x' }, false],
    ['main.handler: path != "/api"', { path: '/api/x' }, true],
    ['main.handler: path < "b"', { path: 'a' }, true],
    ['main.handler: path contains "pi/"', { path: '/api/x' }, true],
    ['main.handler: path contains "nope"', { path: '/api/x' }, false],
    ['main.handler: path ~ "^/api/[0-9]+$"', { path: '/api/42' }, true],
    ['main.handler: path ~ "^/api/[0-9]+$"', { path: '/api/x' }, false],
    ['main.handler: path !~ "^/api"', { path: '/home' }, true],
    ['main.handler: path == "tab\\there"', { path: 'tab\there' }, true],
    ['main.handler: path == `a\\b`', { path: 'a\\b' }, true],
    ['main.handler: path == "\\u00e9"', { path: 'é' }, true],
    ['main.handler: len(path) > 3', { path: '/api' }, true],
    ['main.handler: len(path) > 4', { path: '/api' }, false],
    ['main.handler: ok', { ok: true }, true],
    ['main.handler: ok', { ok: false }, false],
    ['main.handler: !ok', { ok: false }, true],
    ['main.handler: ok == false', { ok: false }, true],
    ['main.handler: ok != true', { ok: true }, false],
    ['main.handler: u == nil', { user: 'nil' }, true],
    ['main.handler: u != nil', { user: { name: 'ann', age: 30 } }, true],
    ['main.handler: u.Age >= 18', { user: { name: 'ann', age: 30 } }, true],
    ['main.handler: u.Age >= 18', { user: { name: 'bob', age: 12 } }, false],
    ['main.handler: u.Age >= 18', { user: 'unfollowed' }, false],
    ['main.handler: u.Age >= 18', { user: 'nil' }, false],
    ['main.handler: u.Name == "ann"', { user: { name: 'ann', age: 30 } }, true],
    ['main.handler: xs == nil', { xs: null }, true],
    ['main.handler: xs != nil', { xs: [] }, true],
    ['main.handler: len(xs) == 3', { xs: [1, 2, 3] }, true],
    ['main.handler: xs[1] == 2', { xs: [1, 2, 3] }, true],
    ['main.handler: xs[5] == 2', { xs: [1, 2, 3] }, false],
    ['main.handler: err != nil', { err: 'set' }, true],
    ['main.handler: err == nil', { err: 'set' }, false],
    ['main.handler: code >= 500 && path == "/a"', { code: 500, path: '/a' }, true],
    ['main.handler: code >= 500 && path == "/a"', { code: 500, path: '/b' }, false],
    ['main.handler: code >= 500 || path == "/a"', { code: 200, path: '/a' }, true],
    ['main.handler: code >= 500 || path == "/a"', { code: 200, path: '/b' }, false],
    // && binds tighter than ||.
    ['main.handler: code == 1 || code == 2 && path == "/x"', { code: 1, path: '/y' }, true],
    ['main.handler: (code == 1 || code == 2) && path == "/x"', { code: 1, path: '/y' }, false],
    ['main.handler: 500 <= code', { code: 503 }, true],
    ['  main.handler :code==503', { code: 503 }, true],
    ['code == 503', { code: 503 }, true],
  ];
  it.each(cases)('%s on %o → %s', (text, args, expected) => {
    const filter = compileFilters([text], [HANDLER, OTHER]);
    expect(filter.test(handlerEvent(args))).toBe(expected);
  });

  it('several filters on one function must all hold; other functions pass unfiltered', () => {
    const filter = compileFilters(['main.handler: code >= 500', 'main.handler: path contains "api"'], [HANDLER, OTHER]);
    expect(filter.active).toBe(true);
    expect(filter.test(handlerEvent({ code: 500, path: '/api' }))).toBe(true);
    expect(filter.test(handlerEvent({ code: 500, path: '/web' }))).toBe(false);
    expect(filter.test(handlerEvent({ code: 200, path: '/api' }))).toBe(false);
    expect(filter.test(otherEvent(1))).toBe(true);
  });

  it('a filter without a function name applies to every traced function', () => {
    const filter = compileFilters(['code >= 500'], [HANDLER, OTHER]);
    expect(filter.test(otherEvent(501))).toBe(true);
    expect(filter.test(otherEvent(499))).toBe(false);
    expect(filter.test(handlerEvent({ code: 499 }))).toBe(false);
  });

  it('no filters: everything passes', () => {
    const filter = compileFilters([], [HANDLER]);
    expect(filter.active).toBe(false);
    expect(filter.test(handlerEvent({}))).toBe(true);
  });

  it('an event without argument values never matches its function\'s filter', () => {
    const filter = compileFilters(['main.other: code == 1'], [HANDLER, OTHER]);
    expect(filter.test({ ...otherEvent(1), args: null })).toBe(false);
  });
});

describe('filter errors: one sentence with the column, exit status 2', () => {
  const cases: [string, string][] = [
    ['main.handler: code >= ', 'bad --filter at column 23: expected an argument name, a number, a string, true, false or nil after >=, found the end of the filter'],
    ['main.handler: code = 500', 'bad --filter at column 20: = is not a comparison; write == to test equality'],
    ['main.handler: code >= 5x', 'bad --filter at column 23: 5x is not a number'],
    ['main.handler: path == "abc', 'bad --filter at column 23: this string has no closing "'],
    ["main.handler: path == 'abc'", 'bad --filter at column 23: strings are written in double quotes ("…") or backquotes, not single quotes'],
    ['main.handler: path == "a\\qb"', 'bad --filter at column 25: unknown escape \\q in a string'],
    ['main.handler: (code > 1', 'bad --filter at column 24: expected ) to close the ( at column 15, found the end of the filter'],
    ['main.handler: code > 1)', 'bad --filter at column 23: this ) has no matching ('],
    ['main.handler: code > 1 code', 'bad --filter at column 24: expected &&, || or the end of the filter, found "code"'],
    ['main.handler: code > 1 & path', 'bad --filter at column 24: unexpected character "&"'],
    ['main.handler:', 'bad --filter at column 14: the filter has no condition; write one such as code >= 500'],
    [': code > 1', 'bad --filter at column 1: expected a function name before ":"'],
    ['handler: code > 1', 'bad --filter at column 1: a function is named with its package, such as main.handler'],
    ['main.handlr: code > 1', 'bad --filter at column 1: main.handlr is not one of the traced functions; did you mean main.handler?'],
    ['main.handler: cod > 1', 'bad --filter at column 15: main.handler has no argument cod; did you mean code?'],
    ['main.handler: zzzzzz > 1', 'bad --filter at column 15: main.handler has no argument zzzzzz; its arguments are path, code, ok, ratio, big, u, xs, err'],
    ['main.handler: code >= "500"', 'bad --filter at column 23: code (int) cannot be compared with "500" (a string constant) using >='],
    ['main.handler: path == 5', 'bad --filter at column 23: path (string) cannot be compared with 5 (an integer constant) using =='],
    ['main.handler: ok > true', 'bad --filter at column 18: > needs numbers or strings, and ok is a bool'],
    ['main.handler: code', 'bad --filter at column 15: code is an int, not a bool; compare it with something, such as code == …'],
    ['main.handler: code contains "5"', 'bad --filter at column 15: contains needs a string on its left, and code is an int'],
    ['main.handler: path ~ "("', 'bad --filter at column 22: "(" is not a valid regular expression (/(/u: Unterminated group)'],
    ['main.handler: 1 == 1', 'bad --filter at column 15: 1 == 1 compares two constants; one side must be an argument'],
    ['main.handler: u.Agee > 1', 'bad --filter at column 15: u (main.User) has no field Agee; did you mean Age?'],
    ['main.handler: code.X > 1', 'bad --filter at column 15: code is an int, which has no fields'],
    ['main.handler: path[0] == 1', 'bad --filter at column 15: path is a string, which cannot be indexed'],
    ['main.handler: len(code) > 1', 'bad --filter at column 19: len needs a string, slice, array, map or channel, and code is an int'],
    ['main.handler: len(5) > 1', 'bad --filter at column 19: len takes an argument name, found "5"'],
    ['main.handler: xs[x] > 1', 'bad --filter at column 18: expected an element index such as [0], found "x"'],
    ['main.handler: u != 5', 'bad --filter at column 20: u (*main.User) cannot be compared with 5 (an integer constant) using !='],
    ['path == "/"', 'bad --filter at column 1: main.other has no argument path; its arguments are code'],
    ['main.opaque: x == 1', 'bad --filter at column 1: the argument values of main.opaque are not captured (no DWARF and no functions file), so they cannot be filtered'],
  ];
  it.each(cases)('%s', (text, message) => {
    let err: unknown;
    try {
      compileFilters([text], [HANDLER, OTHER, NAMES_ONLY]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FilterError);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as FilterError).message).toBe(message);
    expect((err as FilterError).exitCode).toBe(2);
  });

  it('the hint shows the filter with a caret under the column', () => {
    let err: FilterError | undefined;
    try {
      compileFilters(['main.handler: code >= 5x'], [HANDLER]);
    } catch (e) {
      err = e as FilterError;
    }
    expect(err?.hint).toBe('main.handler: code >= 5x\n                        ^');
  });
});

describe('parseFilter', () => {
  it.each([
    ['main.(*Cart).Add: n > 1', 'main.(*Cart).Add'],
    ['github.com/acme/shop.Handle: code == 1', 'github.com/acme/shop.Handle'],
    ['main.Map[go.shape.int_0]: n > 1', 'main.Map[go.shape.int_0]'],
    ['path == "a:b"', undefined],
    ['req.Path == "x:y"', undefined],
  ])('%s names function %s', (text, fn) => {
    expect(parseFilter(text).function).toBe(fn);
  });
});
