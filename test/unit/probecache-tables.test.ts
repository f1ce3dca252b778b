// The per-binary cache's runtime-type table and RET sites: a hit answers
// without computing, a corrupt entry or a site outside its function is a
// miss that is computed and written again, and buildTraceSpec gives the
// same spec (interfaces, return probes) with and without the cache.

import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ElfFile } from '../../src/binary/elf/file.js';
import { goBinaryInfo } from '../../src/binary/elf/gobinary.js';
import { ProbeCache, pruneCache } from '../../src/binary/probecache.js';
import type { ReturnSites } from '../../src/binary/x86/returns.js';
import { readRuntimeTable, type RuntimeTable } from '../../src/binary/runtimetypes.js';
import { buildTraceSpec, type TraceRequest } from '../../src/bpf/tracespec.js';
import { fixtureBuild, newestToolchain } from '../helpers/fixtures.js';

const composites = fixtureBuild({ fixture: 'composites', toolchain: '1.22', variant: 'normal' });

let work: string;
let cacheDir: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'weaver-probecache-tables-'));
  cacheDir = join(work, 'cache');
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

function copyBinary(from: string): string {
  const to = join(work, 'prog');
  copyFileSync(from, to);
  return to;
}

/** The binary's cache file, or with `types` the file beside it that holds the runtime-type table. */
function cacheFile(types = false): string {
  const names = readdirSync(cacheDir).filter((n) => n.endsWith('.types.json') === types);
  expect(names).toHaveLength(1);
  return join(cacheDir, names[0]!);
}

function editCache(edit: (stored: Record<string, any>) => void, types = false): void {
  const stored = JSON.parse(readFileSync(cacheFile(types), 'utf8'));
  edit(stored);
  writeFileSync(cacheFile(types), JSON.stringify(stored));
}

/** Opens the cache, asks for the table, saves; says whether it was computed. */
function tableRun(bin: string, compute: () => RuntimeTable): { table: RuntimeTable; computed: boolean } {
  const cache = ProbeCache.open(ElfFile.read(bin), { dir: cacheDir });
  let computed = false;
  const table = cache.runtimeTable(() => ((computed = true), compute()));
  cache.save();
  return { table, computed };
}

const SYMBOL = { name: 'main.f', address: 0x401000, size: 64, fileOffset: 0x1000 };
const SITES: ReturnSites = {
  sites: [{ kind: 'ret', offset: 40, frameSize: 0 }, { kind: 'deferreturn', offset: 30, frameSize: 24 }, { kind: 'ret', offset: 63, frameSize: 0 }],
  tailJumps: [50],
  skippedDeferreturns: [20],
};

function sitesRun(bin: string, compute: () => ReturnSites, symbol = SYMBOL): { sites: ReturnSites; computed: boolean } {
  const cache = ProbeCache.open(ElfFile.read(bin), { dir: cacheDir });
  let computed = false;
  const sites = cache.returnSites(symbol, () => ((computed = true), compute()));
  cache.save();
  return { sites, computed };
}

