// The traced program's life while weaver runs, and weaver's stdout going
// away: the program exits and is started again, crashes, runs as several
// processes (all traced, or only the --pid one), has its file replaced by
// rename or rewritten in place; weaver's reader closes the pipe (| head -1)
// or stops reading. Weaver keeps going or says what happened, and never
// harms a program.

import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { fixtureBuild } from '../helpers/fixtures.js';
import { requireBpfOrSkip, runProcess, startTracer, WEAVER_BIN, type Tracer } from '../helpers/weaver.js';
import { sleep, startProgram, type Program } from './faults-support.js';

const canRun = requireBpfOrSkip();
const FUNCS = fileURLToPath(new URL('../../fixtures/soak/funcs.txt', import.meta.url));
const STEADY = ['-forever', '-goroutines', '2', '-iterations', '1', '-depth', '20', '-pause', '2ms'];
const FLOOD = ['-forever', '-goroutines', '4', '-depth', '50'];
const soak = canRun ? fixtureBuild({ fixture: 'soak', toolchain: '1.19' }).path : '';
const dir = mkdtempSync(join(tmpdir(), 'weaver-life-'));

const programs: Program[] = [];
const tracers: Tracer[] = [];
afterEach(async () => {
  for (const t of tracers.splice(0)) await t.stop('SIGKILL');
  for (const p of programs.splice(0)) {
    if (p.running()) p.child.kill('SIGKILL');
    await p.exited;
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function program(path: string, args: string[]): Promise<Program> {
  const p = await startProgram(path, args, 'READY');
  programs.push(p);
  return p;
}

async function tracer(args: string[]): Promise<Tracer> {
  const t = await startTracer(args);
  tracers.push(t);
  return t;
}

/** pid → number of events from it, from JSON lines. */
function eventsByPid(lines: string[]): Map<number, number> {
  const by = new Map<number, number>();
  for (const l of lines) {
    const pid = (JSON.parse(l) as { pid: number }).pid;
    by.set(pid, (by.get(pid) ?? 0) + 1);
  }
  return by;
}

describe.skipIf(!canRun)('the traced program comes and goes', () => {
  it('exits and is started again: both runs are traced, weaver keeps going', async () => {
    const goroutines = fixtureBuild({ fixture: 'goroutines', toolchain: '1.19' }).path;
    const t = await tracer([goroutines, '-p', 'main', '--format', 'json']);
    const first = await runProcess(goroutines, ['-quiet']);
    const second = await runProcess(goroutines, ['-quiet']);
    expect([first.code, second.code]).toEqual([0, 0]);
    // 8 goroutines × 50 calls of main.work each run, plus main.worker and main.main.
    const perRun = (l: string[]) => l.filter((x) => x.includes('"function":"main.work"')).length;
    expect(await t.waitFor((l) => perRun(l) >= 800, 10_000)).toBe(true);
    expect(t.child.exitCode).toBe(null);
    const work = t.lines().filter((l) => l.includes('"function":"main.work"'));
    expect([...eventsByPid(work).values()]).toEqual([400, 400]);
    const r = await t.stop();
    expect(r.code).toBe(0);
  });

  it('crashes while traced with --pid: weaver says so and ends by itself', async () => {
    const p = await program(soak, STEADY);
    const t = await tracer([soak, '-f', FUNCS, '--format', 'json', '--pid', String(p.pid)]);
    expect(await t.waitFor((l) => l.length > 50)).toBe(true);
    // A fault the Go runtime cannot recover from: it prints the goroutines and exits 2.
    p.child.kill('SIGSEGV');
    expect(await p.exited).toBe(2);
    const started = performance.now();
    const r = await t.stop('SIGCONT');
    expect(performance.now() - started).toBeLessThan(5000);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^weaver: \\d+ events? in [\\d.]+m?s, .*process ${p.pid} exited$`, 'm'));
  });

  it('several processes of one binary: all are traced, or only the --pid one', async () => {
    const a = await program(soak, STEADY);
    const b = await program(soak, STEADY);
    const all = await tracer([soak, '-f', FUNCS, '--format', 'json']);
    const one = await tracer([soak, '-f', FUNCS, '--format', 'json', '--pid', String(b.pid)]);
    expect(await all.waitFor((l) => { const m = eventsByPid(l); return (m.get(a.pid) ?? 0) > 100 && (m.get(b.pid) ?? 0) > 100; })).toBe(true);
    expect(await one.waitFor((l) => l.length > 200)).toBe(true);
    await all.stop();
    await one.stop();
    expect(new Set(eventsByPid(all.lines()).keys())).toEqual(new Set([a.pid, b.pid]));
    expect(new Set(eventsByPid(one.lines()).keys())).toEqual(new Set([b.pid]));
  });
});

describe.skipIf(!canRun)('the traced file changes on disk', () => {
  it('replaced by rename: a warning; the running process stays traced, a new one is not', async () => {
    const path = join(dir, 'renamed');
    copyFileSync(soak, path);
    const old = await program(path, STEADY);
    const t = await tracer([path, '-f', FUNCS, '--format', 'json']);
    expect(await t.waitFor((l) => l.length > 50)).toBe(true);
    copyFileSync(soak, `${path}.new`);
    renameSync(`${path}.new`, path);
    expect(await waitFor(() => t.stderr().includes(`weaver: ${path} was replaced on disk; processes already running it are still traced, ones started from now on are not (start weaver again to trace them), and weaver ends once none is left`))).toBe(true);
    const fresh = await program(path, STEADY);
    const before = eventsByPid(t.lines()).get(old.pid) ?? 0;
    await sleep(1000);
    const r = await t.stop();
    expect(r.code).toBe(0);
    const after = eventsByPid(t.lines());
    expect(after.get(old.pid)!).toBeGreaterThan(before);
    expect(after.has(fresh.pid)).toBe(false);
  });

  it('rewritten in place: tracing stops at once, and the new program runs unharmed', async () => {
    const path = join(dir, 'rewritten');
    copyFileSync(soak, path);
    const t = await tracer([path, '-f', FUNCS, '--format', 'json']);
    // Another program written over the traced one, same inode (as cp or some builds do).
    copyFileSync(fixtureBuild({ fixture: 'goroutines', toolchain: '1.19' }).path, path);
    const r = await t.stop('SIGCONT');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(`; ${path.replaceAll('/', '\\/')} was changed on disk while traced; its probes were removed at once, since they now sit in different code \\(start weaver again to trace the new program\\)$`, 'm'),
    );
    // Before this check weaver's stale probes crashed it with SIGSEGV.
    const run = await runProcess(path, ['-quiet']);
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null });
  });
});

describe.skipIf(!canRun)('weaver\'s own output', () => {
  it('closed by the reader (| head -1): a clean exit that says so', async () => {
    const p = await program(soak, STEADY);
    void p;
    const r = await runProcess('bash', ['-c', `set -o pipefail; "${process.execPath}" "${WEAVER_BIN}" "${soak}" -f "${FUNCS}" --format json | head -1`], { timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean).length).toBe(1);
    expect(JSON.parse(r.stdout).function).toMatch(/^main\./);
    expect(r.stderr).toMatch(/^weaver: \d+ events? in [\d.]+m?s, .*the output was closed$/m);
    expect(r.stderr).not.toMatch(/EPIPE|^\s+at /m);
  });

  it('a reader that stops reading: memory stays bounded, the lost events are counted', async () => {
    await program(soak, FLOOD);
    const w = spawn(process.execPath, [WEAVER_BIN, soak, '-f', FUNCS, '--format', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    w.stderr!.setEncoding('utf8').on('data', (d) => (stderr += d));
    w.stdout!.pause();
    let maxRssMb = 0;
    const sample = setInterval(() => {
      try {
        const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${w.pid}/status`, 'utf8'))![1]);
        maxRssMb = Math.max(maxRssMb, kb / 1024);
      } catch {
        // exited
      }
    }, 100);
    await sleep(8000);
    const exited = new Promise<number | null>((resolve) => w.on('close', (code) => resolve(code)));
    w.kill('SIGINT');
    let read = 0;
    w.stdout!.on('data', (d: Buffer) => (read += d.length));
    w.stdout!.resume();
    const code = await exited;
    clearInterval(sample);
    expect(code).toBe(0);
    expect(read).toBeGreaterThan(0);
    // The output writer holds at most 16 MiB; the rest is the decoder's and V8's working set.
    expect(maxRssMb).toBeLessThan(600);
    // The kernel's share, when there is one, names its buffer and the flag that would hold more:
    // "(14835 in the kernel ring buffer of 8M: --buffer-size 16M would hold more, 252873 not written …)".
    const m = /, (\d+) lost \((?:(\d+) in the kernel [^,]*, )?(\d+) not written to the output\)/.exec(stderr);
    expect(m, stderr).not.toBe(null);
    expect(Number(m![3])).toBeGreaterThan(0);
    expect(Number(m![1])).toBe(Number(m![2] ?? 0) + Number(m![3]));
  }, 60_000);
});

async function waitFor(predicate: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (predicate()) return true;
    await sleep(25);
  }
  return predicate();
}
