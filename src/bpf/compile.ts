// Compiles generated C to a BPF object with clang, caching objects by a
// hash of everything that determines them (the C text, the shared header,
// the clang version), so a second start with the same functions does not
// compile again. An unwritable cache directory only costs the cache. The
// cache is bounded (CACHE_MAX_BYTES): after each store, the objects used
// least recently (a hit refreshes an object's mtime) go until it fits.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cachedFiles, defaultCacheDir, EnvironmentError, leastRecentlyUsed, WeaverError } from '../core/index.js';
import { executableIdentity, keepVersion, keptVersion } from './clangversion.js';

const run = promisify(execFile);

/** The compile cache's bound: objects of a few hundred functions take 1–5 MB each. */
export const CACHE_MAX_BYTES = 64 << 20;

/** The directory with weaver.h, shipped beside dist/ and src/. */
export const BPF_INCLUDE_DIR = fileURLToPath(new URL('../../bpf/', import.meta.url));

export interface CompileResult {
  object: Buffer;
  cached: boolean;
  /** The cache file, or null when the cache could not be used. */
  cachePath: string | null;
}

/**
 * Weaver and the clangs it runs side by side stay under this: a unit's
 * clang starts beside others only if it fits (one always runs).
 */
export const COMPILE_MEMORY_BUDGET = 400 << 20;

/** clang's resident pages that are its libraries (libLLVM, libclang-cpp), shared by every clang running: 81 MB for clang 14. */
const CLANG_SHARED_BYTES = 80 << 20;

/** The functions a unit defines: its readers, its shapes, and every noinline function (those and the deferreturn shape). */
function definedFunctions(unit: string): { readers: number; shapes: number; all: number } {
  return {
    readers: unit.match(/^WEAVER_SHARED __attribute__\(\(noinline\)\) int weaver_v/gm)?.length ?? 0,
    shapes: unit.match(/^__attribute__\(\(noinline\)\) int weaver_s/gm)?.length ?? 0,
    all: unit.match(/__attribute__\(\(noinline\)\) int weaver_/g)?.length ?? 0,
  };
}

/**
 * clang's peak resident memory for a unit, from the functions it defines
 * (clang 14, -O2 -g, measured on units of 0 to 242 functions: 96, 118, 139,
 * 146, 159 MB; the text's length matters little: bench/README.md 3d).
 */
export function clangPeakBytes(unit: string): number {
  return (96 << 20) + definedFunctions(unit).all * 190_000 + unit.length * 16;
}

/**
 * clang's time for a unit, in ms, from what it defines: a reader ~9.5 ms,
 * a shape ~5 ms, a line of other text (the type table) ~0.01 ms (clang 14,
 * -O2 -g, units of pprof: 100 readers 0.95 s, 130 shapes 0.67 s). Only the
 * order matters: the longest start first, so the last to finish on a busy
 * CPU is a short one.
 */
export function clangMsEstimate(unit: string): number {
  const { readers, shapes } = definedFunctions(unit);
  return 80 + readers * 9.5 + shapes * 5 + unit.length / 1000;
}

/**
 * How many of `estimates` (clangs' peaks, running or waiting) fit beside
 * weaver's `ownBytes` in `budget`: the libraries clangs share are counted
 * once. At least one, at most `cpus`.
 */
export function clangsThatFit(ownBytes: number, estimates: number[], budget: number, cpus: number): number {
  let total = ownBytes + CLANG_SHARED_BYTES;
  let n = 0;
  for (const e of estimates) {
    if (n >= cpus) break;
    total += e - CLANG_SHARED_BYTES;
    if (n > 0 && total > budget) break;
    n++;
  }
  return Math.max(1, n);
}

export interface CompileOptions {
  clang?: string;
  /** Bytes weaver and its clangs may take together (default COMPILE_MEMORY_BUDGET). */
  memoryBudget?: number;
  /** Overrides the cache directory (default: $XDG_CACHE_HOME/weaver or ~/.cache/weaver). */
  cacheDir?: string | null;
  /** Called with a reason when the cache cannot be used. */
  warn?: (message: string) => void;
}

/** `clang --version` by clang path, asked once per process. */
const clangVersions = new Map<string, Promise<string>>();

/**
 * The first line of `clang --version`, from the cache directory when this
 * clang executable was asked before (see clangversion.ts), else from clang.
 */
