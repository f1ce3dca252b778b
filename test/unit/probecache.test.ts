// The per-binary cache of probe placement and goid offset: a hit returns
// what was stored without computing, and anything that could make a stored
// answer wrong (another binary at the same path, a rewritten file, a
// corrupt or foreign cache file) is a miss; an unusable directory only
// costs the cache. buildTraceSpec must give the same spec with and without it.

import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ElfFile } from '../../src/binary/elf/file.js';
import { goBinaryInfo, openGoBinary } from '../../src/binary/elf/gobinary.js';
import { MAX_CACHED_BINARIES, ProbeCache, defaultBinaryCacheDir, pruneCache, type CachedProbe } from '../../src/binary/probecache.js';
import { goBuildId } from '../../src/binary/identity.js';
import { buildTraceSpec, type TraceRequest } from '../../src/bpf/tracespec.js';
import { fixtureBuild } from '../helpers/fixtures.js';

const register = fixtureBuild({ fixture: 'types', toolchain: '1.22', variant: 'normal' });
const stack = fixtureBuild({ fixture: 'types', toolchain: '1.15', variant: 'normal' });
const stripped = fixtureBuild({ fixture: 'types', toolchain: '1.22', variant: 'stripped' });
const pie = fixtureBuild({ fixture: 'types', toolchain: '1.19', variant: 'pie' });

let work: string;
let cacheDir: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'weaver-probecache-'));
  cacheDir = join(work, 'cache');
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

const SYMBOL = { name: 'main.f', address: 0x401000, size: 64, fileOffset: 0x1000 };
const PROBE: CachedProbe = { offset: 13, kind: 'after-stack-check', reason: 'jbe at 0x40100d ends the stack check', traps: 1, stackCheckFailFlags: 0x41 };

/** Opens the cache for `path`, asks for the goid offset and one probe, saves; reports which were computed. */
function roundTrip(path: string, dir: string | null = cacheDir, answers = { goid: 152, probe: PROBE }) {
  const elf = ElfFile.read(path);
  const cache = ProbeCache.open(elf, { dir });
  const computed: string[] = [];
  cache.binaryInfo(path, () => (computed.push('info'), goBinaryInfo(elf)));
  const goid = cache.goidOffset(() => (computed.push('goid'), answers.goid));
  const probe = cache.entryProbe(SYMBOL, () => (computed.push('probe'), answers.probe));
  cache.save();
  return { goid, probe, computed, loaded: cache.loaded, path: cache.path };
}

function copyBinary(from: string, name = 'prog'): string {
  const to = join(work, name);
  copyFileSync(from, to);
  return to;
}

