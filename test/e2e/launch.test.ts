// End to end, as a user runs it: launch mode (`weaver -f f.txt -- prog
// args`), --pid, --count, --duration, --filter and --output, on a Go
// program built here. Needs root; under CI a missing BPF setup fails.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireBpfOrSkip, runWeaver, startTracer } from '../helpers/weaver.js';
import { goCommand } from '../helpers/goprogram.js';

const GO = goCommand('1.19');

// Every mode calls main.handler from init(), before main runs: probes
// attached any later than the first instruction would miss that call.
const PROGRAM = `package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

//go:noinline
func handler(path string, code int) int { return code + len(path) }

func init() { handler("/init", 100) }

func main() {
	switch os.Args[1] {
	case "calls": // calls N EXIT: N calls with codes 200, 300, …, then exit EXIT
		n, _ := strconv.Atoi(os.Args[2])
		for i := 0; i < n; i++ {
			handler("/p/"+strconv.Itoa(i), 200+100*i)
		}
		code, _ := strconv.Atoi(os.Args[3])
		os.Exit(code)
	case "say": // say WORDS: prints them to stdout around a call
		fmt.Println("before " + os.Args[2])
		handler("/say", 201)
		fmt.Println("after " + os.Args[2])
	case "kill-self":
		handler("/kill", 9)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute)
	case "wait": // exits 40+signal when one signal arrives, 99 when more than one does
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		handler("/ready", 1)
		fmt.Fprintln(os.Stderr, "READY")
		s := <-ch
		handler("/signal/"+s.String(), 2)
		select {
		case <-ch:
			os.Exit(99)
		case <-time.After(300 * time.Millisecond):
		}
		os.Exit(40 + int(s.(syscall.Signal)))
	case "sleep":
		handler("/sleep", 3)
		time.Sleep(time.Hour)
	case "loop":
		for i := 0; ; i++ {
			handler("/loop", i)
			time.Sleep(10 * time.Millisecond)
		}
	}
}
`;

const canRun = requireBpfOrSkip();

interface Call {
  path: string;
  code: number;
  pid: number;
  comm: string;
}

/** The handler calls in weaver's JSON output, in order. */
function calls(stdout: string): Call[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .filter((e) => e.function === 'main.handler')
    .map((e) => ({ path: e.args[0].value, code: e.args[1].value, pid: e.pid, comm: e.comm }));
}

