// End to end, leaf functions (no stack check) under both ABIs: weaver
// probes them on the first instruction the kernel emulates when nothing
// before it changes an argument, g or SP, and must then read exactly what
// a probe on the entry would. test/e2e/programs/leaf prints, for each call,
// the event weaver must show; the calls are traced with --returns, so the
// pairing of each entry with its RET (by goroutine and stack depth) is
// checked too. Under the stack ABI compiled leaves load their arguments
// first and keep the entry probe; an assembly leaf there (leafAsm) branches
// first, so the moved probe reads stack arguments at SP+8.

import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it, onTestFinished } from 'vitest';
import { goToolchains, type GoToolchain } from '../helpers/goprogram.js';
import { parseLosslessJson, type LosslessJson } from '../helpers/losslessJson.js';
import { REPO_ROOT, requireBpfOrSkip, runWeaver } from '../helpers/weaver.js';

const canRun = requireBpfOrSkip();
const SOURCE_DIR = join(REPO_ROOT, 'test/e2e/programs/leaf');
const TWO_TRAPS = 'weaver: {which} two traps a call, the kernel single-stepping its probed instruction: {names}';

type Obj = { [key: string]: LosslessJson };

/** Builds the leaf program (Go and assembly) with `tc`. */
function buildLeaf(tc: GoToolchain): string {
  const dir = mkdtempSync(join(tmpdir(), `weaver-leaf-${tc.toolchain}-`));
  for (const f of ['main.go', 'leaf_amd64.s']) copyFileSync(join(SOURCE_DIR, f), join(dir, f));
  writeFileSync(join(dir, 'go.mod'), 'module leaf\n\ngo 1.15\n');
  const cache = join(REPO_ROOT, '.cache/gocache', tc.toolchain);
  mkdirSync(cache, { recursive: true });
  const out = join(dir, 'leaf');
  execFileSync(tc.go, ['build', '-o', out, '.'], {
    cwd: dir,
    env: { ...process.env, GOCACHE: cache, GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local', GO111MODULE: 'on', HOME: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return out;
}

function show(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x));
}

/** The -v line that says where a function's probe is, without its file offset and record size. */
function probeLine(stderr: string, fn: string): string {
  const line = stderr.split('\n').find((l) => l.startsWith(`  ${fn}+0x`));
  if (!line) throw new Error(`no probe line for ${fn} in:\n${stderr}`);
  return line.replace(/ \(file offset 0x[0-9a-f]+, \d+-byte records\)/, '');
}

const FIRST_EMULATED = /^ {2}(\S+)\+0x([0-9a-f]+): no stack check in the prologue \(a leaf function with a small frame, or a NOSPLIT function\); j\w+ at 0x[0-9a-f]+ is the first instruction the kernel emulates \(short conditional jump\), and those before it change no argument register, g, SP or memory$/;

describe.skipIf(!canRun)('leaf functions probed where the kernel emulates the instruction', () => {
  const toolchains = goToolchains();
  it('has a stack-ABI and a register-ABI toolchain', () => {
    expect(toolchains.map((t) => t.abi)).toEqual(expect.arrayContaining(['stack', 'register']));
  });

  for (const tc of toolchains) {
    it(`reads the same arguments, pairs each return, and names the two-trap probes: Go ${tc.toolchain} (${tc.abi} ABI)`, async () => {
      const bin = buildLeaf(tc);
      onTestFinished(() => rmSync(dirname(bin), { recursive: true, force: true }));
      const stack = tc.abi === 'stack';
      const funcs = join(dirname(bin), 'funcs.txt');
      // The assembly leaf takes its arguments on the stack: traced only where the binary's ABI is the stack ABI.
      writeFileSync(
        funcs,
        ['main.leafBranch(n int, m int) int', 'main.leafSum(n int, s string) int', ...(stack ? ['main.leafAsm(n int, s string) int'] : [])].join('\n'),
      );
      const run = await runWeaver(['-f', funcs, '--returns', '--format', 'json', '-v', '--', bin, ...(stack ? ['asm'] : [])], { timeoutMs: 120000 });
      expect(run.code, run.stderr).toBe(0);

      // The launched program's stdout goes to stderr while events go to a piped stdout.
      const expected = run.stderr.split('\n').filter((l) => l.startsWith('EXPECT ')).map((l) => parseLosslessJson(l.slice('EXPECT '.length)) as Obj);
      const events = run.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => parseLosslessJson(l) as Obj);
      expect(expected).toHaveLength(stack ? 11 : 8);
      // One goroutine, so events come in call order; values exactly as passed and returned.
      const seen = events.map((e) => ({
        function: e.function,
        args: (e.args as Obj[]).map((a) => a.value),
        returns: (e.returns as Obj[]).map((r) => r.value),
        goid: e.goid,
      }));
      expect(show(seen)).toBe(show(expected.map((x) => ({ ...x, goid: 1n }))));
      expect(run.stderr).toContain(`weaver: returns: ${expected.length} calls paired with their return`);

      // Where each probe went, as -v says it.
      const branch = probeLine(run.stderr, 'main.leafBranch');
      const sum = probeLine(run.stderr, 'main.leafSum');
      if (stack) {
        // Compiled stack-ABI leaves read an argument from the stack first.
        expect(branch).toMatch(/^ {2}main\.leafBranch\+0x0: .*reads memory, which can fault \(mov\) before any the kernel emulates; the kernel single-steps the entry instruction \(mov\): two traps a call$/);
        // testq r12, r12 (3 bytes), then the je.
        expect(FIRST_EMULATED.exec(probeLine(run.stderr, 'main.leafAsm'))?.slice(1)).toEqual(['main.leafAsm', '3']);
      } else {
        const m = FIRST_EMULATED.exec(branch);
        expect(m, branch).not.toBeNull();
        expect(parseInt(m![2]!, 16)).toBeGreaterThan(0);
      }
      expect(sum).toMatch(/^ {2}main\.leafSum\+0x0: no stack check .*: two traps a call$/);

      const twoTraps = stack
        ? TWO_TRAPS.replace('{which}', '2 functions cost').replace('{names}', 'main.leafBranch (5 events), main.leafSum (3 events)')
        : TWO_TRAPS.replace('{which}', '1 function costs').replace('{names}', 'main.leafSum (3 events)');
      expect(run.stderr.split('\n')).toContain(twoTraps);
    }, 180000);
  }
});
