// .gopclntab's `_func.args` against the frame src/spec/abi computes from DWARF's
// signature: on every fixture the two agree for every function of main
// (and cart) whose DWARF lists all its parameters, on both ABIs and every
// table layout (Go 1.15's, 1.18's, 1.20's).

import { describe, expect, it } from 'vitest';
import { argumentFrameSize } from '../../src/spec/abi/index.js';
import { readDwarfFunctions } from '../../src/binary/dwarf/index.js';
import { ElfFile } from '../../src/binary/elf/file.js';
import { goBinaryInfo } from '../../src/binary/elf/gobinary.js';
import { findPclntab, parsePclntab } from '../../src/binary/elf/pclntab.js';
import { fixtureBuilds } from '../helpers/fixtures.js';

const builds = fixtureBuilds({ variant: 'normal' }).filter((b) => ['types', 'composites', 'returns'].includes(b.fixture));

describe('argument frame sizes', () => {
  it.each(builds.map((b) => [`Go ${b.toolchain} ${b.fixture}`, b] as const))('%s: DWARF signatures give the frame .gopclntab records', (_, b) => {
    const elf = ElfFile.read(b.path);
    const info = goBinaryInfo(elf);
    const args = new Map(parsePclntab(findPclntab(elf)!, b.path).map((f) => [f.entry, f.args]));
    const wrong: string[] = [];
    let checked = 0;
    for (const [name, fn] of readDwarfFunctions(elf, { packages: ['main', 'github.com/acme/shop/cart'] })) {
      const symbol = info.functions.get(name);
      if (!symbol) continue;
      // Generated pointer wrappers of value methods have no receiver in Go ≤1.19 DWARF: what the check is for.
      if (name === 'main.(*Rect).Area' && Number(b.toolchain.split('.')[1]) <= 19) continue;
      const frame = argumentFrameSize(fn.spec.params, fn.spec.results ?? [], info.abi, { hiddenDictionary: fn.spec.hiddenDictionary });
      checked++;
      if (frame !== args.get(symbol.address)) wrong.push(`${name}: ${frame} ≠ ${args.get(symbol.address)}`);
    }
    expect(wrong).toEqual([]);
    expect(checked).toBeGreaterThan(40);
  });
});
