// Where weaver keeps what it can compute again: compiled objects, per-binary
// analyses, kernel feature answers, fetched debug info. One place decides it,
// so every cache follows XDG_CACHE_HOME the same way.

import { homedir } from 'node:os';
import { join } from 'node:path';

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/') ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'weaver', 'bpf');
}
