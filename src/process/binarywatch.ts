// The traced program's file changing on disk while probes sit on it. Uprobes
// belong to the file's inode at fixed offsets, so:
// - written in place (cp over it, a build that rewrites the file): the
//   offsets now land in different code, and a process started from the new
//   content gets int3 bytes in the middle of its instructions and crashes
//   (seen: SIGSEGV in the Go runtime). Tracing must stop at once.
// - replaced by rename (a new inode at the path) or removed: processes
//   already running the old file are still traced correctly; new ones run
//   the new file and are not traced. Worth one warning, not a stop; but
//   once no path leads to the old file and no process runs it, nothing
//   traced can ever run again, and tracing every process of the binary
//   (no --pid, no launched program) ends then instead of waiting forever.

import { closeSync, fstatSync, openSync, readdirSync, statSync, watch, type FSWatcher, type Stats } from 'node:fs';
import type { StopSource } from './stop.js';

interface Identity {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

function identity(path: string): Identity | undefined {
  let st: Stats;
  try {
    st = statSync(path);
  } catch {
    return undefined;
  }
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
}

/** Whether some process in `proc` runs the file with this device and inode. */
export function anyProcessRuns(dev: number, ino: number, proc = '/proc'): boolean {
  let entries: string[];
  try {
    entries = readdirSync(proc);
  } catch {
    return true;
  }
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const st = statSync(`${proc}/${pid}/exe`);
      if (st.dev === dev && st.ino === ino) return true;
    } catch {
      // Gone, a kernel thread, or not ours to see.
    }
  }
  return false;
}

/**
 * Resolves with a sentence when the file at `path` is modified in place;
 * calls `warn` once if it is replaced or removed instead. With
 * `endWhenUntraceable`, it also resolves once the file is replaced or
 * removed, no other link to it is left and no process runs it. Watches with
 * inotify (immediate) and checks every `intervalMs` as well (inotify does
 * not see every path, such as /proc/PID/exe).
 */
export function watchBinary(
  path: string,
  warn: (sentence: string) => void,
  intervalMs = 250,
  options: { endWhenUntraceable?: boolean; proc?: string } = {},
): StopSource<string> {
  const original = identity(path);
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let warned = false;
  // Held open, so its link count says whether any path still leads to it.
  let fd: number | undefined;
  if (original && options.endWhenUntraceable) {
    try {
      fd = openSync(path, 'r');
    } catch {
      // Then only the processes are checked.
    }
  }
  const cancel = () => {
    watcher?.close();
    if (timer) clearInterval(timer);
    if (fd !== undefined) closeSync(fd);
    watcher = undefined;
    timer = undefined;
    fd = undefined;
  };
  const promise = new Promise<string>((resolve) => {
    if (!original) return;
    const check = () => {
      const now = identity(path);
      const sameFile = now !== undefined && now.dev === original.dev && now.ino === original.ino;
      if (sameFile && (now.size !== original.size || now.mtimeMs !== original.mtimeMs)) {
        cancel();
        resolve(
          `${path} was changed on disk while traced; its probes were removed at once, since they now sit in different code (start weaver again to trace the new program)`,
        );
        return;
      }
      if (sameFile) return;
      const ends = options.endWhenUntraceable ? ', and weaver ends once none is left' : '';
      if (!warned) {
        warned = true;
        warn(
          now === undefined
            ? `${path} was removed; processes already running it are still traced${ends}`
            : `${path} was replaced on disk; processes already running it are still traced, ones started from now on are not (start weaver again to trace them)${ends}`,
        );
      }
      if (!options.endWhenUntraceable) return;
      const linked = fd !== undefined && fstatSync(fd).nlink > 0;
      if (!linked && !anyProcessRuns(original.dev, original.ino, options.proc)) {
        cancel();
        resolve(`${path} was ${now === undefined ? 'removed' : 'replaced'} and no process runs the traced file any more: nothing is left to trace`);
      }
    };
    try {
      watcher = watch(path, { persistent: false }, check);
      watcher.on('error', () => {});
    } catch {
      // Not watchable (some /proc paths): the interval still checks.
    }
    timer = setInterval(check, intervalMs);
    timer.unref();
  });
  return { promise, cancel };
}
