// The DWARF reader against real Go builds of fixtures/oracles/dwarfdump/sample
// with every toolchain on the machine (DWARF 4 with .zdebug_* or
// SHF_COMPRESSED sections, DWARF 5 from Go 1.25). Expected names, entries,
// parameters and types come from Go's own debug/dwarf (the dwarfdump oracle)
// and `go tool nm`, computed at test time.

import { beforeAll, describe, expect, it } from 'vitest';
import { ElfFile } from '../../src/binary/elf/file.js';
import { dwarfReader, dwarfTypeByName, readDwarfFunctions, type DwarfFunction } from '../../src/binary/dwarf/index.js';
import type { GoType } from '../../src/core/gotypes.js';
import {
  type OracleFunc, type Toolchain, availableToolchains, buildSample, dwarfdump, firstByName, flatten, functionMismatches,
  dwarfdumpType, nmFunctions, typeMismatches,
} from './dwarf-oracle.js';

const toolchains = availableToolchains();

function param(fn: DwarfFunction | undefined, name: string): GoType {
  const p = [...(fn?.spec.params ?? []), ...(fn?.spec.results ?? [])].find((x) => x.name === name);
  if (!p) throw new Error(`no parameter ${name} in ${fn?.spec.name}`);
  return p.type;
}

describe.runIf(toolchains.length > 0).each(toolchains)('Go $version build of the sample', (tc: Toolchain) => {
  let binary: string;
  let elf: ElfFile;
  let all: Map<string, DwarfFunction>;
  let oracle: Map<string, OracleFunc>;

  beforeAll(() => {
    binary = buildSample(tc);
    elf = ElfFile.read(binary);
    all = readDwarfFunctions(elf);
    oracle = firstByName(dwarfdump(toolchains, binary));
  });

  it('finds every function debug/dwarf finds, with the same entry and end', () => {
    expect([...all.keys()].sort()).toEqual([...oracle.keys()].sort());
    const wrong = [...oracle.values()].filter((o) => all.get(o.name)?.lowPc !== o.lowPc || all.get(o.name)?.highPc !== o.highPc);
    expect(wrong.map((o) => o.name)).toEqual([]);
  });

  it('gives every function the parameters, results and types debug/dwarf gives, in order', () => {
    expect(functionMismatches(all, oracle)).toEqual([]);
  });

  it('puts each function at the address go tool nm gives', () => {
    const nm = nmFunctions(tc, binary);
    // A function with two ABIs has two symbols, `f` and `f.abi0`: DWARF describes the body, which is
    // `f.abi0` for an assembly function and `f` for a Go function that assembly calls.
    const entries = (name: string) => [nm.get(name), nm.get(`${name}.abi0`)].filter((a) => a !== undefined);
    const checked = [...all.values()].filter((f) => entries(f.spec.name).length > 0);
    expect(checked.length).toBeGreaterThan(all.size / 2);
    expect(checked.filter((f) => !entries(f.spec.name).includes(f.lowPc)).map((f) => f.spec.name)).toEqual([]);
    for (const name of ['main.basics', 'main.(*Account).Deposit', 'main.Account.Value', 'main.makeAdder.func1', 'github.com/acme/shop/cart.(*Cart).Add']) {
      expect(all.get(name)?.lowPc, name).toBe(nm.get(name));
    }
  });

  it.each([
    // function, parameter, kind, type name: what the Go source declares
    ['main.basics', 'q', 'uint8', 'uint8'], // byte is an alias
    ['main.basics', 'r', 'int32', 'int32'], // rune too
    ['main.basics', 'o', 'complex128', 'complex128'],
    ['main.basics', 'k', 'uintptr', 'uintptr'],
    ['main.strs', 's', 'string', 'string'],
    ['main.strs', 'bs', 'slice', '[]uint8'],
    ['main.strs', 'arr', 'array', '[3]int32'],
    ['main.strs', 'err', 'interface', 'error'],
    ['main.named', 'acc', 'struct', 'main.Account'],
    ['main.named', 'pa', 'pointer', '*main.Account'],
    ['main.named', 'c', 'float64', 'main.Celsius'],
    ['main.named', 'd', 'int64', 'time.Duration'],
    ['main.named', 'k', 'uint8', 'main.Kind'],
    ['main.ifaces', 'e', 'interface', 'interface {}'],
    ['main.ifaces', 's', 'interface', 'main.Shape'],
    ['main.kinds', 'm', 'map', 'map[string]int'],
    ['main.kinds', 'ch', 'chan', 'chan int'],
    ['main.kinds', 'fn', 'func', 'func(int) string'],
    ['main.kinds', 'up', 'pointer', 'unsafe.Pointer'],
    ['main.kinds', 'em', 'struct', 'main.Empty'],
    ['main.kinds', 'pp', 'pointer', '**main.Node'],
    ['main.Account.Value', 'a', 'struct', 'main.Account'],
    ['main.(*Account).Deposit', 'a', 'pointer', '*main.Account'],
    ['main.makeAdder.func1', 'x', 'int', 'int'],
    ['github.com/acme/shop/cart.(*Cart).Add', 'c', 'pointer', '*github.com/acme/shop/cart.Cart'],
    ['github.com/acme/shop/cart.(*Cart).Add', 'it', 'struct', 'github.com/acme/shop/cart.Item'],
    ['github.com/acme/shop/cart.Cart.Total', 'sum', 'int64', 'int64'],
  ])('%s: %s is a %s named %s', (fn, name, kind, typeName) => {
    const t = param(all.get(fn), name);
    expect([t.kind, t.name]).toEqual([kind, typeName]);
  });

  it('describes interfaces, maps, unsafe.Pointer and nested structs by their parts', () => {
    const ifaces = all.get('main.ifaces');
    expect([param(ifaces, 'e'), param(ifaces, 's'), param(ifaces, 'err')].map((t) => t.kind === 'interface' && t.empty)).toEqual([true, false, false]);
    const m = param(all.get('main.kinds'), 'm');
    expect(m.kind === 'map' && [m.key.kind, m.elem.kind]).toEqual(['string', 'int']);
    const up = param(all.get('main.kinds'), 'up');
    expect(up.kind === 'pointer' && up.elem).toBeNull();
    const acc = param(all.get('main.named'), 'acc');
    if (acc.kind !== 'struct') throw new Error('acc is not a struct');
    const owner = acc.fields.find((f) => f.name === 'Owner')!.type;
    if (owner.kind !== 'struct') throw new Error('Owner is not a struct');
    const addr = owner.fields.find((f) => f.name === 'Addr')!.type;
    expect(addr.kind === 'struct' && addr.fields.map((f) => [f.name, f.type.kind])).toEqual([['City', 'string'], ['Zip', 'int32']]);
  });

  it('builds a recursive type as a cycle', () => {
    const n = param(all.get('main.list'), 'n');
    if (n.kind !== 'pointer' || n.elem?.kind !== 'struct') throw new Error(`n is ${n.kind}`);
    expect(n.elem.name).toBe('main.Node');
    expect(n.elem.fields.find((f) => f.name === 'Next')!.type).toBe(n);
  });

  it('reads only the compile units of the packages asked for, with the same results', () => {
    const oracleAll = dwarfdump(toolchains, binary);
    for (const pkgs of [['main'], ['github.com/acme/shop/cart'], ['main', 'time']]) {
      const some = readDwarfFunctions(ElfFile.read(binary), { packages: pkgs });
      const expected = new Set(oracleAll.filter((o) => pkgs.includes(o.unit)).map((o) => o.name));
      expect([...some.keys()].sort(), pkgs.join()).toEqual([...expected].sort());
      for (const [name, fn] of some) expect(flatten(fn).map((p) => [p.name, p.type.name])).toEqual(flatten(all.get(name)!).map((p) => [p.name, p.type.name]));
    }
  });

  it.each(['main.Account', 'main.Node', 'time.Duration', 'runtime.g', 'github.com/acme/shop/cart.Cart', '[]string', 'error', 'map[string]int'])(
    'looks up the type %s by name as debug/dwarf describes it',
    (name) => {
      const expected = dwarfdumpType(toolchains, binary, name);
      if (!expected) throw new Error(`debug/dwarf has no type ${name}`);
      const t = dwarfTypeByName(elf, name);
      expect(t && typeMismatches(t, expected)).toEqual([]);
    },
  );

  it('has no type for a name the binary does not describe, and lists the names it has', () => {
    expect(dwarfTypeByName(elf, 'main.NoSuchType')).toBeNull();
    expect(dwarfReader(elf).typeNames()).toContain('github.com/acme/shop/cart.Cart');
  });

  it('finds goid inside runtime.g where debug/dwarf does', () => {
    const g = dwarfdumpType(toolchains, binary, 'runtime.g')!;
    const t = dwarfTypeByName(elf, 'runtime.g');
    expect(t?.kind === 'struct' && t.fields.find((f) => f.name === 'goid')?.offset).toBe(g.fields!.find((f) => f.name === 'goid')!.offset);
  });

  describe.runIf(tc.minor >= 18)('generic shape functions', () => {
    // The old stenciler (Go 1.18/1.19) suffixes shape types with the type parameter's index.
    const shape = (t: string) => (tc.minor < 20 ? `go.shape.${t}_0` : `go.shape.${t}`);

    it('takes the dictionary of a generic function before the first parameter', () => {
      const max = all.get(`main.Max[${shape('int')}]`);
      expect(max?.spec.hiddenDictionary).toBe(true);
      expect(max?.spec.params.map((p) => [p.name, p.type.kind])).toEqual([['a', 'int'], ['b', 'int']]);
    });

    it('places the dictionary of a generic method where this compiler passes it', () => {
      const push = all.get(`main.(*Stack[${shape('string')}]).Push`);
      // Go 1.18/1.19 pass it first; the unified IR (Go 1.20+) after the receiver (noder/reader.go).
      const expected = tc.minor >= 20 ? ['s', '.dict', 'v'] : ['s', 'v'];
      expect(push?.spec.params.map((p) => p.name)).toEqual(expected);
      expect(push?.spec.hiddenDictionary ?? false).toBe(tc.minor < 20);
    });

    it('agrees with the .dict parameter that DWARF lists from Go 1.25', () => {
      for (const o of oracle.values()) {
        const listed = o.params.findIndex((p) => p.name === '.dict');
        if (listed < 0) continue;
        const spec = all.get(o.name)!.spec;
        expect([o.name, spec.hiddenDictionary ?? false, spec.params.findIndex((p) => p.name === '.dict')]).toEqual(
          [o.name, listed === 0, listed === 0 ? -1 : listed],
        );
      }
    });

    it('gives closures inside generic functions no dictionary', () => {
      for (const [name, fn] of all) {
        if (/\[go\.shape\..*\]\.func\d+$/.test(name)) expect(fn.spec.hiddenDictionary ?? false, name).toBe(false);
      }
    });
  });
});

describe.runIf(toolchains.some((t) => t.minor >= 19))('uncompressed DWARF (-ldflags=-compressdwarf=false)', () => {
  it('reads the same functions as debug/dwarf', () => {
    const tc = toolchains.filter((t) => t.minor >= 19)[0]!;
    const binary = buildSample(tc, 'uncompressed');
    const elf = ElfFile.read(binary);
    expect(elf.section('.debug_info')!.flags & 0x800).toBe(0);
    const ours = readDwarfFunctions(elf);
    const oracle = firstByName(dwarfdump(toolchains, binary));
    expect([...ours].map(([n, f]) => [n, f.lowPc]).sort()).toEqual([...oracle.values()].map((o) => [o.name, o.lowPc]).sort());
  });
});
