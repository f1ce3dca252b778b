// The spec cache as the CLI uses it, seen through --emit c (the spec's C,
// no privileges needed): a second run takes the spec from the cache and
// prints the same program; a rebuilt binary at the same path, or another
// request, prints its own program; --no-cache neither reads nor writes it.

import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureBuild } from '../helpers/fixtures.js';
import { runWeaver } from '../helpers/weaver.js';

const types = fixtureBuild({ fixture: 'types', toolchain: '1.22', variant: 'normal' });
const composites = fixtureBuild({ fixture: 'composites', toolchain: '1.22', variant: 'normal' });

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'weaver-speccache-cli-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** `weaver <binary> --emit c -v …` with its own cache home; the C, and whether the spec came from the cache. */
async function emit(binary: string, cacheHome: string, extra: string[] = []) {
  const run = await runWeaver([binary, '-p', 'main', '--emit', 'c', '-v', ...extra], { env: { ...process.env, XDG_CACHE_HOME: cacheHome }, timeoutMs: 60_000 });
  expect(run.code, run.stderr).toBe(0);
  return { c: run.stdout, fromCache: /^weaver: trace spec from cache$/m.test(run.stderr) };
}

describe('the spec cache through the CLI', () => {
  it('serves a second run, never a rebuilt binary at the same path, and not another --depth', async () => {
    const cache = join(work, 'cache');
    const bin = join(work, 'prog');
    copyFileSync(types.path, bin);
    const first = await emit(bin, cache);
    const second = await emit(bin, cache);
    expect([first.fromCache, second.fromCache]).toEqual([false, true]);
    expect(second.c).toBe(first.c);
    expect(readdirSync(join(cache, 'weaver', 'specs'))).toHaveLength(1);

    // Another program built to the same path: its own C, as from a cache that never saw the first.
    copyFileSync(composites.path, bin);
    const rebuilt = await emit(bin, cache);
    const fresh = await emit(bin, join(work, 'fresh-cache'));
    expect(rebuilt.fromCache).toBe(false);
    expect(rebuilt.c).toBe(fresh.c);
    expect(rebuilt.c).not.toBe(first.c);

    // Another request on the same build is another spec.
    const shallow = await emit(bin, cache, ['--depth', '0']);
    expect(shallow.fromCache).toBe(false);
    expect(shallow.c).not.toBe(rebuilt.c);
    expect((await emit(bin, cache)).fromCache).toBe(true);
  });

  it('is neither read nor written with --no-cache', async () => {
    const cache = join(work, 'no-cache');
    const bin = join(work, 'prog2');
    copyFileSync(types.path, bin);
    const off = await emit(bin, cache, ['--no-cache']);
    expect(off.fromCache).toBe(false);
    expect(existsSync(join(cache, 'weaver', 'specs'))).toBe(false);
    await emit(bin, cache);
    expect((await emit(bin, cache, ['--no-cache'])).fromCache).toBe(false);
  });
});
