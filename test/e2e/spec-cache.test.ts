// End to end: a warm start takes the trace spec from the cache and decodes
// every call as the start that built it did (interface values through the
// kept runtime types, func values through the kept function names, plans
// read on the first record); another build copied to the same path is
// never traced with the old spec.

import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureBuild } from '../helpers/fixtures.js';
import { traceOneRun } from '../helpers/onerun.js';
import { requireBpfOrSkip } from '../helpers/weaver.js';

const canRun = requireBpfOrSkip();

const current = fixtureBuild({ fixture: 'composites', toolchain: '1.22', variant: 'normal' });
const older = fixtureBuild({ fixture: 'composites', toolchain: '1.19', variant: 'normal' });

/** Traces `-p main` of `binary` while it runs once, and whether the spec came from the cache. */
async function trace(binary: string, cacheHome: string) {
  const run = await traceOneRun(binary, ['-p', 'main', '-v'], { ...process.env, XDG_CACHE_HOME: cacheHome });
  return { ...run, fromCache: /^weaver: trace spec from cache$/m.test(run.stderr) };
}

describe.skipIf(!canRun)('the spec cache, traced', () => {
  it('a warm start decodes every call as the cold one; a rebuilt binary at the same path is traced with its own spec', async () => {
    const work = mkdtempSync(join(tmpdir(), 'weaver-spec-e2e-'));
    const cache = join(work, 'cache');
    const bin = join(work, 'composites');
    copyFileSync(current.path, bin);

    const cold = await trace(bin, cache);
    const warm = await trace(bin, cache);
    expect([cold.fromCache, warm.fromCache]).toEqual([false, true]);
    expect(cold.calls.length, cold.stderr).toBeGreaterThanOrEqual(cold.expected / 2);
    expect(warm.calls).toEqual(cold.calls);
    // The tables the kept spec rebuilds on use: interface values name their dynamic type, func values their function.
    expect(warm.calls.join('\n')).toMatch(/"type":"\*?main\.\w+"/);
    expect(warm.calls.join('\n')).toMatch(/"func":"main\.\w+/);

    copyFileSync(older.path, bin);
    const rebuilt = await trace(bin, cache);
    const fresh = await trace(bin, join(work, 'fresh-cache'));
    expect([rebuilt.fromCache, fresh.fromCache]).toEqual([false, false]);
    expect(rebuilt.calls).toEqual(fresh.calls);
    expect(rebuilt.calls).not.toEqual(cold.calls);
  }, 120_000);
});
