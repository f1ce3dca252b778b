// End to end: the composites fixture (structs, pointers, a linked list,
// byte slices, interfaces, errors, maps, channels, funcs, goroutines) built
// by every toolchain, normal and PIE, traced with real uprobes; every
// argument weaver decoded must equal what the fixture says it passed (its
// EXPECT lines, encoded as fixtures/composites/encode.go describes).

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureBuilds, functionsInFile, newestToolchain, parseExpectLines, type ExpectedCall, type FixtureBuild } from '../helpers/fixtures.js';
import { parseLosslessJson, type LosslessJson } from '../helpers/losslessJson.js';
import { requireBpfOrSkip, runProcess, startTracer } from '../helpers/weaver.js';

const canRun = requireBpfOrSkip();

type Obj = { [key: string]: LosslessJson };

interface TracedArg {
  name: string;
  type: string;
  value?: LosslessJson;
  [k: string]: LosslessJson | undefined;
}

interface TracedCall {
  function: string;
  goid: bigint;
  args: TracedArg[];
}

function isObj(v: LosslessJson | undefined): v is Obj {
  return v !== null && v !== undefined && typeof v === 'object' && !Array.isArray(v);
}

function show(v: LosslessJson | undefined): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x));
}

function num(v: LosslessJson | undefined): bigint | null {
  return typeof v === 'bigint' ? v : typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : null;
}

/** Bytes weaver showed for a []byte/[N]byte: a string when printable, else hex with "encoding":"hex". */
function shownBytes(extras: Obj): Buffer | null {
  if (extras.value === null) return Buffer.alloc(0);
  if (typeof extras.value !== 'string') return null;
  return extras.encoding === 'hex' ? Buffer.from(extras.value, 'hex') : Buffer.from(extras.value, 'utf8');
}

/**
 * Differences between what weaver printed (`actual`: an ARG, or a nested
 * value, bare or {"value", …extras}) and an EXPECT value.
 */
