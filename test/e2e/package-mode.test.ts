// End to end, package mode: no functions file; parameter names and types
// come from DWARF. The values must be the ones the fixture passed, exactly
// as in functions-file mode, with the names declared in Go. A stripped
// binary is traced by name, and `weaver list` writes a functions file that
// weaver accepts.

import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { ElfFile } from '../../src/binary/elf/file.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareValue } from '../helpers/expectations.js';
import { fixtureBuild, fixtureBuilds, functionsInFile, newestToolchain, parseExpectLines, type FixtureBuild } from '../helpers/fixtures.js';
import { parseLosslessJson, type LosslessJson } from '../helpers/losslessJson.js';
import { requireBpfOrSkip, runProcess, runWeaver, startTracer } from '../helpers/weaver.js';

const LIMITS = { stringSize: 64, maxElements: 16 };
const PACKAGES = 'main,github.com/acme/shop/cart';
const canRun = requireBpfOrSkip();

interface TracedArg {
  name: string;
  type: string;
  value?: LosslessJson;
  error?: string;
}
interface TracedCall {
  function: string;
  args: TracedArg[] | null;
}

/** Declared parameter names, read from the fixture's Go source: `func name(a int8, b int16)`. */
function declaredNames(build: FixtureBuild): Map<string, string[]> {
  const names = new Map<string, string[]>();
  for (const line of readFileSync(build.funcs!, 'utf8').split('\n')) {
    const m = /^([^#\s][^(]*(?:\([^)]*\)[^(]*)?)\((.*?)\)/.exec(line.replace(/\(\*Cart\)/, '{*Cart}'));
    if (!m) continue;
    const fn = m[1]!.replace('{*Cart}', '(*Cart)');
    const params = m[2]!.split(',').map((p) => p.trim().split(/\s+/)[0]!).filter(Boolean);
    // A method's receiver is its first parameter, named, in the functions file as in DWARF.
    names.set(fn, params);
  }
  return names;
}

async function traceAndRun(build: FixtureBuild, args: string[]) {
  const tracer = await startTracer([build.path, ...args, '--format', 'json']);
  const run = await runProcess(build.path, []);
  expect(run.code, run.stderr).toBe(0);
  const expected = parseExpectLines(run.stdout);
  const wanted = new Set(expected.map((e) => e.function));
  await tracer.waitFor((lines) => lines.filter((l) => wanted.has(String((parseLosslessJson(l) as { function?: string }).function))).length >= expected.length, 10000);
  const result = await tracer.stop();
  expect(result.code, result.stderr).toBe(0);
  const calls = tracer.lines().map((l) => parseLosslessJson(l) as unknown as TracedCall);
  return { calls, expected, wanted, stderr: result.stderr };
}

const builds = canRun ? fixtureBuilds({ fixture: 'types' }).filter((b) => b.variant !== 'stripped') : [];

describe.skipIf(!canRun)('package mode with DWARF', () => {
  for (const build of builds) {
    describe(`Go ${build.toolchain} ${build.variant}`, () => {
      let traced: Awaited<ReturnType<typeof traceAndRun>>;
      beforeAll(async () => {
        traced = await traceAndRun(build, ['--packages', PACKAGES]);
      }, 120_000);

      it('traces every function of the packages, closures and generic instantiations included', () => {
        const seen = new Set(traced.calls.map((c) => c.function));
        for (const fn of traced.wanted) expect(seen, fn).toContain(fn);
        expect(seen).toContain('main.main');
      });

      it('names each argument as the Go source does and decodes the values exactly', () => {
        const names = declaredNames(build);
        const calls = traced.calls.filter((c) => traced.wanted.has(c.function));
        expect(calls.map((c) => c.function)).toEqual(traced.expected.map((e) => e.function));
        const diffs: string[] = [];
        calls.forEach((call, i) => {
          const exp = traced.expected[i]!;
          expect(call.args, call.function).not.toBeNull();
          const args = call.args!;
          expect(args.length, call.function).toBe(exp.args.length);
          const declared = names.get(call.function);
          if (declared && !call.function.includes('[')) expect(args.map((a) => a.name), call.function).toEqual(declared);
          args.forEach((arg, j) => {
            const where = `${call.function} ${arg.name} ${arg.type}`;
            if (arg.error !== undefined) {
              // Only floats in XMM registers may be unreadable.
              if (!/^passed in register X\d+, which eBPF cannot read$/.test(arg.error) || build.abi !== 'register') diffs.push(`${where}: ${arg.error}`);
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

describe.skipIf(!canRun)('stripped binaries', () => {
  it('are traced by name in package mode, saying once that values need DWARF or a functions file', async () => {
    const build = fixtureBuild({ fixture: 'types', toolchain: newestToolchain(), variant: 'stripped' });
    const traced = await traceAndRun(build, ['--packages', PACKAGES]);
    const notes = traced.stderr.split('\n').filter((l) => l.includes('has no DWARF'));
    expect(notes).toEqual([
      `weaver: ${build.path} has no DWARF debug information: tracing calls by name only (argument values need DWARF or a functions file given with -f)`,
    ]);
    const calls = traced.calls.filter((c) => traced.wanted.has(c.function));
    expect(calls.map((c) => c.function)).toEqual(traced.expected.map((e) => e.function));
    for (const c of calls) expect(c.args).toBeNull();
  }, 120_000);
});

describe('weaver list', () => {
  for (const toolchain of canRun ? [...new Set(builds.map((b) => b.toolchain))] : []) {
    it(`writes a functions file that weaver accepts (Go ${toolchain})`, async () => {
      const build = fixtureBuild({ fixture: 'types', toolchain });
      const listed = await runWeaver(['list', build.path, '-p', PACKAGES]);
      expect(listed.code, listed.stderr).toBe(0);
      const file = join(mkdtempSync(join(tmpdir(), 'weaver-list-')), 'funcs.txt');
      writeFileSync(file, listed.stdout);
      // Every function the fixture's own functions file names is listed, none commented out.
      const listedNames = functionsInFile(file);
      for (const fn of functionsInFile(build.funcs!)) expect(listedNames, fn).toContain(fn);
      expect(listed.stdout.split('\n').filter((l) => l.startsWith('#'))).toEqual([]);
      const emitted = await runWeaver([build.path, '-f', file, '--emit', 'c']);
      expect(emitted.code, emitted.stderr).toBe(0);
      expect(emitted.stdout).toContain(`: ${listedNames.length} function(s) in `);
    });
  }

  it('comments out the names of a stripped binary, whose parameter types are unknown', async () => {
    const build = fixtureBuild({ fixture: 'types', toolchain: newestToolchain(), variant: 'stripped' });
    const listed = await runWeaver(['list', build.path, '-p', 'main']);
    expect(listed.code).toBe(0);
    const lines = listed.stdout.trim().split('\n');
    expect(lines).toContain('# main.strASCII(?)');
    expect(lines.every((l) => /^# \S+\(\?\)$/.test(l))).toBe(true);
    expect(listed.stderr).toContain('has no DWARF debug information');
  });
});

describe('a binary with corrupt DWARF', () => {
  it('names the broken section once and falls back to tracing by name', async () => {
    if (!canRun) return;
    const build = fixtureBuild({ fixture: 'types', toolchain: newestToolchain() });
    const bytes = readFileSync(build.path);
    const info = ElfFile.parse(bytes, build.path).section('.debug_info')!;
    // Overwrite the middle of the section: compressed or not, it can no longer be read.
    bytes.fill(0xff, info.offset + Math.floor(info.size / 2), info.offset + Math.floor(info.size / 2) + 64);
    const copy = join(mkdtempSync(join(tmpdir(), 'weaver-dwarf-')), 'types');
    writeFileSync(copy, bytes);
    chmodSync(copy, 0o755);
    const run = await runWeaver([copy, '-p', 'main', '--emit', 'c']);
    expect(run.code, run.stderr).toBe(0);
    const notes = run.stderr.trim().split('\n');
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/^weaver: .*\.debug_info.*; tracing by name only$/);
    // Traced by name only, every function's record is the header alone: one shape serves them all.
    expect(run.stdout).toMatch(/: \d+ function\(s\) in 1 shape\(s\), 0 reader\(s\),/);
  });
});

describe('many functions with the same note', () => {
  const ONE = /^weaver: (\S+) has no RET instruction \(it never returns, or ends in a tail call\); its calls show no return$/;

  it('package mode says functions without a RET in one line with a count, and -v lists each', async () => {
    const build = fixtureBuild({ fixture: 'httpserver', toolchain: newestToolchain() });
    const brief = await runWeaver([build.path, '-p', 'runtime,sync', '--returns', '--emit', 'c']);
    const full = await runWeaver([build.path, '-p', 'runtime,sync', '--returns', '--emit', 'c', '-v']);
    expect(brief.code, brief.stderr).toBe(0);
    expect(full.code, full.stderr).toBe(0);
    const each = full.stderr.split('\n').flatMap((l) => ONE.exec(l)?.slice(1) ?? []);
    const grouped = brief.stderr.split('\n').filter((l) => l.includes('RET instruction'));
    expect(each.length).toBeGreaterThan(20);
    expect(grouped).toEqual([
      `weaver: ${each.length} functions have no RET instruction (they never return, or end in a tail call), so their calls show no return: ${each[0]}, ${each[1]}, ${each[2]} and ${each.length - 3} more (-v lists each)`,
    ]);
    // One line per kind of note (no RET, tail jumps…), not one per function.
    expect(brief.stderr.trim().split('\n').length).toBeLessThan(5);
  });

  it('weaver list says how many it left out in one line, and -v names each', async () => {
    const build = fixtureBuild({ fixture: 'httpserver', toolchain: newestToolchain() });
    const brief = await runWeaver(['list', build.path, '-p', 'runtime,sync']);
    const full = await runWeaver(['list', build.path, '-p', 'runtime,sync', '-v']);
    expect(brief.code, brief.stderr).toBe(0);
    expect(full.stdout).toBe(brief.stdout);
    const named = full.stderr.split('\n').filter((l) => l.startsWith('weaver:   '));
    expect(named.length).toBeGreaterThan(20);
    expect(named).toContain('weaver:   runtime.abort (assembly or an ABI0 wrapper)');
    const summary = `weaver: left out ${named.length} functions that cannot be traced safely (assembly ABI0 wrappers, hot runtime functions; name runtime packages with -p to list theirs`;
    expect(brief.stderr).toBe(`${summary}; -v lists each)\n`);
    expect(full.stderr).toBe(`${summary})\n${named.join('\n')}\n`);
  });
});