describe.runIf(canRun)('launch mode and process selection', () => {
  let dir: string;
  let prog: string;
  let funcs: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'weaver-launch-'));
    writeFileSync(join(dir, 'main.go'), PROGRAM);
    writeFileSync(join(dir, 'go.mod'), 'module example.com/launch\n\ngo 1.19\n');
    prog = join(dir, 'prog');
    execFileSync(GO, ['build', '-o', prog, '.'], { cwd: dir, env: { ...process.env, GOFLAGS: '', CGO_ENABLED: '0', GOCACHE: join(tmpdir(), 'weaver-gocache') } });
    funcs = join(dir, 'funcs.txt');
    writeFileSync(funcs, 'main.handler(path string, code int) int\n');
  });

  it('traces from the first instruction and exits with the program\'s exit code', async () => {
    const r = await runWeaver(['-f', funcs, '--format', 'json', '--', prog, 'calls', '3', '7']);
    expect(r.code).toBe(7);
    const seen = calls(r.stdout);
    expect(seen.map((c) => [c.path, c.code])).toEqual([
      ['/init', 100],
      ['/p/0', 200],
      ['/p/1', 300],
      ['/p/2', 400],
    ]);
    expect(new Set(seen.map((c) => c.comm))).toEqual(new Set(['prog']));
    expect(r.stderr).toMatch(/^Tracing 1 function in .*prog \(go1\.19\.\d+, register ABI, pid \d+\) in \d+ ms\. Starting it now\.$/m);
    expect(r.stderr).toMatch(new RegExp(`^weaver: 4 events in [0-9.]+m?s, none lost; ${prog} exited with code 7$`, 'm'));
  });

  it('a program found on PATH is launched and traced the same way', async () => {
    const r = await runWeaver(['-f', funcs, '--format', 'json', '--', 'prog', 'calls', '1', '0'], { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
    expect(r.code).toBe(0);
    expect(calls(r.stdout).map((c) => c.path)).toEqual(['/init', '/p/0']);
  });

  it('text output reads like strace: comm[pid] goroutine function(args)', async () => {
    const r = await runWeaver(['-f', funcs, '--format', 'text', '--timestamps', 'none', '--', prog, 'calls', '1', '0']);
    expect(r.code).toBe(0);
    const pid = /pid (\d+)\)/.exec(r.stderr)![1];
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([
      `prog[${pid}] g1 main.handler(path="/init", code=100)`,
      `prog[${pid}] g1 main.handler(path="/p/0", code=200)`,
    ]);
  });

  it('a program killed by a signal gives 128 + the signal number', async () => {
    const r = await runWeaver(['-f', funcs, '--format', 'json', '--', prog, 'kill-self']);
    expect(r.code).toBe(137);
    expect(calls(r.stdout).map((c) => c.path)).toEqual(['/init', '/kill']);
    expect(r.stderr).toMatch(/; .*prog was killed by SIGKILL$/m);
  });

  it.each([
    ['SIGINT', 2, 'interrupt'],
    ['SIGTERM', 15, 'terminated'],
    ['SIGHUP', 1, 'hangup'],
  ] as const)('%s sent to weaver reaches the program exactly once', async (signal, number, name) => {
    const tracer = await startTracer(['-f', funcs, '--format', 'json', '--', prog, 'wait']);
    expect(await tracer.waitFor((lines) => lines.some((l) => l.includes('"/ready"')))).toBe(true);
    const r = await tracer.stop(signal);
    // 99 would mean the program got the signal twice.
    expect(r.code).toBe(40 + number);
    expect(calls(r.stdout).map((c) => c.path)).toEqual(['/init', '/ready', `/signal/${name}`]);
  });

  it('a program that does not handle the signal dies of it, and weaver says so', async () => {
    const tracer = await startTracer(['-f', funcs, '--format', 'json', '--', prog, 'sleep']);
    expect(await tracer.waitFor((lines) => lines.some((l) => l.includes('"/sleep"')))).toBe(true);
    const r = await tracer.stop('SIGTERM');
    expect(r.code).toBe(143);
    expect(r.stderr).toMatch(/^weaver: 2 events in .*, none lost; .*prog was killed by SIGTERM$/m);
  });

  it('--count stops after exactly N calls and ends the launched program', async () => {
    const r = await runWeaver(['-f', funcs, '--format', 'json', '--count', '5', '--', prog, 'loop'], { timeoutMs: 20000 });
    expect(r.code).toBe(0);
    expect(calls(r.stdout).map((c) => [c.path, c.code])).toEqual([
      ['/init', 100],
      ['/loop', 0],
      ['/loop', 1],
      ['/loop', 2],
      ['/loop', 3],
    ]);
    // A call may come after the 5th before the probes are gone: counted as such, never shown.
    const m = /^weaver: 5 events (?:shown \((\d+) after --count\) )?in .*, none lost; (?:(\d+) calls seen; )?--count 5 reached; .*prog ended by weaver \(was killed by SIGTERM\)$/m.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    expect(Number(m![2] ?? 5)).toBe(5 + Number(m![1] ?? 0));
  });

  it('--duration stops by itself', async () => {
    const started = Date.now();
    const r = await runWeaver(['-f', funcs, '--format', 'json', '--duration', '800ms', '--', prog, 'loop'], { timeoutMs: 20000 });
    const took = Date.now() - started;
    expect(r.code).toBe(0);
    expect(took).toBeGreaterThanOrEqual(800);
    expect(took).toBeLessThan(10000);
    const seen = calls(r.stdout);
    // A call every ~10 ms for 0.8 s; the loop's codes count up without a gap.
    expect(seen.length).toBeGreaterThan(10);
    expect(seen.slice(1).map((c) => c.code)).toEqual(seen.slice(1).map((_, i) => i));
    expect(r.stderr).toMatch(/; --duration reached; /);
  });

  it('--filter keeps only the matching calls and says how many it left out', async () => {
    const r = await runWeaver([
      '-f', funcs, '--format', 'json',
      '--filter', 'main.handler: code >= 500 && path ~ "^/p/"',
      '--filter', 'main.handler: code != 600',
      '--', prog, 'calls', '6', '0',
    ]);
    expect(r.code).toBe(0);
    expect(calls(r.stdout).map((c) => [c.path, c.code])).toEqual([
      ['/p/3', 500],
      ['/p/5', 700],
    ]);
    expect(r.stderr).toMatch(/^weaver: 2 events shown \(5 filtered out\) in /m);
  });

  it('with events on a piped stdout, the program\'s own stdout goes to stderr', async () => {
    const r = await runWeaver(['-f', funcs, '--format', 'json', '--', prog, 'say', 'hello']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean).every((l) => l.startsWith('{"ts"'))).toBe(true);
    expect(calls(r.stdout).map((c) => [c.path, c.code])).toEqual([
      ['/init', 100],
      ['/say', 201],
    ]);
    expect(r.stderr).toMatch(/^before hello\nafter hello$/m);
  });

  it('--output writes the calls to a file; stdout keeps only the program\'s own output', async () => {
    const out = join(dir, 'calls.jsonl');
    const r = await runWeaver(['-f', funcs, '-o', out, '--', prog, 'calls', '2', '0']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    // --format auto writes JSON lines to a file.
    expect(calls(readFileSync(out, 'utf8')).map((c) => c.path)).toEqual(['/init', '/p/0', '/p/1']);
  });

  it('--pid alone finds the binary through /proc and ends when the process does', async () => {
    const child = spawn(prog, ['wait'], { stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolve) => child.stderr!.on('data', (d) => String(d).includes('READY') && resolve()));
    const tracer = await startTracer(['--pid', String(child.pid), '-f', funcs, '--format', 'json']);
    expect(tracer.stderr()).toMatch(new RegExp(`\\(go1\\.19\\.\\d+, register ABI, pid ${child.pid}\\)`));
    child.kill('SIGHUP');
    const r = await new Promise<Awaited<ReturnType<typeof tracer.stop>>>((resolve) => tracer.child.on('close', (code, signal) => resolve({ code, signal, stdout: tracer.stdout(), stderr: tracer.stderr() })));
    expect(r.code).toBe(0);
    expect(calls(r.stdout)).toEqual([{ path: '/signal/hangup', code: 2, pid: child.pid, comm: 'prog' }]);
    expect(r.stderr).toMatch(new RegExp(`^weaver: 1 event in .*, none lost; process ${child.pid} exited$`, 'm'));
  });

  it('--pid finds the program of a process in another mount namespace through /proc/PID/root', async () => {
    // The binary exists only on a tmpfs mounted inside the process's own
    // mount namespace: from here, its path names an empty directory.
    const mnt = mkdtempSync(join(dir, 'mnt-'));
    const inside = join(mnt, 'prog');
    const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs none ${mnt} && cp ${prog} ${inside} && exec ${inside} wait`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      await new Promise<void>((resolve) => child.stderr!.on('data', (d) => String(d).includes('READY') && resolve()));
      expect(existsSync(inside)).toBe(false);
      const tracer = await startTracer(['--pid', String(child.pid), '-f', funcs, '--format', 'json']);
      expect(tracer.stderr()).toContain(`Tracing 1 function in /proc/${child.pid}/root${inside} (`);
      child.kill('SIGTERM');
      expect(await tracer.waitFor((lines) => lines.some((l) => l.includes('/signal/terminated')))).toBe(true);
      const r = await tracer.stop();
      expect(calls(r.stdout)).toEqual([{ path: '/signal/terminated', code: 2, pid: child.pid, comm: 'prog' }]);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('--pid of a process running another program is refused', async () => {
    const other = spawn('/bin/sleep', ['30']);
    try {
      const r = await runWeaver([prog, '--pid', String(other.pid), '-f', funcs]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        `weaver: process ${other.pid} runs /usr/bin/sleep, not ${prog}\n  trace it with: weaver --pid ${other.pid} (the program is then found from the process)\n`,
      );
    } finally {
      other.kill('SIGKILL');
    }
  });

  it.each<[string[], number, string]>([
    [['-f', 'FUNCS', '--', '/nonexistent/prog'], 1, 'weaver: cannot launch /nonexistent/prog: no such file\n'],
    [['-f', 'FUNCS', '--', 'no-such-command-xyz'], 1, 'weaver: cannot launch no-such-command-xyz: command not found in PATH\n  give its path, such as ./no-such-command-xyz\n'],
    [['--pid', '1', '-f', 'FUNCS', '--', 'PROG'], 2, 'weaver: --pid traces processes that already run, so it cannot be combined with a program to launch after --\n'],
    [
      ['-f', 'FUNCS', '--filter', 'main.handler: code >= "x"', '--', 'PROG'],
      2,
      'weaver: bad --filter at column 23: code (int) cannot be compared with "x" (a string constant) using >=\n  main.handler: code >= "x"\n                        ^\n',
    ],
    [
      ['-f', 'FUNCS', '--filter', 'main.handler: pth == "/"', '--', 'PROG'],
      2,
      'weaver: bad --filter at column 15: main.handler has no argument pth; did you mean path?\n  main.handler: pth == "/"\n                ^\n',
    ],
    [['-f', 'FUNCS', '-o', '/nonexistent/dir/out.jsonl', '--', 'PROG', 'calls', '1', '0'], 1, 'weaver: cannot write --output /nonexistent/dir/out.jsonl: its directory does not exist\n'],
  ])('%j → exit %d', async (args, code, stderr) => {
    const r = await runWeaver(args.map((a) => (a === 'FUNCS' ? funcs : a === 'PROG' ? prog : a)));
    expect(r.stderr).toBe(stderr);
    expect(r.code).toBe(code);
    expect(r.stdout).toBe('');
  });
});