function compare(actual: LosslessJson | undefined, expected: LosslessJson, path: string, maxElements = 16): string[] {
  const extras: Obj = isObj(actual) && 'value' in actual && !('address' in actual) ? actual : { value: actual ?? null };
  const value = extras.value;
  const diffs: string[] = [];
  const differ = (what: string) => diffs.push(`${path}: ${what} (weaver ${show(actual)}, expected ${show(expected)})`);
  if (typeof extras.error === 'string' && !(isObj(expected) && expected.unreadable === true)) {
    differ(`unavailable: ${extras.error}`);
    return diffs;
  }
  if (expected === null) {
    if (value !== null) differ('expected nil');
    return diffs;
  }
  if (expected === 'func') {
    // Its address, and the function it calls by name when its code pointer
    // was read (the fixture's one func value is main.double).
    if (typeof value !== 'string' || !value.startsWith('0x')) differ('expected a func address');
    if (extras.func !== undefined && extras.func !== 'main.double') differ('expected main.double');
    return diffs;
  }
  if (isObj(expected)) {
    if ('ptr' in expected) {
      // A followed pointer: {"address", "value"}; unreadable: its value is an error.
      if (!isObj(value) || value.address !== expected.ptr) return (differ('expected a followed pointer at that address'), diffs);
      if (expected.unreadable === true) {
        const target = value.value;
        if (!(isObj(target) && target.value === null && typeof target.error === 'string' && target.error.includes('EFAULT'))) {
          differ('expected an unreadable pointee with an EFAULT reason');
        }
        return diffs;
      }
      return compare(value.value, expected.to!, `${path}.*`, maxElements);
    }
    if ('bytes' in expected) {
      const want = Buffer.from(expected.bytes as string, 'hex');
      const got = shownBytes(extras);
      if (!got || !got.equals(want)) differ('bytes differ');
      const printable = want.length > 0 && [...want].every((b) => b >= 0x20 && b < 0x7f);
      if (want.length > 0 && (extras.encoding === 'hex') === printable) differ(`printable bytes are a string, others hex`);
      if ('len' in expected && num(extras.len) !== num(expected.len)) differ('len differs');
      if ('cap' in expected && num(extras.cap) !== num(expected.cap)) differ('cap differs');
      return diffs;
    }
    if ('message' in expected) {
      // An error: its dynamic type, and the string field of the struct its pointer leads to.
      if (!isObj(value) || value.type !== expected.type) return (differ('dynamic type differs'), diffs);
      const target = isObj(value.value) ? value.value.value : undefined;
      const message = isObj(target) ? Object.values(target).find((v) => typeof v === 'string') : undefined;
      if (message !== expected.message) differ('error message differs');
      return diffs;
    }
    if ('type' in expected) {
      if (!isObj(value) || value.type !== expected.type) return (differ('dynamic type differs'), diffs);
      return compare(value.value, expected.value!, `${path}.(${String(expected.type)})`, maxElements);
    }
    if ('entries' in expected || (Object.keys(expected).join() === 'len' && !('elems' in expected))) {
      // A map: its length; min(len, --max-elements) of its entries, in any order, each once; truncated when fewer than len.
      const len = num(expected.len)!;
      if (num(extras.len) !== len) differ('map len differs');
      if (!Array.isArray(value)) return (differ('expected map entries'), diffs);
      const shown = len < BigInt(maxElements) ? Number(len) : maxElements;
      if (value.length !== shown) differ(`expected ${shown} entries, got ${value.length}`);
      if ((extras.truncated === true) !== value.length < len) differ(`truncated should be ${value.length < len}`);
      // Maps compared here are cut by --max-elements only (the walk-bound one is boundedWalk's).
      const why = value.length < len ? 'max-elements' : undefined;
      if (extras.truncated_by !== why) differ(`truncated_by should be ${why}`);
      const key = (p: LosslessJson) => show((p as LosslessJson[])[0]);
      if (new Set(value.map(key)).size !== value.length) differ('a key is shown twice');
      if (Array.isArray(expected.entries)) {
        const want = new Map(expected.entries.map((p) => [key(p), (p as LosslessJson[])[1]!]));
        for (const pair of value) {
          const w = want.get(key(pair));
          if (w === undefined) differ(`unexpected key ${key(pair)}`);
          else diffs.push(...compare((pair as LosslessJson[])[1], w, `${path}[${key(pair)}]`, maxElements));
        }
      } else {
        // Entries not listed: the fixture's wide map, each [k, k*k] for k in 0..len-1.
        for (const pair of value) {
          const [k, v] = pair as bigint[];
          if (!Array.isArray(pair) || pair.length !== 2 || k! < 0n || k! >= len || v !== k! * k!) differ(`entry ${show(pair)} is not [k, k*k]`);
        }
      }
      return diffs;
    }
    if ('elems' in expected && Array.isArray(expected.elems)) {
      if (num(extras.len) !== num(expected.len)) differ('len differs');
      if (num(extras.cap) !== num(expected.cap)) differ('cap differs');
      if (!Array.isArray(value)) return (differ('expected elements'), diffs);
      if (value.length !== expected.elems.length) differ(`expected ${expected.elems.length} elements, got ${value.length}`);
      expected.elems.forEach((e, i) => diffs.push(...compare(value[i], e, `${path}[${i}]`, maxElements)));
      return diffs;
    }
    if (Object.keys(expected).join() === 'len,cap') {
      // A channel.
      if (typeof value !== 'string' || num(extras.len) !== num(expected.len) || num(extras.cap) !== num(expected.cap)) {
        differ('channel len/cap differ');
      }
      return diffs;
    }
    if (!isObj(value)) return (differ('expected a struct'), diffs);
    const keys = Object.keys(expected);
    if (Object.keys(value).join() !== keys.join()) differ(`fields ${Object.keys(value).join()} should be ${keys.join()}`);
    for (const k of keys) diffs.push(...compare(value[k], expected[k]!, `${path}.${k}`, maxElements));
    return diffs;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(value) || value.length !== expected.length) return (differ('array differs'), diffs);
    expected.forEach((e, i) => diffs.push(...compare(value[i], e, `${path}[${i}]`, maxElements)));
    return diffs;
  }
  if (typeof expected === 'bigint' || typeof expected === 'number') {
    if (num(value) !== num(expected)) differ('number differs');
    return diffs;
  }
  if (value !== expected) differ('value differs');
  return diffs;
}

async function trace(build: FixtureBuild, extraArgs: string[] = []): Promise<{ calls: TracedCall[]; expected: ExpectedCall[]; stderr: string }> {
  const tracer = await startTracer([build.path, '-f', build.funcs!, '--format', 'json', ...extraArgs]);
  const run = await runProcess(build.path, []);
  expect(run.code, run.stderr).toBe(0);
  const traced = new Set(functionsInFile(build.funcs!));
  const expected = parseExpectLines(run.stdout).filter((e) => traced.has(e.function));
  await tracer.waitFor((lines) => lines.length >= expected.length, 15000);
  const result = await tracer.stop();
  expect(result.code, result.stderr).toBe(0);
  const calls = tracer.lines().map((l) => parseLosslessJson(l) as unknown as TracedCall);
  return { calls, expected, stderr: result.stderr };
}

