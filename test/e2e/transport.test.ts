// Both transports end to end: the BPF ring buffer and the per-CPU perf
// buffers deliver the same exact values for calls made on every CPU, in
// time order (both read records CPU by CPU: src/events/reorder.ts sorts them), and
// with --returns each call paired with its own return; when the kernel
// buffer is too small every call is accounted for: reported or counted as
// lost, never silently missing.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGoProgram, goToolchains, runCountingProgram } from '../helpers/goprogram.js';
import { requireBpfOrSkip, runWeaver, startTracer } from '../helpers/weaver.js';

const SOURCE = fileURLToPath(new URL('./programs/transport.go', import.meta.url));

const canRun = requireBpfOrSkip();

/** A JSON line of main.f, with ts exact (nanoseconds since the epoch do not fit a double). */
interface OrderedEvent {
  ts: bigint;
  goid: number;
  args: { value: unknown }[];
  returns?: { value: unknown }[];
  returned?: false;
}

interface TraceRun {
  events: { n: number; label: string }[];
  made: number;
  stderr: string;
  /** From the summary line: events reported and lost. */
  summary: { events: number; lost: number };
}

async function trace(binary: string, funcs: string, flags: string[], perGoroutine: number, goroutines: number): Promise<TraceRun> {
  const tracer = await startTracer([binary, '-f', funcs, '--format', 'json', '-v', ...flags]);
  try {
    const made = await runCountingProgram(binary, [String(perGoroutine), String(goroutines)]);
    // The tail call is the last one made: once it is out, everything before it is too (or lost).
    await tracer.waitFor((lines) => lines.some((l) => l.includes('"tail"')), 20000);
    await new Promise((r) => setTimeout(r, 200));
    const result = await tracer.stop();
    const events = result.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const ev = JSON.parse(line) as { args: { value: unknown }[] };
        return { n: ev.args[0].value as number, label: ev.args[1].value as string };
      });
    const m = /^weaver: (\d+) events?\b[^\n]*?, (?:none lost|(\d+) lost)/m.exec(result.stderr);
    if (!m) throw new Error(`no summary line in:\n${result.stderr}`);
    return { events, made, stderr: result.stderr, summary: { events: Number(m[1]), lost: Number(m[2] ?? 0) } };
  } finally {
    await tracer.stop('SIGKILL');
  }
}

