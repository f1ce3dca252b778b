// Bad command lines through the real CLI: unknown flags, bad numbers and
// sizes, bad choices, conflicting options, and --pid of a process that does
// not exist or runs another program. Each gives its exact sentence on
// stderr, nothing on stdout, no stack trace, and exit 2 for usage errors
// (1 for a pid that does not exist: a fact about the machine, not the flags).
// None of this needs root: every check runs before BPF is touched.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureBuild } from '../helpers/fixtures.js';
import { runWeaver } from '../helpers/weaver.js';

const BIN = fixtureBuild({ fixture: 'goroutines', toolchain: '1.19' }).path;
let dir: string;
let funcs: string;
let sleeper: ChildProcess;
/** A pid that no process has: past the kernel's pid_max would be rejected by the flag parser, so take a free one. */
let freePid: number;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'weaver-flags-'));
  funcs = join(dir, 'funcs.txt');
  writeFileSync(funcs, 'main.work(id int, iter int, tag string)\n');
  sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  freePid = 4_000_000;
  while (pidExists(freePid)) freePid--;
});

afterAll(() => {
  sleeper.kill();
  rmSync(dir, { recursive: true, force: true });
});

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface FlagCase {
  name: string;
  args: () => string[];
  code: number;
  /** The exact stderr lines (sentence, then the hint if any). */
  stderr: () => string[];
}

const CASES: FlagCase[] = [
  { name: 'an unknown flag', args: () => [BIN, '-f', funcs, '--bogus'], code: 2, stderr: () => ["weaver: unknown option '--bogus'"] },
  { name: 'a misspelt flag', args: () => [BIN, '--functions-fille', funcs], code: 2, stderr: () => ["weaver: unknown option '--functions-fille'", '(Did you mean --functions-file?)'] },
  {
    name: 'a word for a number',
    args: () => [BIN, '-f', funcs, '--string-size', 'abc'],
    code: 2,
    stderr: () => [`weaver: option '--string-size <bytes>' argument 'abc' is invalid. --string-size takes a whole number, not "abc".`],
  },
  {
    name: 'a number out of range',
    args: () => [BIN, '-f', funcs, '--string-size', '99999'],
    code: 2,
    stderr: () => [`weaver: option '--string-size <bytes>' argument '99999' is invalid. --string-size must be between 1 and 4096, not 99999.`],
  },
  {
    name: 'a negative count',
    args: () => [BIN, '-f', funcs, '--max-elements', '-1'],
    code: 2,
    stderr: () => [`weaver: option '--max-elements <n>' argument '-1' is invalid. --max-elements takes a whole number, not "-1".`],
  },
  {
    name: 'a size with an unknown unit',
    args: () => [BIN, '-f', funcs, '--max-event-size', '1G'],
    code: 2,
    stderr: () => [`weaver: option '--max-event-size <bytes>' argument '1G' is invalid. --max-event-size takes a size in bytes such as 4096, 64k or 8M, not "1G".`],
  },
  {
    name: 'a buffer size that is not a power of two',
    args: () => [BIN, '-f', funcs, '--buffer-size', '12k'],
    code: 2,
    stderr: () => ['weaver: --buffer-size must be a power of two of at least 4096 bytes, not 12288'],
  },
  {
    name: 'a bad choice',
    args: () => [BIN, '-f', funcs, '--format', 'xml'],
    code: 2,
    stderr: () => [`weaver: option '--format <format>' argument 'xml' is invalid. Allowed choices are auto, text, json.`],
  },
  { name: 'pid 0', args: () => [BIN, '-f', funcs, '--pid', '0'], code: 2, stderr: () => [`weaver: option '--pid <pid>' argument '0' is invalid. --pid must be between 1 and 2147483647, not 0.`] },
  { name: 'a pid that is not a number', args: () => [BIN, '-f', funcs, '--pid', '12x'], code: 2, stderr: () => [`weaver: option '--pid <pid>' argument '12x' is invalid. --pid takes a whole number, not "12x".`] },
  {
    name: '--functions-file with --packages',
    args: () => [BIN, '-f', funcs, '-p', 'main'],
    code: 2,
    stderr: () => ['weaver: --functions-file and --packages choose functions in two different ways; give one of them'],
  },
  {
    name: 'no binary',
    args: () => ['-f', funcs],
    code: 2,
    stderr: () => [
      'weaver: missing the Go program to trace',
      '  usage: weaver <binary> -f funcs.txt, weaver -f funcs.txt -- <program> [args...], or weaver --pid <pid> -f funcs.txt (see weaver --help)',
    ],
  },
  {
    name: 'a binary and a program to launch',
    args: () => [BIN, '-f', funcs, '--', '/bin/true'],
    code: 2,
    stderr: () => [`weaver: the program is given twice, as ${BIN} and after --`, '  launch it with: weaver [options] -- /bin/true'],
  },
  { name: 'list without a binary', args: () => ['list'], code: 2, stderr: () => ["weaver: missing required argument 'binary'"] },
  { name: 'list with two binaries', args: () => ['list', BIN, BIN], code: 2, stderr: () => ["weaver: too many arguments for 'list'. Expected 1 argument but got 2."] },
  {
    name: '--pid of a process that does not exist',
    args: () => [BIN, '-f', funcs, '--pid', String(freePid)],
    code: 1,
    stderr: () => [`weaver: no process has pid ${freePid}`, '  check the pid with ps'],
  },
  {
    name: '--pid of a process running another program',
    args: () => [BIN, '-f', funcs, '--pid', String(sleeper.pid)],
    code: 2,
    stderr: () => [
      `weaver: process ${sleeper.pid} runs /usr/bin/sleep, not ${BIN}`,
      `  trace it with: weaver --pid ${sleeper.pid} (the program is then found from the process)`,
    ],
  },
  {
    name: '--pid alone, of a process that runs no Go program',
    args: () => ['-f', funcs, '--pid', String(sleeper.pid)],
    code: 1,
    stderr: () => ['weaver: /usr/bin/sleep is not a Go program: it has no .go.buildinfo or .gopclntab section', '  weaver traces programs compiled by the Go toolchain'],
  },
];

describe('bad command lines', () => {
  it.each(CASES)('$name', async (c) => {
    const r = await runWeaver(c.args(), { timeoutMs: 15_000 });
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr.trimEnd().split('\n') }).toEqual({ code: c.code, stdout: '', stderr: c.stderr() });
  });
});

describe('--version', () => {
  // package.json is the one place the version is written.
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  it.each([['--version'], ['-V']])('%s prints the version from package.json and exits 0', async (flag) => {
    const r = await runWeaver([flag], { timeoutMs: 15_000 });
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });
});