describe('ProbeCache', () => {
  it('computes on the first run and answers from the file on the next', () => {
    const bin = copyBinary(register.path);
    const first = roundTrip(bin);
    expect(first).toMatchObject({ goid: 152, probe: PROBE, computed: ['info', 'goid', 'probe'], loaded: false });
    expect(readdirSync(cacheDir)).toHaveLength(1);
    // Different answers offered the second time: the stored ones win, nothing is computed.
    const second = roundTrip(bin, cacheDir, { goid: 999, probe: { offset: 0, kind: 'entry', reason: 'other' } });
    expect(second).toMatchObject({ goid: 152, probe: PROBE, computed: [], loaded: true });
  });

  it('keeps a probe without stack-check flags exactly as computed', () => {
    const bin = copyBinary(register.path);
    const entry: CachedProbe = { offset: 0, kind: 'entry', reason: 'no stack check in the prologue' };
    roundTrip(bin, cacheDir, { goid: 160, probe: entry });
    const again = roundTrip(bin);
    expect(again.probe).toStrictEqual(entry);
    expect(again.goid).toBe(160);
  });

  it('keys probes by function address and size', () => {
    const bin = copyBinary(register.path);
    roundTrip(bin);
    const cache = ProbeCache.open(ElfFile.read(bin), { dir: cacheDir });
    const other = { offset: 0, kind: 'entry' as const, reason: 'another function' };
    for (const sym of [{ ...SYMBOL, address: SYMBOL.address + 64 }, { ...SYMBOL, size: 65 }]) {
      expect(cache.entryProbe(sym, () => other)).toStrictEqual(other);
    }
    expect(cache.entryProbe(SYMBOL, () => other)).toStrictEqual(PROBE);
  });

  const changes: [string, (bin: string) => void][] = [
    ['another build copied over it', (bin) => copyFileSync(stack.path, bin)],
    ['the same bytes written again', (bin) => writeFileSync(bin, readFileSync(bin))],
    [
      'a rewrite with its old modification time put back',
      (bin) => {
        const before = new Date(Date.now() - 3_600_000);
        utimesSync(bin, before, before);
        roundTrip(bin); // cached under the old time
        writeFileSync(bin, readFileSync(bin));
        utimesSync(bin, before, before);
      },
    ],
    [
      'a new file at the same path',
      (bin) => {
        rmSync(bin);
        copyFileSync(register.path, bin);
      },
    ],
  ];
  it.each(changes)('misses after %s', (_what, change) => {
    const bin = copyBinary(register.path);
    roundTrip(bin);
    change(bin);
    const after = roundTrip(bin, cacheDir, { goid: 7, probe: { offset: 0, kind: 'entry', reason: 'recomputed' } });
    expect(after).toMatchObject({ goid: 7, computed: ['info', 'goid', 'probe'], loaded: false });
    // And the file now holds the new answers.
    expect(roundTrip(bin)).toMatchObject({ goid: 7, computed: [], loaded: true });
  });

  const corruptions: [string, (text: string) => string][] = [
    ['not JSON', () => '{"format":1,'],
    ['empty', () => ''],
    ['JSON of another shape', () => '[1,2,3]'],
    ['a probe with a negative offset', (t) => t.replace('"offset":13', '"offset":-1')],
    ['a probe of an unknown kind', (t) => t.replace('"after-stack-check"', '"middle"')],
    ['a probe costing three traps', (t) => t.replace('"traps":1', '"traps":3')],
    ['a fractional goid offset', (t) => t.replace('"goidOffset":152', '"goidOffset":1.5')],
    ['another format version', (t) => t.replace(/"format":\d+/, '"format":99')],
    ['another weaver build', (t) => t.replace(/"fingerprint":"[0-9a-f]+"/, '"fingerprint":"0"')],
    ['another binary identity', (t) => t.replace(/"id":"[^"]+"/, '"id":"x"')],
    ['a function row with a string address', (t) => t.replace(/("functions":\[\["[^"]+",)(\d+)/, '$1"$2"')],
    ['a function row with an abi0 flag of 2', (t) => t.replace(/("functions":\[\["[^"]+",\d+,\d+,\d+,)\d/, '$12')],
    ['an info field that is an object', (t) => t.replace('"pie":false', '"pie":{}')],
  ];
  it.each(corruptions)('ignores and rewrites a cache file that is %s', (_what, corrupt) => {
    const bin = copyBinary(register.path);
    const { path } = roundTrip(bin);
    const original = readFileSync(path!, 'utf8');
    const damaged = corrupt(original);
    expect(damaged).not.toBe(original);
    writeFileSync(path!, damaged);
    expect(roundTrip(bin)).toMatchObject({ goid: 152, probe: PROBE, computed: ['info', 'goid', 'probe'], loaded: false });
    expect(JSON.parse(readFileSync(path!, 'utf8'))).toStrictEqual(JSON.parse(original));
  });

  it.each<[string, CachedProbe]>([
    ['on the first emulated instruction of a leaf', { offset: 4, kind: 'first-emulated', reason: 'jle at 0x401004', traps: 1 }],
    ['at the entry, two traps', { offset: 0, kind: 'entry', reason: 'mov writes memory', traps: 2 }],
    ['at the entry, cost unknown (--probe-placement entry)', { offset: 0, kind: 'entry', reason: 'asked for' }],
  ])('keeps a probe %s as it was', (_what, probe) => {
    const bin = copyBinary(register.path);
    roundTrip(bin, cacheDir, { goid: 152, probe });
    expect(roundTrip(bin)).toMatchObject({ probe, computed: [], loaded: true });
  });

  it('works without the cache when its directory cannot be created', () => {
    const bin = copyBinary(register.path);
    const file = join(work, 'a-file');
    writeFileSync(file, 'not a directory');
    const dir = join(file, 'binaries');
    for (let i = 0; i < 2; i++) {
      expect(roundTrip(bin, dir)).toMatchObject({ goid: 152, probe: PROBE, computed: ['info', 'goid', 'probe'], loaded: false });
    }
    expect(readdirSync(work).sort()).toStrictEqual(['a-file', 'prog']);
  });

  it('computes every time when turned off', () => {
    const bin = copyBinary(register.path);
    for (let i = 0; i < 2; i++) expect(roundTrip(bin, null)).toMatchObject({ computed: ['info', 'goid', 'probe'], path: null });
  });

  it('writes nothing when nothing new was computed', () => {
    const bin = copyBinary(register.path);
    const { path } = roundTrip(bin);
    writeFileSync(path!, readFileSync(path!, 'utf8').replace('"reason":"jbe', '"reason":"JBE'));
    roundTrip(bin);
    expect(readFileSync(path!, 'utf8')).toContain('"reason":"JBE');
  });

  it.each([register, stack, stripped, pie])('gives back the function list as computed ($goVersion $variant)', (build) => {
    const bin = copyBinary(build.path);
    const elf = ElfFile.read(bin);
    const expected = goBinaryInfo(elf);
    const first = ProbeCache.open(elf, { dir: cacheDir });
    first.binaryInfo(bin, () => expected);
    first.save();
    const cache = ProbeCache.open(ElfFile.read(bin), { dir: cacheDir });
    expect(cache.loaded).toBe(true);
    const info = cache.binaryInfo(bin, () => {
      throw new Error('computed although cached');
    });
    expect(info).toStrictEqual(expected);
    // The Map's order too: suggestions for a misspelt name walk it.
    expect([...info.functions.keys()]).toStrictEqual([...expected.functions.keys()]);
    expect([...info.functions.values()].filter((f) => f.abi0).length).toBe([...expected.functions.values()].filter((f) => f.abi0).length);
  });

  it('takes the path of the current request, not of the run that stored it', () => {
    const bin = copyBinary(register.path);
    roundTrip(bin);
    const other = join(work, '.', 'prog');
    const info = ProbeCache.open(ElfFile.read(other), { dir: cacheDir }).binaryInfo('./elsewhere/prog', () => {
      throw new Error('computed although cached');
    });
    expect(info.path).toBe('./elsewhere/prog');
  });

  it('does not store a function list it could not give back as it is', () => {
    const bin = copyBinary(register.path);
    const elf = ElfFile.read(bin);
    const info = goBinaryInfo(elf);
    const withExtra = { ...info, extra: new Map([[1, 2]]) } as typeof info;
    const first = ProbeCache.open(elf, { dir: cacheDir });
    first.binaryInfo(bin, () => withExtra);
    first.save();
    expect(readdirSync(work)).not.toContain('cache');
    const [name, firstSymbol] = [...info.functions][0];
    const symbolExtra = { ...info, functions: new Map([[name, { ...firstSymbol, inlined: true }]]) } as typeof info;
    const second = ProbeCache.open(elf, { dir: cacheDir });
    second.binaryInfo(bin, () => symbolExtra);
    second.save();
    expect(readdirSync(work)).not.toContain('cache');
  });

  it('recomputes a stored probe that lies outside its function', () => {
    const bin = copyBinary(register.path);
    const { path } = roundTrip(bin);
    writeFileSync(path!, readFileSync(path!, 'utf8').replace('"offset":13', `"offset":${SYMBOL.size}`));
    const fresh: CachedProbe = { offset: 0, kind: 'entry', reason: 'recomputed' };
    const cache = ProbeCache.open(ElfFile.read(bin), { dir: cacheDir });
    expect(cache.loaded).toBe(true);
    expect(cache.entryProbe(SYMBOL, () => fresh)).toStrictEqual(fresh);
  });

  it('keeps only the most recently used cache files', () => {
    mkdirSync(cacheDir, { recursive: true });
    const name = (i: number) => `${i.toString(16).padStart(64, '0')}.json`;
    // Used one minute apart, file 0 the longest ago; a file of another name is not the cache's.
    for (let i = 0; i < 6; i++) {
      writeFileSync(join(cacheDir, name(i)), '{}');
      const used = new Date(Date.UTC(2026, 0, 1, 0, i));
      utimesSync(join(cacheDir, name(i)), used, used);
    }
    writeFileSync(join(cacheDir, 'notes.txt'), 'mine');
    pruneCache(cacheDir, 4);
    expect(readdirSync(cacheDir).sort()).toStrictEqual([name(2), name(3), name(4), name(5), 'notes.txt']);
  });

  it('keeps what fits in its byte bound, the most recently used first', () => {
    mkdirSync(cacheDir, { recursive: true });
    const name = (i: number) => `${i.toString(16).padStart(64, '0')}.json`;
    for (let i = 0; i < 5; i++) {
      writeFileSync(join(cacheDir, name(i)), Buffer.alloc(1000, 0x20));
      const used = new Date(Date.UTC(2026, 0, 1, 0, i));
      utimesSync(join(cacheDir, name(i)), used, used);
    }
    // File 4's table counts with it.
    writeFileSync(join(cacheDir, name(4).replace('.json', '.types.json')), Buffer.alloc(1500));
    pruneCache(cacheDir, 10, 4000);
    expect(readdirSync(cacheDir).sort()).toStrictEqual([name(3), name(4), name(4).replace('.json', '.types.json')]);
  });

  it('prunes when it writes, and a hit counts as a use', () => {
    mkdirSync(cacheDir, { recursive: true });
    const bin = copyBinary(register.path);
    const { path } = roundTrip(bin);
    const longAgo = new Date(Date.UTC(2020, 0, 1));
    utimesSync(path!, longAgo, longAgo);
    roundTrip(bin); // a hit: used now
    const old = new Date(Date.UTC(2025, 0, 1));
    for (let i = 0; i < MAX_CACHED_BINARIES; i++) {
      const f = join(cacheDir, `${i.toString(16).padStart(64, 'a')}.json`);
      writeFileSync(f, '{}');
      utimesSync(f, old, old);
    }
    // Another binary's first run writes its file and prunes to the limit.
    roundTrip(copyBinary(stack.path, 'other'));
    const left = readdirSync(cacheDir);
    expect(left).toHaveLength(MAX_CACHED_BINARIES);
    expect(left).toContain(basename(path!));
    expect(roundTrip(bin).loaded).toBe(true);
  });

  it('lives beside the compile cache', () => {
    expect(defaultBinaryCacheDir({ XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/weaver/binaries');
  });
});

describe('goBuildId', () => {
  // The oracle: `go tool buildid` of the toolchain that built the fixture.
  it.each([register, stack])('reads the build ID that go tool buildid prints (Go $goVersion)', (build) => {
    const expected = execFileSync(join(build.goroot, 'bin/go'), ['tool', 'buildid', build.path], {
      encoding: 'utf8',
      env: { ...process.env, GOTOOLCHAIN: 'local', GOROOT: build.goroot },
    }).trim();
    expect(expected).toMatch(/^[\w-]+(\/[\w-]+)+$/);
    expect(goBuildId(ElfFile.read(build.path))).toBe(expected);
  });

  it('is null when the note is not a Go build ID note', () => {
    const elf = ElfFile.read(register.path);
    const note = elf.section('.note.go.buildid')!;
    note.data.writeUInt32LE(5, 8); // the note type
    expect(goBuildId(elf)).toBeNull();
  });
});

describe('buildTraceSpec with the binary cache', () => {
  function request(binaryPath: string, functionsFile: string, binaryCacheDir: string | null): TraceRequest {
    return { binaryPath, functionsFile, packages: ['main'], binaryCacheDir, plan: { stringSize: 32, maxElements: 4, maxRecordSize: 4096, depth: 1 } };
  }

  it.each([register, stack, stripped, pie])('gives the same spec as without it, cold and warm (Go $goVersion $variant)', (build) => {
    const funcs = join(work, 'funcs.txt');
    writeFileSync(funcs, 'main.bools(a bool, b bool)\nmain.int8s(a int8, b int8, c int8)\n');
    const bin = copyBinary(build.path);
    const uncached = buildTraceSpec(request(bin, funcs, null));
    const cold = buildTraceSpec(request(bin, funcs, cacheDir));
    const warm = buildTraceSpec(request(bin, funcs, cacheDir));
    for (const spec of [cold, warm]) {
      expect(spec.cSource).toBe(uncached.cSource);
      expect(spec.targets.map((t) => [t.probe, t.attachOffset, t.symbol])).toStrictEqual(uncached.targets.map((t) => [t.probe, t.attachOffset, t.symbol]));
      expect(spec.binary).toStrictEqual(uncached.binary);
    }
  });

  it('takes the probe and goid offset from the cache when they are there', () => {
    const funcs = join(work, 'funcs.txt');
    writeFileSync(funcs, 'main.bools(a bool, b bool)\n');
    const bin = copyBinary(register.path);
    buildTraceSpec(request(bin, funcs, cacheDir));
    const [file] = readdirSync(cacheDir);
    const stored = JSON.parse(readFileSync(join(cacheDir, file), 'utf8'));
    const { info } = openGoBinary(bin);
    const sym = info.functions.get('main.bools')!;
    stored.probes[`${sym.address}:${sym.size}`] = { offset: 0, kind: 'entry', reason: 'planted in the cache' };
    stored.goidOffset = 4242;
    writeFileSync(join(cacheDir, file), JSON.stringify(stored));
    const spec = buildTraceSpec(request(bin, funcs, cacheDir));
    expect(spec.targets[0].probe).toStrictEqual({ offset: 0, kind: 'entry', reason: 'planted in the cache' });
    expect(spec.targets[0].attachOffset).toBe(sym.fileOffset);
    expect(spec.cSource).toContain('4242');
  });
});
