// The cache of whole trace specs: a kept spec is the spec built anew (its
// plans, the tables its plans read, its C), and anything that could make
// it wrong is a miss: another build at the same path, a rewritten file,
// another request (packages, --depth, --returns, the functions file's
// contents), a corrupt file. Binaries without their own DWARF are not kept.

import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ElfFile } from '../../src/binary/elf/file.js';
import { ALL_FEATURES } from '../../src/bpf/features.js';
import { goBuildId, readGoBuildId } from '../../src/binary/identity.js';
import { pruneSpecs, readCachedSpec, readSpecFile, specCachePath, writeCachedSpec, writeSpecFile } from '../../src/bpf/speccache.js';
import { buildTraceSpec, type TraceRequest, type TraceSpec } from '../../src/bpf/tracespec.js';
import { fixtureBuild } from '../helpers/fixtures.js';

const types = fixtureBuild({ fixture: 'types', toolchain: '1.22', variant: 'normal' });
const typesPie = fixtureBuild({ fixture: 'types', toolchain: '1.22', variant: 'pie' });
const typesStripped = fixtureBuild({ fixture: 'types', toolchain: '1.22', variant: 'stripped' });
const composites = fixtureBuild({ fixture: 'composites', toolchain: '1.22', variant: 'normal' });
const typesOld = fixtureBuild({ fixture: 'types', toolchain: '1.19', variant: 'normal' });

const PLAN = { stringSize: 64, maxElements: 16, maxRecordSize: 16384, depth: 2 };

let work: string;
let dir: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'weaver-speccache-'));
  dir = join(work, 'specs');
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

function copyBinary(from: string, name = 'prog'): string {
  const to = join(work, name);
  copyFileSync(from, to);
  return to;
}

function request(binaryPath: string, extra: Partial<TraceRequest> = {}): TraceRequest {
  return { binaryPath, packages: ['main'], plan: PLAN, binaryCacheDir: null, ...extra };
}

/** Builds the spec of `req` and keeps it; the spec built. */
function buildAndKeep(req: TraceRequest): TraceSpec {
  const elf = ElfFile.read(req.binaryPath);
  const spec = buildTraceSpec({ ...req, elf });
  expect(writeCachedSpec(req, spec, elf, dir)).toBe(true);
  return spec;
}

/**
 * The spec as data: the decoder's tables (runtime types, function names)
 * become what they answer for `probes`, so two specs compare by content.
 */
function asData(spec: TraceSpec, probes: { addresses: number[]; pcs: bigint[] }): unknown {
  const copies = new Map<object, unknown>();
  const copy = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    if (copies.has(v)) return copies.get(v);
    const o = v as Record<string, unknown>;
    if (Object.hasOwn(o, 'lookup')) {
      const t = v as { lookup(a: number): unknown; list(): unknown[]; itabsOf(t: number): number[] };
      const answer = { types: probes.addresses.map((a) => t.lookup(a)), count: t.list().length, itabs: probes.addresses.map((a) => t.itabsOf(a)) };
      copies.set(v, answer);
      return answer;
    }
    if (Object.hasOwn(o, 'at')) return probes.pcs.map((pc) => (v as { at(pc: bigint): string | null }).at(pc));
    if (v instanceof Map) {
      const m = new Map();
      copies.set(v, m);
      for (const [k, x] of v) m.set(k, copy(x));
      return m;
    }
    const out: Record<string, unknown> | unknown[] = Array.isArray(v) ? [] : {};
    copies.set(v, out);
    for (const k of Object.keys(o)) (out as Record<string, unknown>)[k] = copy(o[k]);
    return out;
  };
  return copy({ ...spec, notes: spec.notes.lines(true) });
}

/** Plan nodes for which `test` holds. */
function planNodes(spec: TraceSpec, test: (node: Record<string, unknown>) => boolean): number {
  const seen = new Set<object>();
  let n = 0;
  const walk = (v: unknown) => {
    if (typeof v !== 'object' || v === null || seen.has(v)) return;
    seen.add(v);
    if (test(v as Record<string, unknown>)) n++;
    for (const x of Object.values(v)) walk(x);
  };
  walk(spec.targets);
  return n;
}

