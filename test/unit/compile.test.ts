// The compile stage: generated C for real plans compiles with clang into a
// BPF object; objects are cached by content so a second start does not
// compile again; an unwritable cache only costs the cache; a missing clang
// is one clear sentence.

import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { argumentLocations } from '../../src/spec/abi/index.js';
import { generateC, generateUnits } from '../../src/bpf/codegen.js';
import { clangMsEstimate, clangPeakBytes, clangsThatFit, compileBpf, pruneCache } from '../../src/bpf/compile.js';
import { EnvironmentError } from '../../src/core/errors.js';
import { parseFunctionsFile } from '../../src/spec/funcfile.js';
import { planFunction, DEFAULT_PLAN_OPTIONS } from '../../src/spec/plan.js';

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const EM_BPF = 247;

function sourceFor(line: string, abi: 'stack' | 'register', dispatch = false): string {
  const [spec] = parseFunctionsFile(line, 'test.txt');
  const plan = planFunction(0, spec!, abi, argumentLocations(spec!.params, abi), DEFAULT_PLAN_OPTIONS);
  return generateC([{ plan }], {
    abi,
    goidOffset: 152,
    ...(dispatch ? { dispatch: [{ program: 'weaver_dispatch0', calls: ['weaver_s0'] }] } : {}),
  });
}

function freshDir(): string {
  return mkdtempSync(join(tmpdir(), 'weaver-cache-test-'));
}

describe('compileBpf', () => {
  it.each([
    ['register', 'main.f(a int8, s string, xs []string, f float64, arr [2]string)'],
    ['stack', 'main.f(a int8, s string, xs []string, f float64, arr [2]string)'],
    ['register', 'main.g(a struct{ID int64; Name string}, p *int, b [3]uint8, m map[string]int, e error)'],
  ] as const)('compiles a %s-ABI program for %s into a BPF ELF object', async (abi, line) => {
    const { object, cached } = await compileBpf(sourceFor(line, abi), { cacheDir: null });
    expect(cached).toBe(false);
    expect(object.subarray(0, 4)).toEqual(ELF_MAGIC);
    expect(object.readUInt16LE(18)).toBe(EM_BPF);
  });

  it('compiles the dispatcher form, with each shape as a global function', async () => {
    const source = sourceFor('main.f(a int, s string)', 'register', true);
    expect(source).toContain('__attribute__((noinline)) int weaver_s0(struct pt_regs *ctx, u64 cookie)\n');
    expect(source).toContain('SEC("uprobe")\nint weaver_dispatch0(struct pt_regs *ctx)');
    expect(source).toContain('case 0: return weaver_s0(ctx, cookie);');
    expect(source.match(/SEC\("uprobe"\)/g)).toHaveLength(1);
    const { object } = await compileBpf(source, { cacheDir: null });
    expect(object.includes(Buffer.from('weaver_dispatch0'))).toBe(true);
  });

  it('compiles the one-program-per-function form, each calling its shape with its cookie', async () => {
    const source = sourceFor('main.f(a int, s string)', 'register');
    expect(source).toContain('SEC("uprobe")\nint weaver_f0(struct pt_regs *ctx)\n{\n\treturn weaver_s0(ctx, 0x0ULL);\n}');
    const { object } = await compileBpf(source, { cacheDir: null });
    expect(object.includes(Buffer.from('weaver_f0'))).toBe(true);
  });

  it('compiles once, then serves the same object from the cache', async () => {
    const dir = freshDir();
    const source = sourceFor('main.cached(a int, b int)', 'register');
    const first = await compileBpf(source, { cacheDir: dir });
    const second = await compileBpf(source, { cacheDir: dir });
    expect([first.cached, second.cached]).toEqual([false, true]);
    expect(second.object.equals(first.object)).toBe(true);
    expect(first.cachePath).not.toBeNull();
    expect(readdirSync(dir)).toEqual([first.cachePath!.split('/').pop()]);
    // A different program is a different entry.
    const other = await compileBpf(sourceFor('main.cached(a int, b int8)', 'register'), { cacheDir: dir });
    expect(other.cached).toBe(false);
    expect(readdirSync(dir)).toHaveLength(2);
  });

  it('the cache is bounded: the least recently used objects go first, a hit counts as a use', async () => {
    const dir = freshDir();
    const source = sourceFor('main.lru(a int)', 'register');
    const hit = await compileBpf(source, { cacheDir: dir });
    const name = hit.cachePath!.split('/').pop()!;
    // Three older objects of 1000 bytes; the compiled one was used a day ago, then hit now.
    const day = Date.now() / 1000 - 86400;
    for (const i of [1, 2, 3]) {
      writeFileSync(join(dir, `old${i}.o`), Buffer.alloc(1000));
      utimesSync(join(dir, `old${i}.o`), day + i * 1000, day + i * 1000);
    }
    writeFileSync(join(dir, 'not-an-object.tmp'), Buffer.alloc(5000));
    utimesSync(hit.cachePath!, day, day);
    expect((await compileBpf(source, { cacheDir: dir })).cached).toBe(true);
    pruneCache(dir, hit.object.length + 1000);
    // old1 and old2 were the least recently used; the hit object is the most recent.
    expect(readdirSync(dir).sort()).toEqual([name, 'not-an-object.tmp', 'old3.o'].sort());
  });

  it('compiles without the cache, with a warning, when the cache cannot be written', async () => {
    const file = join(freshDir(), 'not-a-directory');
    writeFileSync(file, '');
    chmodSync(file, 0o444);
    const warnings: string[] = [];
    const result = await compileBpf(sourceFor('main.nocache(a int)', 'register'), { cacheDir: join(file, 'bpf'), warn: (m) => warnings.push(m) });
    expect(result.cached).toBe(false);
    expect(result.cachePath).toBeNull();
    expect(result.object.subarray(0, 4)).toEqual(ELF_MAGIC);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^compile cache .*not-a-directory\/bpf is not writable \(.*\); compiling without it$/);
    expect(existsSync(join(file, 'bpf'))).toBe(false);
  });

  it('says clang is missing in one sentence', async () => {
    const err = await compileBpf(sourceFor('main.f(a int)', 'register'), { cacheDir: null, clang: '/nonexistent/clang' }).catch((e) => e);
    expect(err).toBeInstanceOf(EnvironmentError);
    expect(err.message).toBe('clang is not installed, and weaver needs it to compile its BPF programs');
    expect(err.hint).toBe('run npm run setup, or apt-get install clang');
  });
});

