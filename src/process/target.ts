// What to trace, from the command line: a binary (every process running
// it), running processes (--pid, the binary found through /proc), or a
// program to launch (after --).

import { UsageError } from '../core/index.js';
import { resolveCommand } from './launch.js';
import { checkProcessRuns, processBinary, type ProcessBinary } from './procfs.js';

export interface TargetFlags {
  binary?: string;
  command?: string[];
  pids: number[];
}

export interface TargetChoice {
  /** The executable to read and attach probes to. */
  binaryPath: string;
  /** Attach for these processes only; empty: every process running the binary. */
  pids: number[];
  /** The --pid processes, as found in /proc. */
  processes: ProcessBinary[];
  /** Launch mode: start this program (resolved path) with these arguments. */
  launch?: { path: string; args: string[] };
}

export function chooseTarget(flags: TargetFlags, proc = '/proc'): TargetChoice {
  const pids = [...new Set(flags.pids)];
  if (flags.command) {
    if (pids.length > 0) {
      throw new UsageError('--pid traces processes that already run, so it cannot be combined with a program to launch after --');
    }
    const path = resolveCommand(flags.command[0]!);
    return { binaryPath: path, pids: [], processes: [], launch: { path, args: flags.command.slice(1) } };
  }
  if (pids.length > 0) {
    const processes = pids.map((pid) => processBinary(pid, proc));
    if (flags.binary !== undefined) {
      for (const p of processes) checkProcessRuns(p, flags.binary);
      return { binaryPath: flags.binary, pids, processes };
    }
    const first = processes[0]!;
    const other = processes.find((p) => p.dev !== first.dev || p.ino !== first.ino);
    if (other) {
      throw new UsageError(`processes ${first.pid} and ${other.pid} run different programs (${first.exe} and ${other.exe})`, {
        hint: 'trace each program with its own weaver',
      });
    }
    return { binaryPath: first.path, pids, processes };
  }
  if (flags.binary === undefined) {
    throw new UsageError('missing the Go program to trace', {
      hint: 'usage: weaver <binary> -f funcs.txt, weaver -f funcs.txt -- <program> [args...], or weaver --pid <pid> -f funcs.txt (see weaver --help)',
    });
  }
  return { binaryPath: flags.binary, pids: [], processes: [] };
}
