// A debuginfod client: asks each server of DEBUGINFOD_URLS (separated by
// spaces, tried in order) for `GET <url>/buildid/<id>/debuginfo`, and keeps
// what it gets under weaver's cache root in debuginfo/<id>.debug, so the next
// run needs no network. A server is given up on when it sends nothing for
// DEBUGINFOD_TIMEOUT seconds (default 20). The cache keeps the most recently
// used 32 files and 512 MiB at most, and a download larger than that limit
// is refused.

import { cachedFiles, leastRecentlyUsed } from '../../core/index.js';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const DEFAULT_TIMEOUT_S = 20;
export const MAX_CACHED_FILES = 32;
export const MAX_CACHED_BYTES = 512 << 20;

export interface DebuginfodOptions {
  env: NodeJS.ProcessEnv;
  /** Where downloads are kept; null: neither read nor written. */
  cacheDir: string | null;
  /**
   * Null when the bytes are the wanted debug file, else why not (a phrase
   * after "the file from <url>"): only accepted files are cached.
   */
  accept: (bytes: Buffer, url: string) => string | null;
}

export type DebuginfodAnswer =
  | { found: true; bytes: Buffer; url: string; path: string | null; cached: boolean }
  | { found: false; problems: string[] };

/** The servers of DEBUGINFOD_URLS; [] when unset. */
export function debuginfodUrls(env: NodeJS.ProcessEnv): string[] {
  return (env.DEBUGINFOD_URLS ?? '').split(/\s+/).filter((u) => u !== '').map((u) => u.replace(/\/+$/, ''));
}

/** Seconds without data after which a server is given up on. */
export function debuginfodTimeoutS(env: NodeJS.ProcessEnv): number {
  const raw = env.DEBUGINFOD_TIMEOUT;
  if (raw === undefined || !/^\d+$/.test(raw.trim()) || Number(raw) <= 0) return DEFAULT_TIMEOUT_S;
  return Number(raw);
}

/** The debug file with ID `idHex` from the cache or the first server that has it. */
export async function fetchDebugInfo(idHex: string, opts: DebuginfodOptions): Promise<DebuginfodAnswer> {
  const cached = opts.cacheDir === null ? null : readCached(opts.cacheDir, idHex);
  if (cached && opts.accept(cached.bytes, cached.path) === null) {
    return { found: true, bytes: cached.bytes, url: cached.path, path: cached.path, cached: true };
  }
  const problems: string[] = [];
  const timeoutS = debuginfodTimeoutS(opts.env);
  for (const url of debuginfodUrls(opts.env)) {
    const got = await download(`${url}/buildid/${idHex}/debuginfo`, url, idHex, timeoutS);
    if (typeof got === 'string') {
      problems.push(got);
      continue;
    }
    const wrong = opts.accept(got, url);
    if (wrong) {
      problems.push(`the file from ${url} ${wrong}`);
      continue;
    }
    const path = opts.cacheDir === null ? null : store(opts.cacheDir, idHex, got);
    return { found: true, bytes: got, url, path, cached: false };
  }
  return { found: false, problems };
}

/** The body of a 200 answer, or one sentence saying why there is none. */
async function download(target: string, server: string, idHex: string, timeoutS: number): Promise<Buffer | string> {
  const abort = new AbortController();
  let timer = setTimeout(() => abort.abort(), timeoutS * 1000);
  const quiet = () => {
    clearTimeout(timer);
    timer = setTimeout(() => abort.abort(), timeoutS * 1000);
  };
  const tooSlow = `the debuginfod server ${server} sent nothing for ${timeoutS} s (DEBUGINFOD_TIMEOUT)`;
  try {
    let res: Response;
    try {
      res = await fetch(target, { signal: abort.signal });
    } catch (err) {
      if (abort.signal.aborted) return tooSlow;
      return `the debuginfod server ${server} cannot be reached: ${networkReason(err)}`;
    }
    if (res.status === 404) {
      await res.body?.cancel();
      return `the debuginfod server ${server} has no debug information for build ID ${idHex} (HTTP 404)`;
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      return `the debuginfod server ${server} answered HTTP ${res.status} for build ID ${idHex}`;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body ?? []) {
        quiet();
        size += chunk.length;
        if (size > MAX_CACHED_BYTES) {
          abort.abort();
          return `the debug file from ${server} is larger than ${MAX_CACHED_BYTES >> 20} MiB; download it yourself and give it with --debug-file`;
        }
        chunks.push(Buffer.from(chunk));
      }
    } catch (err) {
      if (abort.signal.aborted) return tooSlow;
      return `the download from the debuginfod server ${server} broke off: ${networkReason(err)}`;
    }
    return Buffer.concat(chunks, size);
  } finally {
    clearTimeout(timer);
  }
}

/** The system error code under fetch's "fetch failed" (ECONNREFUSED, ENOTFOUND, …). */
function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

function cachePath(dir: string, idHex: string): string {
  return join(dir, `${idHex}.debug`);
}

function readCached(dir: string, idHex: string): { bytes: Buffer; path: string } | null {
  const path = cachePath(dir, idHex);
  try {
    const bytes = readFileSync(path);
    // Its modification time says when it was last used, for pruning.
    const now = new Date();
    utimesSync(path, now, now);
    return { bytes, path };
  } catch {
    return null;
  }
}

/** Writes a download to the cache (whole or not at all); null when the cache cannot be written. */
function store(dir: string, idHex: string, bytes: Buffer): string | null {
  const path = cachePath(dir, idHex);
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
    pruneDebugCache(dir);
    return path;
  } catch {
    rmSync(tmp, { force: true });
    return null;
  }
}

/** Keeps the most recently used files within MAX_CACHED_FILES and `maxBytes`; the newest always stays. */
export function pruneDebugCache(dir: string, keep = MAX_CACHED_FILES, maxBytes = MAX_CACHED_BYTES): void {
  for (const f of leastRecentlyUsed(cachedFiles(dir, /\.debug$/), keep, maxBytes)) rmSync(f.path, { force: true });
}
