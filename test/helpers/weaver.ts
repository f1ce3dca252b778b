// Runs the weaver CLI as a user would, for end-to-end tests: start it,
// wait for the "Tracing" sentinel on stderr (probes are attached then),
// run the traced program, wait for the events to arrive, stop weaver with
// SIGINT, and hand back what it printed.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const WEAVER_BIN = fileURLToPath(new URL('../../bin/weaver.js', import.meta.url));

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs weaver to completion (for commands that end by themselves, and for errors). */
export function runWeaver(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return runProcess(process.execPath, [WEAVER_BIN, ...args], options);
}

export function runProcess(
  file: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} ${args.join(' ')} did not finish in ${options.timeoutMs ?? 60000} ms\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 60000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    // A program that exits without reading its input must not fail the test with EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

export interface Tracer {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Lines of stdout so far. */
  lines(): string[];
  /** Waits until `predicate(lines)` holds, or `timeoutMs` passes; returns whether it held. */
  waitFor(predicate: (lines: string[]) => boolean, timeoutMs?: number): Promise<boolean>;
  /** Sends SIGINT (or `signal`) and waits for exit. */
  stop(signal?: NodeJS.Signals): Promise<RunResult>;
}

/** Starts weaver and resolves once it has printed the Tracing line (all probes attached). */
export function startTracer(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Tracer> {
  const child = spawn(process.execPath, [WEAVER_BIN, ...args], { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d) => (stdout += d));
  const exited = new Promise<RunResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  const tracer: Tracer = {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    lines: () => stdout.split('\n').filter((l) => l.length > 0),
    async waitFor(predicate, timeoutMs = 10000) {
      const end = Date.now() + timeoutMs;
      while (Date.now() < end) {
        if (predicate(tracer.lines())) return true;
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      return predicate(tracer.lines());
    },
    async stop(signal = 'SIGINT') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`weaver did not print "Tracing" within ${options.timeoutMs ?? 60000} ms\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 60000);
    child.stderr!.setEncoding('utf8').on('data', (d) => {
      stderr += d;
      if (/^Tracing /m.test(stderr)) {
        clearTimeout(timer);
        resolve(tracer);
      }
    });
    exited.then((r) => {
      clearTimeout(timer);
      reject(new Error(`weaver exited (code ${r.code}, signal ${r.signal}) before tracing:\n${r.stderr}`));
    });
  });
}

/**
 * Whether this machine can run the privileged tests. Under CI they must run:
 * a missing capability is a failure there, never a skip.
 */
export function bpfSkipReason(): string | null {
  if (process.getuid?.() !== 0) return 'end-to-end tests need root to load BPF programs';
  return null;
}

export function requireBpfOrSkip(): boolean {
  const reason = bpfSkipReason();
  if (reason && process.env.CI) throw new Error(`${reason}, and CI must run them`);
  if (reason) console.warn(`skipping: ${reason}`);
  return reason === null;
}
