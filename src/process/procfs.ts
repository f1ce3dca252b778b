// Which program a process runs, from /proc. `/proc/PID/exe` names the file
// as the process sees it; for a process in another mount namespace (a
// container) that path means nothing here, so the file is reached through
// `/proc/PID/root`, the process's own root directory.

import { readFileSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { EnvironmentError, InputError, UsageError } from '../core/index.js';

export interface ProcessBinary {
  pid: number;
  /** A path to the executable that works in weaver's mount namespace: read it, attach uprobes to it. */
  path: string;
  /** The executable's path as the process sees it. */
  exe: string;
  /** True when the process lives in another mount namespace (a container). */
  otherMountNamespace: boolean;
  dev: number;
  ino: number;
}

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** The executable process `pid` runs; throws InputError/EnvironmentError with the reason. */
export function processBinary(pid: number, proc = '/proc'): ProcessBinary {
  const dir = `${proc}/${pid}`;
  let exe: string;
  try {
    exe = readlinkSync(`${dir}/exe`);
  } catch (err) {
    const code = errnoOf(err);
    if (statOrUndefined(dir) === undefined) throw new InputError(`no process has pid ${pid}`, { hint: 'check the pid with ps' });
    if (code === 'EACCES' || code === 'EPERM') {
      throw new EnvironmentError(`cannot see which program process ${pid} runs (permission denied)`, { hint: 'run weaver with sudo' });
    }
    throw new InputError(`process ${pid} runs no program file (a kernel thread, or it is exiting)`, { cause: err });
  }
  const real = statOrUndefined(`${dir}/exe`);
  if (!real) throw new InputError(`process ${pid} has exited`);
  const deleted = exe.endsWith(' (deleted)');
  const otherMountNamespace = mountNamespace(`${dir}`) !== mountNamespace(`${proc}/self`);
  const same = (p: string) => {
    const st = statOrUndefined(p);
    return st !== undefined && st.dev === real.dev && st.ino === real.ino;
  };
  // Prefer a path people recognise; fall back to the magic link, which the
  // kernel resolves to the very file even when it was deleted or replaced.
  let path = `${dir}/exe`;
  if (!deleted && !otherMountNamespace && same(exe)) path = exe;
  else if (!deleted && same(`${dir}/root${exe}`)) path = `${dir}/root${exe}`;
  return { pid, path, exe, otherMountNamespace, dev: real.dev, ino: real.ino };
}

function mountNamespace(dir: string): string | undefined {
  try {
    return readlinkSync(`${dir}/ns/mnt`);
  } catch {
    return undefined;
  }
}

/** Throws a UsageError unless process `p` runs the file at `binaryPath`. */
export function checkProcessRuns(p: ProcessBinary, binaryPath: string): void {
  const st = statOrUndefined(binaryPath);
  if (st && st.dev === p.dev && st.ino === p.ino) return;
  throw new UsageError(`process ${p.pid} runs ${p.exe}, not ${binaryPath}`, {
    hint: `trace it with: weaver --pid ${p.pid} (the program is then found from the process)`,
  });
}

/** Whether process `pid` still runs (a zombie has ended). */
export function processAlive(pid: number, proc = '/proc'): boolean {
  try {
    const stat = readFileSync(`${proc}/${pid}/stat`, 'utf8');
    // The state follows the command name, which is in parentheses and may hold any byte.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
