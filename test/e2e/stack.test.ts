// End to end, --stack: test/e2e/programs/stack.go calls main.traced through
// three frames from main and from a goroutine, and through main.other; the
// stack recorded at each call must name every caller, in order, at the
// line of its call (found by the `// @name` marker comments in the
// source), under the stack ABI (Go 1.15) and the register ABI (Go 1.27,
// where the leaf's probe sits after its first instruction). Then the
// frame bound and text output (--stack=2) on a PIE build, and -c --by-caller.

import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildGoProgram, goToolchains, type GoToolchain } from '../helpers/goprogram.js';
import { parseLosslessJson, type LosslessJson } from '../helpers/losslessJson.js';
import { REPO_ROOT, requireBpfOrSkip, runWeaver } from '../helpers/weaver.js';

const canRun = requireBpfOrSkip();
const SOURCE = join(REPO_ROOT, 'test/e2e/programs/stack.go');

type Obj = { [key: string]: LosslessJson };

/** Line numbers of the `// @name` markers in the program's source. */
function markers(): Map<string, number> {
  const lines = readFileSync(SOURCE, 'utf8').split('\n');
  const out = new Map<string, number>();
  lines.forEach((l, i) => {
    const m = /\/\/ @([\w-]+)$/.exec(l);
    if (m) out.set(m[1]!, i + 1);
  });
  return out;
}

/** Builds the program; `pie`: position-independent, so frames are named only once the load bias is taken off. */
function build(tc: GoToolchain, pie = false): { bin: string; funcs: string; source: string } {
  let bin = buildGoProgram(tc, SOURCE, 'stack');
  if (pie) {
    const dir = dirname(bin);
    bin = join(dir, 'stack-pie');
    execFileSync(tc.go, ['build', '-buildmode=pie', '-o', bin, '.'], {
      cwd: dir,
      env: { ...process.env, GOCACHE: join(REPO_ROOT, '.cache/gocache', tc.toolchain), GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local', GO111MODULE: 'on', HOME: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }
  onTestFinished(() => rmSync(dirname(bin), { recursive: true, force: true }));
  const funcs = join(dirname(bin), 'funcs.txt');
  writeFileSync(funcs, 'main.traced(n int, m int) int\n');
  return { bin, funcs, source: join(dirname(bin), 'main.go') };
}

describe.skipIf(!canRun)('--stack: the callers of each traced call', () => {
  const toolchains = goToolchains().filter((t) => t.toolchain === '1.15' || t.toolchain === '1.27');
  const at = markers();
  it('has Go 1.15 and 1.27, and the markers', () => {
    expect(toolchains.map((t) => t.abi)).toEqual(['stack', 'register']);
    expect([...at.keys()]).toEqual(['level3', 'other', 'level2', 'level1', 'worker', 'main', 'go', 'main-other']);
  });

  for (const tc of toolchains) {
    it(`names every caller in order, with its line: Go ${tc.toolchain} (${tc.abi} ABI)`, async () => {
      const { bin, funcs, source } = build(tc);
      const run = await runWeaver(['-f', funcs, '--stack', '--format', 'json', '-v', '--', bin], { timeoutMs: 60000 });
      expect(run.code, run.stderr).toBe(0);
      const probe = run.stderr.split('\n').find((l) => l.startsWith('  main.traced+0x'));
      // Register ABI: `cmp; jge` — the probe sits on the jge, after the entry; stack ABI: the entry.
      expect(probe?.startsWith(tc.abi === 'register' ? '  main.traced+0x3 ' : '  main.traced+0x0 '), probe).toBe(true);

      // Frames of the program's own file as `func:line`, the runtime's by name.
      const shown = (frames: Obj[]) => frames.map((f) => (f.file === source ? `${f.func}:${f.line}` : `${f.func}`));
      const events = run.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => parseLosslessJson(l) as Obj);
      const byArg = new Map(events.map((e) => [String((e.args as Obj[])[0]!.value), shown(e.stack as Obj[])]));
      const line = (name: string) => at.get(name)!;
      const levels = [`main.level3:${line('level3')}`, `main.level2:${line('level2')}`, `main.level1:${line('level1')}`];
      // Go 1.17+ runs a goroutine started with arguments through a wrapper at the go statement.
      const wrapper = tc.toolchain === '1.27' ? [`main.main.gowrap1:${line('go')}`] : [];
      const fromMain = [`main.other:${line('other')}`, `main.main:${line('main-other')}`, 'runtime.main', 'runtime.goexit'];
      expect(Object.fromEntries(byArg)).toEqual({
        1: [...levels, `main.main:${line('main')}`, 'runtime.main', 'runtime.goexit'],
        2: [...levels, `main.worker:${line('worker')}`, ...wrapper, 'runtime.goexit'],
        5: fromMain,
        6: fromMain,
      });
      expect(events).toHaveLength(4);
      // Return addresses as linked: the frame's line is that of pc − 1, the call.
      for (const e of events) for (const f of e.stack as Obj[]) expect(f.pc).toMatch(/^0x[0-9a-f]+$/);
    }, 120000);
  }

  it('--stack=2 keeps the two innermost frames, indented under the call in text; a PIE build', async () => {
    const { bin, funcs, source } = build(toolchains[1]!, true);
    expect(readFileSync(bin).readUInt16LE(16)).toBe(3); // ET_DYN
    const run = await runWeaver(['-f', funcs, '--stack=2', '--format', 'text', '--timestamps', 'none', '--', bin], { timeoutMs: 60000 });
    expect(run.code, run.stderr).toBe(0);
    const calls = run.stdout.split('\n').filter((l) => l.startsWith('stack-pie[') || l.startsWith('  at '));
    const frame = (fn: string, marker: string) => `  at ${fn} (${source}:${at.get(marker)})`;
    expect(calls.map((l) => l.replace(/^stack-pie\[\d+\] /, ''))).toEqual([
      'g1 main.traced(n=1, m=10)', frame('main.level3', 'level3'), frame('main.level2', 'level2'),
      expect.stringMatching(/^g\d+ main\.traced\(n=2, m=10\)$/), frame('main.level3', 'level3'), frame('main.level2', 'level2'),
      'g1 main.traced(n=5, m=0)', frame('main.other', 'other'), frame('main.main', 'main-other'),
      'g1 main.traced(n=6, m=0)', frame('main.other', 'other'), frame('main.main', 'main-other'),
    ]);
  }, 120000);

  it('-c --by-caller: one summary row per immediate caller', async () => {
    const { bin, funcs } = build(toolchains[0]!);
    const run = await runWeaver(['-f', funcs, '-c', '--by-caller', '--format', 'json', '--', bin], { timeoutMs: 60000 });
    expect(run.code, run.stderr).toBe(0);
    const summary = parseLosslessJson(run.stdout.split('\n').find((l) => l.startsWith('{"summary"'))!) as { summary: Obj[] };
    const rows = summary.summary.map((r) => [r.function, r.caller, r.calls]).sort((a, b) => String(a[1]).localeCompare(String(b[1])));
    expect(rows).toEqual([
      ['main.traced', 'main.level3', 2n],
      ['main.traced', 'main.other', 2n],
    ]);
  }, 120000);
});
