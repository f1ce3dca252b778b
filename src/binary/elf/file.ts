// A 64-bit little-endian x86-64 ELF file held in memory: sections, PT_LOAD
// segments, the symbol table, and virtual-address lookups. Headers and
// sections are parsed by `elfy`; everything elfy would trip over (short
// buffers, tables past the end of the file, a missing section name table) is
// checked here first so that bad input becomes one typed error sentence.

import { readFileSync, statSync, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import type Elfy from 'elfy';

/** elfy, required on first use: a warm start takes its spec from the cache and reads no ELF (~20 ms of a start). */
let elfyModule: typeof Elfy | undefined;
function elfy(): typeof Elfy {
  return (elfyModule ??= createRequire(import.meta.url)('elfy') as typeof Elfy);
}
import { InputError, NotSupportedError } from '../../core/index.js';
import { parseSymbolTable, type ElfSymbol } from './symtab.js';

export type { ElfSymbol };

export interface ElfSection {
  name: string;
  type: number;
  /** Raw sh_flags; SHF_COMPRESSED = 0x800. */
  flags: number;
  addr: number;
  offset: number;
  size: number;
  /** Raw bytes as in the file (not decompressed); empty for SHT_NOBITS (.bss). */
  data: Buffer;
}

export interface ElfSegment {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
}

export const SHT_NOBITS = 8;
export const SHF_WRITE = 0x1;
export const SHF_EXECINSTR = 0x4;
export const SHF_COMPRESSED = 0x800;
export const PT_LOAD = 1;
export const PF_X = 0x1;
export const PF_W = 0x2;
export const STT_FUNC = 2;

const ET_EXEC = 2;
const ET_DYN = 3;
const EM_X86_64 = 62;
const ELF64_EHDR_SIZE = 64;
const ELF64_PHDR_SIZE = 56;
const ELF64_SHDR_SIZE = 64;
const SHT_STRTAB = 3;

/** e_machine values as people name them, for the "built for …" message. */
const MACHINE_NAMES: Record<number, string> = {
  2: 'sparc',
  3: 'i386',
  8: 'mips',
  20: 'ppc',
  21: 'ppc64',
  22: 's390x',
  40: 'arm',
  43: 'sparc64',
  62: 'x86-64',
  183: 'aarch64',
  243: 'riscv',
  258: 'loongarch64',
};

const ET_NAMES: Record<number, string> = { 0: 'an untyped ELF file', 1: 'a relocatable object file', 4: 'a core dump' };

function machineName(code: number): string {
  return MACHINE_NAMES[code] ?? `an unknown machine (e_machine ${code})`;
}

function readU64(buf: Buffer, off: number): number {
  // Addresses and sizes in Go binaries stay far below 2^53.
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * 0x1_0000_0000;
}

export class ElfFile {
  readonly machine = 'x86-64';
  private symbolCache?: ElfSymbol[];
  private readonly sectionsByName = new Map<string, ElfSection>();
  private dwarfSource?: ElfFile;

  private constructor(
    readonly path: string,
    readonly buffer: Buffer,
    readonly isPie: boolean,
    readonly sections: ElfSection[],
    readonly segments: ElfSegment[],
    /** sh_link of each section, for finding .symtab's string table. */
    private readonly sectionLinks: number[],
  ) {
    for (const s of sections) if (!this.sectionsByName.has(s.name)) this.sectionsByName.set(s.name, s);
  }

  /** Reads and parses the file at `path`. */
  static read(path: string): ElfFile {
    let buf: Buffer;
    try {
      const stat = statSync(path);
      if (stat.isDirectory()) {
        throw new InputError(`${path} is a directory, not a program`, {
          hint: 'give the path of a compiled Go program',
        });
      }
      // Reading a FIFO blocks until someone writes to it, and a device such
      // as /dev/zero never ends: only regular files are read.
      if (!stat.isFile()) {
        throw new InputError(`${path} is ${specialFileKind(stat)}, not a program file`, {
          hint: 'give the path of a compiled Go program',
        });
      }
      buf = readFileSync(path);
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new InputError(describeReadError(path, err), { cause: err });
    }
    return ElfFile.parse(buf, path);
  }

  /** Parses an ELF image already in memory; `path` is only used in messages. */
  static parse(buf: Buffer, path: string): ElfFile {
    checkIdentity(buf, path);
    const truncated = (what: string, end: number) =>
      new InputError(`${path} is truncated: ${what} ends at byte ${end} but the file has ${buf.length} bytes`);

    const eType = buf.readUInt16LE(16);
    const phoff = readU64(buf, 32);
    const shoff = readU64(buf, 40);
    const phentsize = buf.readUInt16LE(54);
    const phnum = buf.readUInt16LE(56);
    const shentsize = buf.readUInt16LE(58);
    // shnum 0 with a non-zero shoff means "more than 65279 sections"; Go
    // never writes that, so such a file is treated as having none.
    const shnum = shoff === 0 ? 0 : buf.readUInt16LE(60);
    const shstrndx = buf.readUInt16LE(62);

    if (eType !== ET_EXEC && eType !== ET_DYN) {
      const what = ET_NAMES[eType] ?? `an ELF file of type ${eType}`;
      throw new NotSupportedError(`${path} is ${what}, not an executable`);
    }
    if (phnum > 0) {
      if (phentsize !== ELF64_PHDR_SIZE) throw new InputError(`${path} has a corrupt ELF header: program header size is ${phentsize}, expected ${ELF64_PHDR_SIZE}`);
      const end = phoff + phnum * ELF64_PHDR_SIZE;
      if (end > buf.length) throw truncated('the program header table', end);
    }
    if (shnum > 0) {
      if (shentsize !== ELF64_SHDR_SIZE) throw new InputError(`${path} has a corrupt ELF header: section header size is ${shentsize}, expected ${ELF64_SHDR_SIZE}`);
      const end = shoff + shnum * ELF64_SHDR_SIZE;
      if (end > buf.length) throw truncated('the section header table', end);
    }
    // elfy asserts that the section name table exists; without one the
    // section headers are unusable and the file is read from its segments.
    const namesUsable =
      shnum > 0 && shstrndx > 0 && shstrndx < shnum && buf.readUInt32LE(shoff + shstrndx * ELF64_SHDR_SIZE + 4) === SHT_STRTAB;
    if (namesUsable) {
      const strtabOff = readU64(buf, shoff + shstrndx * ELF64_SHDR_SIZE + 24);
      const strtabEnd = strtabOff + readU64(buf, shoff + shstrndx * ELF64_SHDR_SIZE + 32);
      if (strtabEnd > buf.length) throw truncated('the section name table', strtabEnd);
    }

    let parsed: ReturnType<typeof Elfy.parse>;
    try {
      parsed = namesUsable ? elfy().parse(buf) : parseWithoutSections(buf);
    } catch (err) {
      throw new InputError(`${path} has a corrupt ELF header: ${(err as Error).message}`, { cause: err });
    }

    const segments: ElfSegment[] = parsed.body.programs.map((p, i) => {
      const raw = phoff + i * ELF64_PHDR_SIZE;
      return {
        type: buf.readUInt32LE(raw),
        flags: buf.readUInt32LE(raw + 4),
        offset: p.offset,
        vaddr: p.vaddr,
        filesz: p.filesz,
        memsz: p.memsz,
      };
    });
    for (const seg of segments) {
      if (seg.type === PT_LOAD && seg.offset + seg.filesz > buf.length) {
        throw truncated(`a loadable segment at 0x${seg.vaddr.toString(16)}`, seg.offset + seg.filesz);
      }
    }

    const sections: ElfSection[] = namesUsable
      ? parsed.body.sections.map((s, i) => {
          // elfy turns sh_type and sh_flags into names (several numbers share
          // a name); the raw numbers are what callers compare against.
          const raw = shoff + i * ELF64_SHDR_SIZE;
          const type = buf.readUInt32LE(raw + 4);
          const flags = readU64(buf, raw + 8);
          const nobits = type === SHT_NOBITS;
          if (!nobits && s.off + s.size > buf.length) throw truncated(`section ${s.name}`, s.off + s.size);
          return {
            name: s.name,
            type,
            flags,
            addr: s.addr,
            offset: s.off,
            size: s.size,
            data: nobits ? Buffer.alloc(0) : s.data,
          };
        })
      : [];

    const links = namesUsable ? parsed.body.sections.map((s) => s.link) : [];
    return new ElfFile(path, buf, eType === ET_DYN, sections, segments, links);
  }

  section(name: string): ElfSection | undefined {
    return this.sectionsByName.get(name);
  }

  /** The separate debug file whose DWARF this file reads (useDwarfFrom), if any. */
  get dwarfFile(): ElfFile | undefined {
    return this.dwarfSource;
  }

  /**
   * Reads DWARF (`.debug_*`, `.zdebug_*`) from `debug`, a separate debug
   * file of this program, instead of from this file: section() answers
   * those names from it, compressed or not as it stores them. Everything
   * else (symbols, .gopclntab, segments, addresses) stays this file's.
   */
  useDwarfFrom(debug: ElfFile): void {
    for (const name of [...this.sectionsByName.keys()]) if (isDwarfSectionName(name)) this.sectionsByName.delete(name);
    for (const s of debug.sections) {
      if (isDwarfSectionName(s.name) && s.type !== SHT_NOBITS && !this.sectionsByName.has(s.name)) this.sectionsByName.set(s.name, s);
    }
    this.dwarfSource = debug;
  }

  /** The `.symtab` entries (without the null entry 0); [] when stripped. */
  symbols(): ElfSymbol[] {
    if (!this.symbolCache) {
      const idx = this.sections.findIndex((s) => s.name === '.symtab');
      if (idx < 0) {
        this.symbolCache = [];
      } else {
        const symtab = this.sections[idx];
        const strtab = this.sections[this.sectionLinks[idx]] ?? this.section('.strtab');
        if (!strtab) throw new InputError(`${this.path} has a symbol table without a string table`);
        this.symbolCache = parseSymbolTable(symtab.data, strtab.data, this.path);
      }
    }
    return this.symbolCache;
  }

  /** The file-backed executable PT_LOAD containing `vaddr`, if any. */
  private executableSegmentAt(vaddr: number): ElfSegment | undefined {
    return this.segments.find(
      (s) => s.type === PT_LOAD && (s.flags & PF_X) !== 0 && vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz,
    );
  }

  /** Where the instruction at `vaddr` is in the file: what a uprobe is attached at. */
  vaddrToFileOffset(vaddr: number): number {
    const seg = this.executableSegmentAt(vaddr);
    if (!seg) {
      throw new InputError(`${this.path}: address 0x${vaddr.toString(16)} is not in an executable segment of the file`);
    }
    return vaddr - seg.vaddr + seg.offset;
  }

  /** `length` bytes at virtual address `vaddr`, from the file data of a PT_LOAD segment. */
  readVirtual(vaddr: number, length: number): Buffer {
    const start = this.virtualOffset(vaddr, length);
    if (start < 0) {
      throw new InputError(
        `${this.path}: ${length} bytes at address 0x${vaddr.toString(16)} are not in the file's loaded data`,
      );
    }
    return this.buffer.subarray(start, start + length);
  }

  /**
   * Where in `buffer` the `length` bytes at address `vaddr` are, or -1 when
   * they are not all in the file's loaded data. For readers of many small
   * fields (the type descriptors): a view per read made ~90 MB of garbage
   * on a start of 1266 functions.
   */
  virtualOffset(vaddr: number, length: number): number {
    if (length < 0) return -1;
    for (const s of this.segments) {
      if (s.type === PT_LOAD && vaddr >= s.vaddr && vaddr + length <= s.vaddr + s.filesz) return vaddr - s.vaddr + s.offset;
    }
    return -1;
  }
}

function isDwarfSectionName(name: string): boolean {
  return name.startsWith('.debug_') || name.startsWith('.zdebug_');
}

/** Checks magic, class, byte order and machine, in the order people recognise them. */
function checkIdentity(buf: Buffer, path: string): void {
  if (buf.length === 0) throw new InputError(`${path} is empty`);
  if (buf.length < 4 || buf.readUInt32BE(0) !== 0x7f454c46) {
    throw new NotSupportedError(`${path} is not an ELF executable`, {
      hint: 'weaver traces compiled Go programs for Linux on x86-64 (amd64)',
    });
  }
  const truncatedHeader = () =>
    new InputError(`${path} is truncated: the ELF header needs ${ELF64_EHDR_SIZE} bytes but the file has ${buf.length}`);
  if (buf.length < 20) throw truncatedHeader();
  const cls = buf[4];
  const data = buf[5];
  const machine = data === 2 ? buf.readUInt16BE(18) : buf.readUInt16LE(18);
  if (cls === 1) {
    throw new NotSupportedError(
      `${path} is a 32-bit ELF file for ${machineName(machine)}; only 64-bit x86-64 (amd64) programs are supported`,
    );
  }
  if (cls !== 2) throw new InputError(`${path} has a corrupt ELF header: unknown ELF class ${cls}`);
  if (data === 2) {
    throw new NotSupportedError(
      `${path} is a big-endian ELF file for ${machineName(machine)}; only x86-64 (amd64) is supported`,
    );
  }
  if (data !== 1) throw new InputError(`${path} has a corrupt ELF header: unknown byte order ${data}`);
  if (machine !== EM_X86_64) {
    throw new NotSupportedError(`${path} is built for ${machineName(machine)}; only x86-64 (amd64) is supported`);
  }
  if (buf.length < ELF64_EHDR_SIZE) throw truncatedHeader();
}

/** elfy.parse needs the section name table; this reads only header and segments. */
function parseWithoutSections(buf: Buffer): ReturnType<typeof Elfy.parse> {
  const parser = new (elfy().Parser)();
  const header = parser.parseHeader(buf);
  header.body = { programs: parser.parsePrograms(buf, header), sections: [] };
  return header;
}

function specialFileKind(stat: Stats): string {
  if (stat.isFIFO()) return 'a named pipe (FIFO)';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a regular file';
}

function describeReadError(path: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return `${path} does not exist`;
    case 'EACCES':
    case 'EPERM':
      return `${path} cannot be read: permission denied`;
    case 'ENOTDIR':
      return `${path} does not exist (a part of the path is not a directory)`;
    case 'EISDIR':
      return `${path} is a directory, not a program`;
    default:
      return `${path} cannot be read: ${(err as Error).message}`;
  }
}
