// Where a program's separate debug file may be on this machine, in the
// order gdb looks: the build-ID tree under each debug root first (the name
// is the ID, so it cannot be another build's), then the .gnu_debuglink name
// beside the program, in .debug/ beside it, and under each debug root
// followed by the program's directory (checked by the link's CRC32).
// The debug roots are /usr/lib/debug, or the colon-separated directories of
// WEAVER_DEBUG_FILE_DIRECTORY (gdb's `set debug-file-directory`).

import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ElfFile } from '../elf/file.js';
import { idMismatch, lookupId, readBuildIds, type BuildIds } from './buildid.js';
import { fileCrc, readDebugLink } from './debuglink.js';

export const DEFAULT_DEBUG_ROOT = '/usr/lib/debug';
export const DEBUG_ROOT_ENV = 'WEAVER_DEBUG_FILE_DIRECTORY';

/** A debug file found for a program: where, how (said with -v), and the file read. */
export interface FoundDebugFile {
  path: string;
  how: string;
  elf: ElfFile;
}

/** One place to look, and what must hold for the file there to be used. */
export interface Candidate {
  path: string;
  how: string;
  /** The CRC32 the .gnu_debuglink asks for; absent for build-ID paths (checked by ID). */
  crc?: number;
}

/** The debug roots, from the environment or the default. */
export function debugRoots(env: NodeJS.ProcessEnv = process.env): string[] {
  const value = env[DEBUG_ROOT_ENV];
  if (value === undefined || value.trim() === '') return [DEFAULT_DEBUG_ROOT];
  return value.split(':').filter((d) => d !== '');
}

/** `<root>/.build-id/xx/yyyy.debug` for an ID in hex. */
export function buildIdPath(root: string, idHex: string): string {
  return join(root, '.build-id', idHex.slice(0, 2), `${idHex.slice(2)}.debug`);
}

/** Every place to look for the debug file of the program at `realPath`, in order. */
export function candidates(realPath: string, ids: BuildIds, link: { file: string; crc: number } | null, roots: string[]): Candidate[] {
  const out: Candidate[] = [];
  const id = lookupId(ids);
  if (id) {
    const kind = ids.gnu ? 'GNU build ID' : 'Go build ID';
    for (const root of roots) out.push({ path: buildIdPath(root, id), how: `found by its ${kind} in ${join(root, '.build-id')}` });
  }
  if (link) {
    const dir = dirname(realPath);
    const how = `found by .gnu_debuglink ${link.file}, CRC32 checked`;
    out.push({ path: join(dir, link.file), how, crc: link.crc });
    out.push({ path: join(dir, '.debug', link.file), how, crc: link.crc });
    for (const root of roots) out.push({ path: join(root, dir, link.file), how, crc: link.crc });
  }
  return out;
}

/**
 * The first candidate that is the program's debug file, or null. A file
 * that is there but wrong (another build, not ELF, no DWARF) is skipped
 * with a warning, as gdb does, since the user may expect it to be used.
 */
export function findLocalDebugFile(program: ElfFile, warn: (line: string) => void, env: NodeJS.ProcessEnv = process.env, tried: string[] = []): FoundDebugFile | null {
  let realPath: string;
  try {
    realPath = realpathSync(program.path);
  } catch {
    realPath = program.path;
  }
  const ids = readBuildIds(program);
  for (const c of candidates(realPath, ids, readDebugLink(program), debugRoots(env))) {
    tried.push(c.path);
    if (!isFile(c.path)) continue;
    // A debug link naming the program itself (a file linked to its own name).
    if (sameFile(c.path, realPath)) continue;
    let bytes: Buffer;
    try {
      bytes = readFileSync(c.path);
    } catch (err) {
      warn(`${c.path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); skipped`);
      continue;
    }
    if (c.crc !== undefined) {
      const crc = fileCrc(bytes);
      if (crc !== c.crc) {
        warn(`${c.path} is not the debug file of ${program.path}: its CRC32 is ${hex8(crc)} but .gnu_debuglink asks for ${hex8(c.crc)}; skipped`);
        continue;
      }
    }
    const problem = debugFileProblem(bytes, c.path, ids);
    if (typeof problem === 'string') {
      warn(`${c.path} ${problem}; skipped`);
      continue;
    }
    return { path: c.path, how: c.how, elf: problem };
  }
  return null;
}

/**
 * The parsed debug file when it can serve a program with build IDs `ids`,
 * else why not (a phrase that follows the file name).
 */
export function debugFileProblem(bytes: Buffer, path: string, ids: BuildIds): ElfFile | string {
  let elf: ElfFile;
  try {
    elf = ElfFile.parse(bytes, path);
  } catch (err) {
    return `cannot be used as a debug file: ${(err as Error).message}`;
  }
  const mismatch = idMismatch(ids, readBuildIds(elf));
  if (mismatch) return `is the debug file of another build: ${mismatch}`;
  if (!hasDwarf(elf)) return 'has no DWARF debug information';
  return elf;
}

export function hasDwarf(elf: ElfFile): boolean {
  const info = elf.section('.debug_info') ?? elf.section('.zdebug_info');
  return info !== undefined && info.data.length > 0;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === b;
  } catch {
    return false;
  }
}

function hex8(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
