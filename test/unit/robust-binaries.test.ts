// Bad binaries and functions files, through the module APIs and through the
// real CLI (`weaver list`, `weaver … --emit c`): each gives one sentence that
// names what is wrong, a non-zero exit, no JavaScript stack trace, quickly,
// and never a hang (FIFOs, devices) or an unbounded read (/dev/zero).

import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openGoBinary } from '../../src/binary/elf/gobinary.js';
import { InputError, NotSupportedError, WeaverError } from '../../src/core/errors.js';
import { buildTraceSpec } from '../../src/bpf/tracespec.js';
import { fixtureBuild } from '../helpers/fixtures.js';
import { runWeaver } from '../helpers/weaver.js';
import { buildHello, readBinaryEverywhere, sentenceProblems } from './robust-support.js';

const goroutines = fixtureBuild({ fixture: 'goroutines', toolchain: '1.19' });
const FUNCS_LINE = 'main.work(id int, iter int, tag string)\n';

let dir: string;
const p = (name: string) => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'weaver-robust-'));
  writeFileSync(p('funcs.txt'), FUNCS_LINE);
  writeFileSync(p('empty'), '');
  writeFileSync(p('notes.txt'), 'just some text\n');
  writeFileSync(p('elf-magic-only'), Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  mkdirSync(p('a-directory'));
  execFileSync('mkfifo', [p('fifo')]);
  mkdirSync(p('locked'));
  copyFileSync(goroutines.path, p('locked/program'));
  chmodSync(p('locked'), 0o000);
  // Built here, not by scripts/build-fixtures.sh: only these tests need them.
  copyFileSync(buildHello('386'), p('hello-386'));
  copyFileSync(buildHello('arm64'), p('hello-arm64'));
  copyFileSync(buildHello('s390x'), p('hello-s390x'));
}, 120_000);

afterAll(() => {
  chmodSync(p('locked'), 0o755);
  rmSync(dir, { recursive: true, force: true });
});

interface BadBinary {
  name: string;
  path: () => string;
  error: typeof WeaverError;
  /** The exact sentence, with {} for the path. */
  message: string;
  hint?: RegExp;
}

const BAD_BINARIES: BadBinary[] = [
  { name: 'a missing file', path: () => p('nope'), error: InputError, message: '{} does not exist' },
  { name: 'a path through a file', path: () => `${goroutines.path}/x`, error: InputError, message: '{} does not exist (a part of the path is not a directory)' },
  { name: 'a directory', path: () => p('a-directory'), error: InputError, message: '{} is a directory, not a program' },
  { name: 'a FIFO (reading would block)', path: () => p('fifo'), error: InputError, message: '{} is a named pipe (FIFO), not a program file' },
  { name: '/dev/zero (reading would never end)', path: () => '/dev/zero', error: InputError, message: '{} is a character device, not a program file' },
  { name: 'a file the kernel will not read (/proc/self/mem at 0)', path: () => '/proc/self/mem', error: InputError, message: '{} cannot be read: EIO: i/o error, read' },
  { name: 'an empty file', path: () => p('empty'), error: InputError, message: '{} is empty' },
  { name: 'a text file', path: () => p('notes.txt'), error: NotSupportedError, message: '{} is not an ELF executable', hint: /x86-64 \(amd64\)/ },
  { name: 'only the ELF magic', path: () => p('elf-magic-only'), error: InputError, message: '{} is truncated: the ELF header needs 64 bytes but the file has 4' },
  { name: 'a non-Go ELF (/bin/ls)', path: () => '/bin/ls', error: NotSupportedError, message: '{} is not a Go program: it has no .go.buildinfo or .gopclntab section' },
  { name: 'a 32-bit Go program (GOARCH=386)', path: () => p('hello-386'), error: NotSupportedError, message: '{} is a 32-bit ELF file for i386; only 64-bit x86-64 (amd64) programs are supported' },
  { name: 'a Go program for arm64', path: () => p('hello-arm64'), error: NotSupportedError, message: '{} is built for aarch64; only x86-64 (amd64) is supported' },
  { name: 'a big-endian Go program (s390x)', path: () => p('hello-s390x'), error: NotSupportedError, message: '{} is a big-endian ELF file for s390x; only x86-64 (amd64) is supported' },
];

describe('bad binaries through the ELF stage', () => {
  it.each(BAD_BINARIES)('$name', (c) => {
    const path = c.path();
    let caught: unknown;
    const started = performance.now();
    try {
      openGoBinary(path);
    } catch (err) {
      caught = err;
    }
    expect(performance.now() - started).toBeLessThan(1000);
    expect(caught).toBeInstanceOf(c.error);
    expect((caught as Error).message).toBe(c.message.replace('{}', path));
    if (c.hint) expect((caught as WeaverError).hint).toMatch(c.hint);
  });
});