const builds = canRun ? fixtureBuilds({ fixture: 'composites' }).filter((b) => b.variant !== 'stripped') : [];

describe.skipIf(!canRun)('composite values on every toolchain', () => {
  it('has a composites build for every toolchain', () => {
    expect(builds.length).toBeGreaterThanOrEqual(8);
  });

  describe.each(builds.map((b) => [`Go ${b.toolchain} ${b.variant} (${b.abi} ABI)`, b] as const))('%s', (_label, build) => {
    let result: Awaited<ReturnType<typeof trace>>;

    it('decodes every argument of every call exactly as the fixture passed it', async () => {
      result = await trace(build);
      expect(result.calls.length, result.stderr).toBe(result.expected.length);
      // Calls from the goroutines interleave: compare each function's calls in order.
      const byFunction = (xs: { function: string }[], f: string) => xs.filter((x) => x.function === f);
      const diffs: string[] = [];
      for (const f of new Set(result.expected.map((e) => e.function))) {
        const want = byFunction(result.expected, f) as ExpectedCall[];
        const got = byFunction(result.calls, f) as TracedCall[];
        expect(got.length, f).toBe(want.length);
        if (f === 'main.inGoroutine') continue; // checked below: interleaving reorders them
        if (f === 'main.mapHuge') continue; // checked below: the walk bound stops it at a random point
        want.forEach((w, i) => w.args.forEach((a, j) => diffs.push(...compare(got[i]!.args[j], a, `${f}#${i}.${got[i]!.args[j]?.name}`))));
      }
      expect(diffs).toEqual([]);
    });

    it('gives every event the goid of the goroutine that made the call', () => {
      const calls = result.calls.filter((c) => c.function === 'main.inGoroutine');
      expect(calls.length).toBe(12);
      const goidOfId = new Map<bigint, bigint>();
      for (const c of calls) {
        const id = c.args[0]!.value as bigint;
        const reported = c.args[1]!.value as bigint;
        // The program's own runtime.Stack says which goroutine it is.
        expect(c.goid).toBe(reported);
        if (goidOfId.has(id)) expect(goidOfId.get(id)).toBe(c.goid);
        goidOfId.set(id, c.goid);
      }
      expect(new Set(goidOfId.values()).size).toBe(4);
      // The calls on the main goroutine carry its goid, 1.
      expect(result.calls.find((c) => c.function === 'main.structValue')!.goid).toBe(1n);
    });
  });
});

/**
 * The fixture's huge map: 40 entries in storage four times larger than the
 * walk's step bound covers. Its hash seed decides which of them the walk
 * finds: at most min(len, --max-elements), each as the fixture put it,
 * truncated when fewer than len, by the walk bound when fewer than asked;
 * at 128, fewer than len (one in 4^40 runs would find all).
 */
function boundedWalk(actual: LosslessJson | undefined, expected: LosslessJson, maxElements: number): string[] {
  const arg = actual as Obj;
  const want = expected as Obj;
  const entries = arg.value as LosslessJson[][];
  const diffs: string[] = [];
  const wanted = new Map((want.entries as LosslessJson[][]).map(([k, v]) => [show(k), show(v)]));
  if (num(arg.len) !== num(want.len)) diffs.push(`len ${show(arg.len)}, expected ${show(want.len)}`);
  if (entries.length > Math.min(wanted.size, maxElements)) diffs.push(`${entries.length} entries shown, more than ${maxElements}`);
  if (maxElements > wanted.size && entries.length >= wanted.size) diffs.push('the walk bound should have stopped before every entry was found');
  if ((arg.truncated === true) !== entries.length < wanted.size) diffs.push(`truncated should be ${entries.length < wanted.size}`);
  // Every entry asked for is --max-elements' cut, fewer the walk bound's.
  const why = entries.length === wanted.size ? undefined : entries.length === maxElements ? 'max-elements' : 'walk-bound';
  if (arg.truncated_by !== why) diffs.push(`truncated_by ${show(arg.truncated_by)}, expected ${why}`);
  if (new Set(entries.map(([k]) => show(k))).size !== entries.length) diffs.push('a key is shown twice');
  for (const [k, v] of entries) if (wanted.get(show(k)) !== show(v)) diffs.push(`entry [${show(k)}, ${show(v)}] is not the fixture's`);
  return diffs;
}

