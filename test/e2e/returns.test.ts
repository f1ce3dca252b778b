// End to end for --returns (issue 5): the returns fixture, built by every
// toolchain (Go 1.15 stack ABI, 1.19, 1.22, newest), normal, PIE and stripped, traced
// with probes on every RET. Each RETURNED line the fixture prints (after a
// call returned) must match exactly one JSON event, with the same arguments
// and the same results; the call that panics must show as not returned; the
// recovered panic as via runtime.deferreturn; 3000 levels of recursion whose
// goroutine stack grows and is copied while they are pending must pair each
// level with its own return. Error and interface{} results must show their
// dynamic type by name and their value (errors.New, fmt.Errorf with and
// without %w, whose wrapped error is named too; an int, a string and a
// struct), PIE and stripped builds included. The
// fixture's own output must not change when it is traced.

import { describe, expect, it } from 'vitest';
import { fixtureBuilds, type FixtureBuild, type FixtureName } from '../helpers/fixtures.js';
import { parseLosslessJson, type LosslessJson } from '../helpers/losslessJson.js';
import { requireBpfOrSkip, runProcess, runWeaver, startTracer } from '../helpers/weaver.js';

const canRun = requireBpfOrSkip();
const DEPTH = 3000;

type Obj = { [key: string]: LosslessJson };

function isObj(v: LosslessJson | undefined): v is Obj {
  return v !== null && v !== undefined && typeof v === 'object' && !Array.isArray(v);
}

function show(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x));
}

interface Returned {
  function: string;
  args: LosslessJson[];
  returns: LosslessJson[];
}

function parseReturned(stdout: string): Returned[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('RETURNED '))
    .map((l) => parseLosslessJson(l.slice('RETURNED '.length)) as unknown as Returned);
}

/** An ARG's value with its extras, for comparing with the fixture's encoding. */
function compareValue(arg: Obj, expected: LosslessJson, build: FixtureBuild, where: string): string | null {
  const type = arg.type as string;
  const value = arg.value;
  const bad = (what: string) => `${where} ${arg.name} ${type}: ${what} (weaver ${show(arg)}, expected ${show(expected)})`;
  if (typeof arg.error === 'string') {
    // Floats come back in X0 under the register ABI, which a uprobe cannot read.
    if (type === 'float64' && build.abi === 'register' && /X0/.test(arg.error)) return null;
    return bad(`unavailable: ${arg.error}`);
  }
  if (type === 'error' || type === 'any') {
    if (value === null || expected === null) return value === expected ? null : bad(value === null ? 'nil, expected a value' : 'non-nil, expected nil');
    // The dynamic type by name, resolved through the binary's type table
    // (in PIE builds after taking off the load bias at the RET).
    const want = expected as Obj;
    if (!isObj(value) || value.type !== want.type) return bad('dynamic type differs');
    if (type === 'any') return show(value.value) === show(want.value) ? null : bad('dynamic value differs');
    // An error: a pointer to a struct whose first string is the message (errorString.s, wrapError.msg).
    const target = isObj(value.value) ? value.value.value : undefined;
    const message = isObj(target) ? Object.values(target).find((v) => typeof v === 'string') : undefined;
    if (message !== want.message) return bad('error message differs');
    // A wrapped error (fmt.wrapError.err): the nested interface is named, not followed.
    const nested = isObj(target) ? Object.values(target).find((v) => isObj(v) && 'type' in v) : undefined;
    const wrapped = isObj(nested) ? nested.type : undefined;
    return wrapped === want.wrapped ? null : bad(`wrapped error type ${show(wrapped)}, expected ${show(want.wrapped)}`);
  }
  if (type === 'float64') return typeof expected === 'bigint' ? (value === Number(expected) || value === expected ? null : bad('differs')) : value === expected ? null : bad('differs');
  if (type.startsWith('*')) {
    // A pointer weaver followed is {"address", "value"}; the fixture prints the address.
    const address = isObj(value) ? value.address : value;
    return address === expected ? null : bad('address differs');
  }
  if (type.startsWith('[]')) {
    const e = expected as Obj;
    if (arg.len !== e.len || arg.cap !== e.cap) return bad('len/cap differ');
    return show(value ?? []) === show(e.elems) ? null : bad('elements differ');
  }
  return show(value) === show(expected) ? null : bad('differs');
}

