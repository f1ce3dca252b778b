// The Go version a binary was built with, and the calling convention that
// follows from it. The version lives in the `.go.buildinfo` blob (Go 1.13+):
// inline since Go 1.18, behind pointers to string headers before; older or
// damaged binaries still have the `runtime.buildVersion` string variable.

import type { GoAbi } from '../../core/index.js';
import { PF_W, PF_X, PT_LOAD, type ElfFile } from './file.js';

const BUILDINFO_MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const BUILDINFO_ALIGN = 16;
const BUILDINFO_HEADER = 32;
const FLAG_BIG_ENDIAN = 0x1;
const FLAG_INLINE_STRINGS = 0x2;

/** `go1.19.8`, `go1.22rc1`, `devel go1.23-…`; null when the binary does not say. */
export function readGoVersion(elf: ElfFile): string | null {
  const blob = findBuildInfo(elf);
  const fromBlob = blob ? versionFromBuildInfo(elf, blob) : null;
  return fromBlob || versionFromSymbol(elf);
}

/**
 * amd64 passes arguments in registers from Go 1.17. An unknown version is
 * taken to be a current one (register ABI); callers that know better (the
 * pclntab layout of Go ≤1.15) decide themselves.
 */
export function abiForVersion(goVersion: string | null): GoAbi {
  const parsed = parseGoVersion(goVersion);
  if (!parsed) return 'register';
  return parsed.major > 1 || parsed.minor >= 17 ? 'register' : 'stack';
}

/** Major and minor of the first `goX.Y` in a version string. */
export function parseGoVersion(goVersion: string | null): { major: number; minor: number } | null {
  const m = goVersion ? /go(\d+)\.(\d+)/.exec(goVersion) : null;
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : null;
}

/**
 * The blob from its section, or searched for in the writable data segments:
 * the first one, as Go's reader does, then the others, because PIE builds
 * put .data.rel.ro in a writable segment before it.
 */
function findBuildInfo(elf: ElfFile): Buffer | undefined {
  const sec = elf.section('.go.buildinfo');
  if (sec) return sec.data.length > 0 ? sec.data : undefined;
  for (const seg of elf.segments) {
    if (seg.type !== PT_LOAD || (seg.flags & PF_W) === 0 || (seg.flags & PF_X) !== 0 || seg.filesz === 0) continue;
    const data = elf.readVirtual(seg.vaddr, seg.filesz);
    for (let off = data.indexOf(BUILDINFO_MAGIC); off >= 0; off = data.indexOf(BUILDINFO_MAGIC, off + 1)) {
      if ((seg.vaddr + off) % BUILDINFO_ALIGN === 0) return data.subarray(off);
    }
  }
  return undefined;
}

function versionFromBuildInfo(elf: ElfFile, blob: Buffer): string | null {
  if (blob.length < BUILDINFO_HEADER || !blob.subarray(0, BUILDINFO_MAGIC.length).equals(BUILDINFO_MAGIC)) return null;
  const ptrSize = blob[14];
  const flags = blob[15];
  if (flags & FLAG_BIG_ENDIAN) return null;
  if (flags & FLAG_INLINE_STRINGS) {
    const len = readUvarint(blob, BUILDINFO_HEADER);
    if (!len || len.end + len.value > blob.length) return null;
    return blob.toString('utf8', len.end, len.end + len.value) || null;
  }
  if (ptrSize !== 8) return null;
  // Pointer format: the address of runtime.buildVersion, a Go string header.
  return readGoString(elf, readWord(blob, 16));
}

function versionFromSymbol(elf: ElfFile): string | null {
  const sym = elf.symbols().find((s) => s.name === 'runtime.buildVersion');
  return sym ? readGoString(elf, sym.value) : null;
}

/** A Go string header `{ptr, len}` at `addr`, and the bytes it points to. */
function readGoString(elf: ElfFile, addr: number): string | null {
  try {
    const header = elf.readVirtual(addr, 16);
    const ptr = readWord(header, 0);
    const len = readWord(header, 8);
    if (len === 0 || len > 1024) return null;
    return elf.readVirtual(ptr, len).toString('utf8');
  } catch {
    // Unrelocated or damaged pointers: the caller tries the next source.
    return null;
  }
}

function readWord(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * 0x1_0000_0000;
}

function readUvarint(buf: Buffer, off: number): { value: number; end: number } | null {
  let value = 0;
  let scale = 1;
  for (let i = off; i < buf.length && i < off + 8; i++) {
    value += (buf[i] & 0x7f) * scale;
    if ((buf[i] & 0x80) === 0) return { value, end: i + 1 };
    scale *= 128;
  }
  return null;
}
