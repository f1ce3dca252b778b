// The traced program's file changing on disk while probes sit on it. Uprobes
// belong to the file's inode at fixed offsets, so:
// - written in place (cp over it, a build that rewrites the file): the
//   offsets now land in different code, and a process started from the new
//   content gets int3 bytes in the middle of its instructions and crashes
//   (seen: SIGSEGV in the Go runtime). Tracing must stop at once.
// - replaced by rename (a new inode at the path) or removed: processes
//   already running the old file are still traced correctly; new ones run
//   the new file and are not traced. Worth one warning, not a stop.

import { statSync, watch, type FSWatcher, type Stats } from 'node:fs';
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

/**
 * Resolves with a sentence when the file at `path` is modified in place;
 * calls `warn` once if it is replaced or removed instead. Watches with
 * inotify (immediate) and checks every `intervalMs` as well (inotify does
 * not see every path, such as /proc/PID/exe).
 */
export function watchBinary(path: string, warn: (sentence: string) => void, intervalMs = 250): StopSource<string> {
  const original = identity(path);
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let warned = false;
  const cancel = () => {
    watcher?.close();
    if (timer) clearInterval(timer);
    watcher = undefined;
    timer = undefined;
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
      if (!sameFile && !warned) {
        warned = true;
        warn(
          now === undefined
            ? `${path} was removed; processes already running it are still traced`
            : `${path} was replaced on disk; processes already running it are still traced, ones started from now on are not (start weaver again to trace them)`,
        );
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
