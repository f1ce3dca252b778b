// Which processes weaver traces, and when it stops waiting for them
// (test/e2e/programs/children.go: level 0 runs its own binary as level 1,
// which runs it as level 2, each calling main.f(level, "child") once).
// Launch mode traces the one process it started, not those it execs, as the
// README says; binary mode traces every process running the binary,
// children included. In binary mode a removed binary only warns while a
// process still runs it, and weaver ends by itself once none does. Neither
// depends on the transport, so the default one is used.

import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGoProgram, goToolchains } from '../helpers/goprogram.js';
import { requireBpfOrSkip, runProcess, runWeaver, startTracer } from '../helpers/weaver.js';

const SOURCE = fileURLToPath(new URL('./programs/children.go', import.meta.url));
const canRun = requireBpfOrSkip();

let dir = '';
let binary = '';
let funcs = '';

beforeAll(() => {
  if (!canRun) return;
  dir = mkdtempSync(join(tmpdir(), 'weaver-processes-'));
  binary = buildGoProgram(goToolchains().at(-1)!, SOURCE, 'children');
  funcs = join(dir, 'funcs.txt');
  writeFileSync(funcs, 'main.f(n int, s string) int\n');
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Level → pid, from the program's "level L pid P" lines. */
function levels(out: string): Map<number, number> {
  return new Map([...out.matchAll(/^level (\d+) pid (\d+)$/gm)].map((m) => [Number(m[1]), Number(m[2])]));
}

/** Each call of main.f as its process and first argument. */
function calls(jsonLines: string[]): { pid: number; n: number }[] {
  return jsonLines.map((l) => {
    const ev = JSON.parse(l) as { pid: number; args: { value: number }[] };
    return { pid: ev.pid, n: ev.args[0]!.value };
  });
}

describe.skipIf(!canRun)('processes of the traced binary', () => {
  it('launch mode traces the process it started, not the ones that process execs', async () => {
    const out = join(dir, 'launch.jsonl');
    const r = await runWeaver(['-f', funcs, '--format', 'json', '-o', out, '--', binary, '0']);
    expect(r.code, r.stderr).toBe(0);
    const pids = levels(r.stdout);
    expect([...pids.keys()].sort()).toEqual([0, 1, 2]);
    expect(calls(readFileSync(out, 'utf8').split('\n').filter(Boolean))).toEqual([{ pid: pids.get(0), n: 0 }]);
  });

  it('binary mode traces every process running the binary, children included', async () => {
    const t = await startTracer([binary, '-f', funcs, '--format', 'json']);
    const run = await runProcess(binary, ['0']);
    expect(run.code, run.stderr).toBe(0);
    const pids = levels(run.stdout);
    expect(await t.waitFor((l) => l.length >= 3)).toBe(true);
    const r = await t.stop();
    expect(r.code, r.stderr).toBe(0);
    expect(calls(t.lines()).sort((a, b) => a.n - b.n)).toEqual([0, 1, 2].map((n) => ({ pid: pids.get(n), n })));
  });

  it('binary mode, the file removed: a warning, the running process stays traced, and weaver ends once it exits', async () => {
    const path = join(dir, 'held');
    copyFileSync(binary, path);
    const held = spawn(path, ['hold'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const heldExit = new Promise<number | null>((r) => held.on('exit', (code) => r(code)));
    await new Promise<void>((r) => held.stdout!.setEncoding('utf8').on('data', (d: string) => d.includes('ready') && r()));
    const t = await startTracer([path, '-f', funcs, '--format', 'json']);
    try {
      expect(await t.waitFor((l) => l.length >= 5)).toBe(true);
      unlinkSync(path);
      const warning = `weaver: ${path} was removed; processes already running it are still traced, and weaver ends once none is left\n`;
      const warned = Date.now() + 5000;
      while (!t.stderr().includes(warning) && Date.now() < warned) await new Promise((r) => setTimeout(r, 25));
      expect(t.stderr()).toContain(warning);
      const seen = t.lines().length;
      expect(await t.waitFor((l) => l.length >= seen + 5)).toBe(true);
      expect(t.child.exitCode).toBe(null);
      held.kill('SIGTERM');
      expect(await heldExit).toBe(0);
      const started = performance.now();
      // SIGCONT changes nothing: this only waits for weaver to end by itself.
      const r = await t.stop('SIGCONT');
      expect(performance.now() - started).toBeLessThan(3000);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(
        new RegExp(`^weaver: \\d+ events in [\\d.]+m?s, none lost; ${path} was removed and no process runs the traced file any more: nothing is left to trace$`, 'm'),
      );
      expect(new Set(calls(t.lines()).map((c) => `${c.pid} ${c.n}`))).toEqual(new Set([`${held.pid} -1`]));
    } finally {
      held.kill('SIGKILL');
      await t.stop('SIGKILL');
    }
  });
});
