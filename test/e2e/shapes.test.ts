// Functions whose records are laid out alike share one BPF shape (src/codegen.ts):
// the probe's cookie says which function fired. Every value must still come
// out under its own function, on both ABIs and both attach modes, and a
// second build of the same program (every address moved) must reuse the
// compiled object, since nothing in it names an address.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildGoProgram, goToolchains, type GoToolchain } from '../helpers/goprogram.js';
import { requireBpfOrSkip, runWeaver } from '../helpers/weaver.js';

const SOURCE = fileURLToPath(new URL('./programs/shapes.go', import.meta.url));
const FUNCS = [
  'main.first(n int, s string)',
  'main.second(count int, name string)',
  'main.third(p *main.Point, tag string)',
  'main.fourth(q *main.Point, other string)',
  'main.fifth(xs []string)',
].join('\n');

/** What each call shows in JSON: function and arguments by name. */
const EXPECTED = [
  ['main.first', { n: 1, s: 'one' }],
  ['main.second', { count: 2, name: 'two' }],
  ['main.third', { p: { X: 3, Y: 4, Label: 'p3' }, tag: 'three' }],
  ['main.fourth', { q: { X: 5, Y: 6, Label: 'p4' }, other: 'four' }],
  ['main.fifth', { xs: ['a', 'bc'] }],
];

const canRun = requireBpfOrSkip();
const toolchains = goToolchains();
const byAbi = (abi: GoToolchain['abi']) => toolchains.filter((t) => t.abi === abi).pop();

/** Builds the program with `banner` in place of BUILD, and writes the functions file beside it. */
function build(tc: GoToolchain, banner: string): { binary: string; funcs: string } {
  const dir = mkdtempSync(join(tmpdir(), 'weaver-shapes-'));
  const source = join(dir, 'main.go');
  writeFileSync(source, readFileSync(SOURCE, 'utf8').replace('"BUILD"', JSON.stringify(banner)));
  const funcs = join(dir, 'funcs.txt');
  writeFileSync(funcs, FUNCS + '\n');
  return { binary: buildGoProgram(tc, source, 'shapes'), funcs };
}

interface JsonCall {
  function: string;
  args: { name: string; value: unknown }[];
}

/** A pointer's JSON is {address, value}: keep the value, which is what the test knows. */
function argValues(call: JsonCall): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of call.args) {
    const v = a.value as { address?: string; value?: unknown } | unknown;
    out[a.name] = typeof v === 'object' && v !== null && 'address' in v ? (v as { value: unknown }).value : v;
  }
  return out;
}

async function trace(binary: string, funcs: string, extra: string[], env: NodeJS.ProcessEnv = process.env) {
  const run = await runWeaver(['-f', funcs, '--format', 'json', '-v', ...extra, '--', binary], { env, timeoutMs: 120000 });
  expect(run.code, run.stderr).toBe(0);
  const calls = run.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as JsonCall);
  return { calls, stderr: run.stderr };
}

describe.each([
  ['stack', byAbi('stack')],
  ['register', byAbi('register')],
] as const)('functions sharing shapes, %s ABI', (_abi, tc) => {
  it.runIf(canRun && tc !== undefined).each(['multi', 'single'])('each call shows its own function and values (--attach %s)', async (attach) => {
    const { binary, funcs } = build(tc!, 'one');
    const emitted = await runWeaver([binary, '-f', funcs, '--emit', 'c', '--attach', attach]);
    expect(emitted.code, emitted.stderr).toBe(0);
    expect(emitted.stdout).toContain(`: 5 function(s) in 3 shape(s), 2 reader(s), ${tc!.abi} ABI. */`);
    const { calls } = await trace(binary, funcs, ['--attach', attach]);
    expect(calls.map((c) => [c.function, argValues(c)])).toEqual(EXPECTED);
  });
});

describe('the compile cache across builds', () => {
  const tc = byAbi('register');
  it.runIf(canRun && tc !== undefined)('reuses the object compiled for one build of a program for another build of it', async () => {
    const a = build(tc!, 'build A');
    const b = build(tc!, 'build B');
    expect(readFileSync(a.binary).equals(readFileSync(b.binary))).toBe(false);
    const env = { ...process.env, XDG_CACHE_HOME: mkdtempSync(join(tmpdir(), 'weaver-shapes-cache-')) };
    const first = await trace(a.binary, a.funcs, [], env);
    expect(first.stderr).toMatch(/^weaver: BPF object compiled/m);
    const second = await trace(b.binary, b.funcs, [], env);
    expect(second.stderr).toMatch(/^weaver: BPF object from cache/m);
    expect(second.calls.map((c) => [c.function, argValues(c)])).toEqual(EXPECTED);
  });
});
