// `weaver cache clean` removes everything weaver keeps between runs, and
// says how much; the same through the CLI, with exit status 0.

import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheRoot, runCacheClean } from '../../src/cli/commands/cache.js';
import { runWeaver } from '../helpers/weaver.js';

function fakeCache(): { env: NodeJS.ProcessEnv; root: string } {
  const env = { ...process.env, XDG_CACHE_HOME: mkdtempSync(join(tmpdir(), 'weaver-cache-clean-')) };
  const root = cacheRoot(env);
  mkdirSync(join(root, 'bpf'), { recursive: true });
  mkdirSync(join(root, 'binaries'), { recursive: true });
  writeFileSync(join(root, 'bpf', 'a.o'), Buffer.alloc(1 << 20));
  writeFileSync(join(root, 'binaries', 'b.json'), Buffer.alloc(512 << 10));
  return { env, root };
}

describe('weaver cache clean', () => {
  it('removes the compile and binary caches and says how much they held', () => {
    const { env, root } = fakeCache();
    let said = '';
    runCacheClean({ write: (s: string) => (said += s) } as NodeJS.WritableStream, env);
    expect(said).toBe(`weaver: removed 2 files (1.5 MiB) from ${root}\n`);
    expect(existsSync(root)).toBe(false);
    said = '';
    runCacheClean({ write: (s: string) => (said += s) } as NodeJS.WritableStream, env);
    expect(said).toBe(`weaver: the cache ${root} was already empty\n`);
  });

  it('from the command line', async () => {
    const { env, root } = fakeCache();
    const run = await runWeaver(['cache', 'clean'], { env });
    expect(run).toMatchObject({ code: 0, stdout: `weaver: removed 2 files (1.5 MiB) from ${root}\n`, stderr: '' });
    const bad = await runWeaver(['cache', 'purge'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("weaver: command-argument value 'purge' is invalid for argument 'action'. Allowed choices are clean.\n");
  });
});
