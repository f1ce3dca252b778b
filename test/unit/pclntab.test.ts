// .gopclntab of every fixture build (Go 1.15: 1.2 layout, 1.19: 1.18
// layout, 1.22 and 1.27: 1.20 layout with and without a text start in the
// header) against `go tool nm` of the unstripped build; damaged tables.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { ElfFile } from '../../src/binary/elf/file.js';
import { findPclntab, parsePclntab, readPclntab } from '../../src/binary/elf/pclntab.js';
import { elideBrackets, fixtureBuilds, nmPathOf, nmTextSymbols, normalBuildOf, readelfSections, type FixtureBuild } from './elf-support.js';

const builds = fixtureBuilds();
const label = (b: FixtureBuild) => `go${b.toolchain} ${b.fixture} ${b.variant}`;

/**
 * What the pclntab must list, from nm of the unstripped build (a stripped
 * build has the same addresses): every text symbol with a size — the fixtures
 * are static, so these are exactly the Go and Go-assembly functions;
 * runtime.text/etext mark bounds with size 0. The pclntab spells assembly
 * functions without `.abi0` and, before Go 1.16, uses `·` where nm has `.`.
 */
function expectedFunctions(b: FixtureBuild): { name: string; address: number; size: number }[] {
  const nmBuild = b.variant === 'stripped' ? normalBuildOf(b) : b;
  return nmTextSymbols(nmPathOf(nmBuild))
    .filter((s) => s.size > 0)
    .map((s) => ({ name: s.name.replace(/\.abi0$/, ''), address: s.address, size: s.size }));
}

describe('readPclntab', () => {
  it.each(builds.map((b) => [label(b), b] as const))('%s: every function, by name and entry, as go tool nm lists it', (_, b) => {
    const elf = ElfFile.read(b.path);
    const got = readPclntab(elf);
    const want = expectedFunctions(b);
    // Go 1.18–1.20 shorten type arguments and array lengths to `[...]` in the table.
    const shortened = got.some((f) => f.name.includes('[...]'));
    expect(shortened).toBe(['1.18', '1.19', '1.20'].includes(b.toolchain));
    expect(got.map((f) => `${f.address.toString(16)} ${f.name.replaceAll('·', '.')}`)).toEqual(
      want.map((f) => `${f.address.toString(16)} ${shortened ? elideBrackets(f.name) : f.name}`),
    );
    // Sizes run to the next entry, so they cover nm's size and never overlap.
    for (const [i, f] of got.entries()) {
      expect(f.size).toBeGreaterThanOrEqual(want[i].size);
      if (i + 1 < got.length) expect(f.address + f.size).toBe(got[i + 1].address);
    }
  });

  it.each(builds.map((b) => [label(b), b] as const))('%s: file offsets point into .text', (_, b) => {
    const elf = ElfFile.read(b.path);
    const text = readelfSections(b.path).find((s) => s.name === '.text')!;
    for (const f of readPclntab(elf)) expect(f.fileOffset).toBe(f.address - text.addr + text.offset);
  });

  it.each(builds.filter((b) => b.variant === 'stripped').map((b) => [label(b), b] as const))(
    '%s: found by searching segments when section headers are gone',
    (_, b) => {
      const buf = Buffer.from(readFileSync(b.path));
      buf.fill(0, 40, 48);
      buf.fill(0, 60, 64);
      const headerless = readPclntab(ElfFile.parse(buf, b.path));
      expect(headerless).toEqual(readPclntab(ElfFile.read(b.path)));
    },
  );
});

describe('damaged tables', () => {
  const b = builds.find((x) => x.variant === 'normal' && Number(x.toolchain.split('.')[1]) >= 20)!;
  const table = () => {
    const t = findPclntab(ElfFile.read(b.path))!;
    return { ...t, data: Buffer.from(t.data) };
  };

  it.each([
    ['an unknown magic', (d: Buffer): unknown => d.writeUInt32LE(0xfffffff9, 0), 'unknown header magic 0xfffffff9'],
    ['a 32-bit header', (d: Buffer): unknown => (d[7] = 4), 'the header is not that of a 64-bit program'],
    ['an absurd function count', (d: Buffer): unknown => d.writeUInt32LE(0x7fffffff, 8), /^it claims 2147483647 functions, more than fit in \d+ bytes$/],
    ['a function index past the end', (d: Buffer): unknown => d.writeUInt32LE(0x7ffffff0, 8 + 7 * 8), 'offset 2147483632 is past the end of the table'],
    ['a name table past the end', (d: Buffer): unknown => d.writeUInt32LE(0x7ffffff0, 8 + 3 * 8), /^a function name offset \d+ is past the end of the table$/],
  ] as const)('%s', (_, patch, why) => {
    const t = table();
    patch(t.data);
    const err = catchError(() => parsePclntab(t, 'prog'));
    expect(err).toBeInstanceOf(InputError);
    const prefix = 'prog has a corrupt .gopclntab: ';
    expect(err.message.startsWith(prefix)).toBe(true);
    if (typeof why === 'string') expect(err.message.slice(prefix.length)).toBe(why);
    else expect(err.message.slice(prefix.length)).toMatch(why);
  });

  it('a table cut short', () => {
    const t = table();
    const nfunc = expectedFunctions(b).length;
    const cut = (n: number) => catchError(() => parsePclntab({ ...t, data: t.data.subarray(0, n) }, 'prog')).message;
    expect(cut(10)).toBe('prog has a corrupt .gopclntab: it is only 10 bytes long');
    expect(cut(4096)).toBe(`prog has a corrupt .gopclntab: it claims ${nfunc} functions, more than fit in 4096 bytes`);
    expect(cut(nfunc * 8 + 8)).toMatch(/^prog has a corrupt \.gopclntab: (offset \d+|a function name offset \d+) is past the end of the table$/);
  });

  it('an entry that disagrees with its record', () => {
    const t = table();
    const pcln = Number(t.data.readBigUInt64LE(8 + 7 * 8));
    t.data.writeUInt32LE(t.data.readUInt32LE(pcln) + 1, pcln); // entry of function 0 in the index
    expect(() => parsePclntab(t, 'prog')).toThrow(/^prog has a corrupt \.gopclntab: function 0 has entry 0x[0-9a-f]+ in the index but 0x[0-9a-f]+ in its record$/);
  });

  it('a program that is not Go has none', () => {
    expect(findPclntab(ElfFile.read('/bin/ls'))).toBeUndefined();
    expect(() => readPclntab(ElfFile.read('/bin/ls'))).toThrow(new InputError('/bin/ls has no .gopclntab function table'));
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