function key(fn: string, args: LosslessJson[]): string {
  return `${fn}${show(args)}`;
}

async function trace(build: FixtureBuild) {
  const plain = await runProcess(build.path, ['-depth', String(DEPTH)]);
  expect(plain.code).toBe(0);
  const tracer = await startTracer([build.path, '-f', build.funcs!, '--returns', '--format', 'json']);
  const traced = await runProcess(build.path, ['-depth', String(DEPTH)]);
  // What this run returned (PIE pointers differ from run to run).
  const expected = parseReturned(traced.stdout);
  // Every returned call, plus the one that panics.
  await tracer.waitFor((lines) => lines.length >= expected.length + 1, 30000);
  const result = await tracer.stop();
  const events = result.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => parseLosslessJson(l) as Obj);
  return { plain, traced, expected, events, stderr: result.stderr };
}

// Stripped builds too: without DWARF, interface results are named from the
// binary's runtime type descriptors.
const builds = canRun ? fixtureBuilds({ fixture: 'returns' as FixtureName }) : [];

describe.skipIf(!canRun)('--returns on the returns fixture', () => {
  it('has a build for every toolchain', () => {
    expect(builds.length, 'the returns fixture is not built: run npm run setup').toBeGreaterThanOrEqual(12);
  });

  for (const build of builds) {
    it(`pairs every call with its return: Go ${build.toolchain} (${build.abi} ABI, ${build.variant})`, async () => {
      const { plain, traced, expected, events, stderr } = await trace(build);
      // The traced program behaves exactly as untraced.
      expect(traced.code).toBe(0);
      // (PIE builds load at a random address each run: their pointers differ.)
      const same = (out: string) => (build.variant === 'pie' ? out.replace(/"0x[0-9a-f]+"/g, '"0x…"') : out);
      expect(same(traced.stdout)).toBe(same(plain.stdout));
      expect(traced.stderr).toBe(plain.stderr);

      const returnedEvents = events.filter((e) => e.returned !== false);
      const notReturned = events.filter((e) => e.returned === false);
      // Exactly one event per returned call, none missing.
      const pending = new Map<string, Returned[]>();
      for (const r of expected) {
        const k = key(r.function, r.args);
        pending.set(k, [...(pending.get(k) ?? []), r]);
      }
      const problems: string[] = [];
      for (const e of returnedEvents) {
        const args = (e.args as Obj[]).map((a) => a.value);
        const k = key(e.function as string, args);
        const list = pending.get(k);
        if (!list?.length) {
          problems.push(`unexpected event ${show(e)}`);
          continue;
        }
        const want = list.shift()!;
        const results = e.returns as Obj[];
        if (!Array.isArray(results) || results.length !== want.returns.length) {
          problems.push(`${k}: results ${show(results)}, expected ${show(want.returns)}`);
          continue;
        }
        results.forEach((r, i) => {
          const p = compareValue(r, want.returns[i]!, build, k);
          if (p) problems.push(p);
        });
        if (typeof e.duration_ns !== 'bigint' || e.duration_ns <= 0n) problems.push(`${k}: duration ${show(e.duration_ns)}`);
      }
      for (const [k, list] of pending) if (list.length) problems.push(`no event for ${list.length} call(s) ${k}`);
      expect(problems.slice(0, 20), stderr).toEqual([]);

      // The panicking call is visible, flagged; nothing else failed to return.
      expect(notReturned.map((e) => [e.function, (e.args as Obj[]).map((a) => a.value)])).toEqual([['main.mustPositive', [-4n]]]);
      expect(['replaced', 'unwound']).toContain(notReturned[0]!.why);
      // The recovered panic returned through runtime.deferreturn; the normal call did not.
      const safeDiv = returnedEvents.filter((e) => e.function === 'main.safeDiv');
      expect(safeDiv.map((e) => [show((e.args as Obj[]).map((a) => a.value)), e.via_deferreturn ?? false])).toEqual([
        ['["9n","3n"]', false],
        ['["1n","0n"]', true],
      ]);
      // Every level of the recursion, paired across stack copies.
      expect(returnedEvents.filter((e) => e.function === 'main.descend')).toHaveLength(DEPTH + 1);
      expect(stderr).toMatch(/returns: \d+ calls paired/);
    }, 120000);
  }
});

