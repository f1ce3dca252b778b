// Launch mode (`weaver -f f.txt -- ./server --port 8080`): the program is
// started held back, so probes can be attached to its process before it
// runs a single instruction. A tiny /bin/sh wrapper waits for one line on
// a pipe and then execs the program: the pid does not change across exec,
// so probes attached for the wrapper's pid fire in the program.
//
// The program gets its own session (setsid): a Ctrl-C at the terminal then
// reaches weaver alone, which forwards it exactly once, instead of the
// program receiving it twice.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, join } from 'node:path';
import { InputError } from '../core/index.js';

/** The wrapper's exit status when weaver went away without releasing it. */
export const NOT_RELEASED_STATUS = 125;

// fd 3 is the pipe from weaver. `read` fails on EOF (weaver died or gave
// up): then the program must not run untraced.
const WRAPPER = `IFS= read -r _ <&3 || exit ${NOT_RELEASED_STATUS}; exec 3<&-; exec "$0" "$@"`;

export interface ProgramExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface LaunchedProgram {
  pid: number;
  /** The path that is executed. */
  path: string;
  /** Lets the program start; call once the probes are attached. */
  release(): void;
  /** Resolves when the program has ended. */
  readonly exited: Promise<ProgramExit>;
  /** Whether it has ended. */
  hasExited(): boolean;
  /** Sends a signal; false when it has already ended. */
  signal(sig: NodeJS.Signals): boolean;
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where the shell would find `command`: itself when it has a slash, else the first match on PATH. */
export function resolveCommand(command: string, pathVar: string = process.env.PATH ?? '/usr/bin:/bin'): string {
  if (command.length === 0) throw new InputError('the command to launch is empty');
  if (command.includes('/')) {
    try {
      statSync(command);
    } catch {
      throw new InputError(`cannot launch ${command}: no such file`);
    }
    if (!isExecutableFile(command)) throw new InputError(`cannot launch ${command}: it is not an executable file`);
    return command;
  }
  for (const dir of pathVar.split(delimiter)) {
    const candidate = join(dir || '.', command);
    if (isExecutableFile(candidate)) return candidate;
  }
  throw new InputError(`cannot launch ${command}: command not found in PATH`, { hint: `give its path, such as ./${command}` });
}

/**
 * Starts `path args…` held back until release(). stdin and stderr are
 * weaver's; stdout is weaver's stdout, or its stderr when weaver's stdout
 * carries events to another program.
 */
export function spawnHeld(path: string, args: string[], options: { stdout?: 'stdout' | 'stderr' } = {}): LaunchedProgram {
  const child: ChildProcess = spawn('/bin/sh', ['-c', WRAPPER, path, ...args], {
    stdio: ['inherit', options.stdout === 'stderr' ? 2 : 'inherit', 'inherit', 'pipe'],
    detached: true,
  });
  if (child.pid === undefined) throw new InputError(`cannot launch ${path}: /bin/sh could not be started`);
  const gate = child.stdio[3] as NodeJS.WritableStream & { destroy?: () => void };
  // EPIPE if the wrapper has already gone: its exit reports that.
  (gate as unknown as NodeJS.EventEmitter).on('error', () => {});
  let ended = false;
  const exited = new Promise<ProgramExit>((resolve) => {
    child.on('exit', (code, signal) => {
      ended = true;
      resolve({ code, signal });
    });
  });
  return {
    pid: child.pid,
    path,
    release() {
      gate.end('go\n');
    },
    exited,
    hasExited: () => ended,
    signal(sig) {
      if (ended) return false;
      try {
        process.kill(child.pid!, sig);
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** The shell's convention: the exit code, or 128 + the signal number when killed. */
export function exitStatusOf(exit: ProgramExit): number {
  if (exit.code !== null) return exit.code;
  const n = exit.signal ? (osConstants.signals as Record<string, number>)[exit.signal] : undefined;
  return 128 + (n ?? 0);
}

/** "exited with code 3" / "was killed by SIGTERM". */
export function describeExit(exit: ProgramExit): string {
  return exit.code !== null ? `exited with code ${exit.code}` : `was killed by ${exit.signal}`;
}

export const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** Passes these signals on to the program while it runs; returns a function that stops forwarding. */
export function forwardSignals(program: LaunchedProgram, onForward?: (sig: NodeJS.Signals) => void): () => void {
  const handlers = FORWARDED_SIGNALS.map((sig) => {
    const h = () => {
      if (program.signal(sig)) onForward?.(sig);
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  return () => {
    for (const [sig, h] of handlers) process.off(sig, h);
  };
}

/** Ends the program: SIGTERM, then SIGKILL after `graceMs`. */
export async function terminate(program: LaunchedProgram, graceMs = 3000): Promise<ProgramExit> {
  if (program.signal('SIGTERM')) {
    const timer = setTimeout(() => program.signal('SIGKILL'), graceMs);
    const exit = await program.exited;
    clearTimeout(timer);
    return exit;
  }
  return program.exited;
}