describe('clangs side by side within the memory budget', () => {
  const MB = 1 << 20;
  it.each([
    // weaver, the units' clang peaks, budget, CPUs: how many run at once.
    ['two clangs of pprof beside weaver: the libraries clangs share count once', 160 * MB, [159 * MB, 139 * MB], 400 * MB, 2, 2],
    ['a larger weaver leaves room for one', 200 * MB, [159 * MB, 139 * MB], 400 * MB, 2, 1],
    ['one at least, whatever the budget', 500 * MB, [300 * MB, 300 * MB], 400 * MB, 2, 1],
    ['no more than the CPUs', 100 * MB, [100 * MB, 100 * MB, 100 * MB, 100 * MB], 4000 * MB, 2, 2],
    ['as many as fit on a larger machine', 100 * MB, Array(8).fill(140 * MB), 400 * MB, 8, 3],
  ])('%s', (_what, own, estimates, budget, cpus, n) => {
    expect(clangsThatFit(own, estimates, budget, cpus)).toBe(n);
  });

  it("estimates a unit's clang from the functions it defines", () => {
    const fn = (i: number) => `__attribute__((noinline)) int weaver_s${i}(struct pt_regs *ctx, u64 cookie) { return 0; }\n`;
    const none = clangPeakBytes('int x;');
    const many = clangPeakBytes(Array.from({ length: 240 }, (_, i) => fn(i)).join(''));
    expect(Math.round(none / MB)).toBe(96);
    expect(Math.round(many / MB)).toBe(140);
  });

  it('estimates clang by what a unit defines: a reader costs about twice a shape, a table row little', () => {
    const reader = (i: number) => `WEAVER_SHARED __attribute__((noinline)) int weaver_v${i}(struct weaver_area_8 *img, struct weaver_area_8 *sub)\n{\n\treturn 0;\n}\n`;
    const shape = (i: number) => `__attribute__((noinline)) int weaver_s${i}(struct pt_regs *ctx, u64 cookie)\n{\n\treturn 0;\n}\n`;
    const readers = Array.from({ length: 100 }, (_, i) => reader(i)).join('');
    const shapes = Array.from({ length: 130 }, (_, i) => shape(i)).join('');
    const table = `const u64 table[16384] = {\n${'\t{ 0, 0 },\n'.repeat(16384)}};\n`;
    expect(clangMsEstimate(readers)).toBeGreaterThan(clangMsEstimate(shapes));
    expect(clangMsEstimate(shapes + table) - clangMsEstimate(shapes)).toBeLessThan(clangMsEstimate(reader(0)) * 25);
    expect(Math.round(clangMsEstimate(readers) / 10)).toBe(Math.round((80 + 950 + readers.length / 1000) / 10));
  });

  it('starts the longest unit first, and returns the objects in the units\' order', async () => {
    const short = [
      '#include <linux/bpf.h>',
      '#include <bpf/bpf_helpers.h>',
      '__attribute__((noinline)) int weaver_s0(int x) { return x + 1; }',
      'SEC("uprobe") int weaver_dispatch0(void *ctx) { return weaver_s0(1); }',
      'char LICENSE[] SEC("license") = "GPL";',
      '',
    ].join('\n');
    const long = ['#define WEAVER_SHARED __attribute__((weak))', ...[0, 1, 2].map((i) => `WEAVER_SHARED __attribute__((noinline)) int weaver_v${i}(int x) { return x + ${i}; }`), ''].join('\n');
    const dir = freshDir();
    const log = join(dir, 'log');
    const wrapper = join(dir, 'clang');
    // Logs how many readers each compiled unit defines, in the order clang runs.
    writeFileSync(
      wrapper,
      `#!/bin/sh\nprev=; for a in "$@"; do [ "$prev" = -c ] && src=$a; prev=$a; done\n[ -n "$src" ] && grep -c '^WEAVER_SHARED __attribute__' "$src" >> ${log}\nexec clang "$@"\n`,
    );
    chmodSync(wrapper, 0o755);
    const { object } = await compileBpf([short, long], { cacheDir: null, clang: wrapper, memoryBudget: 1 });
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual(['3', '0']);
    for (const name of ['weaver_dispatch0', 'weaver_v2']) expect(object.includes(Buffer.from(`${name}\0`))).toBe(true);
  });

  it('compiles several units one at a time when only one fits, joined as when side by side', async () => {
    const plans = ['main.one(a int)', 'main.two(s string)'].map((line, i) => {
      const [spec] = parseFunctionsFile(line, 'test.txt');
      return { plan: planFunction(i, spec!, 'register', argumentLocations(spec!.params, 'register'), DEFAULT_PLAN_OPTIONS) };
    });
    const dispatch = [
      { program: 'weaver_dispatch0', calls: ['weaver_s0'] },
      { program: 'weaver_dispatch1', calls: ['weaver_s1'] },
    ];
    const units = generateUnits(plans, { abi: 'register', goidOffset: 152, dispatch });
    expect(units).toHaveLength(2);
    // clang through a wrapper that logs when each compile starts and ends.
    const dir = freshDir();
    const log = join(dir, 'log');
    const wrapper = join(dir, 'clang');
    writeFileSync(wrapper, `#!/bin/sh\ncase "$*" in *" -c "*) echo start >> ${log}; clang "$@"; s=$?; echo end >> ${log}; exit $s;; esac\nexec clang "$@"\n`);
    chmodSync(wrapper, 0o755);
    const { object } = await compileBpf(units, { cacheDir: null, clang: wrapper, memoryBudget: 1 });
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual(['start', 'end', 'start', 'end']);
    for (const name of ['weaver_dispatch0', 'weaver_dispatch1']) expect(object.includes(Buffer.from(name))).toBe(true);
  });
});