describe.skipIf(!canRun)('-c/--summary on the returns fixture', () => {
  const stack = builds.find((b) => b.abi === 'stack' && b.variant === 'normal');
  const newest = builds.filter((b) => b.variant === 'normal').at(-1);
  for (const build of [stack, newest].filter((b): b is FixtureBuild => b !== undefined)) {
    it(`counts calls, errors and unreturned calls per function: Go ${build.toolchain}`, async () => {
      // Launch mode: the summary is on stdout, the program's own lines on stderr.
      const run = await runWeaver(['-f', build.funcs!, '-c', '--format', 'json', '--', build.path, '-n', '2', '-depth', '100'], { timeoutMs: 90000 });
      expect(run.code, run.stderr).toBe(0);
      const calls = new Map<string, number>();
      for (const r of parseReturned(run.stderr)) calls.set(r.function, (calls.get(r.function) ?? 0) + 1);
      const line = run.stdout.split('\n').find((l) => l.startsWith('{"summary"'));
      expect(line, run.stdout.slice(-2000)).toBeDefined();
      const rows = (parseLosslessJson(line!) as Obj).summary as Obj[];
      const byName = new Map(rows.map((r) => [r.function as string, r]));
      expect([...byName.keys()].sort()).toEqual([...calls.keys()].sort());
      for (const [fn, n] of calls) {
        const r = byName.get(fn)!;
        expect(r.calls, fn).toBe(BigInt(n));
        const [total, mean, p50, p99, max] = [r.total_ns, r.mean_ns, r.p50_ns, r.p99_ns, r.max_ns] as bigint[];
        expect(p50! <= p99! && p99! <= max! && mean! <= max! && max! <= total!, `${fn} ${show(r)}`).toBe(true);
        expect(total! / BigInt(n), fn).toBe(mean);
      }
      // div(9, 0) and safeDiv(1, 0) return an error each round, retErr three; mustPositive(-4) never returns.
      const errors = rows.filter((r) => r.errors !== 0n).map((r) => [r.function, r.errors]);
      expect(errors.sort()).toEqual([['main.div', 2n], ['main.retErr', 6n], ['main.safeDiv', 2n]]);
      expect(rows.filter((r) => r.not_returned !== 0n).map((r) => [r.function, r.not_returned])).toEqual([['main.mustPositive', 2n]]);
    }, 120000);
  }
});

describe.skipIf(!canRun)('more calls in flight than the kernel pairing map holds', () => {
  const BLOCKED = 20000; // the map holds 16384 (DEFAULT_PAIRS_CAPACITY)
  const stack = builds.find((b) => b.abi === 'stack' && b.variant === 'normal');
  const newest = builds.filter((b) => b.variant === 'normal').at(-1);
  for (const build of [stack, newest].filter((b): b is FixtureBuild => b !== undefined)) {
    it(`stays bounded, counts the evictions and still pairs every call: Go ${build.toolchain}`, async () => {
      const funcs = build.funcs!;
      const run = await runWeaver(['-f', funcs, '--returns', '--format', 'json', '--', build.path, '-block', String(BLOCKED)], { timeoutMs: 90000 });
      expect(run.code, run.stderr).toBe(0);
      const events = run.stdout
        .split('\n')
        .filter((l) => l.startsWith('{"ts"'))
        .map((l) => parseLosslessJson(l) as Obj)
        .filter((e) => e.function === 'main.block');
      expect(events).toHaveLength(BLOCKED);
      const wrong = events.filter((e) => {
        const id = (e.args as Obj[])[0]!.value as bigint;
        const result = (e.returns as Obj[])[0]!.value as bigint;
        return result !== id * 2n || typeof e.duration_ns !== 'bigint' || e.returned === false;
      });
      expect(wrong.slice(0, 3)).toEqual([]);
      expect(new Set(events.map((e) => (e.args as Obj[])[0]!.value)).size).toBe(BLOCKED);
      const evicted = /(\d+) returns? whose entry the kernel's bounded pairing map had evicted/.exec(run.stderr);
      expect(evicted, run.stderr).not.toBeNull();
      expect(Number(evicted![1])).toBeGreaterThanOrEqual(BLOCKED - 16384);
    }, 120000);
  }
});