describe('a kept spec', () => {
  it('is the spec built anew: plans, probes, dispatchers, C, notes and the tables plans read', () => {
    const bin = copyBinary(composites.path);
    const req = request(bin, { returns: true });
    const built = buildAndKeep(req);
    const kept = readCachedSpec(req, dir);
    expect(kept).not.toBeNull();
    const functions = [...built.binary.functions.values()];
    const probes = {
      addresses: [0, ...functions.slice(0, 40).map((f) => f.address)],
      pcs: [0n, ...functions.slice(0, 40).map((f) => BigInt(f.address + 1))],
    };
    // Interface values and func values are read through the shared tables: the fixture has both.
    expect(planNodes(built, (n) => n.kind === 'interface' && Boolean(n.types))).toBe(10);
    expect(planNodes(built, (n) => n.kind === 'header' && Boolean(n.code))).toBe(2);
    expect(planNodes(kept!, (n) => n.kind === 'interface' && Boolean(n.types))).toBe(10);
    // Compared as booleans: a failing toEqual would print megabytes.
    expect(isDeepStrictEqual(asData(kept!, probes), asData(built, probes))).toBe(true);
    expect(isDeepStrictEqual(asData(kept!, probes), asData(buildTraceSpec({ ...req, packages: ['main', 'fmt'] }), probes))).toBe(false);
    expect(kept!.cSource).toBe(built.cSource);
  });

  it('gives the path as asked for this run; another spelling of it is another key', () => {
    const bin = copyBinary(types.path);
    buildAndKeep(request(bin));
    expect(readCachedSpec(request(bin), dir)!.binary.path).toBe(bin);
    const spelled = relative(process.cwd(), bin);
    expect(readCachedSpec(request(spelled), dir)).toBeNull();
    buildAndKeep(request(spelled));
    expect(readCachedSpec(request(spelled), dir)!.binary.path).toBe(spelled);
  });

  it('is not kept, and nothing is thrown, where the cache directory cannot be made (XDG_CACHE_HOME a file)', () => {
    const bin = copyBinary(types.path);
    const req = request(bin);
    const elf = ElfFile.read(bin);
    const file = join(work, 'a-file');
    writeFileSync(file, '');
    expect(writeCachedSpec(req, buildTraceSpec({ ...req, elf }), elf, join(file, 'weaver', 'specs'))).toBe(false);
    expect(readCachedSpec(req, join(file, 'weaver', 'specs'))).toBeNull();
  });

  it('is not kept for a binary without DWARF', () => {
    const bin = copyBinary(typesStripped.path);
    const req = request(bin);
    const elf = ElfFile.read(bin);
    expect(writeCachedSpec(req, buildTraceSpec({ ...req, elf }), elf, dir)).toBe(false);
    expect(readCachedSpec(req, dir)).toBeNull();
  });
});

