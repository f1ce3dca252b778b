// The ring transport's per-CPU batches (bpf/weaver.h, src/events/reorder.ts), end
// to end: a call made just before the program goes quiet still reaches the
// output (the reader flushes every CPU's batch), also at Ctrl-C; records
// reserved straight in the ring buffer (kernels before 5.10, where the
// reader cannot flush a given CPU) give the same values. That calls from
// both CPUs come out in time order, and paired with their own returns, is
// tested with both transports in transport.test.ts.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileBpf } from '../../src/bpf/compile.js';
import { jsonEvent } from '../../src/output/format/json.js';
import type { CallEvent } from '../../src/core/model.js';
import { TraceSession } from '../../src/events/session.js';
import { buildTraceSpec } from '../../src/bpf/tracespec.js';
import { buildGoProgram, goToolchains, runCountingProgram } from '../helpers/goprogram.js';
import { requireBpfOrSkip, startTracer } from '../helpers/weaver.js';

const TRANSPORT = fileURLToPath(new URL('./programs/transport.go', import.meta.url));
const HEADER = fileURLToPath(new URL('./programs/header.go', import.meta.url));

const canRun = requireBpfOrSkip();

interface JsonEvent {
  ts: bigint;
  args: { value: unknown }[];
}

/** JSON lines, with ts exact (nanoseconds since the epoch do not fit a double). */
const parse = (stdout: string) =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => ({ ...(JSON.parse(line) as JsonEvent), ts: BigInt(/"ts":(\d+)/.exec(line)![1]) }));

describe.skipIf(!canRun)('per-CPU record batches (root, real uprobes)', () => {
  let dir: string;
  let transport: string;
  let header: string;
  let funcs: string;

  beforeAll(() => {
    const tc = goToolchains().find((t) => t.toolchain === '1.19');
    if (!tc) throw new Error('Go 1.19 is not among the project toolchains: run npm run setup');
    dir = mkdtempSync(join(tmpdir(), 'weaver-batches-'));
    transport = buildGoProgram(tc, TRANSPORT, 'transport');
    header = buildGoProgram(tc, HEADER, 'header');
    funcs = join(dir, 'funcs.txt');
    writeFileSync(funcs, 'main.f(n int, label string)\n');
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * weaver tracing main.traced in the header program, which after "ready"
   * waits for a line on stdin, makes 3 calls, prints its goroutine and
   * thread ids and waits for EOF. `go()` sends the line.
   */
  async function traceHeaderProgram() {
    const tracedFuncs = join(dir, 'traced.txt');
    writeFileSync(tracedFuncs, 'main.traced(n int)\n');
    const tracer = await startTracer([header, '-f', tracedFuncs, '--format', 'json']);
    const child = spawn(header, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    return {
      tracer,
      child,
      ready: () => until(() => out.startsWith('ready\n')),
      go: () => child.stdin.write('\n'),
      calledAll: () => /goid \d+ tid \d+\n/.test(out),
    };
  }

  it('shows calls made just before the program goes quiet, while it waits', async () => {
    const { tracer, child, ready, go } = await traceHeaderProgram();
    try {
      await ready();
      go();
      // Three records, far fewer than fill a batch; the target now waits for EOF.
      const shown = await tracer.waitFor((lines) => lines.filter((l) => l.includes('"main.traced"')).length === 3, 10000);
      expect(shown).toBe(true);
      expect(child.exitCode).toBeNull();
      const events = parse(tracer.stdout());
      expect(events.map((e) => e.args[0].value)).toEqual([0, 1, 2]);
    } finally {
      child.stdin.end();
      await tracer.stop();
    }
  });

  it("Ctrl-C right after calls that are still in their CPU's batch shows them", async () => {
    const { tracer, child, ready, go, calledAll } = await traceHeaderProgram();
    try {
      await ready();
      // Long enough idle for the reader to flush at its slowest (160 ms).
      await new Promise((r) => setTimeout(r, 1000));
      go();
      await until(calledAll, 10000, 1);
      const result = await tracer.stop('SIGINT');
      expect(parse(result.stdout).map((e) => e.args[0].value)).toEqual([0, 1, 2]);
      expect(result.stderr).toMatch(/^weaver: 3 events in [^\n]*, none lost/m);
    } finally {
      child.stdin.end();
      await tracer.stop('SIGKILL');
    }
  });

  it.each([true, false])('the same values with records batched (%s) or reserved one by one in the ring buffer', async (ringBatches) => {
    const spec = buildTraceSpec({
      binaryPath: transport,
      functionsFile: funcs,
      packages: [],
      plan: { stringSize: 64, maxElements: 16, maxRecordSize: 16384 },
      ringBatches,
    });
    expect(spec.ringBatches).toBe(ringBatches);
    expect(spec.cSource).toContain(`#define WEAVER_BATCH_MAX_RECORD ${ringBatches ? 1024 : 0}\n`);
    const events: CallEvent[] = [];
    const session = TraceSession.start(spec, (await compileBpf(spec.cSource)).object, {
      bufferSize: 1 << 22,
      onEvents: (batch) => events.push(...batch),
    });
    try {
      const made = await runCountingProgram(transport, ['3000', '2']);
      await until(() => events.some((e) => e.function === 'main.f' && labelOf(e) === 'tail'));
      expect(session.stats().dropped).toBe(0n);
      expect(events).toHaveLength(made);
      const seen = events.map((e) => `${labelOf(e)}:${JSON.parse(jsonEvent(e)).args[0].value}`).sort();
      const want = ['tail:-1'];
      for (const w of ['w0', 'w1']) for (let i = 0; i < 3000; i++) want.push(`${w}:${i}`);
      expect(seen).toEqual(want.sort());
    } finally {
      session.close();
    }
  });
});

const labelOf = (e: CallEvent): string => JSON.parse(jsonEvent(e)).args[1].value;

async function until(cond: () => boolean, ms = 10_000, everyMs = 10): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
