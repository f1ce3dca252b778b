// .gnu_debuglink: the name of a program's debug file and the CRC32 of that
// file's contents, added by `objcopy --add-gnu-debuglink`. The name is a
// NUL-terminated string padded to 4 bytes, then the CRC (little-endian here).

import { crc32 } from 'node:zlib';
import type { ElfFile } from '../elf/file.js';

export interface DebugLink {
  /** A file name, without directories. */
  file: string;
  crc: number;
}

/** The program's debug link, or null when it has none or it is malformed. */
export function readDebugLink(elf: ElfFile): DebugLink | null {
  const data = elf.section('.gnu_debuglink')?.data;
  if (!data) return null;
  const nul = data.indexOf(0);
  if (nul <= 0) return null;
  const crcAt = Math.ceil((nul + 1) / 4) * 4;
  if (crcAt + 4 > data.length) return null;
  const file = data.toString('utf8', 0, nul);
  // Only a plain name: a link cannot send weaver to another directory.
  if (file.includes('/') || file === '.' || file === '..') return null;
  return { file, crc: data.readUInt32LE(crcAt) };
}

/** The CRC32 (IEEE, as zlib and gdb compute it) of a file's bytes. */
export function fileCrc(bytes: Buffer): number {
  return crc32(bytes) >>> 0;
}