describe('a kept spec is not used', () => {
  const changes: [string, (bin: string) => void][] = [
    ['after another build is copied over the binary', (bin) => copyFileSync(composites.path, bin)],
    ['after another build of the same program is copied over it', (bin) => copyFileSync(typesOld.path, bin)],
    ['after the same bytes are written again', (bin) => writeFileSync(bin, readFileSync(bin))],
    [
      'after a rewrite with its old modification time put back',
      (bin) => {
        const before = new Date(Date.now() - 3_600_000);
        utimesSync(bin, before, before);
        buildAndKeep(request(bin));
        writeFileSync(bin, readFileSync(bin));
        utimesSync(bin, before, before);
      },
    ],
    [
      'after a new file is put at the same path',
      (bin) => {
        rmSync(bin);
        copyFileSync(types.path, bin);
      },
    ],
  ];
  it.each(changes)('%s', (_what, change) => {
    const bin = copyBinary(types.path);
    buildAndKeep(request(bin));
    change(bin);
    expect(readCachedSpec(request(bin), dir)).toBeNull();
  });

  it('for a rebuilt binary: the new build gets its own spec', () => {
    const bin = copyBinary(types.path);
    const first = buildAndKeep(request(bin));
    copyFileSync(composites.path, bin);
    expect(readCachedSpec(request(bin), dir)).toBeNull();
    const second = buildAndKeep(request(bin));
    expect(second.cSource).not.toBe(first.cSource);
    expect(readCachedSpec(request(bin), dir)!.cSource).toBe(second.cSource);
  });

  const requests: [string, Partial<TraceRequest>][] = [
    ['for other packages', { packages: ['main', 'fmt'] }],
    ['for another --depth', { plan: { ...PLAN, depth: 0 } }],
    ['for another --string-size', { plan: { ...PLAN, stringSize: 32 } }],
    ['with --returns', { returns: true }],
    ['with --stack', { stackFrames: 8 }],
    ['with probes at the entry', { probePlacement: 'entry' }],
    ['with single links', { attach: 'single' }],
    ['on a kernel without bpf_loop', { features: { ...ALL_FEATURES, bpf_loop: false } }],
  ];
  it.each(requests)('%s', (_what, change) => {
    const bin = copyBinary(types.path);
    buildAndKeep(request(bin));
    expect(specCachePath(request(bin, change), dir)).not.toBe(specCachePath(request(bin), dir));
    expect(readCachedSpec(request(bin, change), dir)).toBeNull();
    // The same request again, as a new object: a hit.
    expect(readCachedSpec(request(bin), dir)).not.toBeNull();
  });

  it('after the functions file changes', () => {
    const bin = copyBinary(types.path);
    const funcs = join(work, 'funcs.txt');
    writeFileSync(funcs, 'main.parseHeader(s string) (string, error)\n');
    const req = request(bin, { functionsFile: funcs, packages: [] });
    const kept = specCachePath(req, dir);
    writeFileSync(funcs, 'main.parseHeader(s string) (string, error)\nmain.sum(xs []int) int\n');
    expect(specCachePath(req, dir)).not.toBe(kept);
    rmSync(funcs);
    expect(specCachePath(req, dir)).toBeNull();
  });

  const corruptions: [string, (b: Buffer) => Buffer][] = [
    ['empty', () => Buffer.alloc(0)],
    ['cut short', (b) => b.subarray(0, b.length >> 1)],
    ['a header of another format', (b) => Buffer.from(b.toString('latin1').replace('"format":2', '"format":1'), 'latin1')],
    ['random bytes after the header', (b) => Buffer.concat([b.subarray(0, 4 + b.readUInt32LE(0)), Buffer.from('not a spec')])],
  ];
  it.each(corruptions)('when its file is %s', (_what, corrupt) => {
    const bin = copyBinary(types.path);
    buildAndKeep(request(bin));
    const path = specCachePath(request(bin), dir)!;
    writeFileSync(path, corrupt(readFileSync(path)));
    expect(readCachedSpec(request(bin), dir)).toBeNull();
  });
});

describe('a spec file read back at once (writeSpecFile, readSpecFile)', () => {
  const probesOf = (spec: TraceSpec) => {
    const functions = [...spec.binary.functions.values()].slice(0, 40);
    return { addresses: [0, ...functions.map((f) => f.address)], pcs: [0n, ...functions.map((f) => BigInt(f.address + 1))] };
  };

  it.each([
    ['a binary with DWARF', composites.path, { returns: true }],
    // Not kept in the cache (its debug info may appear later), but it can still be handed over.
    ['a stripped binary', typesStripped.path, {}],
  ] as const)('is the spec built: %s', (_what, path, extra) => {
    const bin = copyBinary(path);
    const req = request(bin, extra);
    const built = buildTraceSpec({ ...req, elf: ElfFile.read(bin) });
    const file = join(work, 'transfer.spec');
    expect(writeSpecFile(file, built, null)).toBe(true);
    const read = readSpecFile(file, bin);
    expect(read).not.toBeNull();
    expect(isDeepStrictEqual(asData(read!, probesOf(built)), asData(built, probesOf(built)))).toBe(true);
    expect(read!.cSource).toBe(built.cSource);
  });

  it('is no cache entry: put at the cache path, it is not read as one', () => {
    const bin = copyBinary(types.path);
    const req = request(bin);
    const built = buildAndKeep(req);
    expect(writeSpecFile(specCachePath(req, dir)!, built, null)).toBe(true);
    expect(readCachedSpec(req, dir)).toBeNull();
    expect(readSpecFile(specCachePath(req, dir)!, bin)!.cSource).toBe(built.cSource);
  });

  it('without a build to check, is read whatever the binary is now', () => {
    const bin = copyBinary(types.path);
    const built = buildTraceSpec({ ...request(bin), elf: ElfFile.read(bin) });
    const file = join(work, 'transfer.spec');
    expect(writeSpecFile(file, built, null)).toBe(true);
    writeFileSync(bin, readFileSync(bin));
    expect(readSpecFile(file, bin)!.cSource).toBe(built.cSource);
  });

  class Opaque {
    constructor(readonly n: number) {}
  }
  const unstorable: [string, (spec: TraceSpec) => void][] = [
    ['a class instance', (spec) => Object.assign(spec.targets[0]!.plan, { extra: new Opaque(1) })],
    ['a function', (spec) => Object.assign(spec.targets[0]!.plan, { extra: () => 1 })],
    ['a function in an array', (spec) => Object.assign(spec.targets[0]!.plan, { extra: [1, () => 1] })],
    ['a second runtime-type table', (spec) => Object.assign(spec.targets[0]!.plan, { extra: { lookup: () => undefined, list: () => [], table: () => ({ types: [], itabs: [] }) } })],
  ];
  it.each(unstorable)('is not written when the spec holds %s, and leaves the spec as it was', (_what, spoil) => {
    const bin = copyBinary(composites.path);
    const built = buildTraceSpec({ ...request(bin), elf: ElfFile.read(bin) });
    spoil(built);
    const before = built.targets.map((t) => t.plan.args);
    const file = join(work, 'transfer.spec');
    expect(writeSpecFile(file, built, null)).toBe(false);
    expect(readdirSync(work).filter((f) => f.startsWith('transfer'))).toEqual([]);
    // The tables it swapped for markers while walking are back.
    expect(built.targets.map((t) => t.plan.args)).toEqual(before);
    expect(planNodes(built, (n) => n.kind === 'interface' && typeof (n.types as { lookup?: unknown })?.lookup === 'function')).toBe(10);
  });
});

