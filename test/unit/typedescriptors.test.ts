// Runtime type descriptors read from the ELF without DWARF
// (src/binary/elf/typedescriptors.ts), checked against the DWARF-derived table of
// the same binary on every toolchain: every type DWARF gives a descriptor
// address must be found at that address with the same name (DWARF writes
// import paths, the runtime package names), kind, size and fields. The
// stripped build of each fixture must give the same types as the normal
// one, and the types the returns fixture puts in interfaces must come out
// exactly as Go lays them out.

import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ElfFile, PF_W, PT_LOAD } from '../../src/binary/elf/file.js';
import { parseGoVersion, readGoVersion } from '../../src/binary/elf/buildinfo.js';
import { findTypesSection } from '../../src/binary/elf/moduledata.js';
import { findPclntab } from '../../src/binary/elf/pclntab.js';
import { readTypeDescriptors } from '../../src/binary/elf/typedescriptors.js';
import { sizeOf, type GoType } from '../../src/core/gotypes.js';
import { lazyRuntimeTypes, readDescriptorTypes, readRuntimeTypes } from '../../src/binary/runtimetypes.js';
import { fixtureBuild, fixtureBuilds, type FixtureName } from '../helpers/fixtures.js';

const FIXTURES: FixtureName[] = ['returns', 'composites', 'types'];
const toolchains = [...new Set(fixtureBuilds({ fixture: 'returns' }).map((b) => b.toolchain))];

function minorOf(elf: ElfFile): number | null {
  return parseGoVersion(readGoVersion(elf))?.minor ?? null;
}

/**
 * A type name with import paths cut to package names and DWARF-only
 * decorations dropped. DWARF writes import paths where the runtime writes
 * package names, except inside type arguments and shapes, where both keep
 * paths: names are compared after cutting both.
 */
