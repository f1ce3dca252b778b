// weaver's own output failing or stalling, on both transports, with a
// launched Go program that makes an exact number of calls of main.f and
// says how many (test/e2e/programs/flood.go). Whatever happens to the
// output, every call the probes saw is accounted for exactly once:
//   calls made = shown + filtered + after --count + lost in the kernel + not written
// the traced program is never harmed, and signals end weaver promptly.

import { spawn, execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGoProgram, goToolchains } from '../helpers/goprogram.js';
import { requireBpfOrSkip, WEAVER_BIN } from '../helpers/weaver.js';

const SOURCE = fileURLToPath(new URL('./programs/flood.go', import.meta.url));
const canRun = requireBpfOrSkip();

let dir = '';
let flood = '';
let funcs = '';

beforeAll(() => {
  if (!canRun) return;
  dir = mkdtempSync(join(tmpdir(), 'weaver-output-faults-'));
  flood = buildGoProgram(goToolchains().at(-1)!, SOURCE, 'flood');
  funcs = join(dir, 'funcs.txt');
  writeFileSync(funcs, 'main.f(n int, s string) int\n');
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Summary {
  callsSeen: number;
  shown: number;
  filteredOut: number;
  afterCount: number;
  lostInKernel: number;
  lostAtOutput: number;
  malformed: number;
  unreadBytes: number;
  outputError: string | null;
  exitStatus: number;
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** What the reader printed. */
  read: string;
  summary: Summary;
  /** Calls the program made, from its own count. */
  made: number;
  /** From the first signal sent to weaver's exit. */
  msAfterSignal?: number;
}

let runs = 0;

/**
 * Runs weaver in launch mode with its stdout going to `reader` (a shell
 * command); sends `signals` (to weaver) `signalAfterMs` after the Tracing
 * line, 200 ms apart.
 */
async function run(
  args: string[],
  reader: string,
  opts: { calls: number; signals?: NodeJS.Signals[]; signalAfterMs?: number; binaryMode?: boolean; readerNeverReads?: boolean },
): Promise<Run> {
  const summaryPath = join(dir, `summary-${++runs}.json`);
  // A real pipe between them, as a shell makes (Node's own stdio pipes are
  // sockets). The reader gets its own process group, so that the whole
  // pipeline stage (sh and what it runs) can be ended.
  const fifo = join(dir, `pipe-${runs}`);
  execFileSync('mkfifo', [fifo]);
  const readerProc = spawn('sh', ['-c', `exec <'${fifo}'; ${reader}`], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const readerExited = new Promise((r) => readerProc.on('exit', r));
  let read = '';
  readerProc.stdout!.setEncoding('utf8').on('data', (d) => (read += d));
  const pipeIn = openSync(fifo, 'w');
  // Binary mode: the program runs on its own, started first; weaver traces every process of the binary.
  const own = opts.binaryMode ? spawn(flood, [String(opts.calls)], { stdio: ['ignore', 'ignore', 'pipe'] }) : undefined;
  let ownErr = '';
  own?.stderr!.setEncoding('utf8').on('data', (d) => (ownErr += d));
  const target = opts.binaryMode ? [flood] : ['--', flood, String(opts.calls)];
  const weaver = spawn(process.execPath, [WEAVER_BIN, '-f', funcs, '--format', 'json', '--summary-json', summaryPath, ...args, ...target], {
    stdio: ['ignore', pipeIn, 'pipe'],
  });
  // Only weaver holds the pipe's write end now, so the reader sees its end.
  closeSync(pipeIn);
  let stderr = '';
  let signalledAt = 0;
  weaver.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    if (opts.signals && signalledAt === 0 && /^Tracing /m.test(stderr)) {
      signalledAt = -1;
      setTimeout(() => {
        signalledAt = performance.now();
        opts.signals!.forEach((sig, i) => setTimeout(() => weaver.kill(sig), i * 200));
      }, opts.signalAfterMs ?? 1000);
    }
  });
  const killer = setTimeout(() => weaver.kill('SIGKILL'), 30_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => weaver.on('exit', (c, s) => resolve([c, s])));
  const msAfterSignal = signalledAt > 0 ? performance.now() - signalledAt : undefined;
  clearTimeout(killer);
  // What the reader has read by now is what it gets (a slow one is given a
  // moment to finish; one that never reads is not waited for).
  if (!opts.readerNeverReads) await Promise.race([readerExited, new Promise((r) => setTimeout(r, 1500))]);
  try {
    process.kill(-readerProc.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
  await readerExited;
  if (own) {
    own.kill('SIGINT');
    await new Promise((r) => own.on('close', r));
    stderr += ownErr;
  }
  // The program, which shares weaver's stderr, may still be running (after an output failure weaver waits for it).
  await new Promise((r) => (weaver.stderr!.readableEnded ? r(null) : weaver.stderr!.on('end', r)));
  const made = /^calls (\d+)$/m.exec(stderr);
  if (!made) throw new Error(`the program did not say how many calls it made:\n${stderr}`);
  return { code, signal, stderr, read, made: Number(made[1]), msAfterSignal, summary: JSON.parse(readFileSync(summaryPath, 'utf8')) as Summary };
}

/**
 * The accounting every run must satisfy. After an output failure the
 * program runs on untraced, so the probes saw only the calls made before it.
 */
function expectEveryCallCounted(r: Run, ranOnUntraced = false): void {
  const s = r.summary;
  expect(s.unreadBytes, r.stderr).toBe(0);
  if (ranOnUntraced) expect(s.callsSeen, r.stderr).toBeLessThanOrEqual(r.made);
  else expect(s.callsSeen, r.stderr).toBe(r.made);
  expect(s.shown + s.filteredOut + s.afterCount + s.lostInKernel + s.lostAtOutput + s.malformed, r.stderr).toBe(s.callsSeen);
  expect(r.stderr).not.toMatch(/^\s+at |EPIPE, write|Error:/m);
}

function jsonLines(text: string): unknown[] {
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

describe.skipIf(!canRun).each(['ring', 'perf'])('output faults on the %s transport', (transport) => {
  const t = ['--transport', transport];

  it('a slow reader gets every line weaver counts as shown', async () => {
    const r = await run(t, 'sleep 1; cat', { calls: 20000 });
    expect(r.code, r.stderr).toBe(0);
    expectEveryCallCounted(r);
    expect(r.summary.lostAtOutput).toBe(0);
    expect(jsonLines(r.read).length).toBe(r.summary.shown);
  });

  it('| head -1: the program runs to its end, weaver exits 0 and counts what it could not write', async () => {
    const r = await run(t, 'head -1', { calls: 20000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.made).toBe(20000);
    expectEveryCallCounted(r, true);
    expect(jsonLines(r.read).length).toBe(1);
    expect(r.summary.lostAtOutput).toBeGreaterThan(0);
    expect(r.stderr).toMatch(new RegExp(`^weaver: the output was closed; tracing stopped, ${flood} runs on untraced until it ends$`, 'm'));
    expect(r.stderr).toMatch(new RegExp(`^weaver: \\d+ events in .*, \\d+ lost \\(.*\\d+ not written to the output\\); \\d+ calls seen; the output was closed; ${flood} exited with code 0$`, 'm'));
  });

  it('SIGINT mid-flood: the program stops, and each of its calls is shown or counted', async () => {
    const r = await run(t, 'cat', { calls: 0, signals: ['SIGINT'], signalAfterMs: 1500 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.made).toBeGreaterThan(1000);
    expectEveryCallCounted(r);
    expect(jsonLines(r.read).length).toBe(r.summary.shown);
  });

  it('--count 5: five shown, the rest counted as after --count or lost', async () => {
    const r = await run([...t, '--count', '5'], 'cat', { calls: 0 });
    // The flood ends on weaver's SIGTERM and exits 0 after saying how many calls it made.
    expect(r.code, r.stderr).toBe(0);
    expectEveryCallCounted(r);
    expect(r.summary.shown).toBe(5);
    expect(jsonLines(r.read).length).toBe(5);
    expect(r.summary.afterCount).toBeGreaterThan(0);
    expect(r.stderr).toMatch(new RegExp(`^weaver: 5 events shown \\(\\d+ after --count\\) in .*; \\d+ calls seen; --count 5 reached; ${flood} ended by weaver \\(exited with code 0\\)$`, 'm'));
  });
});

describe.skipIf(!canRun).each(['ring', 'perf'])('an --output file on a full disk (%s transport)', (transport) => {
  let mnt = '';
  beforeAll(() => {
    mnt = join(dir, `full-${transport}`);
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]);
  });
  afterAll(() => {
    if (mnt) execFileSync('umount', [mnt]);
  });

  it('exit 74 with one sentence, whole lines only, the program runs to its end, every call counted', async () => {
    const file = join(mnt, 'calls.jsonl');
    const r = await run(['-o', file, '--transport', transport], 'cat', { calls: 3000 });
    expect(r.code, r.stderr).toBe(74);
    expect(r.made).toBe(3000);
    expectEveryCallCounted(r, true);
    const sentence = `cannot write to ${file}: no space left on device (ENOSPC)`;
    expect(r.summary.outputError).toBe(sentence);
    // Said when the disk fills, unless the program had made all its calls
    // before weaver wrote the first line that did not fit: then the summary says it.
    const midRun = `weaver: ${sentence}; tracing stopped, ${flood} runs on untraced until it ends\n`;
    const summary = r.stderr.split('\n').find((l) => / events? in /.test(l)) ?? '';
    expect(r.stderr.includes(midRun) || summary.includes(`; ${sentence}; ${flood} exited with code 0`), r.stderr).toBe(true);
    const text = readFileSync(file, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(jsonLines(text).length).toBe(r.summary.shown);
    expect(r.summary.lostAtOutput).toBeGreaterThan(0);
    rmSync(file);
  });
});

// The stop path differs by transport: the ring buffer says how many bytes
// are unread, perf buffers do not (weaver reads until the count is quiet).
describe.skipIf(!canRun).each(['ring', 'perf'])('signals with a reader that never reads (| sleep 60), %s transport', (transport) => {
  const t = ['--transport', transport];

  it('the first SIGTERM ends weaver within a few seconds, with the summary; the lines not written are counted', async () => {
    const r = await run(t, 'sleep 60', { calls: 0, readerNeverReads: true, signals: ['SIGTERM'] });
    expect(r.code, r.stderr).toBe(0);
    expect(r.msAfterSignal!).toBeLessThan(4000);
    expectEveryCallCounted(r);
    expect(r.summary.lostAtOutput).toBeGreaterThan(0);
  });

  it('binary mode: the same, while the program runs on untraced', async () => {
    const r = await run(t, 'sleep 60', { calls: 0, readerNeverReads: true, signals: ['SIGTERM'], binaryMode: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.msAfterSignal!).toBeLessThan(4000);
    expectEveryCallCounted(r, true);
    expect(r.summary.lostAtOutput).toBeGreaterThan(0);
  });

  it('a second signal ends it within a second of itself', async () => {
    const r = await run(t, 'sleep 60', { calls: 0, readerNeverReads: true, signals: ['SIGTERM', 'SIGINT'] });
    expect(r.code, r.stderr).toBe(0);
    expect(r.msAfterSignal! - 200).toBeLessThan(1000);
    expect(r.stderr).toMatch(/^weaver: \d+ events in .*calls seen/m);
  });
});