describe.skipIf(!canRun)('transports (root, real uprobes)', () => {
  let dir: string;
  let binary: string;
  let funcs: string;

  beforeAll(() => {
    const tc = goToolchains().find((t) => t.toolchain === '1.19');
    if (!tc) throw new Error('Go 1.19 is not among the project toolchains: run npm run setup');
    dir = mkdtempSync(join(tmpdir(), 'weaver-transport-'));
    binary = buildGoProgram(tc, SOURCE, 'transport');
    funcs = join(dir, 'funcs.txt');
    writeFileSync(funcs, 'main.f(n int, label string)\n');
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['ring', 'BPF ring buffer, records up to 1024 bytes in per-CPU batches'],
    ['perf', 'per-CPU perf buffers'],
    ['auto', 'BPF ring buffer, records up to 1024 bytes in per-CPU batches'], // this machine's kernel has both (src/bpf/features.ts)
  ])('--transport %s delivers every call of 4 goroutines with its exact values', async (transport, says) => {
    const perG = 2000;
    const run = await trace(binary, funcs, ['--transport', transport], perG, 4);
    expect(run.stderr).toContain(`  events through the ${says} of `);
    expect(run.made).toBe(4 * perG + 1);
    expect(run.summary).toEqual({ events: run.made, lost: 0 });
    const seen = run.events.map((e) => `${e.label}:${e.n}`).sort();
    const expected = ['tail:-1'];
    for (let w = 0; w < 4; w++) for (let i = 0; i < perG; i++) expected.push(`w${w}:${i}`);
    expect(seen).toEqual(expected.sort());
  });

  it.each([
    ['ring', false],
    ['ring', true],
    ['perf', false],
    ['perf', true],
  ] as const)('--transport %s gives every call of 4 goroutines once, in time order (--returns: %s)', async (transport, returns) => {
    const perG = 10000;
    const withResult = join(dir, 'with-result.txt');
    writeFileSync(withResult, 'main.f(n int, label string) int\n');
    // A buffer with room for every record even if the reader falls behind on a loaded machine: this is about order, not loss.
    const flags = ['--format', 'json', '--transport', transport, '--buffer-size', '64M', ...(returns ? ['--returns'] : [])];
    const tracer = await startTracer([binary, '-f', withResult, ...flags]);
    try {
      const made = await runCountingProgram(binary, [String(perG), '4']);
      expect(made).toBe(4 * perG + 1);
      expect(await tracer.waitFor((lines) => lines.some((l) => l.includes('"tail"')), 20000)).toBe(true);
      const result = await tracer.stop();
      expect(result.stderr).toMatch(new RegExp(`^weaver: ${made} events? in [^\\n]*, none lost`, 'm'));
      if (returns) expect(result.stderr).toContain(`weaver: returns: ${made} calls paired with their return\n`);
      const events = result.stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => ({ ...(JSON.parse(line) as OrderedEvent), ts: BigInt(/"ts":(\d+)/.exec(line)![1]) }));
      expect(events).toHaveLength(made);
      expect(new Set(events.map((e) => `${e.args[1].value}:${e.args[0].value}`)).size).toBe(made);
      // Events come out at their call, or with --returns at their return,
      // while ts is the call's time: only calls alone come in ts order.
      for (let i = 1; i < events.length && !returns; i++) {
        if (events[i].ts < events[i - 1].ts) throw new Error(`event ${i} (ts ${events[i].ts}) comes after one at ${events[i - 1].ts}`);
      }
      // 4 goroutines, each with its own goid, and main's for the tail call.
      expect(new Set(events.map((e) => e.goid)).size).toBe(5);
      if (returns) {
        // f(n, label) returns n + len(label): each return met its own call.
        for (const e of events) {
          expect(e.returned).toBeUndefined();
          expect(e.returns?.[0].value).toBe((e.args[0].value as number) + (e.args[1].value as string).length);
        }
      }
    } finally {
      await tracer.stop('SIGKILL');
    }
  });

  it.each([
    ['ring', '4096'],
    ['perf', '8192'], // one page per CPU on two CPUs
  ])('--transport %s with a %s-byte buffer: a burst loses calls, and reported + lost = made', async (transport, size) => {
    const run = await trace(binary, funcs, ['--transport', transport, '--buffer-size', size], 100000, 2);
    expect(run.made).toBe(200001);
    expect(run.summary.events).toBe(run.events.length);
    expect(run.summary.lost).toBeGreaterThan(0);
    expect(run.summary.events + run.summary.lost).toBe(run.made);
    expect(run.stderr).toContain(`${run.summary.lost} in the kernel ${transport} buffer`);
    // What did arrive is intact.
    for (const e of run.events) expect(e.label === 'tail' ? e.n === -1 : /^w[01]$/.test(e.label) && e.n >= 0 && e.n < 100000).toBe(true);
  });

  it('refuses a record larger than a perf record can hold, before loading anything', async () => {
    const big = join(dir, 'big.txt');
    writeFileSync(big, 'main.g(ss []string)\n');
    const r = await runWeaver([binary, '-f', big, '--transport', 'perf', '--string-size', '4096', '--max-elements', '10', '--max-event-size', '64k']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/a call of main\.g takes \d+ bytes, more than the 32768 one record can hold with --transport perf/);
    expect(r.stderr).toContain('lower --max-event-size to 32768 or less, or use --transport ring on Linux 5.8 and later');
  });
});