async function clangVersion(clang: string, cacheDir: string | null = defaultCacheDir()): Promise<string> {
  let version = clangVersions.get(clang);
  if (!version) {
    const identity = cacheDir ? executableIdentity(clang) : null;
    const kept = cacheDir && identity ? keptVersion(cacheDir, identity) : null;
    version = kept !== null ? Promise.resolve(kept) : run(clang, ['--version']).then(
      (r) => {
        const line = r.stdout.split('\n')[0] ?? '';
        if (cacheDir && identity && line) keepVersion(cacheDir, identity, line);
        return line;
      },
      (err: NodeJS.ErrnoException) => {
        clangVersions.delete(clang);
        if (err.code === 'ENOENT') {
          throw new EnvironmentError('clang is not installed, and weaver needs it to compile its BPF programs', {
            hint: 'run npm run setup, or apt-get install clang',
            cause: err,
          });
        }
        throw new EnvironmentError(`could not run ${clang}: ${err.message}`, { cause: err });
      },
    );
    clangVersions.set(clang, version);
  }
  return version;
}

/**
 * Starts asking clang for its version, which every compile (cached or not)
 * needs: a start-up can run it while it reads the binary instead of waiting
 * for it afterwards. Errors are reported by compileBpf, not here.
 */
export function prepareClang(clang = 'clang', cacheDir: string | null = defaultCacheDir()): void {
  clangVersion(clang, cacheDir).catch(() => {});
}

export function clangArgs(source: string, output: string): string[] {
  return [
    '-O2', '-g', '-target', 'bpf', '-D__TARGET_ARCH_x86',
    '-Wall', '-Wno-unused-function', '-Werror=implicit-function-declaration',
    '-I', BPF_INCLUDE_DIR, '-I', '/usr/include/x86_64-linux-gnu',
    '-c', source, '-o', output,
  ];
}

/**
 * Compiles a program given as one or more compile units (src/bpf/codegen.ts
 * generateUnits). Each unit is compiled and cached on its own, up to one
 * clang per CPU at a time; several are then joined into one object by
 * libbpf's static linker (bpftool gen object), which keeps one copy of what
 * every unit defines weak. The joined object is cached too.
 */
