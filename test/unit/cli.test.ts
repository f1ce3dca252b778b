// The command line: flags become typed TraceFlags, bad values give exact
// messages, `--` starts launch mode, and the pieces trace.ts orchestrates
// (durations, target choice, /proc lookups, exit statuses, the summary).

import { execFileSync } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildCli, splitOperands, type TraceFlags } from '../../src/cli/flags.js';
import { formatDurationMs, parseDurationMs } from '../../src/core/duration.js';
import { InputError, UsageError } from '../../src/core/errors.js';
import { describeExit, exitStatusOf, resolveCommand } from '../../src/process/launch.js';
import { checkProcessRuns, processAlive, processBinary } from '../../src/process/procfs.js';
import { formatSummary, formatTwoTraps, pairingCounts, summaryRecord, type SummaryFacts } from '../../src/output/summary.js';
import { chooseTarget } from '../../src/process/target.js';

/** Parses argv as weaver would; returns the flags the trace command got, or commander's error text. */
async function parse(args: string[]): Promise<{ flags?: TraceFlags; error?: string; thrown?: unknown }> {
  let flags: TraceFlags | undefined;
  let error = '';
  const program = buildCli({
    trace: async (f) => {
      flags = f;
    },
    list: async () => {},
    cacheClean: async () => {},
  });
  program.exitOverride().configureOutput({ writeErr: (s) => (error += s), writeOut: () => {} });
  for (const sub of program.commands) sub.exitOverride().configureOutput({ writeErr: (s) => (error += s), writeOut: () => {} });
  try {
    await program.parseAsync(['node', 'weaver', ...args]);
  } catch (err) {
    if (err instanceof CommanderError) return { error: error.trim() };
    return { thrown: err };
  }
  return { flags };
}