describe.skipIf(!canRun)('map entries up to --max-elements, wherever they are in the map', () => {
  // 4: fewer than most maps hold; 128: every entry of every map but the 1000-entry one, including the
  // growing map's 105 (most in old buckets before Go 1.24) and the 5 left far apart in the deleted one.
  const runs = [
    ['4', []],
    ['128', ['--max-event-size', '65536']],
  ] as const;
  // PIE builds too for the first Swiss-table release (1.24) and the newest: map addresses are relocated there.
  const mapBuilds = builds.filter((b) => b.variant === 'normal' || b.toolchain === '1.24' || b.toolchain === newestToolchain());

  describe.each(mapBuilds.map((b) => [`Go ${b.toolchain} ${b.variant}`, b] as const))('%s', (_label, build) => {
    it.each(runs)('--max-elements %s', async (maxElements, extra) => {
      const { calls, expected } = await trace(build, ['--max-elements', maxElements, ...extra]);
      const diffs: string[] = [];
      const mapCalls = expected.filter((e) => e.function.startsWith('main.map'));
      expect(mapCalls.map((e) => e.function)).toEqual([
        'main.maps', 'main.mapSizes', 'main.mapSparse', 'main.mapDeleted', 'main.mapStructs', 'main.mapGrowing', 'main.mapHuge', 'main.mapNested', 'main.mapEmpty',
      ]);
      for (const want of mapCalls) {
        // 128 entries of 128-entry maps would not fit --max-event-size: the plan shows fewer (checked at 4 and 16).
        if (want.function === 'main.mapNested' && maxElements === '128') continue;
        if (want.function === 'main.mapHuge') {
          diffs.push(...boundedWalk(calls.find((c) => c.function === want.function)!.args[0], want.args[0]!, Number(maxElements)));
          continue;
        }
        const got = calls.find((c) => c.function === want.function)!;
        want.args.forEach((a, j) => diffs.push(...compare(got.args[j], a, `${want.function}.${got.args[j]?.name}`, Number(maxElements))));
      }
      expect(diffs).toEqual([]);
    });
  });
});

