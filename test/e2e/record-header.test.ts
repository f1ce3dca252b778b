// The header every record starts with (src/spec/record.ts, bpf/weaver.h), read
// straight from the loader for a Go program whose identity is known: pid,
// thread, parent, comm and goroutine id must be exactly the program's, under
// both Go ABIs (g in R14, or through fs_base), and through both ways
// weaver.h reads the task: BTF loads from bpf_get_current_task_btf (Linux
// 5.11+, what this kernel uses) and the helper calls older kernels fall back
// to (forced here with WEAVER_TASK_BTF 0).

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileBpf } from '../../src/bpf/compile.js';
import { RecordDecoder } from '../../src/events/decode.js';
import { BpfObject, forEachRecord } from '../../src/bpf/loader.js';
import { RECORD_KIND } from '../../src/spec/record.js';
import { BATCHES_MAP, FLUSH_PROGRAM } from '../../src/events/session.js';
import { buildTraceSpec } from '../../src/bpf/tracespec.js';
import { buildGoProgram, goToolchains } from '../helpers/goprogram.js';
import { requireBpfOrSkip } from '../helpers/weaver.js';

const SOURCE = fileURLToPath(new URL('./programs/header.go', import.meta.url));
/** Longer than the kernel's 15-character comm, so the name arrives cut. */
const NAME = 'header-fields-target';
const PLAN = { stringSize: 64, maxElements: 16, maxRecordSize: 16384 };

const canRun = requireBpfOrSkip();

interface Seen {
  pid: number;
  tid: number;
  ppid: number;
  comm: string;
  goid: bigint;
  n: unknown;
}

/** Runs the target with main.traced traced by weaver's generated program; returns the records and what the target says of itself. */
async function traceTarget(binary: string, funcs: string, taskBtf: boolean): Promise<{ seen: Seen[]; pid: number; goid: bigint; tid: number }> {
  const spec = buildTraceSpec({ binaryPath: binary, functionsFile: funcs, packages: [], plan: PLAN, attach: 'single' });
  const source = (taskBtf ? '' : '#define WEAVER_TASK_BTF 0\n') + spec.cSource;
  const obj = BpfObject.open((await compileBpf(source)).object, 'weaver');
  const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    obj.load();
    const decoder = new RecordDecoder(spec.targets.map((t) => t.plan), 0n);
    const seen: Seen[] = [];
    // The target makes its 3 calls and then waits: the records reach the
    // reader only because it flushes the per-CPU batches.
    obj.startRingBuffer(
      'weaver_events',
      (batch) => {
        const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
        forEachRecord(batch, (offset, length) => {
          const ev = decoder.decode(view, offset, length);
          seen.push({ pid: ev.pid, tid: ev.tid, ppid: ev.ppid, comm: ev.comm, goid: ev.goid, n: ev.args?.[0]?.value });
        });
      },
      { batchMap: BATCHES_MAP, flushProgram: FLUSH_PROGRAM, batchKind: RECORD_KIND.batch },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    await until(() => out.startsWith('ready\n'));
    for (const p of spec.probes) obj.attachUprobe({ program: p.program, binaryPath: binary, fileOffset: p.attachOffset, pid: child.pid });
    child.stdin.write('\n');
    await until(() => /goid \d+ tid \d+\n/.test(out) && seen.length >= 3);
    const m = /goid (\d+) tid (\d+)/.exec(out)!;
    return { seen, pid: child.pid!, goid: BigInt(m[1]!), tid: Number(m[2]) };
  } finally {
    child.stdin.end();
    obj.close();
  }
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for the target');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.skipIf(!canRun)('record header fields (root, real uprobes)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weaver-header-'));
  const funcs = join(dir, 'funcs.txt');
  const binaries = new Map<string, string>();

  beforeAll(() => {
    writeFileSync(funcs, 'main.traced(n int)\n');
    for (const toolchain of ['1.15', '1.19']) {
      const tc = goToolchains().find((t) => t.toolchain === toolchain);
      if (!tc) throw new Error(`Go ${toolchain} is not among the project toolchains: run npm run setup`);
      binaries.set(toolchain, buildGoProgram(tc, SOURCE, NAME));
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['1.15', 'stack', true],
    ['1.15', 'stack', false],
    ['1.19', 'register', true],
    ['1.19', 'register', false],
  ])('Go %s (%s ABI), task read through BTF: %s', async (toolchain, _abi, taskBtf) => {
    const t = await traceTarget(binaries.get(toolchain)!, funcs, taskBtf);
    const want = (n: number): Seen => ({ pid: t.pid, tid: t.tid, ppid: process.pid, comm: NAME.slice(0, 15), goid: t.goid, n: { kind: 'int', value: BigInt(n) } });
    expect(t.goid).toBeGreaterThan(1n);
    expect(t.seen).toEqual([want(0), want(1), want(2)]);
  });
});