describe('trace flags', () => {
  it('defaults', async () => {
    const { flags } = await parse(['./server', '-f', 'f.txt']);
    expect(flags).toMatchObject({
      binary: './server',
      command: undefined,
      functionsFile: 'f.txt',
      pids: [],
      filters: [],
      count: undefined,
      durationMs: undefined,
      output: undefined,
      timestamps: 'absolute',
      format: 'auto',
    });
  });

  it.each<[string[], Partial<TraceFlags>]>([
    [['./s', '--pid', '12', '--pid', '34'], { pids: [12, 34] }],
    [['./s', '--count', '10'], { count: 10 }],
    [['./s', '-n', '3'], { count: 3 }],
    [['./s', '--duration', '30s'], { durationMs: 30_000 }],
    [['./s', '-d', '1m30s'], { durationMs: 90_000 }],
    [['./s', '--duration', '250ms'], { durationMs: 250 }],
    [['./s', '--duration', '2h'], { durationMs: 7_200_000 }],
    [['./s', '--duration', '5'], { durationMs: 5000 }],
    [['./s', '-o', 'out.jsonl'], { output: 'out.jsonl' }],
    [['./s', '--filter', 'main.f: x > 1', '--filter', 'main.g: y == "a"'], { filters: ['main.f: x > 1', 'main.g: y == "a"'] }],
    [['./s', '--timestamps', 'relative'], { timestamps: 'relative' }],
    [['./s', '--timestamps', 'none'], { timestamps: 'none' }],
    [['-f', 'f.txt', '--', './server', '--port', '8080', '-v'], { binary: undefined, command: ['./server', '--port', '8080', '-v'], verbose: false }],
    [['-f', 'f.txt', '--count', '2', '--', 'server'], { command: ['server'], count: 2 }],
    [['--pid', '99', '-f', 'f.txt'], { binary: undefined, pids: [99] }],
  ])('%j', async (args, expected) => {
    const { flags, error, thrown } = await parse(args);
    expect(error ?? thrown).toBeUndefined();
    expect(flags).toMatchObject(expected);
  });

  it.each([
    [['./s', '--count', 'ten'], "weaver: option '-n, --count <n>' argument 'ten' is invalid. --count takes a whole number, not \"ten\"."],
    [['./s', '--count', '0'], "weaver: option '-n, --count <n>' argument '0' is invalid. --count must be between 1 and 2147483647, not 0."],
    [['./s', '--duration', '10 minutes'], "weaver: option '-d, --duration <time>' argument '10 minutes' is invalid. --duration takes a time such as 30s, 500ms, 2m or 1h30m, not \"10 minutes\"."],
    [['./s', '--duration', '0s'], "weaver: option '-d, --duration <time>' argument '0s' is invalid. --duration must be longer than 0, not 0s."],
    [['./s', '--pid', 'abc'], "weaver: option '--pid <pid>' argument 'abc' is invalid. --pid takes a whole number, not \"abc\"."],
    [['./s', '--timestamps', 'utc'], "weaver: option '--timestamps <kind>' argument 'utc' is invalid. Allowed choices are absolute, relative, none."],
    [['completion', 'fish'], "weaver: command-argument value 'fish' is invalid for argument 'shell'. Allowed choices are bash, zsh."],
  ])('%j → %s', async (args, message) => {
    const program = buildCli({ trace: async () => {}, list: async () => {}, cacheClean: async () => {} });
    let text = '';
    const out = { writeErr: (s: string) => (text += s), writeOut: () => {}, outputError: (s: string, write: (s: string) => void) => write(`weaver: ${s.replace(/^error: /, '')}`) };
    program.exitOverride().configureOutput(out);
    for (const sub of program.commands) sub.exitOverride().configureOutput(out);
    await expect(program.parseAsync(['node', 'weaver', ...args])).rejects.toBeInstanceOf(CommanderError);
    expect(text.trim()).toBe(message);
  });

  it.each([
    [['./a', './b'], 'unexpected argument ./b'],
    [['-f', 'f.txt', '--'], 'nothing follows --; give the program to launch after it, such as -- ./server --port 8080'],
    [['./a', '-f', 'f.txt', '--', './b'], 'the program is given twice, as ./a and after --'],
  ])('%j → UsageError %s', async (args, message) => {
    const { thrown } = await parse(args);
    expect(thrown).toBeInstanceOf(UsageError);
    expect((thrown as UsageError).message).toBe(message);
  });
});

describe('splitOperands', () => {
  it.each<[string[], string[], { binary?: string; command?: string[] }]>([
    [['node', 'weaver', './s'], ['./s'], { binary: './s' }],
    [['node', 'weaver'], [], { binary: undefined }],
    [['node', 'weaver', '-f', 'x', '--', './s', '--', 'y'], ['./s', '--', 'y'], { command: ['./s', '--', 'y'] }],
    [['node', 'weaver', '--', './s'], ['./s'], { command: ['./s'] }],
  ])('%j', (raw, operands, expected) => {
    expect(splitOperands(raw, operands)).toEqual(expected);
  });
});

describe('durations', () => {
  it.each<[string, number | undefined]>([
    ['30s', 30_000],
    ['500ms', 500],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1h30m', 5_400_000],
    ['1m30s500ms', 90_500],
    ['10', 10_000],
    ['0.25', 250],
    [' 3s ', 3000],
    ['', undefined],
    ['s', undefined],
    ['3d', undefined],
    ['-1s', undefined],
    ['1 s', undefined],
    ['1e3s', undefined],
  ])('%j → %s ms', (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });

  it.each<[number, string]>([
    [12, '12ms'],
    [999.6, '1000ms'],
    [1000, '1s'],
    [1520, '1.52s'],
    [12_345, '12.3s'],
    [90_000, '1m30s'],
    [3_600_000, '1h0m0s'],
  ])('%d ms shows as %s', (ms, text) => {
    expect(formatDurationMs(ms)).toBe(text);
  });
});