describe('how a binary is identified', () => {
  const idOf = (req: TraceRequest) => {
    const file = readFileSync(specCachePath(req, dir)!);
    return (JSON.parse(file.toString('utf8', 4, 4 + file.readUInt32LE(0))) as { binary: { id: string } }).binary.id;
  };

  it('by its Go build ID once its mtime is a few seconds old', () => {
    const bin = copyBinary(types.path);
    const before = new Date(Date.now() - 60_000);
    utimesSync(bin, before, before);
    buildAndKeep(request(bin));
    expect(idOf(request(bin))).toBe(goBuildId(ElfFile.read(types.path)));
    expect(readCachedSpec(request(bin), dir)).not.toBeNull();
  });

  it('by its contents when it was written in the last seconds (a change within the same clock tick keeps its times)', () => {
    const bin = copyBinary(types.path);
    buildAndKeep(request(bin));
    expect(idOf(request(bin))).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(readCachedSpec(request(bin), dir)).not.toBeNull();
  });
});

describe('readGoBuildId', () => {
  it.each([
    ['a normal build', types.path],
    ['a PIE', typesPie.path],
    ['a stripped build', typesStripped.path],
    ['another toolchain', typesOld.path],
  ])('reads what goBuildId reads from the whole file: %s', (_what, path) => {
    const id = goBuildId(ElfFile.read(path));
    expect(id).toMatch(/^[\w-]+\/[\w-]+/);
    expect(readGoBuildId(path)).toBe(id);
  });

  it('is null for a file that is not ELF', () => {
    const path = join(work, 'text');
    writeFileSync(path, 'not an ELF file at all, but long enough to hold a header of sixty-four bytes');
    expect(readGoBuildId(path)).toBeNull();
  });
});

describe('pruneSpecs', () => {
  it('keeps the most recently used files', () => {
    const bins = ['a', 'b', 'c'].map((n) => copyBinary(types.path, n));
    bins.forEach((b, i) => {
      buildAndKeep(request(b));
      const when = new Date(Date.now() - (3 - i) * 60_000);
      utimesSync(specCachePath(request(b), dir)!, when, when);
    });
    // Reading refreshes a file's use: a is now the newest.
    expect(readCachedSpec(request(bins[0]!), dir)).not.toBeNull();
    pruneSpecs(dir, 2);
    expect(readdirSync(dir).sort()).toEqual([specCachePath(request(bins[0]!), dir)!, specCachePath(request(bins[2]!), dir)!].map((p) => p.slice(dir.length + 1)).sort());
  });
});