function plainName(name: string): string {
  return name
    .replace(/noalg\./g, '')
    .replace(/·\d+/g, '')
    .replace(/[\w.%-]+\//g, '')
    // Unexported fields of an unnamed struct: DWARF qualifies them with their package.
    .replace(/(\{ |; )\w+\.(?=\w+ )/g, '$1');
}

function fieldsOf(t: GoType): string {
  return t.kind === 'struct' ? t.fields.map((f) => `${f.name}@${f.offset}${f.embedded ? '(embedded)' : ''}:${plainName(f.type.name)}`).join(', ') : '';
}

describe('type descriptors against DWARF', () => {
  it('has fixtures for several toolchains', () => {
    expect(toolchains.length, 'fixtures are not built: run npm run setup').toBeGreaterThanOrEqual(4);
  });

  for (const toolchain of toolchains) {
    for (const fixture of FIXTURES) {
      it(`Go ${toolchain} ${fixture}: every DWARF runtime type is found with its name, kind, size and fields`, () => {
        const elf = ElfFile.read(fixtureBuild({ fixture, toolchain }).path);
        const found = readTypeDescriptors(elf, minorOf(elf))!;
        expect(found).not.toBeNull();
        const { base, end } = found.section;
        const byAddress = new Map(found.types.map((t) => [t.address, t]));
        const dwarf = readRuntimeTypes(elf)!.list().filter(
          // DWARF also names types no descriptor backs: runtime-internal
          // casts to huge arrays, and a few entries at offset 0 or outside
          // the section.
          (t) => t.address > base && t.address < end && sizeOf(t.type) < 2 ** 40,
        );
        expect(dwarf.length).toBeGreaterThan(300);
        const problems: string[] = [];
        for (const t of dwarf) {
          const d = byAddress.get(t.address);
          if (!d) {
            problems.push(`missing ${t.name} at 0x${t.address.toString(16)}`);
            continue;
          }
          if (plainName(d.name) !== plainName(t.name)) problems.push(`${t.name}: named ${d.name}`);
          if (d.type.kind !== t.type.kind && t.type.kind !== 'opaque') problems.push(`${t.name}: kind ${d.type.kind}, DWARF ${t.type.kind}`);
          if (t.type.kind !== 'opaque' && sizeOf(d.type) !== sizeOf(t.type)) problems.push(`${t.name}: size ${sizeOf(d.type)}, DWARF ${sizeOf(t.type)}`);
          if (fieldsOf(d.type) !== fieldsOf(t.type)) problems.push(`${t.name}: fields ${fieldsOf(d.type)}, DWARF ${fieldsOf(t.type)}`);
        }
        expect(problems.slice(0, 10)).toEqual([]);
        // The walk also finds what DWARF leaves out (interface, func, map group types).
        expect(found.types.length).toBeGreaterThan(dwarf.length);
        if (found.section.typedescLength === undefined) {
          expect(found.section.typelinks.length).toBeGreaterThan(100);
          expect(found.section.itabs.length).toBeGreaterThan(10);
          expect(found.reachable).toBeGreaterThan(found.section.typelinks.length);
        }
      });

      it(`Go ${toolchain} ${fixture}: the stripped build has the same types`, () => {
        const normal = ElfFile.read(fixtureBuild({ fixture, toolchain }).path);
        const stripped = ElfFile.read(fixtureBuild({ fixture, toolchain, variant: 'stripped' }).path);
        expect(stripped.symbols()).toEqual([]);
        expect(stripped.section('.debug_info')).toBeUndefined();
        const names = (elf: ElfFile) => readTypeDescriptors(elf, minorOf(elf))!.types.map((t) => t.name).sort();
        expect(names(stripped)).toEqual(names(normal));
      });
    }
  }
});

describe('the returns fixture, stripped', () => {
  for (const toolchain of toolchains) {
    it(`Go ${toolchain}: the dynamic types of its interface results`, () => {
      const elf = ElfFile.read(fixtureBuild({ fixture: 'returns', toolchain, variant: 'stripped' }).path);
      const table = readDescriptorTypes(elf)!;
      const named = (name: string) => {
        const all = table.list().filter((t) => t.name === name);
        expect(all.map((t) => t.name), name).toEqual([name]);
        return all[0]!.type;
      };
      const pair = named('main.Pair');
      expect(pair).toMatchObject({ kind: 'struct', size: 24, align: 8 });
      expect(fieldsOf(pair)).toBe('Name@0:string, N@16:int64');
      const errorString = named('*errors.errorString');
      expect(errorString.kind).toBe('pointer');
      expect(fieldsOf((errorString as { elem: GoType }).elem)).toBe('s@0:string');
      const wrapError = named('*fmt.wrapError');
      const wrapped = (wrapError as { elem: GoType }).elem;
      expect(fieldsOf(wrapped)).toBe('msg@0:string, err@16:error');
      expect(wrapped.kind === 'struct' && wrapped.fields[1]!.type).toMatchObject({ kind: 'interface', empty: false });
      expect(named('int')).toEqual({ kind: 'int', name: 'int' });
      expect(named('string')).toEqual({ kind: 'string', name: 'string' });
      expect(named('[]string')).toEqual({ kind: 'slice', name: '[]string', elem: { kind: 'string', name: 'string' } });
      expect(named('map[string]*flag.Flag')).toMatchObject({ kind: 'map', key: { kind: 'string' }, elem: { kind: 'pointer', elem: { kind: 'struct', name: 'flag.Flag' } } });
      expect(named('interface {}')).toEqual({ kind: 'interface', name: 'interface {}', empty: true });
      // error values holding *errors.errorString use a compile-time itab, which names it.
      const errorStringAt = table.list().find((t) => t.name === '*errors.errorString')!.address;
      const itabs = table.itabsOf!(errorStringAt);
      expect(itabs.length).toBeGreaterThanOrEqual(1);
      expect(itabs.map((i) => table.itabType!(i))).toEqual(itabs.map(() => errorStringAt));
      // The lazy provider falls back to the descriptors when there is no DWARF.
      expect(lazyRuntimeTypes(elf, false)()?.list().length).toBe(table.list().length);
    });
  }
});

describe('the table a trace uses for a binary with DWARF', () => {
  for (const toolchain of toolchains) {
    it(`Go ${toolchain}: DWARF's types as DWARF names them, and the descriptors' for the rest`, () => {
      const elf = ElfFile.read(fixtureBuild({ fixture: 'returns', toolchain }).path);
      const dwarf = readRuntimeTypes(elf)!.list();
      const merged = lazyRuntimeTypes(elf, true)()!;
      for (const t of dwarf) expect(merged.lookup(t.address)?.name, t.name).toBe(t.name);
      expect(merged.list().length).toBeGreaterThan(dwarf.length);
      // flag.Value's dynamic type for string flags, which Go 1.19+ DWARF has no entry for.
      expect(merged.list().filter((t) => t.name === '*flag.stringValue')).toHaveLength(1);
    });
  }
});

describe('moduledata layouts', () => {
  for (const toolchain of toolchains) {
    it(`Go ${toolchain}: the same types section whatever release the version says`, () => {
      const elf = ElfFile.read(fixtureBuild({ fixture: 'returns', toolchain, variant: 'stripped' }).path);
      const right = findTypesSection(elf, minorOf(elf))!;
      expect(right.end).toBeGreaterThan(right.base);
      for (const hint of [null, 15, 16, 18, 20, 27]) expect(findTypesSection(elf, hint), `hint ${hint}`).toEqual(right);
    });
  }
});

describe('damaged type descriptors', () => {
  it('give a table or none, never an exception, and stop quickly', () => {
    const build = fixtureBuild({ fixture: 'returns', toolchain: toolchains[0]!, variant: 'stripped' });
    const original = readFileSync(build.path);
    const elf = ElfFile.parse(original, build.path);
    const { base, end } = readTypeDescriptors(elf, minorOf(elf))!.section;
    // Where the types section is in the file: random bytes are written over it.
    const segment = elf.segments.find((s) => s.type === PT_LOAD && base >= s.vaddr && base < s.vaddr + s.filesz)!;
    const start = base - segment.vaddr + segment.offset;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: end - base - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 400 }), (edits) => {
        const bytes = Buffer.from(original);
        for (const [at, value] of edits) bytes[start + at] = value;
        const damaged = ElfFile.parse(bytes, build.path);
        const t0 = Date.now();
        const found = readTypeDescriptors(damaged, minorOf(damaged));
        expect(Date.now() - t0).toBeLessThan(5000);
        if (found) for (const t of found.types) expect(t.name.length).toBeGreaterThan(0);
      }),
      { numRuns: 25 },
    );
  }, 120000);
});

