// Where each reader is defined (src/bpf/codegen-units.ts): once, in the
// unit with the least text so far, with a unit of readers beside a lone
// dispatcher once the trace is large enough to be worth two clangs.

import { describe, expect, it } from 'vitest';
import { generateUnits } from '../../src/bpf/codegen.js';
import { compileBpf } from '../../src/bpf/compile.js';
import { placeReaders, UNIT_SUBPROGRAMS } from '../../src/bpf/codegen-units.js';
import { argumentLocations } from '../../src/spec/abi/index.js';
import { parseFunctionsFile } from '../../src/spec/funcfile.js';
import { DEFAULT_PLAN_OPTIONS, planFunction } from '../../src/spec/plan.js';

const readers = (...lengths: number[]) => lengths.map((length, i) => ({ name: `weaver_v${i}`, length }));
const names = (units: Set<string>[]) => units.map((u) => [...u].sort());

describe('placeReaders', () => {
  it.each([
    ['a small trace: one unit holds everything', [900], readers(500, 400), 40, [['weaver_v0', 'weaver_v1']]],
    [
      'a large trace with one dispatcher: a second unit of readers, longest first to the lighter unit',
      [900],
      readers(500, 400, 300, 100),
      200,
      [['weaver_v2'], ['weaver_v0', 'weaver_v1', 'weaver_v3']],
    ],
    ['two dispatchers: readers even them out', [100, 700], readers(300, 300, 200), 20, [['weaver_v0', 'weaver_v1', 'weaver_v2'], []]],
    ['equal lengths and loads: the lower unit, in order of definition', [0, 0], readers(10, 10, 10, 10), 4, [['weaver_v0', 'weaver_v2'], ['weaver_v1', 'weaver_v3']]],
    ['no dispatcher: one unit', [], readers(10), 1, [['weaver_v0']]],
    ['units by subprograms: three units of readers beside one dispatcher', [0], readers(5, 4, 3, 2), 3 * UNIT_SUBPROGRAMS + 1, [['weaver_v0'], ['weaver_v1'], ['weaver_v2'], ['weaver_v3']]],
  ])('%s', (_what, dispatcherUnits, rs, subprograms, expected) => {
    expect(names(placeReaders({ dispatcherUnits, readers: rs, subprograms }))).toEqual(expected);
  });
});

describe('generateUnits with readers placed apart', () => {
  // Structs with pointers get readers; a pointer to one inside another makes a reader call a reader.
  const lines = [
    'main.a(p *struct { name string; next *struct { label string; n int } })',
    'main.b(q *struct { label string; n int }, s []string)',
    'main.c(r *struct { title string; inner *struct { label string; n int } }, m map[string]int)',
  ];
  const plans = lines.map((line, i) => {
    const [spec] = parseFunctionsFile(line, 'test.txt');
    return { plan: planFunction(i, spec!, 'register', argumentLocations(spec!.params, 'register'), DEFAULT_PLAN_OPTIONS) };
  });
  const dispatch = [
    { program: 'weaver_dispatch0', calls: ['weaver_s0', 'weaver_s1'] },
    { program: 'weaver_dispatch1', calls: ['weaver_s2'] },
  ];
  const units = generateUnits(plans, { abi: 'register', goidOffset: 152, dispatch });
  const defined = (unit: string) => [...unit.matchAll(/^WEAVER_SHARED __attribute__\(\(noinline\)\) int (weaver_v\d+)\(/gm)].map((m) => m[1]!);
  const declared = (unit: string) => [...unit.matchAll(/^extern int (weaver_v\d+)\(/gm)].map((m) => m[1]!);
  const called = (unit: string) => new Set([...unit.matchAll(/\b(weaver_v\d+)\((?!struct)/g)].map((m) => m[1]!));

  it('defines each reader in exactly one unit', () => {
    const all = units.flatMap(defined);
    expect(all.length).toBeGreaterThanOrEqual(3);
    expect(new Set(all).size).toBe(all.length);
  });

  it('declares, before any call, every reader a unit calls but does not define, and no other', () => {
    let apart = 0;
    for (const unit of units) {
      const here = new Set(defined(unit));
      const wanted = [...called(unit)].filter((r) => !here.has(r)).sort();
      expect(declared(unit).sort()).toEqual(wanted);
      for (const r of declared(unit)) expect(unit.indexOf(`extern int ${r}(`)).toBeLessThan(unit.search(new RegExp(`\\b${r}\\((?!struct)`)));
      apart += wanted.length;
    }
    // The case is only a test if some unit calls a reader another defines.
    expect(apart).toBeGreaterThan(0);
  });

  it("joins into one object: libbpf's linker resolves the declared readers", async () => {
    const { object } = await compileBpf(units, { cacheDir: null });
    for (const name of ['weaver_dispatch0', 'weaver_dispatch1', ...units.flatMap(defined)]) expect(object.includes(Buffer.from(`${name}\0`))).toBe(true);
  });
});
