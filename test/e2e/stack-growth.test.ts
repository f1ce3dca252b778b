// Stack growth must not duplicate events: when Go's stack check fails, the
// function calls morestack and runs again from its entry, so a probe on the
// entry fires twice for one call. weaver's probe sits on the stack check's
// jump and reports only the pass that runs the body. A program recursing
// in several goroutines (each stack grows 8 KiB → 1 MiB) counts its calls;
// weaver must report each (goroutine, depth) exactly once, on the stack
// ABI (Go 1.15) and the register ABI.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGoProgram, goToolchains, type GoToolchain, runCountingProgram } from '../helpers/goprogram.js';
import { requireBpfOrSkip, startTracer } from '../helpers/weaver.js';

const SOURCE = fileURLToPath(new URL('./programs/stackgrowth.go', import.meta.url));
const DEPTH = 3000;
const GOROUTINES = 4;
const CALLS = GOROUTINES * (DEPTH + 1);

const canRun = requireBpfOrSkip();
const toolchains = goToolchains();
const wanted: { abi: GoToolchain['abi']; tc: GoToolchain | undefined }[] = [
  { abi: 'stack', tc: toolchains.find((t) => t.abi === 'stack') },
  { abi: 'register', tc: toolchains.find((t) => t.toolchain === '1.19') ?? toolchains.find((t) => t.abi === 'register') },
];
if (canRun && !process.env.CI) {
  for (const w of wanted) if (!w.tc) console.warn(`stack-growth: no ${w.abi}-ABI Go toolchain (run scripts/toolchains.sh); skipping it`);
}

interface DeepCall {
  goid: number;
  n: number;
  label: string;
}

async function traceDeep(binary: string, funcs: string, extra: string[]): Promise<{ calls: DeepCall[]; reported: number; stderr: string }> {
  const tracer = await startTracer([binary, '-f', funcs, '--format', 'json', '-v', ...extra]);
  try {
    const reported = await runCountingProgram(binary, [String(DEPTH), String(GOROUTINES)]);
    // Wait for at least every call, then a little longer so duplicates would show.
    await tracer.waitFor((lines) => lines.length >= reported, 20000);
    await new Promise((r) => setTimeout(r, 300));
    const result = await tracer.stop();
    const calls = result.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const ev = JSON.parse(line) as { function: string; goid: number; args: { name: string; value: unknown }[] };
        expect(ev.function).toBe('main.deep');
        return { goid: ev.goid, n: ev.args[0].value as number, label: ev.args[1].value as string };
      });
    return { calls, reported, stderr: result.stderr };
  } finally {
    await tracer.stop('SIGKILL');
  }
}

for (const { abi, tc } of wanted) {
  describe.skipIf(!canRun || (!tc && !process.env.CI))(`stack growth, ${abi} ABI${tc ? ` (Go ${tc.toolchain})` : ''}`, () => {
    let dir: string;
    let binary: string;
    let funcs: string;

    beforeAll(() => {
      if (!tc) throw new Error(`no ${abi}-ABI Go toolchain: run scripts/toolchains.sh`);
      dir = mkdtempSync(join(tmpdir(), 'weaver-stackgrowth-'));
      binary = buildGoProgram(tc, SOURCE, 'stackgrowth');
      funcs = join(dir, 'funcs.txt');
      writeFileSync(funcs, 'main.deep(n int, label string)\n');
    });
    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('reports every call exactly once, with the probe after the stack check', async () => {
      const { calls, reported, stderr } = await traceDeep(binary, funcs, []);
      expect(reported).toBe(CALLS);
      expect(stderr).toMatch(/^ {2}main\.deep\+0x[1-9a-f][0-9a-f]* \(.*\): jbe at 0x[0-9a-f]+ ends the stack check/m);
      expect(stderr).toMatch(/^weaver: \d+ events\b.*, none lost/m);
      expect(calls).toHaveLength(reported);
      // Each goroutine (told apart by its label) called deep(n) once for n = DEPTH … 0.
      const byLabel = new Map<string, number[]>();
      for (const c of calls) byLabel.set(c.label, [...(byLabel.get(c.label) ?? []), c.n]);
      expect([...byLabel.keys()].sort()).toEqual(Array.from({ length: GOROUTINES }, (_, g) => `g${g}`).sort());
      for (const ns of byLabel.values()) {
        expect(ns.sort((a, b) => a - b)).toEqual(Array.from({ length: DEPTH + 1 }, (_, i) => i));
      }
    });

    it('double-counts the restarted calls with --probe-placement entry (what the placement prevents)', async () => {
      const { calls, reported, stderr } = await traceDeep(binary, funcs, ['--probe-placement', 'entry']);
      expect(stderr).toMatch(/^ {2}main\.deep\+0x0 /m);
      // Each goroutine's stack grows at least 5 times (8 KiB to ≥ 256 KiB).
      expect(calls.length).toBeGreaterThanOrEqual(reported + 5 * GOROUTINES);
    });
  });
}
