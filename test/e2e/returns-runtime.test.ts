// --returns on the runtime (`-p main,runtime,sync --depth 0`): a frame that
// goes without a return record counts as "unwound by a panic" only when a
// panic unwound it. A program that never panics (string compares, maps,
// locks, channels, goroutines parking) must report none, though
// runtime.memequal and its kind leave through a JMP to another function as
// well as by RET, and the scheduler abandons frames on g0. The same program
// panicking and recovering K times must count exactly the frames those
// panics unwound: main.boom and runtime.gopanic once each a panic, and
// runtime.(*_panic).nextDefer too from Go 1.22, where it starts the recovery.
// Go 1.15 (stack ABI) and the newest toolchain (register ABI), on the ring
// buffer and on per-CPU perf buffers, which deliver a goroutine's records
// out of order when it moves between CPUs: the counts must be the same.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildGoProgram, oldestAndNewestToolchains, type GoToolchain } from '../helpers/goprogram.js';
import { requireBpfOrSkip, runWeaver } from '../helpers/weaver.js';

const SOURCE = fileURLToPath(new URL('./programs/runtimecalls.go', import.meta.url));
const PANICS = 5;

const canRun = requireBpfOrSkip();
const toolchains = oldestAndNewestToolchains();

interface Trace {
  lostInKernel: number;
  returns: { paired: number; unwoundByPanic: number; leftUntraced: number; stillRunningAtExit: number; evicted: number; returnsWithoutEntry: number };
  /** Calls shown as unwound by a panic, by function. */
  unwound: Record<string, number>;
  programOut: string;
}

async function trace(binary: string, transport: string, panics: number): Promise<Trace> {
  const dir = mkdtempSync(join(tmpdir(), 'weaver-returns-runtime-'));
  const out = join(dir, 'calls.jsonl');
  const summary = join(dir, 'summary.json');
  const r = await runWeaver(
    ['--transport', transport, '-p', 'main,runtime,sync', '--depth', '0', '--returns', '--format', 'json', '-o', out, '--summary-json', summary, '--', binary, '200', String(panics)],
    { timeoutMs: 90_000 },
  );
  expect(r.code, r.stderr).toBe(0);
  const unwound: Record<string, number> = {};
  for (const line of readFileSync(out, 'utf8').split('\n')) {
    if (!line) continue;
    const ev = JSON.parse(line) as { function: string; why?: string };
    if (ev.why === 'replaced' || ev.why === 'unwound') unwound[ev.function] = (unwound[ev.function] ?? 0) + 1;
  }
  const { returns, lostInKernel } = JSON.parse(readFileSync(summary, 'utf8'));
  return { lostInKernel, returns, unwound, programOut: r.stdout };
}

const cases = toolchains.flatMap((tc) => (['ring', 'perf'] as const).map((transport) => ({ tc, transport, toolchain: tc.toolchain })));
// One build per toolchain, shared by both transports.
const binaries = new Map<string, string>();
const binaryFor = (tc: GoToolchain) => binaries.get(tc.toolchain) ?? binaries.set(tc.toolchain, buildGoProgram(tc, SOURCE, 'runtimecalls')).get(tc.toolchain)!;

describe.runIf(canRun).each(cases)('--returns -p main,runtime,sync on Go $toolchain, $transport transport', ({ tc, transport }) => {
  const binary = binaryFor(tc);

  it('a program that never panics: none unwound by a panic, memequal and the scheduler included', async () => {
    const t = await trace(binary, transport, 0);
    // A lost return would look like a frame a panic unwound.
    expect(t.lostInKernel).toBe(0);
    expect(t.programOut).toBe('total 342 recovered 0\n');
    expect(t.unwound).toEqual({});
    expect(t.returns.unwoundByPanic).toBe(0);
    // The calls were there: thousands paired, and some left by a jump or on g0.
    expect(t.returns.paired).toBeGreaterThan(1000);
    expect(t.returns.leftUntraced).toBeGreaterThan(0);
  });

  it(`${PANICS} recovered panics: exactly the frames they unwound`, async () => {
    const t = await trace(binary, transport, PANICS);
    expect(t.lostInKernel).toBe(0);
    expect(t.programOut).toBe(`total 342 recovered ${PANICS}\n`);
    const [major, minor] = tc.toolchain.split('.').map(Number);
    const expected: Record<string, number> = { 'main.boom': PANICS, 'runtime.gopanic': PANICS };
    if (major > 1 || minor >= 22) expected['runtime.(*_panic).nextDefer'] = PANICS;
    expect(t.unwound).toEqual(expected);
    expect(t.returns.unwoundByPanic).toBe(Object.values(expected).reduce((a, b) => a + b, 0));
  });
});
