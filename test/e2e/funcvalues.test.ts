// Func values shown by name, as Delve does: weaver reads the code pointer
// (the first word of the funcval a func value points to) in BPF, takes off
// a PIE's load bias there, and names it from the binary's function table:
// a named function, a closure (its compiler name), a method value (its -fm
// wrapper), nil, a func field behind a pointer, and a func result. Go 1.15
// (stack ABI) and the newest toolchain (register ABI, normal and PIE).

import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildGoProgram, oldestAndNewestToolchains } from '../helpers/goprogram.js';
import { REPO_ROOT, requireBpfOrSkip, runWeaver } from '../helpers/weaver.js';

const SOURCE = fileURLToPath(new URL('./programs/funcvalues.go', import.meta.url));
const canRun = requireBpfOrSkip();
const toolchains = oldestAndNewestToolchains();

/** The text lines weaver prints, without the process prefix. */
const EXPECTED_TEXT = [
  'main.apply(f=main.barfoo, n=1) = 2',
  'main.apply(f=main.main.func1, n=2) = 2',
  'main.apply(f=main.(*Counter).Add-fm, n=3) = 3',
  'main.apply(f=nil, n=4) = -4',
  'main.applyOps(o=&{Name:"ops" Fn:main.main.func1}, n=5) = 5',
  'main.pick(i=1) = main.barfoo',
];

function buildPie(source: string, toolchain: (typeof toolchains)[number]): string {
  const binary = buildGoProgram(toolchain, source, 'funcvalues');
  const pie = `${binary}-pie`;
  execFileSync(toolchain.go, ['build', '-buildmode=pie', '-o', pie, '.'], {
    cwd: dirname(binary),
    env: { ...process.env, GOCACHE: join(REPO_ROOT, '.cache/gocache', toolchain.toolchain), GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local', GO111MODULE: 'on', HOME: dirname(binary) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return pie;
}

describe.runIf(canRun).each(toolchains)('func values on Go $toolchain', (tc) => {
  const binary = buildGoProgram(tc, SOURCE, 'funcvalues');
  // PIE (the load bias taken off in BPF) on the register ABI build; both on the stack ABI would add time, not coverage.
  const pie = tc.abi === 'register' ? buildPie(SOURCE, tc) : binary;
  const funcs = ['main.apply', 'main.applyOps', 'main.pick'];
  const filter = (text: string) =>
    text
      .split('\n')
      .map((l) => l.replace(/^\S+\[\d+\] g\d+ /, '').replace(/\s+\[[^\]]*\]$/, ''))
      .filter((l) => funcs.some((f) => l.startsWith(`${f}(`)));

  it.each(pie === binary ? [['normal', binary]] : [
    ['normal', binary],
    ['PIE', pie],
  ])('%s build: text names each function', async (_variant, path) => {
    const r = await runWeaver(['-p', 'main', '--returns', '--format', 'text', '--timestamps', 'none', '--no-color', '--', path], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    // Launched with events on a pipe, the program's own output goes to stderr.
    expect(r.stderr).toContain('2 2 3 -4 5 7\n');
    expect(filter(r.stdout)).toEqual(EXPECTED_TEXT);
  });

  it('JSON: the address and "func", nil as null; --depth 0 keeps the address only', async () => {
    const r = await runWeaver(['-p', 'main', '--format', 'json', '--', pie], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    type Arg = { name: string; value: unknown; func?: string };
    const calls = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { function: string; args: Arg[] });
    const f = calls.filter((c) => c.function === 'main.apply').map((c) => c.args[0]!);
    expect(f.map((a) => a.func ?? null)).toEqual(['main.barfoo', 'main.main.func1', 'main.(*Counter).Add-fm', null]);
    expect(f.map((a) => typeof a.value === 'string' && /^0x[0-9a-f]+$/.test(a.value))).toEqual([true, true, true, false]);
    expect(f[3]!.value).toBe(null);
    // Nested in a struct behind a pointer: {"value", "func"}.
    const ops = calls.find((c) => c.function === 'main.applyOps')!.args[0]!.value as { value: { Fn: { value: string; func: string } } };
    expect(ops.value.Fn.func).toBe('main.main.func1');
    expect(ops.value.Fn.value).toMatch(/^0x[0-9a-f]+$/);
    const shallow = await runWeaver(['-p', 'main', '--depth', '0', '--format', 'json', '--', binary], { timeoutMs: 60_000 });
    const first = shallow.stdout.split('\n').map((l) => (l.startsWith('{') ? JSON.parse(l) : null)).find((c) => c?.function === 'main.apply');
    expect(first.args[0].value).toMatch(/^0x[0-9a-f]+$/);
    expect(first.args[0].func).toBe(undefined);
  });
});
