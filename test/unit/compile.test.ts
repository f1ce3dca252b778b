// The compile stage: generated C for real plans compiles with clang into a
// BPF object; objects are cached by content so a second start does not
// compile again; an unwritable cache only costs the cache; a missing clang
// is one clear sentence.

import { chmodSync, existsSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { argumentLocations } from '../../src/spec/abi/index.js';
import { generateC } from '../../src/bpf/codegen.js';
import { compileBpf, pruneCache } from '../../src/bpf/compile.js';
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