describe('ProbeCache runtime-type table', () => {
  it('computes it once and gives back a deep-equal table from the file', () => {
    const bin = copyBinary(composites.path);
    const elf = ElfFile.read(bin);
    const expected = readRuntimeTable(elf, true);
    expect(tableRun(bin, () => expected)).toMatchObject({ computed: true });
    const second = tableRun(bin, () => ({ types: [], itabs: [] }));
    expect(second.computed).toBe(false);
    expect(second.table).toStrictEqual(expected);
  });

  it('keeps a table with no types (a binary without descriptors) as an answer', () => {
    const bin = copyBinary(composites.path);
    tableRun(bin, () => ({ types: [], itabs: [] }));
    expect(tableRun(bin, () => readRuntimeTable(ElfFile.read(bin), true))).toStrictEqual({ table: { types: [], itabs: [] }, computed: false });
  });

  it.each([
    ['a node of unknown kind', (t: any) => (t.nodes[0] = ['tuple', 'x'])],
    ['a type pointing past the nodes', (t: any) => (t.types[0][2] = t.nodes.length)],
    ['a negative address', (t: any) => (t.types[0][0] = -1)],
    ['an itab row too short', (t: any) => (t.itabs = [[1]])],
    ['no node table', (t: any) => delete t.nodes],
    ['a string for the table', (_t: any, stored: any) => (stored.table = 'types')],
    ['another weaver\'s fingerprint', (_t: any, stored: any) => (stored.fingerprint = '0'.repeat(64))],
    ['another build ID', (_t: any, stored: any) => (stored.binary.id = 'other')],
    ['another inode', (_t: any, stored: any) => (stored.binary.ino += 1)],
    ['another layout version', (_t: any, stored: any) => (stored.format -= 1)],
  ])('computes and rewrites a table with %s', (_, damage) => {
    const bin = copyBinary(composites.path);
    const expected = readRuntimeTable(ElfFile.read(bin), true);
    tableRun(bin, () => expected);
    editCache((stored) => damage(stored.table, stored), true);
    const again = tableRun(bin, () => expected);
    expect(again.computed).toBe(true);
    expect(again.table).toBe(expected);
    // Written again: the next run is a hit.
    expect(tableRun(bin, () => ({ types: [], itabs: [] }))).toMatchObject({ computed: false, table: expected });
  });

  it('stores nothing, and computes each run, for a type it cannot give back exactly', () => {
    const bin = copyBinary(composites.path);
    const odd = { types: [{ address: 0x1000, name: 'main.T', type: { kind: 'string', name: 'main.T', extra: true } as any }], itabs: [] };
    expect(tableRun(bin, () => odd).computed).toBe(true);
    expect(tableRun(bin, () => odd).computed).toBe(true);
    expect(existsSync(cacheDir)).toBe(false);
  });

  it('keeps the table beside the cache file, which runs without interfaces never grow', () => {
    const bin = copyBinary(composites.path);
    const funcs = join(work, 'funcs.txt');
    writeFileSync(funcs, 'main.structValue(a main.Account)\n');
    buildTraceSpec({ binaryPath: bin, functionsFile: funcs, packages: [], binaryCacheDir: cacheDir, plan: { stringSize: 32, maxElements: 4, maxRecordSize: 4096, depth: 1 } });
    expect(readdirSync(cacheDir).filter((n) => n.endsWith('.types.json'))).toStrictEqual([]);
    tableRun(bin, () => readRuntimeTable(ElfFile.read(bin), true));
    expect(cacheFile(true)).toBe(cacheFile().replace(/\.json$/, '.types.json'));
    expect(readFileSync(cacheFile(true), 'utf8')).toContain('"nodes":');
    expect(readFileSync(cacheFile(), 'utf8')).not.toContain('"nodes":');
  });

  it('prunes a table with its cache file, and a table whose cache file is gone', () => {
    mkdirSync(cacheDir, { recursive: true });
    const hex = (i: number) => i.toString(16).padStart(64, '0');
    for (let i = 1; i <= 3; i++) {
      writeFileSync(join(cacheDir, `${hex(i)}.json`), '{}');
      writeFileSync(join(cacheDir, `${hex(i)}.types.json`), '{}');
      utimesSync(join(cacheDir, `${hex(i)}.json`), i * 1000, i * 1000);
    }
    writeFileSync(join(cacheDir, `${hex(9)}.types.json`), '{}');
    pruneCache(cacheDir, 2);
    expect(readdirSync(cacheDir).sort()).toStrictEqual([`${hex(2)}.json`, `${hex(2)}.types.json`, `${hex(3)}.json`, `${hex(3)}.types.json`]);
  });
});

describe('ProbeCache RET sites', () => {
  it('computes them once per function and gives them back as computed', () => {
    const bin = copyBinary(composites.path);
    expect(sitesRun(bin, () => SITES)).toStrictEqual({ sites: SITES, computed: true });
    expect(sitesRun(bin, () => ({ sites: [], tailJumps: [], skippedDeferreturns: [] }))).toStrictEqual({ sites: SITES, computed: false });
    // Another function (or the same name at another size) is another entry.
    expect(sitesRun(bin, () => SITES, { ...SYMBOL, size: 80 }).computed).toBe(true);
  });

  it.each([
    ['a RET at the function\'s size', (r: any) => (r.sites[0][1] = SYMBOL.size)],
    ['a deferreturn call past the end', (r: any) => (r.sites[1][1] = 1000)],
    ['a tail jump past the end', (r: any) => (r.tailJumps = [SYMBOL.size])],
    ['a skipped call past the end', (r: any) => (r.skippedDeferreturns = [SYMBOL.size + 1])],
    ['a RET with a frame size', (r: any) => (r.sites[0][2] = 8)],
    ['an unknown kind', (r: any) => (r.sites[0][0] = 'jmp')],
    ['a negative offset', (r: any) => (r.sites[0][1] = -1)],
    ['no site list', (r: any) => delete r.sites],
  ])('recomputes sites stored with %s', (_, damage) => {
    const bin = copyBinary(composites.path);
    sitesRun(bin, () => SITES);
    editCache((stored) => damage(stored.returns[`${SYMBOL.address}:${SYMBOL.size}`]));
    const fresh: ReturnSites = { sites: [{ kind: 'ret', offset: 1, frameSize: 0 }], tailJumps: [], skippedDeferreturns: [] };
    expect(sitesRun(bin, () => fresh)).toStrictEqual({ sites: fresh, computed: true });
    expect(sitesRun(bin, () => SITES)).toStrictEqual({ sites: fresh, computed: false });
  });
});