describe.skipIf(!canRun)('why a map shows fewer entries than its length', () => {
  const build = builds.find((b) => b.variant === 'normal' && b.toolchain === newestToolchain())!;

  it('JSON: 128 entries of the 100- and 1000-entry maps do not fit the default --max-event-size: fewer, said so', async () => {
    const { calls } = await trace(build, ['--max-elements', '128']);
    const sizes = calls.find((c) => c.function === 'main.mapSizes')!;
    const cut = (a: TracedArg) => [a.name, num(a.len), a.truncated, a.truncated_by, (a.value as LosslessJson[]).length < 128];
    expect(sizes.args.map(cut)).toEqual([
      ['small', 10n, undefined, undefined, true],
      ['medium', 100n, true, 'event-size', true],
      ['large', 1000n, true, 'event-size', true],
    ]);
  });

  it.each([
    // --max-elements, the function, what it shows, how its line must read (values are cut after 200 characters, so short maps).
    // The walk finds 7 to 18 of the 40 entries, depending on where the map's random seed put them: past
    // 200 characters the entries are cut, and the map still says how many it has and why it stopped.
    ['128', 'main.mapHuge', 'why: the walk bound', / main\.mapHuge\(m=map\[(-?\d+:-?\d+ )+(-?\d*(:-?\d*)?)?…\]\(len=40, walk stopped after 1024 steps\)\)$/],
    ['4', 'main.mapSizes', 'no why for --max-elements', / main\.mapSizes\(small=map\[("key-\d{4}":-?\d+ ){4}…\]\(len=10\), medium=/],
  ] as const)('text at --max-elements %s: %s shows %s', async (maxElements, f, _shows, ending) => {
    const tracer = await startTracer([build.path, '-f', build.funcs!, '--format', 'text', '--no-color', '--max-elements', maxElements, '--max-event-size', '65536']);
    const run = await runProcess(build.path, []);
    expect(run.code).toBe(0);
    await tracer.waitFor((lines) => lines.some((l) => l.includes('main.mapEmpty(')), 15000);
    const out = (await tracer.stop()).stdout;
    expect(out.split('\n').find((l) => l.includes(` ${f}(`))).toMatch(ending);
  });
});

describe.skipIf(!canRun)('--depth bounds how far pointers are followed', () => {
  const build = builds.find((b) => b.variant === 'normal' && b.abi === 'register');

  it.each([
    ['0', '"0x'],
    ['1', '{"Val":1,"Next":"0x'],
    ['3', '{"Val":1,"Next":{"address":'],
  ])('--depth %s', async (depth, start) => {
    const { calls } = await trace(build!, ['--depth', depth]);
    const list = calls.find((c) => c.function === 'main.list')!;
    const shown = JSON.stringify(list.args[0]!.value, (_k, x) => (typeof x === 'bigint' ? Number(x) : x));
    if (depth === '0') expect(shown.startsWith(start)).toBe(true);
    else expect(JSON.stringify((list.args[0]!.value as Obj).value, (_k, x) => (typeof x === 'bigint' ? Number(x) : x)).startsWith(start)).toBe(true);
    // Depth 3 reaches node 3, whose Next is shown by address.
    if (depth === '3') expect(shown).toMatch(/"Val":3,"Next":"0x[0-9a-f]+"/);
  });
});

describe.skipIf(!canRun)('goroutine IDs', () => {
  // Stripped builds have no DWARF: the goid offset comes from the per-version table.
  const stripped = canRun ? fixtureBuilds({ fixture: 'composites', variant: 'stripped' }) : [];

  it.each(stripped.map((b) => [`Go ${b.toolchain} stripped`, b] as const))('%s: goids from the version table match runtime.Stack', async (_label, build) => {
    const dir = mkdtempSync(join(tmpdir(), 'weaver-goid-'));
    const funcs = join(dir, 'funcs.txt');
    writeFileSync(funcs, 'main.inGoroutine(id int64, goid int64)\n');
    const { calls } = await trace({ ...build, funcs });
    const inG = calls.filter((c) => c.function === 'main.inGoroutine');
    expect(inG.length).toBe(12);
    for (const c of inG) expect(c.goid).toBe(c.args[1]!.value);
  });

  const goroutines = canRun ? fixtureBuilds({ fixture: 'goroutines', variant: 'normal' }) : [];

  it.each(goroutines.map((b) => [`Go ${b.toolchain}`, b] as const))('%s goroutines fixture: one goid per worker, different across workers', async (_label, build) => {
    const { calls, expected } = await trace(build);
    expect(calls.length).toBe(expected.length);
    const goidOfId = new Map<bigint, bigint>();
    for (const c of calls) {
      const id = c.args[0]!.value as bigint;
      expect(c.goid).toBeGreaterThan(1n);
      if (goidOfId.has(id)) expect(c.goid).toBe(goidOfId.get(id));
      goidOfId.set(id, c.goid);
    }
    expect(goidOfId.size).toBe(8);
    expect(new Set(goidOfId.values()).size).toBe(8);
  });
});

describe.skipIf(!canRun)('text output', () => {
  it('shows followed pointers, bytes, interfaces and maps in Go syntax, with the goroutine', async () => {
    const build = builds.find((b) => b.variant === 'normal' && b.abi === 'register')!;
    const tracer = await startTracer([build.path, '-f', build.funcs!, '--format', 'text', '--no-color']);
    const run = await runProcess(build.path, []);
    expect(run.code).toBe(0);
    await tracer.waitFor((lines) => lines.filter((l) => l.includes('main.')).length >= parseExpectLines(run.stdout).length, 15000);
    const out = (await tracer.stop()).stdout;
    expect(out).toMatch(/ g1 main\.structPtr\(a=&\{ID:7 Owner:"carol" Balance:10 Active:true\}\)/);
    expect(out).toContain('main.byteSlices(text="GET /index", binary="\\x00\\xff\\x10A", none=nil)');
    expect(out).toContain('main.anyValues(i=int(12345), s=string("hello"), a=main.Account({ID:8 Owner:"dave" Balance:-5 Active:false}), p=(*main.Account)(&{ID:7 Owner:"carol" Balance:10 Active:true}), none=<nil>)');
    expect(out).toMatch(/main\.list\(n=&\{Val:1 Next:&\{Val:2 Next:0x[0-9a-f]+\}\}\)/);
    expect(out).toMatch(/main\.chans\(c=0x[0-9a-f]+\(len=2 cap=4\), u=0x[0-9a-f]+\(len=0 cap=0\), none=nil\)/);
  });
});
