// Interface arguments of a stripped binary (no DWARF, no .symtab), traced
// with a functions file: their dynamic types come from Go's runtime type
// descriptors read from the ELF, and must show exactly as in the normal
// build of the same program (which names them through DWARF), on every
// toolchain. Addresses differ between the two builds and runs; nothing else
// may. The composites fixture passes errors.New and fmt.Errorf("%w")
// errors, an int, a string, a struct, a pointer to it and nil as
// interface{}, and a struct as a non-empty interface.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureBuild, fixtureBuilds } from '../helpers/fixtures.js';
import { fixtureGoEnv, goToolchains } from '../helpers/goprogram.js';
import { parseLosslessJson, type LosslessJson } from '../helpers/losslessJson.js';
import { REPO_ROOT, requireBpfOrSkip, runWeaver } from '../helpers/weaver.js';

const canRun = requireBpfOrSkip();

// No named types: a stripped binary has no DWARF to resolve them through.
const FUNCTIONS = [
  'main.errorValues(plain error, wrapped error, none error)',
  'main.anyValues(i any, s any, a any, p any, none any)',
  'main.shape(s interface{ Area() int64 })',
].join('\n');

type Obj = { [key: string]: LosslessJson };

async function traceArgs(binary: string, funcs: string): Promise<Map<string, LosslessJson>> {
  const run = await runWeaver(['-f', funcs, '--format', 'json', '--', binary], { timeoutMs: 60000 });
  expect(run.code, run.stderr).toBe(0);
  const calls = new Map<string, LosslessJson>();
  for (const line of run.stdout.split('\n').filter((l) => l.startsWith('{"ts"'))) {
    const event = parseLosslessJson(line) as Obj;
    calls.set(event.function as string, event.args!);
  }
  return calls;
}

/** Addresses differ between builds and runs. */
function withoutAddresses(v: LosslessJson): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x)).replace(/"0x[0-9a-f]+"/g, '"0x…"');
}

/** The dynamic type names of an event's arguments, in order (null for nil). */
function dynamicTypes(args: LosslessJson): (string | null)[] {
  return (args as Obj[]).map((a) => ((a.value as Obj | null)?.type as string | undefined) ?? null);
}

/**
 * The composites fixture as a stripped PIE (-buildmode=pie -ldflags="-s -w"),
 * which scripts/build-fixtures.sh does not build: no symbols, no DWARF, and
 * type descriptors at link-time addresses plus the load bias. Built as the
 * script builds the others (same environment and build cache, so only the
 * link runs).
 */
function buildStrippedPie(toolchain: string, dir: string): string {
  const tc = goToolchains().find((t) => t.toolchain === toolchain);
  if (!tc) throw new Error(`Go ${toolchain} is not among the project toolchains: run npm run setup`);
  const out = join(dir, `composites-stripped-pie-${toolchain}`);
  mkdirSync(join(REPO_ROOT, '.cache', 'gopath'), { recursive: true });
  execFileSync(tc.go, ['build', '-buildmode=pie', '-ldflags=-s -w', '-o', out, './composites'], {
    cwd: join(REPO_ROOT, 'fixtures'),
    env: fixtureGoEnv({ GOROOT: dirname(dirname(tc.go)), GOENV: 'off', HOME: dir }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return out;
}

const toolchains = canRun ? [...new Set(fixtureBuilds({ fixture: 'composites' }).map((b) => b.toolchain))] : [];

describe.skipIf(!canRun)('interface arguments of stripped binaries', () => {
  const dir = canRun ? mkdtempSync(join(tmpdir(), 'weaver-ifaces-')) : '';
  const funcs = join(dir, 'funcs.txt');
  if (canRun) writeFileSync(funcs, FUNCTIONS + '\n');

  it('has builds for every toolchain', () => {
    expect(toolchains.length).toBeGreaterThanOrEqual(4);
  });

  /** Traces `binary` and the normal build of the same toolchain: the same types and values, addresses aside. */
  async function expectAsNormalBuild(binary: string, toolchain: string): Promise<void> {
    const normal = fixtureBuild({ fixture: 'composites', toolchain });
    const fromStripped = await traceArgs(binary, funcs);
    const fromNormal = await traceArgs(normal.path, funcs);
    expect([...fromStripped.keys()].sort()).toEqual(['main.anyValues', 'main.errorValues', 'main.shape']);
    // The types the fixture passes (fixtures/composites/main.go, callInterfaces).
    expect(dynamicTypes(fromStripped.get('main.errorValues')!)).toEqual(['*errors.errorString', '*fmt.wrapError', null]);
    expect(dynamicTypes(fromStripped.get('main.anyValues')!)).toEqual(['int', 'string', 'main.Account', '*main.Account', null]);
    expect(dynamicTypes(fromStripped.get('main.shape')!)).toEqual(['main.Rect']);
    const [i, s, a] = fromStripped.get('main.anyValues') as Obj[];
    expect((i!.value as Obj).value).toBe(12345n);
    expect((s!.value as Obj).value).toBe('hello');
    expect(withoutAddresses((a!.value as Obj).value!)).toBe('{"ID":"8n","Owner":"dave","Balance":"-5n","Active":false}');
    for (const fn of fromNormal.keys()) {
      expect(withoutAddresses(fromStripped.get(fn)!), fn).toBe(withoutAddresses(fromNormal.get(fn)!));
    }
  }

  for (const toolchain of toolchains) {
    it(`Go ${toolchain}: the stripped build shows the same dynamic types and values as the normal one`, async () => {
      await expectAsNormalBuild(fixtureBuild({ fixture: 'composites', toolchain, variant: 'stripped' }).path, toolchain);
    }, 120000);

    it(`Go ${toolchain}: so does a stripped PIE build`, async () => {
      await expectAsNormalBuild(buildStrippedPie(toolchain, dir), toolchain);
    }, 120000);
  }
});
