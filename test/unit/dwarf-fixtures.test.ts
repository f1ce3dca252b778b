// The DWARF reader on the project's shared fixture builds (types,
// goroutines, httpserver; normal and PIE; every toolchain of the manifest),
// against Go's own debug/dwarf. Stripped builds must say they have no DWARF.

import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ElfFile } from '../../src/binary/elf/file.js';
import { DwarfError, readDwarfFunctions } from '../../src/binary/dwarf/index.js';
import { MANIFEST_PATH, fixtureBuilds } from '../helpers/fixtures.js';
import { availableToolchains, dwarfdump, firstByName, functionMismatches } from './dwarf-oracle.js';

const builds = existsSync(MANIFEST_PATH) ? fixtureBuilds() : [];
const toolchains = availableToolchains();
const withDwarf = builds.filter((b) => b.variant !== 'stripped').map((b) => ({ ...b, label: `${b.fixture}-${b.variant} (Go ${b.toolchain})` }));
const stripped = builds.filter((b) => b.variant === 'stripped').map((b) => ({ ...b, label: `${b.fixture} (Go ${b.toolchain})` }));

describe.runIf(withDwarf.length > 0 && toolchains.length > 0)('fixture builds', () => {
  it.each(withDwarf)('$label: every function, parameter and type as debug/dwarf reads them', (b) => {
    const ours = readDwarfFunctions(ElfFile.read(b.path));
    const oracle = firstByName(dwarfdump(toolchains, b.path));
    expect(oracle.size).toBeGreaterThan(100);
    expect(functionMismatches(ours, oracle)).toEqual([]);
  });

  it.each(stripped)('$label stripped: says it has no DWARF', (b) => {
    let err: unknown;
    try {
      readDwarfFunctions(ElfFile.read(b.path));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DwarfError);
    expect((err as DwarfError).message).toBe('the binary has no DWARF debugging information (no .debug_info section)');
  });
});