describe('summary line', () => {
  const base: SummaryFacts = { shown: 0, filteredOut: 0, droppedInKernel: 0n, droppedAtOutput: 0, malformed: 0, elapsedMs: 1520, transport: 'ring' };
  it.each<[Partial<SummaryFacts>, string]>([
    [{}, 'weaver: 0 events in 1.52s, none lost'],
    [{ shown: 1 }, 'weaver: 1 event in 1.52s, none lost'],
    [{ shown: 42, filteredOut: 8 }, 'weaver: 42 events shown (8 filtered out) in 1.52s, none lost; 50 calls seen'],
    [{ shown: 5, droppedInKernel: 3n }, 'weaver: 5 events in 1.52s, 3 lost (3 in the kernel ring buffer); 8 calls seen'],
    [
      { shown: 5, droppedInKernel: 3n, droppedAtOutput: 2, transport: 'perf' },
      'weaver: 5 events in 1.52s, 5 lost (3 in the kernel perf buffer, 2 not written to the output); 10 calls seen',
    ],
    [{ shown: 5, malformed: 1 }, 'weaver: 5 events in 1.52s, none lost, 1 malformed record skipped; 6 calls seen'],
    [{ shown: 10, stopReason: '--count 10 reached' }, 'weaver: 10 events in 1.52s, none lost; --count 10 reached'],
    [
      { shown: 10, filteredOut: 1, afterCount: 7, stopReason: '--count 10 reached' },
      'weaver: 10 events shown (1 filtered out, 7 after --count) in 1.52s, none lost; 18 calls seen; --count 10 reached',
    ],
    [{ shown: 4, droppedInKernel: 1n, unreadBytes: 320 }, 'weaver: 4 events in 1.52s, 1 lost (1 in the kernel ring buffer); at least 5 calls seen, 320 bytes of records left unread in the kernel buffer'],
    // With --returns the kernel's count includes return records: no total of calls.
    [{ shown: 4, droppedInKernel: 3n, returns: true }, 'weaver: 4 events in 1.52s, 3 lost (3 in the kernel ring buffer)'],
    [{ shown: 3, program: './server exited with code 0' }, 'weaver: 3 events in 1.52s, none lost; ./server exited with code 0'],
  ])('%o', (facts, line) => {
    expect(formatSummary({ ...base, ...facts })).toBe(line);
  });

  it('--summary-json holds the same counts under stable names', () => {
    const facts: SummaryFacts = { ...base, shown: 10, filteredOut: 1, afterCount: 7, droppedInKernel: 2n, droppedAtOutput: 3, stopReason: 'the output was closed' };
    expect(summaryRecord(facts, { exitStatus: 0, outputError: 'the output was closed' })).toEqual({
      callsSeen: 23,
      shown: 10,
      filteredOut: 1,
      afterCount: 7,
      lostInKernel: 2,
      lostAtOutput: 3,
      malformed: 0,
      unreadBytes: 0,
      transport: 'ring',
      bufferSize: null,
      elapsedMs: 1520,
      stopReason: 'the output was closed',
      program: null,
      otlp: null,
      outputError: 'the output was closed',
      exitStatus: 0,
      returns: null,
    });
  });

  it('--summary-json with --returns counts panics apart from calls that left by a jump', () => {
    const pairing = pairingCounts({
      paired: 9,
      returnsWithoutEntry: 1,
      notReturned: { replaced: 2, unwound: 3, untraced: 4, evicted: 5, exit: 6 },
    });
    expect(summaryRecord({ ...base, returns: true, pairing }, { exitStatus: 0 })).toMatchObject({
      callsSeen: null,
      returns: { paired: 9, unwoundByPanic: 5, leftUntraced: 4, stillRunningAtExit: 6, evicted: 5, returnsWithoutEntry: 1 },
    });
  });
});

