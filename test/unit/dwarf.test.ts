// The DWARF reader against real Go builds of fixtures/oracles/dwarfdump/sample
// with every toolchain on the machine (DWARF 4 with .zdebug_* or
// SHF_COMPRESSED sections, DWARF 5 from Go 1.25). Expected names, entries,
// parameters and types come from Go's own debug/dwarf (the dwarfdump oracle)
// and `go tool nm`, computed at test time.

import { beforeAll, describe, expect, it } from 'vitest';
import { ElfFile } from '../../src/elf/file.js';
import { dwarfReader, dwarfTypeByName, readDwarfFunctions, type DwarfFunction } from '../../src/dwarf/index.js';
import { type GoType, sizeOf } from '../../src/gotypes.js';
import {
  type OracleFunc, type OracleType, type Toolchain, availableToolchains, buildSample, dwarfdump, nmFunctions,
} from './dwarf-oracle.js';

const toolchains = availableToolchains();

/** reflect.Kind of each GoType kind, as Go writes it in DW_AT_go_kind. */
const REFLECT_KIND: Record<string, number> = {
  bool: 1, int: 2, int8: 3, int16: 4, int32: 5, int64: 6, uint: 7, uint8: 8, uint16: 9, uint32: 10, uint64: 11,
  uintptr: 12, float32: 13, float64: 14, complex64: 15, complex128: 16, array: 17, chan: 18, func: 19,
  interface: 20, map: 21, pointer: 22, slice: 23, string: 24, struct: 25,
};

const SAMPLE_PREFIXES = ['main.', 'github.com/acme/shop/'];

/** Mismatches between one of our types and debug/dwarf's view of the same DIE (empty when they agree). */
function typeMismatches(ours: GoType, o: OracleType): string[] {
  const bad: string[] = [];
  const check = (what: string, actual: unknown, expected: unknown) => {
    if (JSON.stringify(actual) !== JSON.stringify(expected)) bad.push(`${what}: ${JSON.stringify(actual)} ≠ ${JSON.stringify(expected)}`);
  };
  // `.paramN` typedefs stand for a shape type parameter: we give the shape type's own name.
  if (!o.name.startsWith('.param')) check('name', ours.name, o.name);
  if (o.goKind === 0) {
    // Go writes no kind for unsafe.Pointer and for pointer types the compiler makes up (`*uintptr` of a write barrier).
    check('kind', ours.kind, o.tag === 'PointerType' ? 'pointer' : 'opaque');
  } else {
    check('reflect kind', REFLECT_KIND[ours.kind], o.goKind);
  }
  check('size', sizeOf(ours), o.size);
  switch (ours.kind) {
    case 'struct':
      check('fields', ours.fields.map((f) => [f.name, f.offset, f.type.name]), (o.fields ?? []).map((f) => [f.name, f.offset, f.type]));
      break;
    case 'pointer':
      check('pointee', ours.elem?.name ?? null, o.name === 'unsafe.Pointer' ? null : o.elem);
      break;
    case 'slice': case 'chan':
      check('elem', ours.elem.name, o.elem);
      break;
    case 'array':
      check('len', ours.len, o.len ?? 0);
      check('elem', ours.elem.name, o.elem);
      break;
    case 'map':
      check('key', ours.key.name, o.key);
      check('elem', ours.elem.name, o.elem);
      break;
    case 'interface':
      check('empty', ours.empty, o.under === 'runtime.eface');
      break;
  }
  return bad;
}

/** Our params and results as the oracle lists them: one list, results flagged; `.dict` is compared separately. */
function flatten(fn: DwarfFunction): { name: string; result: boolean; type: GoType }[] {
  return [
    ...fn.spec.params.map((p) => ({ ...p, result: false })),
    ...(fn.spec.results ?? []).map((p) => ({ ...p, result: true })),
  ].filter((p) => p.name !== '.dict');
}

function firstByName(funcs: OracleFunc[]): Map<string, OracleFunc> {
  const m = new Map<string, OracleFunc>();
  for (const f of funcs) if (!m.has(f.name)) m.set(f.name, f);
  return m;
}

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
    const bad: string[] = [];
    for (const o of oracle.values()) {
      const ours = flatten(all.get(o.name)!);
      const theirs = o.params.filter((p) => p.name !== '.dict');
      if (ours.length !== theirs.length) {
        bad.push(`${o.name}: ${ours.map((p) => p.name)} ≠ ${theirs.map((p) => p.name)}`);
        continue;
      }
      theirs.forEach((p, i) => {
        const mine = ours[i]!;
        // DWARF names every Go parameter; unnamed ones come out as ~r0/~p0/~b1.
        if (mine.name !== p.name || mine.result !== p.result) bad.push(`${o.name} #${i}: ${mine.name}/${mine.result} ≠ ${p.name}/${p.result}`);
        for (const m of typeMismatches(mine.type, p.type)) bad.push(`${o.name} ${p.name}: ${m}`);
      });
    }
    expect(bad).toEqual([]);
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

  it('looks up named types for the functions-file parser', () => {
    const acc = oracle.get('main.named')!.params.find((p) => p.name === 'acc')!.type;
    const t = dwarfTypeByName(elf, 'main.Account');
    expect(t && typeMismatches(t, acc)).toEqual([]);
    expect(dwarfTypeByName(elf, 'time.Duration')).toEqual({ kind: 'int64', name: 'time.Duration' });
    expect(dwarfTypeByName(elf, 'main.NoSuchType')).toBeNull();
    expect(dwarfReader(elf).typeNames()).toContain('github.com/acme/shop/cart.Cart');
  });

  describe.runIf(tc.minor >= 18)('generic shape functions', () => {
    // Go 1.18-1.20 suffix shape types with _0.
    const shape = (t: string) => (tc.minor <= 20 ? `go.shape.${t}_0` : `go.shape.${t}`);

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