export async function compileBpf(cSource: string | string[], options: CompileOptions = {}): Promise<CompileResult> {
  const units = typeof cSource === 'string' ? [cSource] : cSource;
  if (units.length === 1) return compileUnit(units[0]!, options);
  const clang = options.clang ?? 'clang';
  const cacheDir = options.cacheDir === undefined ? defaultCacheDir() : options.cacheDir;
  const version = await clangVersion(clang, cacheDir);
  const header = readFileSync(join(BPF_INCLUDE_DIR, 'weaver.h'));
  const key = createHash('sha256').update('linked\0').update(version).update('\0').update(header);
  for (const u of units) key.update('\0').update(u);
  const cachePath = cacheDir ? join(cacheDir, `${key.digest('hex')}.o`) : null;
  const hit = fromCache(cachePath);
  if (hit) return hit;
  const objects = await compileWithinBudget(units, options);
  const work = mkdtempSync(join(tmpdir(), 'weaver-ld-'));
  try {
    const inputs = objects.map((o, i) => {
      const path = join(work, `unit${i}.o`);
      writeFileSync(path, o.object);
      return path;
    });
    const out = join(work, 'weaver.bpf.o');
    try {
      await run('bpftool', ['gen', 'object', out, ...inputs], { maxBuffer: 16 * 1024 * 1024 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new EnvironmentError('bpftool is not installed, and weaver needs it to join its BPF programs', {
          hint: 'run npm run setup, or apt-get install bpftool',
          cause: err,
        });
      }
      throw toolFailure(err, 'LinkerOutput', (stderr) => `libbpf's linker could not join the compiled BPF units: ${stderr.split('\n').pop() ?? ''}`);
    }
    const object = readFileSync(out);
    return { object, cached: false, cachePath: storeInCache(cachePath, object, options.warn) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Compiles the units, the longest first, up to one clang per CPU at a time
 * while weaver and its clangs fit in the memory budget (one clang always
 * runs); results in the units' order. Cached units cost no clang and are
 * not counted.
 */
async function compileWithinBudget(units: string[], options: CompileOptions): Promise<CompileResult[]> {
  const clang = options.clang ?? 'clang';
  const cacheDir = options.cacheDir === undefined ? defaultCacheDir() : options.cacheDir;
  const version = await clangVersion(clang, cacheDir);
  const header = readFileSync(join(BPF_INCLUDE_DIR, 'weaver.h'));
  const results = new Array<CompileResult>(units.length);
  const todo: number[] = [];
  units.forEach((u, i) => {
    const hit = fromCache(unitCachePath(u, version, header, options));
    if (hit) results[i] = hit;
    else todo.push(i);
  });
  // Longest first (a stable sort: equal units keep their order).
  const ms = units.map(clangMsEstimate);
  todo.sort((a, b) => ms[b]! - ms[a]!);
  const budget = options.memoryBudget ?? COMPILE_MEMORY_BUDGET;
  const cpus = Math.max(1, availableParallelism());
  const estimate = todo.map((i) => clangPeakBytes(units[i]!));
  // Each running clang, by the estimate of its unit's peak.
  const running = new Map<Promise<void>, number>();
  for (const [k, i] of todo.entries()) {
    // Wait until this unit's clang fits beside the running ones (or none runs).
    while (running.size > 0 && clangsThatFit(process.memoryUsage().rss, [...running.values(), estimate[k]!], budget, cpus) <= running.size) {
      await Promise.race(running.keys());
    }
    const job: Promise<void> = compileUnit(units[i]!, options).then((r) => {
      results[i] = r;
      running.delete(job);
    });
    running.set(job, estimate[k]!);
  }
  await Promise.all(running.keys());
  return results;
}

function unitCachePath(cSource: string, version: string, header: Buffer, options: CompileOptions): string | null {
  const key = createHash('sha256').update(version).update('\0').update(header).update('\0').update(cSource).digest('hex');
  const cacheDir = options.cacheDir === undefined ? defaultCacheDir() : options.cacheDir;
  return cacheDir ? join(cacheDir, `${key}.o`) : null;
}

async function compileUnit(cSource: string, options: CompileOptions): Promise<CompileResult> {
  const clang = options.clang ?? 'clang';
  const cacheDir = options.cacheDir === undefined ? defaultCacheDir() : options.cacheDir;
  const version = await clangVersion(clang, cacheDir);
  const header = readFileSync(join(BPF_INCLUDE_DIR, 'weaver.h'));
  const cachePath = unitCachePath(cSource, version, header, options);
  const hit = fromCache(cachePath);
  if (hit) return hit;

  const work = mkdtempSync(join(tmpdir(), 'weaver-cc-'));
  try {
    const src = join(work, 'weaver.bpf.c');
    const obj = join(work, 'weaver.bpf.o');
    writeFileSync(src, cSource);
    try {
      await run(clang, clangArgs(src, obj), { maxBuffer: 16 * 1024 * 1024 });
    } catch (err) {
      throw toolFailure(err, 'ClangOutput', (stderr) => {
        const firstError = stderr.split('\n').find((l) => l.includes('error:')) ?? stderr.split('\n')[0] ?? '';
        return `clang could not compile the generated BPF program: ${firstError.replace(/^.*?error: /, '')}`;
      });
    }
    const object = readFileSync(obj);
    return { object, cached: false, cachePath: storeInCache(cachePath, object, options.warn) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A cached object, its use recorded for the cache's bound; null when not cached (or unreadable). */
function fromCache(cachePath: string | null): CompileResult | null {
  if (!cachePath) return null;
  try {
    const object = readFileSync(cachePath);
    touch(cachePath);
    return { object, cached: true, cachePath };
  } catch {
    return null;
  }
}

/** clang or the linker failed: one sentence from its output, the whole output kept for -v. */
function toolFailure(err: unknown, outputName: string, sentence: (stderr: string) => string): WeaverError {
  const stderr = String((err as { stderr?: string }).stderr ?? '').trim();
  return new WeaverError(sentence(stderr), {
    hint: `run with --emit c to see the generated program, and -v for the full ${outputName === 'ClangOutput' ? 'compiler' : 'linker'} output`,
    cause: Object.assign(new Error(stderr), { name: outputName }),
  });
}

function storeInCache(cachePath: string | null, object: Buffer, warn?: (m: string) => void): string | null {
  if (!cachePath) return null;
  try {
    mkdirSync(join(cachePath, '..'), { recursive: true });
    // Write then rename, so a concurrent weaver never reads half an object.
    const tmp = `${cachePath}.${process.pid}.tmp`;
    writeFileSync(tmp, object);
    renameSync(tmp, cachePath);
    pruneCache(join(cachePath, '..'), CACHE_MAX_BYTES);
    return cachePath;
  } catch (err) {
    warn?.(`compile cache ${join(cachePath, '..')} is not writable (${(err as Error).message}); compiling without it`);
    return null;
  }
}

/** Marks a cached object as just used (atime is often not kept: relatime, noatime). */
function touch(path: string): void {
  try {
    const now = new Date();
    utimesSync(path, now, now);
  } catch {
    // A read-only cache still serves hits.
  }
}

/** Removes the least recently used objects in `dir` until their sizes add up to at most `maxBytes` (core's cache rule). */
export function pruneCache(dir: string, maxBytes: number): void {
  for (const o of leastRecentlyUsed(cachedFiles(dir, /\.o$/), Infinity, maxBytes)) rmSync(o.path, { force: true });
}