describe('two-trap line after the summary', () => {
  const f = (name: string, events: number) => ({ name, events });
  const seven = ['main.a', 'main.b', 'main.c', 'main.d', 'main.e', 'main.f', 'main.g'].map((n, i) => f(n, (i + 1) * 10));
  it.each<[string, ReturnType<typeof f>[], boolean, string | null]>([
    ['none', [], false, null],
    ['none called', [f('main.a', 0), f('main.b', 0)], false, null],
    ['one', [f('main.f', 1000000)], false, 'weaver: 1 function costs two traps a call, the kernel single-stepping its probed instruction: main.f (1000000 events)'],
    [
      'busiest first, ties by name, only those called',
      [f('main.z', 1), f('main.b', 0), f('main.a', 0), f('main.y', 7), f('main.x', 7)],
      false,
      'weaver: 3 functions cost two traps a call, the kernel single-stepping its probed instruction: main.x (7 events), main.y (7 events), main.z (1 event)',
    ],
    [
      'five names and a count of the rest',
      seven,
      false,
      'weaver: 7 functions cost two traps a call, the kernel single-stepping its probed instruction: main.g (70 events), main.f (60 events), main.e (50 events), main.d (40 events), main.c (30 events), and 2 more (-v lists them)',
    ],
    [
      'every name with -v',
      seven,
      true,
      'weaver: 7 functions cost two traps a call, the kernel single-stepping its probed instruction: main.g (70 events), main.f (60 events), main.e (50 events), main.d (40 events), main.c (30 events), main.b (20 events), main.a (10 events)',
    ],
  ])('%s', (_what, functions, verbose, line) => {
    expect(formatTwoTraps(functions, verbose)).toBe(line);
  });
});

describe('launch helpers', () => {
  it.each<[{ code: number | null; signal: NodeJS.Signals | null }, number, string]>([
    [{ code: 0, signal: null }, 0, 'exited with code 0'],
    [{ code: 3, signal: null }, 3, 'exited with code 3'],
    [{ code: null, signal: 'SIGINT' }, 130, 'was killed by SIGINT'],
    [{ code: null, signal: 'SIGTERM' }, 143, 'was killed by SIGTERM'],
    [{ code: null, signal: 'SIGKILL' }, 137, 'was killed by SIGKILL'],
  ])('%o → status %d', (exit, status, text) => {
    expect(exitStatusOf(exit)).toBe(status);
    expect(describeExit(exit)).toBe(text);
  });

  const dir = mkdtempSync(join(tmpdir(), 'weaver-cli-'));
  const exe = join(dir, 'prog');
  writeFileSync(exe, '#!/bin/sh\n');
  chmodSync(exe, 0o755);
  const plain = join(dir, 'notes.txt');
  writeFileSync(plain, 'x');

  it('resolves commands like a shell: a path as is, a bare name on PATH', () => {
    expect(resolveCommand(exe)).toBe(exe);
    expect(resolveCommand('prog', `/nonexistent:${dir}`)).toBe(join(dir, 'prog'));
  });

  it.each([
    ['prog', '/nonexistent', 'cannot launch prog: command not found in PATH'],
    [join(dir, 'missing'), '', `cannot launch ${join(dir, 'missing')}: no such file`],
    [plain, '', `cannot launch ${plain}: it is not an executable file`],
    ['', '', 'the command to launch is empty'],
  ])('%s → %s', (cmd, path, message) => {
    expect(() => resolveCommand(cmd, path)).toThrow(InputError);
    expect(() => resolveCommand(cmd, path)).toThrow(message);
  });
});

