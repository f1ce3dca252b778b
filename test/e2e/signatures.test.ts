// End to end: functions-file signatures are checked against the binary
// before anything is attached (DWARF where there is some, .gopclntab's
// argument frame where not), --force traces a wrong line anyway with a
// warning, methods give the right values with their receiver written first
// or left out, `weaver list` writes receivers and each result once, and an
// array cut to --max-elements says so. On the types fixture built by Go
// 1.15 (stack ABI), 1.19, 1.24 and the newest toolchain (register ABI).

import { mkdtempSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareValue } from '../helpers/expectations.js';
import { fixtureBuild, newestToolchain, parseExpectLines, type FixtureBuild } from '../helpers/fixtures.js';
import { parseLosslessJson, type LosslessJson } from '../helpers/losslessJson.js';
import { WEAVER_BIN, requireBpfOrSkip, runProcess, runWeaver, startTracer } from '../helpers/weaver.js';

const TOOLCHAINS = ['1.15', '1.19', '1.24', newestToolchain()];
const canRun = requireBpfOrSkip();

interface TracedCall {
  function: string;
  args: { name: string; type: string; value?: LosslessJson; [k: string]: LosslessJson | undefined }[];
}

/** A directory holding funcs.txt with these lines. */
function funcsDir(lines: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'weaver-sig-'));
  writeFileSync(join(dir, 'funcs.txt'), lines.join('\n') + '\n');
  return dir;
}

