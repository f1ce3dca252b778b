// End to end, functions-file mode: weaver attaches real uprobes to the
// types fixture built by every toolchain (stack ABI and register ABI), the
// fixture calls each function once with known values and says what it
// passed (EXPECT lines), and every argument weaver decoded must equal it.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { argumentLocations } from '../../src/spec/abi/index.js';
import { parseFunctionsFile } from '../../src/spec/funcfile.js';
import type { FunctionSpec } from '../../src/core/gotypes.js';
import { compareValue } from '../helpers/expectations.js';
import { fixtureBuilds, parseExpectLines, type FixtureBuild } from '../helpers/fixtures.js';
import { parseLosslessJson, type LosslessJson } from '../helpers/losslessJson.js';
import { requireBpfOrSkip, runProcess, startTracer } from '../helpers/weaver.js';

const LIMITS = { stringSize: 64, maxElements: 16 };
const canRun = requireBpfOrSkip();

interface TracedCall {
  function: string;
  args: { name: string; type: string; value?: LosslessJson; error?: string; [k: string]: LosslessJson | undefined }[];
  [k: string]: unknown;
}

/** Arguments the register ABI passes (even partly) in XMM registers: eBPF cannot read them. */
function xmmArguments(spec: FunctionSpec, abi: 'stack' | 'register'): Set<number> {
  const out = new Set<number>();
  argumentLocations(spec.params, abi, { hiddenDictionary: spec.hiddenDictionary }).forEach((loc, i) => {
    if (loc.pieces.some((p) => p.location.kind === 'freg')) out.add(i);
  });
  return out;
}

/**
 * The functions file for a build. Stripped Go 1.18–1.20 binaries name every
 * instantiation of a generic function `main.Max[...]` in .gopclntab, so
 * their shape functions cannot be told apart by name: those are left out.
 */
function functionsFileFor(build: FixtureBuild): string {
  const minor = Number(build.toolchain.split('.')[1]);
  if (build.variant !== 'stripped' || minor < 18 || minor > 20) return build.funcs!;
  const path = join(mkdtempSync(join(tmpdir(), 'weaver-funcs-')), 'funcs.txt');
  const lines = readFileSync(build.funcs!, 'utf8').split('\n').filter((l) => !l.includes('[go.shape.'));
  writeFileSync(path, lines.join('\n'));
  return path;
}

async function traceFixture(build: FixtureBuild, funcsFile: string, traced: Set<string>): Promise<{ calls: TracedCall[]; expected: ReturnType<typeof parseExpectLines>; stderr: string }> {
  const tracer = await startTracer([build.path, '-f', funcsFile, '--format', 'json']);
  const run = await runProcess(build.path, []);
  expect(run.code, run.stderr).toBe(0);
  const expected = parseExpectLines(run.stdout).filter((e) => traced.has(e.function));
  await tracer.waitFor((lines) => lines.length >= expected.length, 10000);
  const result = await tracer.stop();
  expect(result.code, result.stderr).toBe(0);
  const calls = tracer.lines().map((l) => parseLosslessJson(l) as unknown as TracedCall);
  return { calls, expected, stderr: result.stderr };
}

const builds = canRun ? fixtureBuilds({ fixture: 'types' }) : [];

describe.skipIf(!canRun)('types fixture, functions-file mode', () => {
  it('covers the stack ABI, the register ABI and every build variant', () => {
    expect(new Set(builds.map((b) => b.abi))).toEqual(new Set(['stack', 'register']));
    expect(new Set(builds.map((b) => b.variant))).toEqual(new Set(['normal', 'stripped', 'pie']));
  });

  for (const build of builds) {
    describe(`Go ${build.toolchain} ${build.variant} (${build.abi} ABI)`, () => {
      let traced: Awaited<ReturnType<typeof traceFixture>>;
      let specs: Map<string, FunctionSpec>;

      beforeAll(async () => {
        const funcsFile = functionsFileFor(build);
        specs = new Map(parseFunctionsFile(readFileSync(funcsFile, 'utf8'), funcsFile).map((s) => [s.name, s]));
        traced = await traceFixture(build, funcsFile, new Set(specs.keys()));
      }, 120_000);

      it('says what it traces once the probes are attached', () => {
        expect(traced.stderr).toMatch(
          new RegExp(`^Tracing ${specs.size} functions in ${build.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(${build.goVersion.replace(/\./g, '\\.')}, ${build.abi} ABI\\)`, 'm'),
        );
      });

      it('reports every call once, in order, with the process that made it', () => {
        expect(traced.calls.map((c) => c.function)).toEqual(traced.expected.map((e) => e.function));
        expect(new Set(traced.calls.map((c) => c.comm))).toEqual(new Set([build.path.split('/').pop()!.slice(0, 15)]));
        for (const c of traced.calls) {
          expect(typeof c.ts === 'bigint' && c.ts > 1_600_000_000_000_000_000n).toBe(true);
          expect(c.goid).toBe(1n); // every call comes from the main goroutine
        }
      });

      it('decodes every argument exactly', () => {
        const diffs: string[] = [];
        traced.calls.forEach((call, i) => {
          const exp = traced.expected[i]!;
          const spec = specs.get(call.function)!;
          const inXmm = build.abi === 'register' ? xmmArguments(spec, build.abi) : new Set<number>();
          expect(call.args.length, call.function).toBe(exp.args.length);
          call.args.forEach((arg, j) => {
            const where = `${call.function} arg ${j} (${arg.name} ${arg.type})`;
            if (inXmm.has(j)) {
              if (arg.value !== null || !/^passed in register X\d+, which eBPF cannot read$/.test(String(arg.error))) {
                diffs.push(`${where}: a float in an XMM register must be unavailable, got ${String(arg.value)}`);
              }
              return;
            }
            diffs.push(...compareValue(arg as unknown as LosslessJson, exp.args[j]!, LIMITS, where));
          });
        });
        expect(diffs).toEqual([]);
      });
    });
  }
});