describe('bad binaries through the CLI', () => {
  // Both commands that read a binary; exit 1 for bad input, never 70 (internal error).
  const commands: [string, (bin: string) => string[]][] = [
    ['list', (bin) => ['list', bin]],
    ['--emit c', (bin) => [bin, '-f', p('funcs.txt'), '--emit', 'c']],
  ];
  for (const [label, argsFor] of commands) {
    it.each(BAD_BINARIES)(`weaver ${label}: $name`, async (c) => {
      const path = c.path();
      const r = await runWeaver(argsFor(path), { timeoutMs: 10_000 });
      expect(r.stdout).toBe('');
      expect(r.code).toBe(1);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines[0]).toBe(`weaver: ${c.message.replace('{}', path)}`);
      // The sentence and at most a hint; never a stack trace.
      expect(lines.length).toBeLessThanOrEqual(2);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    });
  }
});

describe('a binary root may not read (run as nobody)', () => {
  it('says permission denied, for the file and for a directory on its path', async () => {
    const asNobody = ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath];
    const weaver = join(process.cwd(), 'bin/weaver.js');
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      try {
        execFileSync('setpriv', [...asNobody, weaver, 'list', p('locked/program')], { stdio: 'pipe' });
        resolve({ code: 0, stderr: '' });
      } catch (err) {
        const e = err as { status: number; stderr: Buffer };
        resolve({ code: e.status, stderr: e.stderr.toString() });
      }
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`weaver: ${p('locked/program')} cannot be read: permission denied\n`);
  });
});

describe('truncated Go binaries', () => {
  // Every cut of a real build: inside the ELF header, the program headers,
  // each section, and the section header table at the end.
  const original = readFileSync(goroutines.path);
  const cuts = [0, 1, 3, 4, 19, 20, 63, 64, 100, 0x200, 0x1000, 0x1001];
  for (let f = 0.05; f < 1; f += 0.05) cuts.push(Math.floor(original.length * f));
  cuts.push(original.length - 64 * 10, original.length - 65, original.length - 1);

  it.each(cuts)('cut at byte %i: one sentence saying what is truncated', (cut) => {
    const path = join(dir, `cut-${cut}`);
    writeFileSync(path, original.subarray(0, cut));
    const outcome = readBinaryEverywhere(path, p('funcs.txt'));
    expect(outcome.result).toBe('error');
    expect(outcome.ms).toBeLessThan(1000);
    expect(sentenceProblems(outcome.message!)).toEqual([]);
    const expected =
      cut === 0 ? `${path} is empty`
      : cut < 4 ? `${path} is not an ELF executable`
      : cut < 64 ? `${path} is truncated: the ELF header needs 64 bytes but the file has ${cut}`
      : new RegExp(`^${path} is truncated: (the program header table|the section header table|the section name table|a loadable segment at 0x[0-9a-f]+|section \\S+) ends at byte \\d+ but the file has ${cut} bytes$`);
    if (typeof expected === 'string') expect(outcome.message).toBe(expected);
    else expect(outcome.message).toMatch(expected);
  });
});

describe('bad functions files', () => {
  const cases: [string, () => string, RegExp][] = [
    ['/dev/zero (endless)', () => '/dev/zero', /^functions file \/dev\/zero is larger than 16 MiB, too large to be a list of functions$/],
    ['a directory', () => p('a-directory'), /^functions file .* is a directory$/],
    ['a missing file', () => p('nope.txt'), /^functions file .* does not exist$/],
    ['/dev/null (empty)', () => '/dev/null', /^functions file \/dev\/null lists no functions$/],
  ];
  it.each(cases)('%s', (_name, file, message) => {
    const started = performance.now();
    let caught: unknown;
    try {
      buildTraceSpec({ binaryPath: goroutines.path, functionsFile: file(), packages: ['main'], plan: { stringSize: 64, maxElements: 16, maxRecordSize: 16384 } });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InputError);
    expect((caught as Error).message).toMatch(message);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('a FIFO with a writer still works, as with -f <(weaver list …)', () => {
    const fifo = p('funcs-fifo');
    execFileSync('mkfifo', [fifo]);
    // The writer is another process: opening the FIFO here blocks until it opens its end.
    const writer = spawn('sh', ['-c', `cat "$0" > "$1"`, p('funcs.txt'), fifo], { stdio: 'ignore' });
    const spec = buildTraceSpec({ binaryPath: goroutines.path, functionsFile: fifo, packages: ['main'], plan: { stringSize: 64, maxElements: 16, maxRecordSize: 16384 } });
    writer.kill();
    expect(spec.targets.map((t) => t.plan.name)).toEqual(['main.work']);
  });
});
