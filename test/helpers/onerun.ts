// Tracing a fixture's one run and comparing what two starts saw: each call
// as `function(args JSON)`, with what differs between the program's runs
// taken out, in a fixed order.

import { expect } from 'vitest';
import { runProcess, startTracer } from './weaver.js';

export interface OneRun {
  /** Each call, normalized and sorted (goroutines interleave). */
  calls: string[];
  /** EXPECT lines the program printed for the functions traced. */
  expected: number;
  stderr: string;
}

/**
 * Traces `binary` with weaver's `args` (its selection, -v, …) while it runs
 * once. `traced` says which functions' EXPECT lines count (default: all).
 */
export async function traceOneRun(binary: string, args: string[], env: NodeJS.ProcessEnv, traced: (fn: string) => boolean = () => true): Promise<OneRun> {
  const tracer = await startTracer([binary, ...args, '--format', 'json'], { env });
  const run = await runProcess(binary, []);
  expect(run.code, run.stderr).toBe(0);
  const expected = run.stdout.split('\n').filter((l) => l.startsWith('EXPECT ') && traced(l.split(' ')[1]!)).length;
  await tracer.waitFor((lines) => lines.length >= expected, 15_000);
  const result = await tracer.stop();
  expect(result.code, result.stderr).toBe(0);
  const calls = tracer
    .lines()
    .map((l) => JSON.parse(l) as { function: string; args?: unknown[] })
    // Heap addresses (0xc000…) and goroutine IDs the program passes differ between its runs; nothing else may.
    .map((c) => `${c.function}(${JSON.stringify(c.args ?? null).replace(/"0xc0[0-9a-f]{8}"/g, '"heap"').replace(/("name":"goid","type":"int64","value":)\d+/g, '$1"goid"')})`)
    // A map's entries come in an order (and, past --max-elements, a selection) its hash seed picks anew each run.
    // (main.mapV is passed the entries of such a map, in its order.)
    .filter((c) => !c.includes('"type":"map[') && !c.startsWith('main.mapV('))
    .sort();
  return { calls, expected, stderr: result.stderr };
}
