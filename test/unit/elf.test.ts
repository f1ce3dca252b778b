// ElfFile against readelf and `go tool nm` on the fixture builds, and the
// one-sentence errors for everything that is not a 64-bit x86-64 ELF file.

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError, NotSupportedError } from '../../src/core/errors.js';
import { ElfFile, STT_FUNC } from '../../src/binary/elf/file.js';
import {
  buildExtra,
  fixtureBuilds,
  nmPathOf,
  nmTextSymbols,
  readelfSections,
  readelfSegments,
} from './elf-support.js';

const SECTION_TYPES: Record<string, number> = { PROGBITS: 1, SYMTAB: 2, STRTAB: 3, RELA: 4, HASH: 5, DYNAMIC: 6, NOTE: 7, NOBITS: 8, DYNSYM: 11, VERNEED: 0x6ffffffe, VERSYM: 0x6fffffff };
const SECTION_FLAGS: Record<string, number> = { W: 0x1, A: 0x2, X: 0x4, M: 0x10, S: 0x20, I: 0x40, T: 0x400, C: 0x800 };
const SEGMENT_TYPES: Record<string, number> = { LOAD: 1, DYNAMIC: 2, INTERP: 3, NOTE: 4, PHDR: 6, TLS: 7, GNU_STACK: 0x6474e551, GNU_RELRO: 0x6474e552 };

const tmp = mkdtempSync(join(tmpdir(), 'weaver-elf-test-'));
const builds = fixtureBuilds().filter((b) => b.fixture === 'types');

describe('ElfFile on fixture builds', () => {
  it.each(builds.map((b) => [`go${b.toolchain} ${b.variant}`, b] as const))('%s: sections match readelf', (_, b) => {
    const elf = ElfFile.read(b.path);
    const expected = readelfSections(b.path);
    const actual = elf.sections.slice(1);
    const raw = readFileSync(b.path);
    expect(actual.map((s) => s.name)).toEqual(expected.map((s) => s.name));
    for (const [i, want] of expected.entries()) {
      const got = actual[i];
      expect({ name: got.name, addr: got.addr, offset: got.offset, size: got.size, type: got.type, flags: got.flags }).toEqual({
        name: want.name,
        addr: want.addr,
        offset: want.offset,
        size: want.size,
        type: SECTION_TYPES[want.type] ?? `unknown readelf type ${want.type}`,
        flags: [...want.flags].reduce((acc, ch) => acc | (SECTION_FLAGS[ch] ?? NaN), 0),
      });
      expect(got.data.equals(want.type === 'NOBITS' ? Buffer.alloc(0) : raw.subarray(want.offset, want.offset + want.size))).toBe(true);
    }
    expect(elf.isPie).toBe(b.variant === 'pie');
    expect(elf.machine).toBe('x86-64');
  });

  it.each(builds.map((b) => [`go${b.toolchain} ${b.variant}`, b] as const))('%s: segments match readelf', (_, b) => {
    const elf = ElfFile.read(b.path);
    const expected = readelfSegments(b.path).filter((s) => SEGMENT_TYPES[s.type] !== undefined);
    const actual = elf.segments.filter((s) => Object.values(SEGMENT_TYPES).includes(s.type));
    expect(actual).toEqual(
      expected.map((s) => ({
        type: SEGMENT_TYPES[s.type],
        flags: (s.flags.includes('R') ? 4 : 0) | (s.flags.includes('W') ? 2 : 0) | (s.flags.includes('E') ? 1 : 0),
        offset: s.offset,
        vaddr: s.vaddr,
        filesz: s.filesz,
        memsz: s.memsz,
      })),
    );
  });

  const unstripped = builds.filter((b) => b.variant !== 'stripped');
  it.each(unstripped.map((b) => [`go${b.toolchain} ${b.variant}`, b] as const))(
    '%s: function symbols match go tool nm, and their file offsets hold their code',
    (_, b) => {
      const elf = ElfFile.read(b.path);
      const text = readelfSections(b.path).find((s) => s.name === '.text')!;
      const funcs = new Map(elf.symbols().filter((s) => s.type === STT_FUNC).map((s) => [s.name, s]));
      const nm = nmTextSymbols(nmPathOf(b)).filter((s) => s.address >= text.addr && s.address < text.addr + text.size && !s.name.endsWith('(.text)'));
      expect(nm.length).toBeGreaterThan(1000);
      const raw = readFileSync(b.path);
      for (const want of nm) {
        const got = funcs.get(want.name);
        expect(got, want.name).toBeDefined();
        expect([got!.value, got!.size]).toEqual([want.address, want.size]);
        const offset = elf.vaddrToFileOffset(want.address);
        expect(offset).toBe(want.address - text.addr + text.offset);
        const n = Math.min(16, want.size);
        expect(elf.readVirtual(want.address, n).equals(raw.subarray(offset, offset + n))).toBe(true);
      }
    },
  );

  it('stripped builds have no symbols', () => {
    for (const b of fixtureBuilds({ variant: 'stripped' })) expect(ElfFile.read(b.path).symbols()).toEqual([]);
  });

  it('addresses outside the file are refused', () => {
    const b = builds.find((x) => x.variant === 'normal')!;
    const elf = ElfFile.read(b.path);
    const bss = readelfSections(b.path).find((s) => s.name === '.bss')!;
    expect(() => elf.vaddrToFileOffset(0x10)).toThrow(new InputError(`${b.path}: address 0x10 is not in an executable segment of the file`));
    // .bss has no file data, and data is not executable.
    expect(() => elf.vaddrToFileOffset(bss.addr)).toThrow(InputError);
    expect(() => elf.readVirtual(bss.addr, 8)).toThrow(
      new InputError(`${b.path}: 8 bytes at address 0x${bss.addr.toString(16)} are not in the file's loaded data`),
    );
  });
});

