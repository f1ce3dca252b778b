// Damaged DWARF: every cut, flipped byte or bad header ends in one
// DwarfError sentence that names the section — never a hang, never a raw
// exception. Inputs are real Go builds with their sections altered.

import { inflateSync, deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ElfFile } from '../../src/binary/elf/file.js';
import { DwarfError, readDwarfFunctions, type ElfLike } from '../../src/binary/dwarf/index.js';
import { availableToolchains, buildSample } from './dwarf-oracle.js';

const toolchains = availableToolchains();
// The oldest (DWARF 4, .zdebug_* before Go 1.19 or so) and the newest (DWARF 5 from Go 1.25).
const picked = [...new Set([toolchains[0], toolchains.at(-1)])].filter((t) => t !== undefined);

/** A section's bytes as the reader must see them, inflated here with zlib directly. */
function inflated(elf: ElfFile, name: string): Buffer {
  const plain = elf.section(`.debug_${name}`);
  if (plain) return plain.flags & 0x800 ? inflateSync(plain.data.subarray(24)) : plain.data;
  const old = elf.section(`.zdebug_${name}`);
  if (!old) throw new Error(`no ${name} section`);
  return old.data.toString('latin1', 0, 4) === 'ZLIB' ? inflateSync(old.data.subarray(12)) : old.data;
}

/** `elf` with some DWARF sections replaced (uncompressed, or with the given flags) or removed (null). */
function withSections(elf: ElfFile, replace: Record<string, Buffer | null | { data: Buffer; flags: number; name?: string }>): ElfLike {
  return {
    section(name: string) {
      const m = /^\.z?debug_(\w+)$/.exec(name);
      if (m && m[1]! in replace) {
        const r = replace[m[1]!]!;
        if (r === null) return undefined;
        if (Buffer.isBuffer(r)) return name.startsWith('.zdebug_') ? undefined : { name, flags: 0, data: r };
        const wantName = r.name ?? `.debug_${m[1]}`;
        return name === wantName ? { name, flags: r.flags, data: r.data } : undefined;
      }
      return elf.section(name);
    },
  };
}

function errorOf(fn: () => unknown): DwarfError {
  try {
    fn();
  } catch (err) {
    if (err instanceof DwarfError) return err;
    throw new Error(`expected a DwarfError, got ${String(err)}`);
  }
  throw new Error('expected a DwarfError, but reading succeeded');
}

const CORRUPT = /^DWARF section \.z?debug_\w+ is corrupt at offset 0x[0-9a-f]+: \S/;