describe('binaries whose moduledata cannot be found', () => {
  it('give no table, not an exception', () => {
    const build = fixtureBuild({ fixture: 'returns', toolchain: toolchains.at(-1)!, variant: 'stripped' });
    const dir = mkdtempSync(join(tmpdir(), 'weaver-typedesc-'));
    const path = join(dir, 'returns');
    copyFileSync(build.path, path);
    // Every word of its writable data that points at the pclntab (moduledata's first) overwritten.
    const elf = ElfFile.read(path);
    const needle = Buffer.alloc(8);
    needle.writeBigUInt64LE(BigInt(findPclntab(elf)!.addr));
    const bytes = readFileSync(path);
    let replaced = 0;
    for (const seg of elf.segments.filter((s) => s.type === PT_LOAD && (s.flags & PF_W) !== 0)) {
      const end = seg.offset + seg.filesz;
      for (let at = bytes.indexOf(needle, seg.offset); at >= 0 && at < end; at = bytes.indexOf(needle, at + 1)) {
        bytes.fill(0, at, at + 8);
        replaced++;
      }
    }
    expect(replaced).toBeGreaterThan(0);
    writeFileSync(path, bytes);
    const damaged = ElfFile.read(path);
    expect(readTypeDescriptors(damaged, minorOf(damaged))).toBeNull();
    expect(readDescriptorTypes(damaged)).toBeNull();
  });
});
