// Mutation fuzzer over real Go builds: bytes flipped in the ELF header,
// program and section headers, .gopclntab, .go.buildinfo, DWARF, the symbol
// table and the start of .text. Every mutant must either be read, or give
// one WeaverError sentence, within a second; a raw exception, a hang or an
// out-of-memory fails the run. The suite runs a short fixed-seed sample;
// scripts/fuzz-binaries.sh runs many more with FUZZ_CASES and FUZZ_SEED.

import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureBuild } from '../helpers/fixtures.js';
import { runWeaver } from '../helpers/weaver.js';
import { WeaverError } from '../../src/core/errors.js';
import { buildTraceSpec } from '../../src/bpf/tracespec.js';
import {
  buildTypesUncompressed,
  describeMutations,
  mutate,
  readBinaryEverywhere,
  regionsOf,
  rng,
  sentenceProblems,
  type Region,
} from './robust-support.js';

const CASES = Number(process.env.FUZZ_CASES ?? 40);
const SEED = Number(process.env.FUZZ_SEED ?? 20240607);
const LIMIT_MS = 1000;
/** FUZZ_ONLY=348,407 replays those cases of a run (same seed and count) alone. */
const ONLY = (process.env.FUZZ_ONLY ?? '').split(',').filter(Boolean).map(Number);
const CLI_CASES = Number(process.env.FUZZ_CLI_CASES ?? 3);

interface Base {
  label: string;
  path: string;
  funcs: string;
}

/** What `--emit c` must do with a binary: the first line of the C, or the error sentence, and the exit code. */
function emitOutcome(path: string, funcs: string): { code: number; first: string } {
  try {
    const spec = buildTraceSpec({ binaryPath: path, functionsFile: funcs, packages: ['main'], plan: { stringSize: 64, maxElements: 16, maxRecordSize: 16384 } });
    return { code: 0, first: spec.cSource.split('\n')[0]! };
  } catch (err) {
    if (!(err instanceof WeaverError)) throw err;
    return { code: err.exitCode, first: `weaver: ${err.message}` };
  }
}

function withoutGenerics(funcs: string): string {
  const out = join(dir, 'funcs-no-generics.txt');
  writeFileSync(out, readFileSync(funcs, 'utf8').split('\n').filter((l) => !l.includes('[')).join('\n'));
  return out;
}

function bases(): Base[] {
  const plain = buildTypesUncompressed();
  const go115 = fixtureBuild({ fixture: 'types', toolchain: '1.15' });
  const stripped = fixtureBuild({ fixture: 'types', toolchain: '1.19', variant: 'stripped' });
  const pie = fixtureBuild({ fixture: 'types', toolchain: '1.22', variant: 'pie' });
  return [
    { label: 'go1.19, uncompressed DWARF', ...plain },
    { label: 'go1.15 (Go 1.2 pclntab, stack ABI)', path: go115.path, funcs: go115.funcs! },
    // Without .symtab, Go 1.18–1.20 shorten type arguments in .gopclntab names, so generic functions are left out.
    { label: 'go1.19 stripped (pclntab only)', path: stripped.path, funcs: withoutGenerics(stripped.funcs!) },
    { label: 'go1.22 PIE', path: pie.path, funcs: pie.funcs! },
  ];
}

const dir = mkdtempSync(join(tmpdir(), 'weaver-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(bases())('mutated $label', (base) => {
  it(`${CASES} mutants (seed ${SEED}): read, or one WeaverError sentence within ${LIMIT_MS} ms`, async () => {
    const original = readFileSync(base.path);
    const regions: Region[] = regionsOf(original, base.path);
    // The original reads cleanly: a failure below is the mutation's doing.
    expect(readBinaryEverywhere(base.path, base.funcs).result).toBe('ok');

    const random = rng(SEED ^ base.label.length);
    const failures: string[] = [];
    const tally: Record<string, number> = {};
    const target = join(dir, 'mutant');
    /** A few rejected mutants, kept to run through the real CLI below. */
    const rejected: { path: string; expected: { code: number; first: string } }[] = [];
    for (let i = 0; i < CASES; i++) {
      const { bytes, mutations } = mutate(original, regions, random);
      if (ONLY.length && !ONLY.includes(i)) continue;
      writeFileSync(target, bytes);
      const what = `case ${i}: ${describeMutations(mutations)}`;
      let outcome;
      try {
        outcome = readBinaryEverywhere(target, base.funcs);
      } catch (err) {
        failures.push(`${what}: raw ${(err as Error)?.name}: ${(err as Error)?.message}`);
        continue;
      }
      tally[outcome.result] = (tally[outcome.result] ?? 0) + 1;
      if (ONLY.length) console.log(what, outcome);
      // Other tests share the two cores: a slow case counts only if it is slow three times.
      if (outcome.ms > LIMIT_MS) {
        const times = [outcome.ms, readBinaryEverywhere(target, base.funcs).ms, readBinaryEverywhere(target, base.funcs).ms];
        if (Math.min(...times) > LIMIT_MS) failures.push(`${what}: took ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
      }
      if (outcome.message && rejected.length < CLI_CASES) {
        const kept = join(dir, `rejected-${base.label.replace(/\W+/g, '_')}-${i}`);
        copyFileSync(target, kept);
        rejected.push({ path: kept, expected: emitOutcome(kept, base.funcs) });
      }
      if (outcome.message) {
        const problems = sentenceProblems(outcome.message);
        if (problems.length) failures.push(`${what}: message ${problems.join(', ')}: ${outcome.message}`);
      }
    }
    if (process.env.FUZZ_VERBOSE) console.log(base.label, tally);
    expect(failures).toEqual([]);

    // `weaver <mutant> -f funcs --emit c` ends as buildTraceSpec does in process: the same
    // sentence and exit code (or the C program), and never a stack trace.
    for (const r of rejected) {
      const run = await runWeaver([r.path, '-f', base.funcs, '--emit', 'c'], { timeoutMs: 10_000 });
      const first = run.code === 0 ? (run.stdout.split('\n')[0] ?? '') : run.stderr.split('\n')[0];
      expect({ code: run.code, first, stack: /^\s+at /m.test(run.stderr) }).toEqual({ ...r.expected, stack: false });
    }
  });
});