describe.runIf(picked.length > 0).each(picked)('damaged DWARF of a Go $version build', (tc) => {
  let elf: ElfFile;
  let info: Buffer;
  let abbrev: Buffer;
  let version: number;
  /** Offset of the first unit's root DIE: after a DWARF 4 header (11 bytes) or DWARF 5 header (12). */
  let rootOffset: number;

  beforeAll(() => {
    elf = ElfFile.read(buildSample(tc));
    info = inflated(elf, 'info');
    abbrev = inflated(elf, 'abbrev');
    version = info.readUInt16LE(4);
    rootOffset = version >= 5 ? 12 : 11;
  });

  const patched = (edit: (b: Buffer) => void) => {
    const copy = Buffer.from(info);
    edit(copy);
    return copy;
  };

  it('reads the undamaged sections uncompressed, as a baseline', () => {
    expect(readDwarfFunctions(withSections(elf, { info, abbrev })).has('main.basics')).toBe(true);
  });

  it.each([
    ['a reserved unit length', (b: Buffer) => b.writeUInt32LE(0xfffffff5, 0), () => 'unit length 0xfffffff5 is a reserved value', 0],
    ['a unit length past the end', (b: Buffer) => b.writeUInt32LE(b.length, 0), (b: Buffer) => `unit length ${b.length} runs past the end of the section (${b.length} bytes)`, 0],
    ['an unknown DWARF version', (b: Buffer) => b.writeUInt16LE(9, 4), () => 'unsupported DWARF version 9', 0],
    ['an abbreviation code not in the table', (b: Buffer) => { b[rootOffset] = 0x7f; }, () => "abbreviation code 127 is not in the unit's table", -1],
  ])('%s gives the exact sentence', (_what, edit, message, at) => {
    const bad = patched(edit);
    const err = errorOf(() => readDwarfFunctions(withSections(elf, { info: bad, abbrev })));
    const offset = at < 0 ? rootOffset : at;
    expect(err.message).toBe(`DWARF section .debug_info is corrupt at offset 0x${offset.toString(16)}: ${message(bad)}`);
    expect(err.section).toBe('.debug_info');
  });

  it.each([0.02, 0.3, 0.5, 0.77, 0.999])('a .debug_info cut at %f of its length is a DwarfError naming it', (fraction) => {
    const cut = info.subarray(0, Math.floor(info.length * fraction));
    const err = errorOf(() => readDwarfFunctions(withSections(elf, { info: cut, abbrev })));
    expect(err.message).toMatch(CORRUPT);
    expect(err.message.startsWith('DWARF section .debug_info ')).toBe(true);
  });

  it('a .debug_abbrev cut short is a DwarfError naming it', () => {
    const err = errorOf(() => readDwarfFunctions(withSections(elf, { info, abbrev: abbrev.subarray(0, 40) })));
    expect(err.message).toMatch(/^DWARF section \.debug_abbrev is corrupt at offset 0x[0-9a-f]+: /);
  });

  it('a binary without DWARF says so', () => {
    const err = errorOf(() => readDwarfFunctions(withSections(elf, { info: null })));
    expect(err.message).toBe('the binary has no DWARF debugging information (no .debug_info section)');
    expect(err.hint).toMatch(/-ldflags=-w/);
  });

  it('a compressed section that does not inflate names the section', () => {
    const header = Buffer.alloc(24);
    header.writeUInt32LE(1, 0);
    header.writeBigUInt64LE(BigInt(info.length), 8);
    const garbage = Buffer.concat([header, Buffer.from('this is not a zlib stream at all')]);
    const err = errorOf(() => readDwarfFunctions(withSections(elf, { info: { data: garbage, flags: 0x800 } })));
    expect(err.message).toMatch(/^DWARF section \.debug_info is corrupt at offset 0x18: cannot inflate it \(.+\)$/);
  });

  it('a compressed section whose header lies about its size names the section', () => {
    const header = Buffer.alloc(24);
    header.writeUInt32LE(1, 0);
    header.writeBigUInt64LE(BigInt(info.length + 5), 8);
    const data = Buffer.concat([header, deflateSync(info)]);
    const err = errorOf(() => readDwarfFunctions(withSections(elf, { info: { data, flags: 0x800 } })));
    expect(err.message).toBe(`DWARF section .debug_info is corrupt at offset 0x18: inflates to ${info.length} bytes, the header says ${info.length + 5}`);
  });

  it('an old-style .zdebug_info that does not inflate names the section', () => {
    const size = Buffer.alloc(8);
    size.writeBigUInt64BE(BigInt(info.length));
    const data = Buffer.concat([Buffer.from('ZLIB'), size, Buffer.from('garbage garbage garbage')]);
    const err = errorOf(() => readDwarfFunctions(withSections(elf, { info: { data, flags: 0, name: '.zdebug_info' } })));
    expect(err.message).toMatch(/^DWARF section \.zdebug_info is corrupt at offset 0xc: cannot inflate it /);
  });

  it('flipped bytes anywhere end in success or one DwarfError sentence, quickly', () => {
    let failures = 0;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: info.length - 1 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 16 }),
        fc.boolean(),
        (flips, alsoAbbrev) => {
          const bad = Buffer.from(info);
          for (const [pos, xor] of flips) bad[pos]! ^= xor;
          const badAbbrev = Buffer.from(abbrev);
          if (alsoAbbrev) badAbbrev[flips[0]![0] % abbrev.length]! ^= flips[0]![1];
          const started = performance.now();
          try {
            readDwarfFunctions(withSections(elf, { info: bad, abbrev: badAbbrev }));
          } catch (err) {
            if (!(err instanceof DwarfError)) throw err;
            expect(err.message).toMatch(CORRUPT);
            failures++;
          }
          expect(performance.now() - started).toBeLessThan(5000);
        },
      ),
      { numRuns: 60, seed: 20240607 },
    );
    // Most flips land in names and locations that decode either way; some must hit structure.
    expect(failures).toBeGreaterThan(0);
  });
});