/** Traces the fixture's one run with this functions file; the calls weaver printed and the fixture's EXPECT lines for them. */
async function trace(build: FixtureBuild, lines: string[], extra: string[] = []): Promise<{ calls: TracedCall[]; expected: ReturnType<typeof parseExpectLines>; stderr: string }> {
  const dir = funcsDir(lines);
  const tracer = await startTracer([build.path, '-f', join(dir, 'funcs.txt'), '--format', 'json', ...extra]);
  const run = await runProcess(build.path, []);
  expect(run.code, run.stderr).toBe(0);
  const names = new Set(lines.map((l) => l.slice(0, l.search(/\((?!\*)/))));
  const expected = parseExpectLines(run.stdout).filter((e) => names.has(e.function));
  await tracer.waitFor((l) => l.length >= expected.length, 10000);
  const result = await tracer.stop();
  expect(result.code, result.stderr).toBe(0);
  return { calls: tracer.lines().map((l) => parseLosslessJson(l) as unknown as TracedCall), expected, stderr: result.stderr };
}

function valueDiffs(calls: TracedCall[], expected: ReturnType<typeof parseExpectLines>): string[] {
  expect(calls.map((c) => c.function)).toEqual(expected.map((e) => e.function));
  return calls.flatMap((call, i) => {
    expect(call.args.length, call.function).toBe(expected[i]!.args.length);
    return call.args.flatMap((arg, j) => compareValue(arg as unknown as LosslessJson, expected[i]!.args[j]!, { stringSize: 64, maxElements: 16 }, `${call.function} ${arg.name}`));
  });
}

describe('a signature that contradicts the binary is refused before anything is attached', () => {
  const LINE = 'main.strASCII(s int) int64';
  const caret = `  ${LINE}\n  ${' '.repeat(14)}^\n`;
  const dwarfSays = (abi: 'stack' | 'register') =>
    abi === 'stack'
      ? 'parameter s of main.strASCII is string (16 bytes, on the stack at +0) in the binary, not int (8 bytes, on the stack at +0)'
      : 'parameter s of main.strASCII is string (16 bytes, in AX, BX) in the binary, not int (8 bytes, in AX)';

  for (const toolchain of TOOLCHAINS) {
    it(`Go ${toolchain}, with DWARF: the parameter, what the binary says and the line to write`, async () => {
      const build = fixtureBuild({ fixture: 'types', toolchain });
      const dir = funcsDir([LINE]);
      const run = await runProcess(process.execPath, [WEAVER_BIN, build.path, '-f', 'funcs.txt', '--emit', 'c'], { cwd: dir });
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toBe(
        `weaver: funcs.txt:1:15: ${dwarfSays(build.abi)}\n${caret}  write instead: main.strASCII(s string) (int64) (or trace it anyway with --force)\n`,
      );
    });

    it(`Go ${toolchain}, stripped: the argument frame .gopclntab keeps`, async () => {
      const build = fixtureBuild({ fixture: 'types', toolchain, variant: 'stripped' });
      const dir = funcsDir([LINE]);
      const run = await runProcess(process.execPath, [WEAVER_BIN, build.path, '-f', 'funcs.txt', '--emit', 'c'], { cwd: dir });
      expect(run.code).toBe(1);
      // Stack ABI: string + int64 result = 24 bytes, the line 16; register ABI: the string's spill slots, 16, the line 8.
      const [frame, needed] = build.abi === 'stack' ? [24, 16] : [16, 8];
      expect(run.stderr).toBe(
        `weaver: funcs.txt:1:1: main.strASCII's argument frame is ${frame} bytes in the binary (.gopclntab), but the line needs ${needed}\n` +
          `  ${LINE}\n  ^\n` +
          '  check the number and types of its parameters (the binary has no debug information to say more): string and interface values take 16 bytes, slices 24, ints and pointers 8 (or trace it anyway with --force)\n',
      );
    });
  }

  it('Go 1.15, stripped, no result list: the line is checked only in part, and weaver says so', async () => {
    const build = fixtureBuild({ fixture: 'types', toolchain: '1.15', variant: 'stripped' });
    const dir = funcsDir(['main.strASCII(s int)']);
    const run = await runProcess(process.execPath, [WEAVER_BIN, build.path, '-f', 'funcs.txt', '--emit', 'c'], { cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe(
      'weaver: 1 line checked only in part (main.strASCII): without DWARF, an argument frame larger than the parameters may hold results or a parameter left out; write the results (() for none) to have them checked exactly\n',
    );
  });

  // The count points at the first parameter past the binary's: qty, the fourth.
  it('a receiver written twice is a parameter too many', async () => {
    const build = fixtureBuild({ fixture: 'types', toolchain: newestToolchain() });
    const line = 'github.com/acme/shop/cart.(*Cart).Add(c *github.com/acme/shop/cart.Cart, c2 *github.com/acme/shop/cart.Cart, item string, qty int64)';
    const dir = funcsDir([line]);
    const run = await runProcess(process.execPath, [WEAVER_BIN, build.path, '-f', 'funcs.txt', '--emit', 'c'], { cwd: dir });
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n')[0]).toBe(
      'weaver: funcs.txt:1:123: github.com/acme/shop/cart.(*Cart).Add takes 3 parameters in the binary (c *github.com/acme/shop/cart.Cart, item string, qty int64), not 4',
    );
  });
});

describe.skipIf(!canRun)('--force traces a contradicting line anyway, with a warning', () => {
  for (const toolchain of ['1.15', newestToolchain()]) {
    it(`Go ${toolchain}`, async () => {
      const build = fixtureBuild({ fixture: 'types', toolchain });
      const { calls, stderr } = await trace(build, ['main.strASCII(s int)'], ['--force']);
      const abi = build.abi;
      const said = abi === 'stack' ? 'string (16 bytes, on the stack at +0) in the binary, not int (8 bytes, on the stack at +0)' : 'string (16 bytes, in AX, BX) in the binary, not int (8 bytes, in AX)';
      expect(stderr).toContain(`weaver: warning: `);
      expect(stderr).toMatch(new RegExp(`^weaver: warning: \\S*funcs\\.txt:1:15: parameter s of main\\.strASCII is ${said.replace(/[()+.]/g, '\\$&')}; tracing it anyway \\(--force\\): its values may be wrong$`, 'm'));
      expect(calls.map((c) => [c.function, c.args.map((a) => [a.name, a.type])])).toEqual([['main.strASCII', [['s', 'int']]]]);
    }, 60_000);
  }
});

describe.skipIf(!canRun)('methods: the receiver written first or left out gives the same, right values', () => {
  const ADD_NEW = 'github.com/acme/shop/cart.(*Cart).Add(c *github.com/acme/shop/cart.Cart, item string, qty int64)';
  const ADD_OLD = 'github.com/acme/shop/cart.(*Cart).Add(item string, qty int64)';
  const DESCRIBE = 'github.com/acme/shop/cart.Cart.Describe(c struct{ID int64; Owner string; Items int64}, prefix string)';

  for (const toolchain of TOOLCHAINS) {
    for (const [spelling, add] of [['written first', ADD_NEW], ['left out', ADD_OLD]] as const) {
      it(`Go ${toolchain}, pointer receiver ${spelling}`, async () => {
        const build = fixtureBuild({ fixture: 'types', toolchain });
        const { calls, expected } = await trace(build, [add, DESCRIBE]);
        expect(expected.map((e) => e.function)).toEqual(['github.com/acme/shop/cart.(*Cart).Add', 'github.com/acme/shop/cart.Cart.Describe']);
        expect(calls[0]!.args.map((a) => a.name)).toEqual(spelling === 'written first' ? ['c', 'item', 'qty'] : ['recv', 'item', 'qty']);
        expect(valueDiffs(calls, expected)).toEqual([]);
      }, 60_000);
    }
  }
});

describe.skipIf(!canRun)('an array cut to --max-elements says so', () => {
  it(`Go ${newestToolchain()}: [4]int32 with --max-elements 2`, async () => {
    const build = fixtureBuild({ fixture: 'types', toolchain: newestToolchain() });
    const { calls } = await trace(build, ['main.arrays(a [2]float64, b [3]uint8, c [4]int32, d [2]string, e [1]int16)'], ['--max-elements', '2']);
    const c = calls[0]!.args[2]!;
    expect([c.name, c.value, c.len, c.truncated]).toEqual(['c', [-1n, 0n], 4n, true]);
    // [2]string is not cut, so it says nothing more.
    expect(Object.keys(calls[0]!.args[3]!)).toEqual(['name', 'type', 'value']);
  }, 60_000);
});

describe('weaver list', () => {
  it.each(TOOLCHAINS)('Go %s: writes a pointer receiver first, named', async (toolchain) => {
    const build = fixtureBuild({ fixture: 'types', toolchain });
    const run = await runWeaver(['list', build.path, '-p', 'github.com/acme/shop/cart']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.split('\n')).toContain('github.com/acme/shop/cart.(*Cart).Add(c *github.com/acme/shop/cart.Cart, item string, qty int64)');
  });

  it.each(['1.22', '1.24'])('Go %s: each result once for a function with a defer and unnamed results', async (toolchain) => {
    const build = fixtureBuild({ fixture: 'httpserver', toolchain });
    const run = await runWeaver(['list', build.path, '-p', 'os']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.split('\n')).toContain('os.ReadFile(name string) ([]uint8, error)');
  });

  it('Go 1.15: a function whose DWARF leaves a blank parameter out is commented out, with the sizes', async () => {
    const build = fixtureBuild({ fixture: 'httpserver', toolchain: '1.15' });
    const run = await runWeaver(['list', build.path, '-p', 'net/http']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.split('\n')).toContain(
      "# net/http.http2parseGoAwayFrame(fh net/http.http2FrameHeader, p []uint8) (net/http.http2Frame, error)   # the debug info leaves a parameter out: net/http.http2parseGoAwayFrame's argument frame is 80 bytes in the binary (.gopclntab), but the line needs 72",
    );
  });
});

describe('package mode', () => {
  it.each(['1.15', '1.19'])('Go %s: a function whose DWARF leaves its receiver out is traced by name only, and says so', async (toolchain) => {
    const build = fixtureBuild({ fixture: 'composites', toolchain });
    const run = await runWeaver([build.path, '-p', 'main', '--emit', 'c']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe(
      'weaver: 1 function traced by name only: the debug info leaves a parameter out (main.(*Rect).Area); write their signatures in a functions file to see values\n',
    );
  });

  it(`Go ${newestToolchain()}: DWARF that fills the frame leaves nothing to say`, async () => {
    const build = fixtureBuild({ fixture: 'composites', toolchain: newestToolchain() });
    const run = await runWeaver([build.path, '-p', 'main', '--emit', 'c']);
    expect([run.code, run.stderr]).toEqual([0, '']);
  });
});

describe.skipIf(!canRun)('--returns on a function whose result Go 1.19–1.24 list twice', () => {
  const status = (address: string) =>
    // With -exit-after 1 the server may exit before its reply is out: the request reaching it is what counts.
    new Promise<void>((resolve) => get(`http://${address}/`, (res) => { res.resume(); res.on('end', () => resolve()); }).on('error', () => resolve()));

  for (const toolchain of ['1.22', '1.24', newestToolchain()]) {
    it(`Go ${toolchain}: the line weaver list writes decodes the one result`, async () => {
      const build = fixtureBuild({ fixture: 'httpserver', toolchain });
      const list = await runWeaver(['list', build.path, '-p', 'net/http']);
      const line = list.stdout.split('\n').find((l) => l.startsWith('net/http.(*conn).hijacked('));
      expect(line).toBe('net/http.(*conn).hijacked(c *net/http.conn) (bool)');
      const dir = funcsDir([line!]);
      const tracer = await startTracer(['--returns', '--depth', '0', '--format', 'json', '-f', join(dir, 'funcs.txt'), '--', build.path, '-exit-after', '1']);
      // The launched server's own stdout goes to stderr while events go to a piped stdout.
      const listening = async (): Promise<string | undefined> => {
        for (let i = 0; i < 300; i++) {
          const line = tracer.stderr().split('\n').find((l) => l.startsWith('LISTENING '));
          if (line) return line;
          await new Promise((r) => setTimeout(r, 100));
        }
        return undefined;
      };
      const listeningLine = await listening();
      expect(listeningLine, tracer.stderr()).toBeDefined();
      await status(listeningLine!.split(' ')[1]!);
      const result = await new Promise<number | null>((resolve) => tracer.child.on('close', (code) => resolve(code)));
      expect(result, tracer.stderr()).toBe(0);
      const calls = tracer.lines().filter((l) => l.startsWith('{')).map((l) => parseLosslessJson(l) as unknown as TracedCall & { returns?: unknown[]; returned?: boolean; why?: string });
      expect(tracer.stderr().split('\n')).toContain('DONE');
      // The server exits after its one request, possibly while a connection's
      // goroutine is inside the function: that call says so, and no other reason is right.
      const returned = calls.filter((c) => c.returned !== false);
      expect(returned.length).toBeGreaterThan(0);
      for (const c of returned) expect(c.returns).toEqual([{ name: '~r0', type: 'bool', value: false }]);
      for (const c of calls.filter((x) => x.returned === false)) expect([c.why, c.returns]).toEqual(['exit', undefined]);
    }, 60_000);
  }
});

describe('a function inlined into every call', () => {
  it.each(TOOLCHAINS)('Go %s: says so, and how to keep it a function', async (toolchain) => {
    const build = fixtureBuild({ fixture: 'composites', toolchain });
    const dir = funcsDir(['main.obj(kv ...interface{})']);
    const run = await runProcess(process.execPath, [WEAVER_BIN, build.path, '-f', 'funcs.txt', '--emit', 'c'], { cwd: dir });
    expect([run.code, run.stderr]).toEqual([
      1,
      'weaver: function main.obj is inlined into every call: it has no code of its own to put a probe on\n  funcs.txt:1: build with -gcflags=all=-l, or mark it //go:noinline, to keep it a function\n',
    ]);
  });
});
