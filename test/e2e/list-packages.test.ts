// `weaver list --packages` on real builds: every package path with its
// number of functions, the same for a build, its fully stripped twin and a
// copy with only the debug info removed (`objcopy --strip-debug`), and equal
// to the counts of `go tool nm` on the unstripped build (its .symtab, read
// by Go's own tool, a source independent of weaver's .gopclntab reader).
// And `-p` on the same binaries: patterns, and a misspelt package is an
// error that names the package meant.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureBuild } from '../helpers/fixtures.js';
import { runWeaver } from '../helpers/weaver.js';

const TOOLCHAINS = ['1.15', '1.19', '1.27'];
const dir = mkdtempSync(join(tmpdir(), 'weaver-list-packages-'));

/**
 * Package → function count from `go tool nm` lines (`addr size T name`):
 * text symbols, an assembly function's `.abi0` name counted once with its
 * Go twin, the package being what precedes the first dot after the last
 * slash, `%2e` read as a dot. Left out as in no package: the compiler's
 * type equality and hash functions (`type..eq.…`, `type:.hash.…`), methods
 * of anonymous structs (`go:struct {…}.M`), `_.f`, and the bounds of the
 * text section (`runtime.text`, `runtime.etext`), which name no function.
 */
function countsFromNm(nmText: string): string[] {
  const names = new Set<string>();
  for (const line of nmText.split('\n')) {
    const m = /^\s*[0-9a-f]+\s+\d+\s+([Tt])\s+(.+)$/.exec(line);
    if (!m) continue;
    const name = m[2]!.replace(/\.abi0$/, '');
    if (name === 'runtime.text' || name === 'runtime.etext') continue;
    names.add(name);
  }
  const counts = new Map<string, number>();
  for (const name of names) {
    const head = name.split('[')[0]!;
    const dot = head.indexOf('.', head.lastIndexOf('/') + 1);
    if (dot <= 0) continue;
    const pkg = head.slice(0, dot);
    if (pkg === '_' || pkg === 'type' || pkg === 'go' || /^(type|go)[.:]/.test(pkg) || /[\s(){};:]/.test(pkg)) continue;
    const path = pkg.replace(/%([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    counts.set(path, (counts.get(path) ?? 0) + 1);
  }
  return [...counts].sort(([a], [b]) => (a < b ? -1 : 1)).map(([p, n]) => `${p} ${n}`);
}

async function listPackages(binary: string, extra: string[] = []): Promise<string[]> {
  const run = await runWeaver(['list', '--packages', binary, ...extra]);
  expect(run.code, run.stderr).toBe(0);
  return run.stdout.trimEnd().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
}

describe.each(TOOLCHAINS)('weaver list --packages, Go %s httpserver', (toolchain) => {
  const build = fixtureBuild({ fixture: 'httpserver', variant: 'normal', toolchain });
  const stripped = fixtureBuild({ fixture: 'httpserver', variant: 'stripped', toolchain });

  it('lists every package with the count go tool nm gives, stripped or not', async () => {
    const noDebug = join(dir, `httpserver-${toolchain}-nodebug`);
    execFileSync('objcopy', ['--strip-debug', build.path, noDebug]);
    const expected = countsFromNm(readFileSync(build.nm!, 'utf8'));
    expect(expected.length).toBeGreaterThan(90);
    const [normal, strippedAll, strippedDebug] = await Promise.all([listPackages(build.path), listPackages(stripped.path), listPackages(noDebug)]);
    expect(normal).toEqual(expected);
    expect(strippedAll).toEqual(expected);
    expect(strippedDebug).toEqual(expected);
    expect(normal).toContain('main 4');
    expect(normal).toContain('github.com/acme/shop/internal/expect 6');
  });
});

describe('weaver list -p on a stripped Go 1.27 build', () => {
  const stripped = fixtureBuild({ fixture: 'httpserver', variant: 'stripped', toolchain: '1.27' });

  it('-p patterns select packages, leaving the runtime out of a wildcard', async () => {
    const all = await listPackages(stripped.path);
    const lines = await listPackages(stripped.path, ['-p', 'github.com/acme/...,net/...,main']);
    expect(lines).toEqual(all.filter((l) => /^(github\.com\/acme\/|net[ /]|main )/.test(l)));
    const everything = await listPackages(stripped.path, ['-p', '...']);
    expect(everything).toEqual(all.filter((l) => !/^(runtime|internal\/|sync\/atomic )/.test(l)));
    expect(await listPackages(stripped.path, ['-p', 'runtime/...'])).toEqual(all.filter((l) => /^runtime[ /]/.test(l)));
  });

  it('a misspelt package is an error naming the one meant', async () => {
    const run = await runWeaver(['list', stripped.path, '-p', 'main,net/htp']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      `weaver: no package in ${stripped.path} matches -p net/htp; did you mean "net/http"?\n  see every package it has with: weaver list --packages ${stripped.path}\n`,
    );
  });
});
