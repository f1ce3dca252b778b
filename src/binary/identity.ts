// Which build of a Go binary a cached answer belongs to: the per-binary
// cache (probecache.ts) and the kept trace specs (src/bpf/speccache.ts)
// are only used for the very file they were made from. A file is its
// inode, size and times, and its Go build ID or, when it has none or was
// written in the last seconds, a hash of its contents.

import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import type { ElfFile } from './elf/file.js';

/** Which build of a binary a cached answer was made from. */
export interface BinaryIdentity {
  /** The Go build ID, or `sha256:<hex>` of the whole file when it has none. */
  id: string;
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  ino: number;
}

/**
 * The Go build ID from the .note.go.buildid note (name "Go", type 4), or
 * null when there is none or it is empty (`-ldflags=-buildid=`).
 */
export function goBuildId(elf: ElfFile): string | null {
  const note = elf.section('.note.go.buildid')?.data;
  if (!note || note.length < 16) return null;
  const namesz = note.readUInt32LE(0);
  const descsz = note.readUInt32LE(4);
  const type = note.readUInt32LE(8);
  const descStart = 12 + Math.ceil(namesz / 4) * 4;
  if (type !== 4 || note.toString('latin1', 12, 14) !== 'Go' || descStart + descsz > note.length || descsz === 0) return null;
  return note.toString('latin1', descStart, descStart + descsz);
}

/** How old a binary's mtime must be for its build ID to identify it (see binaryIdentity). */
const RACY_NS = 2_000_000_000n;

/** The identity of the file `elf` was read from, if the file on disk is still that one. */
export function binaryIdentity(elf: ElfFile): BinaryIdentity | null {
  try {
    const st = statSync(elf.path, { bigint: true });
    if (st.size !== BigInt(elf.buffer.length)) return null;
    // File times are as coarse as the kernel's clock tick: a file changed in
    // place within a tick of being read keeps its times (git's "racy"
    // files). One written in the last seconds is identified by its
    // contents, which a hit then hashes; an older one by its build ID.
    const recent = BigInt(Date.now()) * 1_000_000n - st.mtimeNs < RACY_NS;
    const buildId = recent ? null : goBuildId(elf);
    const id = buildId ?? `sha256:${sha256(elf.buffer)}`;
    return { id, size: elf.buffer.length, mtimeNs: st.mtimeNs.toString(), ctimeNs: st.ctimeNs.toString(), ino: Number(st.ino) };
  } catch {
    return null;
  }
}

/** True when the file at `path` is the build `binary` describes: same inode, size and times, and the same build ID or contents. */
export function isCurrentBuild(path: string, binary: BinaryIdentity): boolean {
  const st = statSync(path, { bigint: true });
  if (st.size !== BigInt(binary.size) || st.mtimeNs.toString() !== binary.mtimeNs || st.ctimeNs.toString() !== binary.ctimeNs || Number(st.ino) !== binary.ino) {
    return false;
  }
  if (binary.id.startsWith('sha256:')) return binary.id === `sha256:${sha256(readFileSync(path))}`;
  return readGoBuildId(path) === binary.id;
}

/**
 * The Go build ID of the ELF file at `path`, read as goBuildId reads it
 * (the .note.go.buildid section) with a few small reads instead of the
 * whole file; null when it cannot be found this way.
 */
export function readGoBuildId(path: string): string | null {
  const fd = openSync(path, 'r');
  try {
    const at = (offset: number, length: number): Buffer => {
      const buf = Buffer.alloc(length);
      const n = readSync(fd, buf, 0, length, offset);
      if (n !== length) throw new Error('short read');
      return buf;
    };
    const ehdr = at(0, 64);
    // ELF64, little-endian: what weaver traces.
    if (ehdr.readUInt32BE(0) !== 0x7f454c46 || ehdr[4] !== 2 || ehdr[5] !== 1) return null;
    const shoff = Number(ehdr.readBigUInt64LE(0x28));
    const shentsize = ehdr.readUInt16LE(0x3a);
    const shnum = ehdr.readUInt16LE(0x3c);
    const shstrndx = ehdr.readUInt16LE(0x3e);
    if (shentsize !== 64 || shnum === 0 || shnum > 4096 || shstrndx >= shnum) return null;
    const shdrs = at(shoff, shnum * 64);
    const section = (i: number) => ({ name: shdrs.readUInt32LE(i * 64), offset: Number(shdrs.readBigUInt64LE(i * 64 + 0x18)), size: Number(shdrs.readBigUInt64LE(i * 64 + 0x20)) });
    const strtab = section(shstrndx);
    if (strtab.size > 1 << 20) return null;
    const names = at(strtab.offset, strtab.size);
    for (let i = 0; i < shnum; i++) {
      const s = section(i);
      const end = names.indexOf(0, s.name);
      if (names.toString('latin1', s.name, end < 0 ? undefined : end) !== '.note.go.buildid') continue;
      if (s.size > 4096) return null;
      const note = at(s.offset, s.size);
      return goBuildId({ section: (name: string) => (name === '.note.go.buildid' ? { data: note } : undefined) } as unknown as ElfFile);
    }
    return null;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
