// The signatures property, with real uprobes: for every function of a
// program of ~35 signatures (every kind of argument, methods with pointer
// and value receivers, named and unnamed results, non-ASCII identifiers),
// the line `weaver list` writes, traced with -f, shows the same calls with
// the same arguments and results as package mode (-p main), on Go 1.15
// (stack ABI) and the newest toolchain (register ABI). Addresses differ
// between two runs of a program, so they are compared by shape only; every
// other value exactly. The non-ASCII functions' values are checked exactly.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildGoProgram, oldestAndNewestToolchains } from '../helpers/goprogram.js';
import { requireBpfOrSkip, runWeaver } from '../helpers/weaver.js';

const SOURCE = fileURLToPath(new URL('./programs/signatures.go', import.meta.url));
const canRun = requireBpfOrSkip();
const toolchains = oldestAndNewestToolchains();

interface Call {
  function: string;
  args: { name: string; type: string; value: unknown }[] | null;
  returns?: { name: string; type: string; value: unknown }[];
}

/** Addresses as 0x?: two runs place the heap and stacks apart. */
function comparable(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v), (_k, x) => (typeof x === 'string' && /^0x[0-9a-f]+$/.test(x) ? '0x?' : x));
}

async function trace(args: string[], binary: string): Promise<Call[]> {
  const r = await runWeaver([...args, '--returns', '--format', 'json', '--', binary], { timeoutMs: 90_000 });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Call)
    .sort((a, b) => (a.function < b.function ? -1 : a.function > b.function ? 1 : 0));
}

describe.runIf(canRun).each(toolchains)('signatures weaver list writes, traced, on Go $toolchain', (tc) => {
  const binary = buildGoProgram(tc, SOURCE, 'signatures');

  it('show what package mode shows, for every function', async () => {
    const listed = await runWeaver(['list', '-p', 'main', binary]);
    expect(listed.code, listed.stderr).toBe(0);
    const lines = listed.stdout.split('\n').filter((l) => l.startsWith('main.'));
    // Every function is written as a line, none commented out as unwritable.
    expect(listed.stdout.split('\n').filter((l) => l.startsWith('#'))).toEqual([]);
    expect(lines.length, listed.stdout).toBeGreaterThanOrEqual(32);
    const funcs = join(mkdtempSync(join(tmpdir(), 'weaver-sigprop-')), 'funcs.txt');
    writeFileSync(funcs, listed.stdout);

    const [fromFile, fromPackage] = [await trace(['-f', funcs], binary), await trace(['-p', 'main'], binary)];
    expect(fromFile.map((c) => c.function)).toEqual(fromPackage.map((c) => c.function));
    // Each listed function that the program calls was called and shown.
    expect(new Set(fromFile.map((c) => c.function)).size).toBeGreaterThanOrEqual(30);
    // Package mode traces by name only a function whose DWARF leaves a
    // parameter out (Go 1.15's pointer wrapper of a value method); the line
    // weaver list writes for it shows its values, checked exactly below.
    const namesOnly = fromPackage.filter((c) => c.args === null).map((c) => c.function);
    expect(namesOnly).toEqual(tc.abi === 'stack' ? ['main.(*Rect).Area'] : []);
    fromFile.forEach((f, i) => {
      const p = fromPackage[i]!;
      if (p.args === null) return;
      expect(comparable(f.args), f.function).toEqual(comparable(p.args));
      // Result names can differ (Go 1.15's DWARF numbers unnamed results after the
      // parameters, ~r2; a functions file's unnamed results are ~r0, ~r1): values and types cannot.
      const values = (c: Call) => comparable((c.returns ?? []).map((r) => ({ type: r.type, value: r.value })));
      expect(values(f), f.function).toEqual(values(p));
    });

    // Non-ASCII identifiers, exactly.
    const byName = new Map(fromFile.map((c) => [c.function, c]));
    expect(byName.get('main.Größe')!.args.map((a) => [a.name, a.value])).toEqual([['ü', 3], ['straße', 'Weiß']]);
    expect(byName.get('main.Größe')!.returns!.map((r) => r.value)).toEqual([8]);
    const añadir = byName.get('main.(*Café).Añadir')!;
    expect(añadir.args.map((a) => [a.name, a.type])).toEqual([['c', '*main.Café'], ['número', 'int']]);
    expect((añadir.args[0]!.value as { value: unknown }).value).toEqual({ Nombre: 'Olé', Tazas: 1 });
    expect(añadir.args[1]!.value).toBe(2);
    expect(añadir.returns!.map((r) => r.value)).toEqual([3]);
    expect(byName.get('main.Café.Título')!.args[0]!.value).toEqual({ Nombre: 'Olé', Tazas: 3 });
    // The pointer wrapper of Rect.Area, called through the Shape interface.
    const area = byName.get('main.(*Rect).Area')!;
    expect((area.args[0]!.value as { value: unknown }).value).toEqual({ W: 3, H: 4 });
    expect(area.returns!.map((r) => r.value)).toEqual([12]);
  });
});
