// Finds and inflates the DWARF sections of an ELF file. Go compresses them:
// from Go 1.19 (Go 1.11 for some) as `.debug_*` with SHF_COMPRESSED and an
// Elf64_Chdr header; before, as `.zdebug_*` with a "ZLIB" + 8-byte
// big-endian size header. Sections are inflated on first use only.

import * as zlib from 'node:zlib';
import { DwarfError, corrupt } from './errors.js';

/** The part of an ELF section that the DWARF reader needs (src/binary/elf/file.ts provides it). */
export interface ElfSectionLike {
  name: string;
  flags: number | bigint;
  data: Buffer;
}

/** What the DWARF reader needs from an ELF file: `ElfFile` satisfies it. */
export interface ElfLike {
  section(name: string): ElfSectionLike | undefined;
}

const SHF_COMPRESSED = 0x800;
const ELFCOMPRESS_ZLIB = 1;
const ELFCOMPRESS_ZSTD = 2;
const CHDR64_SIZE = 24;

export type DwarfSectionName =
  | 'info' | 'abbrev' | 'str' | 'line_str' | 'str_offsets' | 'addr' | 'rnglists' | 'loclists' | 'ranges';

export class DwarfSections {
  private readonly cache = new Map<string, Buffer | null>();
  private readonly names = new Map<string, string>();

  constructor(private readonly elf: ElfLike) {}

  /** True when the binary carries DWARF at all (`go build -ldflags=-w` and `strip` remove it). */
  hasDwarf(): boolean {
    return this.elf.section('.debug_info') !== undefined || this.elf.section('.zdebug_info') !== undefined;
  }

  /** The inflated bytes of `.debug_<name>`, or null when the binary has no such section. */
  get(name: DwarfSectionName): Buffer | null {
    let data = this.cache.get(name);
    if (data === undefined) {
      data = this.load(name);
      this.cache.set(name, data);
    }
    return data;
  }

  /** The section's name in this binary (`.debug_info` or `.zdebug_info`), for error messages. */
  nameOf(name: DwarfSectionName): string {
    return this.names.get(name) ?? `.debug_${name}`;
  }

  /** Like get(), for sections without which nothing can be read. */
  require(name: DwarfSectionName): Buffer {
    const data = this.get(name);
    if (data) return data;
    if (name === 'info') {
      throw new DwarfError('the binary has no DWARF debugging information (no .debug_info section)', '.debug_info', undefined, {
        hint: 'it was built with -ldflags=-w or stripped; rebuild without them, or give a functions file',
      });
    }
    throw new DwarfError(`DWARF section .debug_${name} is missing, but .debug_info refers to it`, `.debug_${name}`);
  }

  private load(name: DwarfSectionName): Buffer | null {
    const plain = this.elf.section(`.debug_${name}`);
    if (plain) {
      this.names.set(name, plain.name);
      const flags = Number(plain.flags);
      return flags & SHF_COMPRESSED ? inflateChdr(plain.name, plain.data) : plain.data;
    }
    const old = this.elf.section(`.zdebug_${name}`);
    if (old) this.names.set(name, old.name);
    if (old) return inflateZdebug(old.name, old.data);
    return null;
  }
}

/** `Elf64_Chdr { u32 ch_type; u32 reserved; u64 ch_size; u64 ch_addralign }` then the stream. */
function inflateChdr(section: string, data: Buffer): Buffer {
  if (data.length < CHDR64_SIZE) throw corrupt(section, 0, 'compressed section is shorter than its 24-byte header');
  const type = data.readUInt32LE(0);
  const size = Number(data.readBigUInt64LE(8));
  const stream = data.subarray(CHDR64_SIZE);
  if (type === ELFCOMPRESS_ZLIB) return inflate(section, CHDR64_SIZE, stream, size, zlib.inflateSync);
  if (type === ELFCOMPRESS_ZSTD) {
    const zstd = (zlib as unknown as { zstdDecompressSync?: (b: Buffer) => Buffer }).zstdDecompressSync;
    if (!zstd) {
      throw new DwarfError(`DWARF section ${section} is compressed with zstd, which this Node.js cannot inflate`, section, 0, {
        hint: 'use Node.js 22.15 or newer, or rebuild the binary with -ldflags=-compressdwarf=false',
      });
    }
    return inflate(section, CHDR64_SIZE, stream, size, zstd);
  }
  throw corrupt(section, 0, `unknown compression type ${type}`);
}

/** `"ZLIB"`, the inflated size as 8 big-endian bytes, then a zlib stream. */
function inflateZdebug(section: string, data: Buffer): Buffer {
  if (data.length < 12 || data.toString('latin1', 0, 4) !== 'ZLIB') {
    // A .zdebug section too small to be worth compressing is stored as is.
    return data;
  }
  const size = Number(data.readBigUInt64BE(4));
  return inflate(section, 12, data.subarray(12), size, zlib.inflateSync);
}

function inflate(section: string, headerSize: number, stream: Buffer, size: number, fn: (b: Buffer, o?: zlib.ZlibOptions) => Buffer): Buffer {
  // The header's size bounds the output, so a corrupt size cannot make us allocate without limit.
  if (!Number.isSafeInteger(size) || size > 1 << 30) throw corrupt(section, headerSize - 8, `implausible uncompressed size ${size}`);
  let out: Buffer;
  try {
    out = fn(stream, { maxOutputLength: Math.max(size, 1) });
  } catch (err) {
    throw new DwarfError(
      `DWARF section ${section} is corrupt at offset 0x${headerSize.toString(16)}: cannot inflate it (${(err as Error).message})`,
      section,
      headerSize,
      { cause: err },
    );
  }
  if (out.length !== size) throw corrupt(section, headerSize, `inflates to ${out.length} bytes, the header says ${size}`);
  return out;
}
