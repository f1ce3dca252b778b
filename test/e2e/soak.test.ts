// The traced program's integrity: the soak fixture (many goroutines, deep
// recursion that grows and copies stacks, panics and recoveries, GC
// pressure) runs a fixed number of rounds with every hot function traced.
// Its own output must be byte-identical to an untraced run, it must exit 0,
// and every call must be accounted for: events shown plus events reported
// lost equal the calls it says it made (per function when none was lost).
// Short here; scripts/soak.sh runs it long (SOAK_ITERATIONS, SOAK_ROUNDS).

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureBuild, newestToolchain } from '../helpers/fixtures.js';
import { requireBpfOrSkip, runProcess, runWeaver } from '../helpers/weaver.js';

const canRun = requireBpfOrSkip();
const FUNCS = fileURLToPath(new URL('../../fixtures/soak/funcs.txt', import.meta.url));
const ITERATIONS = process.env.SOAK_ITERATIONS ?? '12';
const ROUNDS = Number(process.env.SOAK_ROUNDS ?? 1);
const ARGS = ['-iterations', ITERATIONS, '-goroutines', '16', '-depth', '200'];

const dir = mkdtempSync(join(tmpdir(), 'weaver-soak-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The "calls <function> <n>" lines the fixture ends with. */
function callsOf(stdout: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const m of stdout.matchAll(/^calls (\S+) (\d+)$/gm)) calls.set(m[1]!, Number(m[2]));
  return calls;
}

const variants = canRun
  ? [
      { toolchain: '1.15', extra: [] as string[] },
      { toolchain: '1.19', extra: [] as string[] },
      { toolchain: newestToolchain(), extra: [] as string[] },
      { toolchain: '1.19', extra: ['--returns'] },
    ]
  : [];

describe.skipIf(!canRun)('soak: traced output is byte-identical and every call is counted', () => {
  it.each(variants)('go$toolchain $extra', async ({ toolchain, extra }) => {
    const soak = fixtureBuild({ fixture: 'soak', toolchain });
    const untraced = await runProcess(soak.path, ARGS);
    expect(untraced.code).toBe(0);
    const calls = callsOf(untraced.stdout);
    expect(calls.size).toBe(9);
    const totalCalls = [...calls.values()].reduce((a, b) => a + b, 0);

    for (let round = 0; round < ROUNDS; round++) {
      const events = join(dir, `events-${toolchain}-${round}.jsonl`);
      const traced = await runWeaver(
        ['-f', FUNCS, '--format', 'json', '--buffer-size', '64M', '-o', events, ...extra, '--', soak.path, ...ARGS],
        { timeoutMs: 600_000 },
      );
      expect(traced.code, traced.stderr).toBe(0);
      expect(traced.stdout).toBe(untraced.stdout);
      expect(traced.stderr).toMatch(/exited with code 0/);

      const lines = readFileSync(events, 'utf8').split('\n').filter(Boolean);
      // Every line is JSON (this also shows nothing was cut mid-line).
      const seen = new Map<string, number>();
      for (const line of lines) {
        const e = JSON.parse(line) as { function: string };
        seen.set(e.function, (seen.get(e.function) ?? 0) + 1);
      }
      const lost = Number(/(\d+) lost/.exec(traced.stderr)?.[1] ?? 0);
      if (extra.length === 0) {
        expect(lines.length + lost).toBe(totalCalls);
        if (lost === 0) expect(Object.fromEntries(seen)).toEqual(Object.fromEntries(calls));
      } else {
        // With --returns a call is one line once paired; entries and returns may be lost separately.
        expect(lines.length).toBeLessThanOrEqual(totalCalls);
        expect(lines.length + lost).toBeGreaterThanOrEqual(totalCalls);
      }
    }
  }, 900_000);
});