describe('buildTraceSpec with the cached table and RET sites', () => {
  const plan = { stringSize: 32, maxElements: 4, maxRecordSize: 4096, depth: 1 };
  const request = (binaryPath: string, binaryCacheDir: string | null, returns: boolean): TraceRequest => ({
    binaryPath, packages: ['main'], binaryCacheDir, plan, returns,
  });
  const builds = [
    composites,
    fixtureBuild({ fixture: 'composites', toolchain: newestToolchain(), variant: 'pie' }),
    fixtureBuild({ fixture: 'composites', toolchain: '1.15', variant: 'stripped' }),
    fixtureBuild({ fixture: 'returns', toolchain: newestToolchain(), variant: 'normal' }),
  ];

  it.each(builds)('gives the same package-mode spec with --returns, cold and warm ($fixture, Go $goVersion $variant)', (build) => {
    const bin = copyBinary(build.path);
    const uncached = buildTraceSpec(request(bin, null, true));
    const cold = buildTraceSpec(request(bin, cacheDir, true));
    const warm = buildTraceSpec(request(bin, cacheDir, true));
    const stored = JSON.parse(readFileSync(cacheFile(), 'utf8'));
    expect(Object.keys(stored.returns ?? {}).length).toBeGreaterThan(0);
    for (const spec of [cold, warm]) {
      expect(spec.cSource).toBe(uncached.cSource);
      expect(spec.notes).toStrictEqual(uncached.notes);
      expect(spec.probes).toStrictEqual(uncached.probes);
      expect(comparable(spec.targets.map((t) => [t.plan, t.returns]))).toStrictEqual(comparable(uncached.targets.map((t) => [t.plan, t.returns])));
    }
  });

  it('reads the table from the cache: a type renamed there is the name an interface shows', () => {
    const bin = copyBinary(composites.path);
    const cold = buildTraceSpec(request(bin, cacheDir, false));
    const stored = JSON.parse(readFileSync(cacheFile(true), 'utf8'));
    const row = stored.table.types.find((t: [number, string, number]) => t[1] === 'main.Account');
    expect(row).toBeDefined();
    row[1] = 'main.PlantedInCache';
    writeFileSync(cacheFile(true), JSON.stringify(stored));
    const warm = buildTraceSpec(request(bin, cacheDir, false));
    const names = (spec: typeof cold) => spec.targets.flatMap((t) => t.plan.args.flatMap((a: any) => a.value.types?.list().map((r: any) => r.name) ?? []));
    expect(names(cold)).not.toContain('main.PlantedInCache');
    expect(names(warm)).toContain('main.PlantedInCache');
    expect(names(warm)).not.toContain('main.Account');
  });

  it('takes RET sites from the cache, within the function', () => {
    const bin = copyBinary(fixtureBuild({ fixture: 'returns', toolchain: newestToolchain(), variant: 'normal' }).path);
    buildTraceSpec(request(bin, cacheDir, true));
    const info = goBinaryInfo(ElfFile.read(bin));
    const sym = info.functions.get('main.retInt64')!;
    editCache((stored) => (stored.returns[`${sym.address}:${sym.size}`] = { sites: [['ret', 1, 0]], tailJumps: [], skippedDeferreturns: [] }));
    const target = buildTraceSpec(request(bin, cacheDir, true)).targets.find((t) => t.symbol.name === 'main.retInt64')!;
    expect(target.returns!.probes.map((p) => [p.kind, p.offset, p.attachOffset])).toStrictEqual([['ret', 1, sym.fileOffset + 1]]);
  });
});

/**
 * A plan holds its runtime-type table as an object of functions (lookup,
 * itabsOf), which two runs never share: compared by what they answer. The
 * copy keeps cycles (GoTypes can be cyclic).
 */
function comparable(v: unknown, seen = new Map<object, unknown>()): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (seen.has(v)) return seen.get(v);
  // A func value's name table (src/binary/functionnames.ts) is built from the binary's function list each time: compare what it answers.
  const names = v as { at?: (pc: bigint) => string | null };
  if (!Array.isArray(v) && typeof names.at === 'function') return { functionNames: [0x401000n, 0x450000n, 0x4a0000n].map((pc) => names.at!(pc)) };
  const table = v as { lookup?: unknown; list?: () => { address: number }[]; itabsOf?: (t: number) => number[] };
  if (typeof table.lookup === 'function' && table.list) {
    const list = table.list();
    const out = { list: comparable(list, seen), itabs: list.map((t) => table.itabsOf?.(t.address)) };
    seen.set(v, out);
    return out;
  }
  const out: Record<string, unknown> | unknown[] = Array.isArray(v) ? [] : {};
  seen.set(v, out);
  for (const [k, x] of Object.entries(v)) (out as Record<string, unknown>)[k] = comparable(x, seen);
  return out;
}
