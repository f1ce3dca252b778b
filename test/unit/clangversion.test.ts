// clang's version is part of every object's cache key; it is kept per clang
// executable so a warm start does not run `clang --version`, and asked again
// as soon as the executable changes.

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { executableIdentity, keepVersion, keptVersion, resolveExecutable } from '../../src/bpf/clangversion.js';

const COMPILE_MODULE = fileURLToPath(new URL('../../dist/bpf/compile.js', import.meta.url));

function fresh(): string {
  return mkdtempSync(join(tmpdir(), 'weaver-clangversion-'));
}

/** A clang that counts its --version runs in `counter` and hands every compile to the real clang. */
function countingClang(dir: string, counter: string, version = 'clang version 99.0.0'): string {
  const path = join(dir, 'bin', 'clang');
  mkdirSync(join(dir, 'bin'), { recursive: true });
  writeFileSync(path, `#!/bin/sh\nif [ "$1" = --version ]; then echo x >> ${counter}; echo '${version}'; exit 0; fi\nexec clang "$@"\n`);
  chmodSync(path, 0o755);
  return path;
}

/** Compiles one tiny unit in a new process (the version is memoised per process), returning how many times --version ran so far. */
function compileOnce(clang: string, cacheDir: string, counter: string): number {
  const script = `
    import { compileBpf } from ${JSON.stringify(COMPILE_MODULE)};
    await compileBpf('int weaver_unit_test(void) { return 0; }\\n', { clang: ${JSON.stringify(clang)}, cacheDir: ${JSON.stringify(cacheDir)} });`;
  execFileSync(process.execPath, ['--input-type=module', '-e', script], { stdio: 'pipe' });
  try {
    return readFileSync(counter, 'utf8').split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
}

describe('resolveExecutable', () => {
  it('finds a command in PATH as execvp does: the first executable file', () => {
    const a = fresh();
    const b = fresh();
    writeFileSync(join(a, 'tool'), 'not executable');
    writeFileSync(join(b, 'tool'), '#!/bin/sh\n');
    chmodSync(join(b, 'tool'), 0o755);
    expect(resolveExecutable('tool', { PATH: `${a}:${b}` })).toBe(join(b, 'tool'));
    expect(resolveExecutable('missing-tool', { PATH: `${a}:${b}` })).toBe(null);
    expect(resolveExecutable(join(b, 'tool'), { PATH: '' })).toBe(join(b, 'tool'));
  });
});

describe('the kept clang version', () => {
  it('round-trips, and a damaged file is asked again', () => {
    const dir = fresh();
    expect(keptVersion(dir, 'id-1')).toBe(null);
    keepVersion(dir, 'id-1', 'clang version 14.0.6');
    expect(keptVersion(dir, 'id-1')).toBe('clang version 14.0.6');
    expect(keptVersion(dir, 'id-2')).toBe(null);
    writeFileSync(join(dir, 'clang-version.json'), '{"id-1": ');
    expect(keptVersion(dir, 'id-1')).toBe(null);
  });

  it('keeps only the latest eight executables', () => {
    const dir = fresh();
    for (let i = 0; i < 12; i++) keepVersion(dir, `id-${i}`, `v${i}`);
    expect(Object.keys(JSON.parse(readFileSync(join(dir, 'clang-version.json'), 'utf8')))).toEqual(
      ['id-4', 'id-5', 'id-6', 'id-7', 'id-8', 'id-9', 'id-10', 'id-11'],
    );
  });

  it('an executable rewritten in place has another identity', () => {
    const dir = fresh();
    const path = countingClang(dir, join(dir, 'n'));
    const before = executableIdentity(path);
    writeFileSync(path, readFileSync(path, 'utf8') + '# rebuilt\n');
    expect(executableIdentity(path)).not.toBe(before);
    expect(executableIdentity(join(dir, 'nothing-here'))).toBe(null);
  });

  it('a second start does not run clang --version; a changed clang is asked again', () => {
    const dir = fresh();
    const counter = join(dir, 'runs');
    const clang = countingClang(dir, counter);
    const cache = join(dir, 'cache');
    expect(compileOnce(clang, cache, counter)).toBe(1);
    expect(compileOnce(clang, cache, counter)).toBe(1);
    countingClang(dir, counter, 'clang version 99.0.1');
    expect(compileOnce(clang, cache, counter)).toBe(2);
    expect(compileOnce(clang, cache, counter)).toBe(2);
  });

  it('without a cache directory (--no-cache) clang is asked every time', () => {
    const dir = fresh();
    const counter = join(dir, 'runs');
    const clang = countingClang(dir, counter);
    const script = (n: number) => `
      import { compileBpf } from ${JSON.stringify(COMPILE_MODULE)};
      for (let i = 0; i < ${n}; i++) await compileBpf('int weaver_unit_test(void) { return 0; }\\n', { clang: ${JSON.stringify(clang)}, cacheDir: null });`;
    execFileSync(process.execPath, ['--input-type=module', '-e', script(1)], { stdio: 'pipe' });
    execFileSync(process.execPath, ['--input-type=module', '-e', script(1)], { stdio: 'pipe' });
    expect(readFileSync(counter, 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
  });
});
