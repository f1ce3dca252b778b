// End to end: a cold start that builds its trace spec in a process of its
// own (src/cli/specprocess.ts; WEAVER_SPEC_PROCESS=always here, since the
// fixtures are below the size that chooses it) traces every call as the
// start that builds it in place, with and without DWARF (a stripped binary's
// spec is handed over in a file, not kept) and with its DWARF in a separate
// file, keeps the spec for the next start, and reports the user's mistakes
// with the same sentence and exit status. When the process cannot be made,
// the spec is built in place.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureBuild } from '../helpers/fixtures.js';
import { splitDebugInfo } from '../helpers/debugsplit.js';
import { traceOneRun } from '../helpers/onerun.js';
import { requireBpfOrSkip, runWeaver } from '../helpers/weaver.js';

const canRun = requireBpfOrSkip();

const composites = fixtureBuild({ fixture: 'composites', toolchain: '1.24', variant: 'normal' });
const stripped = fixtureBuild({ fixture: 'composites', toolchain: '1.24', variant: 'stripped' });
const types = fixtureBuild({ fixture: 'types', toolchain: '1.24', variant: 'normal' });

const APART = /^weaver: trace spec built by a process of its own$/m;
const FROM_CACHE = /^weaver: trace spec from cache$/m;

function envWith(mode: 'always' | 'never', cacheHome: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, WEAVER_SPEC_PROCESS: mode, XDG_CACHE_HOME: cacheHome, ...extra };
}

/** Traces `binary` chosen by `select` (-p, or -f and its file) while it runs once. */
function trace(binary: string, select: string[], env: NodeJS.ProcessEnv) {
  const traced = select[0] === '-f' ? new Set(readFileSync(select[1]!, 'utf8').split('\n').map((l) => l.slice(0, l.indexOf('(')))) : null;
  return traceOneRun(binary, [...select, '-v'], env, (fn) => !traced || traced.has(fn));
}

describe.skipIf(!canRun)('a spec built by a process of its own, traced', () => {
  // No named types for the stripped build: it has no DWARF to resolve them through.
  const strippedFuncs = () => {
    const path = join(mkdtempSync(join(tmpdir(), 'weaver-specproc-')), 'funcs.txt');
    writeFileSync(path, ['main.errorValues(plain error, wrapped error, none error)', 'main.anyValues(i any, s any, a any, p any, none any)', 'main.shape(s interface{ Area() int64 })'].join('\n') + '\n');
    return path;
  };
  // Interface values name their dynamic type, func values their function.
  const dwarfValues = [/"type":"\*?main\.\w+"/, /"func":"main\.\w+/];
  it.each([
    ['with DWARF: kept for the next start', () => composites.path, () => ['-p', 'main'], true, dwarfValues],
    // The dynamic types from the runtime's type descriptors, through the table handed over with the spec.
    ['stripped: handed over in a file, not kept', () => stripped.path, () => ['-f', strippedFuncs()], false, [/"type":"\*?main\.\w+"/, /"type":"\*errors\.errorString"/]],
    // Found by its .gnu_debuglink: a separate debug file is looked up anew each run, so the spec is not kept.
    ['its DWARF in a separate file: read by the builder, not kept', () => splitDebugInfo(composites.path, mkdtempSync(join(tmpdir(), 'weaver-specproc-split-')), 'composites').stripped, () => ['-p', 'main'], false, dwarfValues],
  ] as const)('%s', async (_what, binaryOf, select, kept, patterns) => {
    const work = mkdtempSync(join(tmpdir(), 'weaver-specproc-e2e-'));
    const binary = binaryOf();
    const selection = select();
    const here = await trace(binary, selection, envWith('never', join(work, 'here')));
    const apart = await trace(binary, selection, envWith('always', join(work, 'apart')));
    expect(here.stderr).not.toMatch(APART);
    expect(apart.stderr).toMatch(APART);
    // What the builder says while it reads (-v) reaches weaver's stderr.
    if (binary !== composites.path && binary !== stripped.path) expect(apart.stderr).toMatch(/^weaver: debug info from \S+\/composites\.debug \(.*\)$/m);
    expect(apart.calls.length, apart.stderr).toBeGreaterThanOrEqual(apart.expected / 2);
    expect(apart.calls).toEqual(here.calls);
    for (const p of patterns) expect(apart.calls.join('\n')).toMatch(p);

    const again = await trace(binary, selection, envWith('always', join(work, 'apart')));
    expect([FROM_CACHE.test(again.stderr), APART.test(again.stderr)]).toEqual([kept, !kept]);
    expect(again.calls).toEqual(here.calls);
  }, 120_000);
});

describe("the user's mistakes, reported from the spec's process as in place", () => {
  const funcsFile = (lines: string[]) => {
    const dir = mkdtempSync(join(tmpdir(), 'weaver-specproc-'));
    writeFileSync(join(dir, 'funcs.txt'), lines.join('\n') + '\n');
    return join(dir, 'funcs.txt');
  };
  const cases: [string, string[]][] = [
    ['a function the binary does not have', [types.path, '-f', funcsFile(['main.noSuchFunction(n int)'])]],
    ['a line that does not parse', [types.path, '-f', funcsFile(['main.strASCII(s string'])]],
    ['a signature that contradicts the DWARF', [types.path, '-f', funcsFile(['main.strASCII(s int) int64'])]],
    ['a package with no functions', [types.path, '-p', 'no/such/package']],
  ];
  it.each(cases)('%s', async (_what, args) => {
    const cache = mkdtempSync(join(tmpdir(), 'weaver-specproc-cache-'));
    const here = await runWeaver(args, { env: envWith('never', cache) });
    const apart = await runWeaver([...args, '-v'], { env: envWith('always', cache) });
    expect(here.code).not.toBe(0);
    expect(here.stderr).toMatch(/^weaver: /);
    expect(apart.code).toBe(here.code);
    // The same sentence, hint and caret; -v adds the kernel features line before it and the causes after it.
    const lines = apart.stderr.split('\n').filter((l) => !l.startsWith('weaver: kernel features'));
    expect(lines.join('\n').startsWith(here.stderr.trimEnd())).toBe(true);
    // Where the error arose: in the builder (src/cli/specbuilder.ts), not in the process that reported it.
    expect(apart.stderr).toMatch(/^\w*Error: .*\n(\s+at .*\n)*\s+at .*\/specbuilder\.js:\d+:\d+/m);
  }, 60_000);

  it('when its process cannot be made, the spec is built in place and -v says why', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'weaver-specproc-cache-'));
    const args = [types.path, '-f', funcsFile(['main.noSuchFunction(n int)'])];
    const here = await runWeaver(args, { env: envWith('never', cache) });
    const fallback = await runWeaver([...args, '-v'], { env: envWith('always', cache, { TMPDIR: join(cache, 'no-such-dir') }) });
    expect(fallback.code).toBe(here.code);
    expect(fallback.stderr).toMatch(/^weaver: building the trace spec here: no temporary directory \(ENOENT: .*\)$/m);
    expect(fallback.stderr).toContain(here.stderr.trimEnd());
  }, 60_000);
});
