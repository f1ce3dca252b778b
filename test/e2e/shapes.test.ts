// Functions whose records are laid out alike share one BPF shape (src/bpf/codegen.ts):
// the probe's cookie says which function fired. Every value must still come
// out under its own function, on both ABIs and both attach modes, and a
// second build of the same program (every address moved) must reuse the
// compiled object, since nothing in it names an address.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildGoProgram, goToolchains, type GoToolchain } from '../helpers/goprogram.js';
import { WEAVER_BIN, requireBpfOrSkip, runWeaver } from '../helpers/weaver.js';

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
    // --no-cache neither reads nor writes it.
    const fresh = { ...process.env, XDG_CACHE_HOME: mkdtempSync(join(tmpdir(), 'weaver-shapes-nocache-')) };
    const uncached = await trace(b.binary, b.funcs, ['--no-cache'], fresh);
    expect(uncached.stderr).toMatch(/^weaver: BPF object compiled\n/m);
    expect(uncached.calls.map((c) => [c.function, argValues(c)])).toEqual(EXPECTED);
    expect(readdirSync(fresh.XDG_CACHE_HOME!)).toEqual([]);
  });
});

describe('a trace compiled in several units', () => {
  const PACKAGES = 'main,net/http,net';
  it.runIf(canRun)('joins the units into one object whose dispatchers all run: httpserver -p main,net/http,net', async () => {
    const binary = join(fileURLToPath(new URL('../../fixtures/build/go1.27/httpserver', import.meta.url)));
    const emitted = await runWeaver([binary, '-p', PACKAGES, '--emit', 'c']);
    expect(emitted.code, emitted.stderr).toBe(0);
    const units = Number(/Compile unit 1 of (\d+)\./.exec(emitted.stdout)?.[1]);
    expect(units).toBeGreaterThanOrEqual(2);
    // Which unit's dispatcher serves which function: main's and net/http's must be in different ones.
    const unitOf = (fn: string) => emitted.stdout.split('Compile unit ').findIndex((u) => u.includes(`: ${fn}`) || u.includes(`, ${fn}`));
    const out = join(mkdtempSync(join(tmpdir(), 'weaver-units-')), 'calls.jsonl');
    const child = spawn(process.execPath, [WEAVER_BIN, '-p', PACKAGES, '-o', out, '--', binary, '-exit-after', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const listening = new Promise<string>((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (d) => {
        stdout += d;
        const m = /^LISTENING (\S+)$/m.exec(stdout);
        if (m) resolve(m[1]!);
      });
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const addr = await Promise.race([listening, exited.then(() => { throw new Error(`weaver ended first: ${stderr}`); })]);
    for (const path of ['/teapot', '/items/7']) await (await fetch(`http://${addr}${path}?q=x`)).text();
    // The third request ends the server, which may close before it answers.
    await fetch(`http://${addr}/done`).then((r) => r.text(), () => '');
    expect(await exited, stderr).toBe(0);
    const calls = readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as JsonCall);
    const handled = calls.filter((c) => c.function === 'main.handleRequest').map(argValues).slice(0, 2);
    expect(handled).toEqual([
      { method: 'GET', path: '/teapot', status: 418, query: 'x', userAgentLen: expect.any(Number) },
      { method: 'GET', path: '/items/7', status: 200, query: 'x', userAgentLen: expect.any(Number) },
    ]);
    // Calls came through every dispatcher's unit.
    const seen = [...new Set(calls.map((c) => c.function))];
    expect(seen.length).toBeGreaterThan(20);
    const unitsSeen = new Set(seen.map(unitOf).filter((u) => u > 0));
    const dispatcherUnits = emitted.stdout.split('Compile unit ').filter((u) => u.includes('bpf_get_attach_cookie(ctx)')).length;
    expect(dispatcherUnits).toBeGreaterThanOrEqual(2);
    expect(unitsSeen.size).toBe(dispatcherUnits);
    // Each reader is compiled once: defined in one unit, declared where others call it.
    const defined = [...emitted.stdout.matchAll(/^WEAVER_SHARED __attribute__\(\(noinline\)\) int (weaver_v\d+)\(/gm)].map((m) => m[1]);
    expect(defined.length).toBeGreaterThan(20);
    expect(new Set(defined).size).toBe(defined.length);
    expect(emitted.stdout).toMatch(/^extern int weaver_v\d+\(struct weaver_area_\d+ \*img, struct weaver_area_\d+ \*sub(, u64 bias)?\);$/m);
  });
});
