// `weaver cache clean`: removes what weaver keeps between runs under
// $XDG_CACHE_HOME/weaver (or ~/.cache/weaver): compiled BPF objects, the
// per-binary analysis, whole trace specs and this boot's kernel features
// (src/bpf/features.ts). The first three are bounded on their own
// (src/bpf/compile.ts, src/binary/probecache.ts, src/bpf/speccache.ts);
// this is for a user who wants the space back now, or
// a start from nothing.

import { readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { defaultCacheDir, InputError } from '../../core/index.js';

/** The cache root: the parent of the compile cache (bpf/) and of the binary cache (binaries/). */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return dirname(defaultCacheDir(env));
}

/** Files and bytes below `dir` (0 and 0 when it does not exist). */
function usage(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return { files, bytes };
  }
  for (const name of entries) {
    const path = join(dir, name);
    try {
      const st = statSync(path);
      if (st.isDirectory()) {
        const sub = usage(path);
        files += sub.files;
        bytes += sub.bytes;
      } else {
        files += 1;
        bytes += st.size;
      }
    } catch {
      // Removed meanwhile by another weaver.
    }
  }
  return { files, bytes };
}

export function runCacheClean(out: NodeJS.WritableStream = process.stdout, env: NodeJS.ProcessEnv = process.env): void {
  const root = cacheRoot(env);
  const before = usage(root);
  try {
    rmSync(root, { recursive: true, force: true });
  } catch (err) {
    throw new InputError(`could not remove weaver's cache ${root}: ${(err as Error).message}`, { cause: err });
  }
  const mb = (before.bytes / (1 << 20)).toFixed(1);
  out.write(before.files === 0 ? `weaver: the cache ${root} was already empty\n` : `weaver: removed ${before.files} files (${mb} MiB) from ${root}\n`);
}
