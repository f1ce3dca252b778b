// Separate debug information for a program shipped without DWARF, found as
// gdb, perf and Delve find it: a file given with --debug-file, the build-ID
// tree and .gnu_debuglink on this machine (lookup.ts), then the debuginfod
// servers of DEBUGINFOD_URLS (debuginfod.ts). The program's ElfFile then
// reads its DWARF sections from that file; symbols, .gopclntab and every
// address stay the program's own.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { defaultCacheDir, InputError } from '../../core/index.js';
import { ElfFile } from '../elf/file.js';
import { idMismatch, lookupId, readBuildIds } from './buildid.js';
import { debugFileProblem, findLocalDebugFile, hasDwarf, type FoundDebugFile } from './lookup.js';

export { readBuildIds, lookupId, idMismatch } from './buildid.js';
export { debugRoots, buildIdPath, DEBUG_ROOT_ENV } from './lookup.js';

export interface DebugInfoOptions {
  /** --debug-file: use this file, checked against the program's build ID. */
  debugFile?: string;
  /** False with --no-cache: debuginfod downloads are neither read from nor kept in the cache. */
  cache?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Writes one line to stderr (without the `weaver: ` prefix). */
  say: (line: string) => void;
  verbose: boolean;
}

/** $XDG_CACHE_HOME/weaver/debuginfo (or ~/.cache/weaver/debuginfo). */
export function debuginfodCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(dirname(defaultCacheDir(env)), 'debuginfo');
}

/**
 * Reads the program at `path` and, when it has no DWARF or --debug-file is
 * given, gives it the DWARF of its separate debug file. Without one the
 * program is returned as it is (what follows then says it has no DWARF).
 */
export async function openWithDebugInfo(path: string, opts: DebugInfoOptions): Promise<ElfFile> {
  const program = ElfFile.read(path);
  const found = await findDebugFile(program, opts);
  if (found) {
    program.useDwarfFrom(found.elf);
    if (opts.verbose) opts.say(`debug info from ${found.path} (${found.how})`);
  }
  return program;
}

/** The program's debug file, or null when none is needed or none was found. */
export async function findDebugFile(program: ElfFile, opts: DebugInfoOptions): Promise<FoundDebugFile | null> {
  const env = opts.env ?? process.env;
  if (opts.debugFile !== undefined) return givenDebugFile(program, opts.debugFile);
  if (hasDwarf(program)) return null;
  const tried: string[] = [];
  const local = findLocalDebugFile(program, opts.say, env, tried);
  if (local) return local;
  const remote = env.DEBUGINFOD_URLS?.trim() ? await fromDebuginfod(program, opts, env) : null;
  if (!remote && opts.verbose) {
    opts.say(`no separate debug info for ${program.path}: looked for ${tried.length ? tried.join(', ') : 'nothing (it has no build ID and no .gnu_debuglink)'}${env.DEBUGINFOD_URLS?.trim() ? ' and asked DEBUGINFOD_URLS' : ' (DEBUGINFOD_URLS is not set)'}`);
  }
  return remote;
}

/** --debug-file: any problem with it is an error, since the user asked for it. */
function givenDebugFile(program: ElfFile, path: string): FoundDebugFile {
  const elf = ElfFile.read(path);
  const mismatch = idMismatch(readBuildIds(program), readBuildIds(elf));
  if (mismatch) {
    throw new InputError(`${path} is not the debug file of ${program.path}: ${mismatch}`, {
      hint: 'give the debug file made from this very build of the program',
    });
  }
  if (!hasDwarf(elf)) {
    throw new InputError(`${path} has no DWARF debug information`, {
      hint: 'a debug file is made with objcopy --only-keep-debug from a build that has DWARF',
    });
  }
  return { path, how: 'given with --debug-file', elf };
}

async function fromDebuginfod(program: ElfFile, opts: DebugInfoOptions, env: NodeJS.ProcessEnv): Promise<FoundDebugFile | null> {
  const ids = readBuildIds(program);
  const id = lookupId(ids);
  if (!id) {
    opts.say(`${program.path} has no build ID, so debuginfod servers cannot be asked for its debug information`);
    return null;
  }
  const { fetchDebugInfo } = await import('./debuginfod.js');
  const parsed = new Map<Buffer, ElfFile>();
  const answer = await fetchDebugInfo(id, {
    env,
    cacheDir: opts.cache === false ? null : debuginfodCacheDir(env),
    accept: (bytes, where) => {
      const result = debugFileProblem(bytes, where, ids);
      if (typeof result === 'string') return result;
      parsed.set(bytes, result);
      return null;
    },
  });
  if (!answer.found) {
    for (const problem of answer.problems) opts.say(problem);
    return null;
  }
  const elf = parsed.get(answer.bytes) ?? ElfFile.parse(readFileSync(answer.path!), answer.path!);
  const how = answer.cached ? 'kept from an earlier debuginfod download' : `downloaded from the debuginfod server ${answer.url}`;
  return { path: answer.path ?? `${answer.url}/buildid/${id}/debuginfo`, how, elf };
}