describe('ElfFile errors', () => {
  const anyBuild = () => fixtureBuilds({ variant: 'normal', fixture: 'types' })[0];
  let arm64 = '';
  let i386 = '';
  beforeAll(() => {
    const goroot = fixtureBuilds({ variant: 'normal' }).find((b) => Number(b.toolchain.split('.')[1]) >= 17)!.goroot;
    arm64 = buildExtra(goroot, 'hello-arm64', { GOARCH: 'arm64' });
    i386 = buildExtra(goroot, 'hello-386', { GOARCH: '386' });
  }, 240_000);

  const file = (name: string, content: Buffer | string) => {
    const p = join(tmp, name);
    writeFileSync(p, content);
    return p;
  };

  it.each([
    ['a missing file', () => join(tmp, 'nope'), InputError, (p: string) => `${p} does not exist`],
    ['a path through a file', () => join(file('plain', 'x'), 'sub'), InputError, (p: string) => `${p} does not exist (a part of the path is not a directory)`],
    ['a directory', () => tmp, InputError, (p: string) => `${p} is a directory, not a program`],
    ['an empty file', () => file('empty', ''), InputError, (p: string) => `${p} is empty`],
    ['a text file', () => file('text.txt', 'hello, world\n'), NotSupportedError, (p: string) => `${p} is not an ELF executable`],
    ['three bytes', () => file('three', '\x7fEL'), NotSupportedError, (p: string) => `${p} is not an ELF executable`],
    ['an arm64 Go binary', () => arm64, NotSupportedError, (p: string) => `${p} is built for aarch64; only x86-64 (amd64) is supported`],
    ['a 386 Go binary', () => i386, NotSupportedError, (p: string) => `${p} is a 32-bit ELF file for i386; only 64-bit x86-64 (amd64) programs are supported`],
  ] as const)('%s', (_, make, type, message) => {
    const path = make();
    const err = catchError(() => ElfFile.read(path));
    expect(err).toBeInstanceOf(type);
    expect(err.message).toBe(message(path));
  });

  // root reads any file, so the check only means something for other users.
  it.skipIf(process.getuid?.() === 0)('an unreadable file', () => {
    const p = file('secret', 'x');
    chmodSync(p, 0o000);
    expect(() => ElfFile.read(p)).toThrow(new InputError(`${p} cannot be read: permission denied`));
  });

  it.each([
    ['big-endian', (b: Buffer) => { b[5] = 2; b.writeUInt16BE(22, 18); }, NotSupportedError, 'is a big-endian ELF file for s390x; only x86-64 (amd64) is supported'],
    ['of an unknown class', (b: Buffer) => { b[4] = 7; }, InputError, 'has a corrupt ELF header: unknown ELF class 7'],
    ['a relocatable object', (b: Buffer) => { b.writeUInt16LE(1, 16); }, NotSupportedError, 'is a relocatable object file, not an executable'],
    ['a core dump', (b: Buffer) => { b.writeUInt16LE(4, 16); }, NotSupportedError, 'is a core dump, not an executable'],
    ['with a bad section header size', (b: Buffer) => { b.writeUInt16LE(40, 58); }, InputError, 'has a corrupt ELF header: section header size is 40, expected 64'],
    ['for an unknown machine', (b: Buffer) => { b.writeUInt16LE(999, 18); }, NotSupportedError, 'is built for an unknown machine (e_machine 999); only x86-64 (amd64) is supported'],
  ] as const)('a header %s', (_, patch, type, message) => {
    const buf = Buffer.from(readFileSync(anyBuild().path));
    patch(buf);
    const err = catchError(() => ElfFile.parse(buf, 'prog'));
    expect(err).toBeInstanceOf(type);
    expect(err.message).toBe(`prog ${message}`);
  });

  it('truncated files name what is cut off, with sizes from readelf', () => {
    const b = anyBuild();
    const raw = readFileSync(b.path);
    const header = execReadelfHeader(b.path);
    const phEnd = header.phoff + header.phnum * 56;
    const shEnd = header.shoff + header.shnum * 64;
    const load = readelfSegments(b.path).filter((s) => s.type === 'LOAD');
    const sections = readelfSections(b.path).filter((s) => s.type !== 'NOBITS');
    const lastLoadEnd = Math.max(...load.map((s) => s.offset + s.filesz));
    const cutSection = sections.find((s) => s.offset + s.size === raw.length)!;
    const cases: [number, string][] = [
      [10, `the ELF header needs 64 bytes but the file has 10`],
      [40, `the ELF header needs 64 bytes but the file has 40`],
      [phEnd - 1, `the program header table ends at byte ${phEnd} but the file has ${phEnd - 1} bytes`],
      [Math.max(phEnd, header.shoff) + 1, `the section header table ends at byte ${shEnd} but the file has ${Math.max(phEnd, header.shoff) + 1} bytes`],
      [lastLoadEnd - 1, `a loadable segment at 0x${load.find((s) => s.offset + s.filesz === lastLoadEnd)!.vaddr.toString(16)} ends at byte ${lastLoadEnd} but the file has ${lastLoadEnd - 1} bytes`],
      [raw.length - 1, `section ${cutSection.name} ends at byte ${raw.length} but the file has ${raw.length - 1} bytes`],
    ];
    expect(header.shoff + header.shnum * 64).toBeLessThan(lastLoadEnd); // Go writes headers first
    for (const [length, what] of cases) {
      const err = catchError(() => ElfFile.parse(raw.subarray(0, length), 'prog'));
      expect(err).toBeInstanceOf(InputError);
      expect(err.message).toBe(`prog is truncated: ${what}`);
    }
  });

  it('a file without section headers is read from its segments', () => {
    const b = anyBuild();
    const buf = Buffer.from(readFileSync(b.path));
    buf.fill(0, 40, 48); // e_shoff
    buf.fill(0, 60, 64); // e_shnum, e_shstrndx
    const elf = ElfFile.parse(buf, 'prog');
    expect(elf.sections).toEqual([]);
    expect(elf.symbols()).toEqual([]);
    expect(elf.segments.length).toBe(readelfSegments(b.path).length);
  });
});

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

/** Where the header tables are, as `readelf -h` reports them. */
function execReadelfHeader(path: string): { phoff: number; phnum: number; shoff: number; shnum: number } {
  const text = execFileSync('readelf', ['-hW', path], { encoding: 'utf8' });
  const field = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(text)![1]);
  return {
    phoff: field('Start of program headers'),
    shoff: field('Start of section headers'),
    phnum: field('Number of program headers'),
    shnum: field('Number of section headers'),
  };
}