describe('/proc lookups', () => {
  it('finds the program of a process in this mount namespace by its own path', () => {
    const p = processBinary(process.pid);
    expect(p.path).toBe(realpathSync(process.execPath));
    expect(p.exe).toBe(realpathSync(process.execPath));
    expect(p.otherMountNamespace).toBe(false);
    expect(() => checkProcessRuns(p, process.execPath)).not.toThrow();
    expect(processAlive(process.pid)).toBe(true);
  });

  it('a process running another program is refused by name', () => {
    const p = processBinary(process.pid);
    expect(() => checkProcessRuns(p, '/bin/sh')).toThrow(UsageError);
    expect(() => checkProcessRuns(p, '/bin/sh')).toThrow(`process ${process.pid} runs ${p.exe}, not /bin/sh`);
  });

  // A fake /proc for a process in another mount namespace. Its exe link
  // names a path that, inside the container's root, is a hard link to the
  // same file: the lookup must go through /proc/PID/root.
  const proc = mkdtempSync(join(tmpdir(), 'weaver-proc-'));
  const hostServer = join(proc, 'host', 'server');
  mkdirSync(join(proc, 'host'));
  writeFileSync(hostServer, 'ELF');
  const containerRoot = join(proc, 'rootfs');
  mkdirSync(join(containerRoot, proc, 'host'), { recursive: true });
  linkSync(hostServer, join(containerRoot, hostServer));
  for (const [pid, ns] of [['self', 'mnt:[4026531841]'], ['77', 'mnt:[4026532999]'], ['78', 'mnt:[4026531841]']] as const) {
    mkdirSync(join(proc, pid, 'ns'), { recursive: true });
    symlinkSync(ns, join(proc, pid, 'ns', 'mnt'));
  }
  symlinkSync(hostServer, join(proc, '77', 'exe'));
  symlinkSync(containerRoot, join(proc, '77', 'root'));
  symlinkSync(hostServer, join(proc, '78', 'exe'));
  symlinkSync('/', join(proc, '78', 'root'));

  it('a process in another mount namespace is reached through /proc/PID/root', () => {
    const p = processBinary(77, proc);
    expect(p).toMatchObject({ pid: 77, exe: hostServer, otherMountNamespace: true, path: `${proc}/77/root${hostServer}` });
    const t = chooseTarget({ pids: [77] }, proc);
    expect(t.binaryPath).toBe(`${proc}/77/root${hostServer}`);
    expect(t.pids).toEqual([77]);
  });

  it('a process in this mount namespace is reached by its own path', () => {
    expect(processBinary(78, proc)).toMatchObject({ exe: hostServer, otherMountNamespace: false, path: hostServer });
  });

  it('no such process', () => {
    expect(() => processBinary(424242, proc)).toThrow('no process has pid 424242');
    expect(processAlive(424242, proc)).toBe(false);
  });
});

describe('target choice', () => {
  it.each<[Parameters<typeof chooseTarget>[0], string]>([
    [{ pids: [] }, 'missing the Go program to trace'],
    [{ pids: [1], command: ['/bin/true'] }, '--pid traces processes that already run, so it cannot be combined with a program to launch after --'],
  ])('%o → %s', (flags, message) => {
    expect(() => chooseTarget(flags)).toThrow(UsageError);
    expect(() => chooseTarget(flags)).toThrow(message);
  });

  it('repeated pids attach once each', () => {
    const t = chooseTarget({ pids: [process.pid, process.pid] });
    expect(t.pids).toEqual([process.pid]);
  });

  it('processes running different programs cannot share one trace', () => {
    const sleeper = execFileSync('/bin/sh', ['-c', 'sleep 5 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' }).trim();
    const pid = Number(sleeper);
    try {
      expect(() => chooseTarget({ pids: [process.pid, pid] })).toThrow(
        `processes ${process.pid} and ${pid} run different programs (${realpathSync(process.execPath)} and ${realpathSync('/bin/sleep')})`,
      );
    } finally {
      process.kill(pid, 'SIGKILL');
    }
  });

  it('launch mode takes the binary from the command', () => {
    const t = chooseTarget({ pids: [], command: ['/bin/true', '-x'] });
    expect(t).toMatchObject({ binaryPath: '/bin/true', launch: { path: '/bin/true', args: ['-x'] } });
  });
});
