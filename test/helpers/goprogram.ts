// Builds small Go programs for end-to-end tests with the toolchains that
// scripts/toolchains.sh unpacked (.cache/go/toolchains.json), so a test can
// run the same program under the stack ABI (Go 1.15) and the register ABI.

import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './weaver.js';

export interface GoToolchain {
  /** `1.15`, `1.19`, … */
  toolchain: string;
  goVersion: string;
  /** Path of the `go` command. */
  go: string;
  abi: 'stack' | 'register';
}

const TOOLCHAINS_JSON = join(REPO_ROOT, '.cache/go/toolchains.json');

/** Toolchains unpacked by scripts/toolchains.sh; [] when it has not run. */
export function goToolchains(): GoToolchain[] {
  if (!existsSync(TOOLCHAINS_JSON)) return [];
  const parsed = JSON.parse(readFileSync(TOOLCHAINS_JSON, 'utf8')) as { toolchains?: { toolchain: string; goVersion: string; goroot: string }[] };
  return (parsed.toolchains ?? [])
    .map((t) => {
      const [major, minor] = t.toolchain.split('.').map(Number);
      return {
        toolchain: t.toolchain,
        goVersion: t.goVersion,
        go: join(t.goroot, 'bin/go'),
        // The register ABI arrived on amd64 in Go 1.17.
        abi: (major > 1 || minor >= 17 ? 'register' : 'stack') as GoToolchain['abi'],
      };
    })
    .filter((t) => existsSync(t.go));
}

/** Go 1.15 (the stack ABI) and the newest toolchain (the register ABI): the two ends end-to-end tests cover when all would cost too much. */
export function oldestAndNewestToolchains(): GoToolchain[] {
  const all = goToolchains();
  return ['1.15', all.at(-1)?.toolchain].flatMap((v) => all.filter((t) => t.toolchain === v)).filter((t, i, a) => a.indexOf(t) === i);
}

/**
 * The `go` command of one of the project's toolchains (scripts/toolchains.sh,
 * run by npm run setup): never a Go the machine happens to have.
 */
export function goCommand(toolchain = '1.19'): string {
  const tc = goToolchains().find((t) => t.toolchain === toolchain);
  if (!tc) throw new Error(`Go ${toolchain} is not in ${TOOLCHAINS_JSON}: run npm run setup`);
  return tc.go;
}

/**
 * The environment scripts/build-fixtures.sh builds in (no network, the
 * project's build cache and GOPATH under .cache/), plus `extra`.
 */
export function fixtureGoEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GOFLAGS: '-mod=mod',
    GOPROXY: 'off',
    GOTOOLCHAIN: 'local',
    GO111MODULE: 'on',
    GOWORK: 'off',
    CGO_ENABLED: '0',
    GOCACHE: join(REPO_ROOT, '.cache', 'gocache'),
    GOPATH: join(REPO_ROOT, '.cache', 'gopath'),
    ...extra,
  };
}

/** Builds `sourceFile` (one main package file) with `tc` into a fresh temporary directory; returns the binary's path. */
export function buildGoProgram(tc: GoToolchain, sourceFile: string, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `weaver-${name}-${tc.toolchain}-`));
  copyFileSync(sourceFile, join(dir, 'main.go'));
  writeFileSync(join(dir, 'go.mod'), `module ${name}\n\ngo 1.15\n`);
  const out = join(dir, name);
  const cache = join(REPO_ROOT, '.cache/gocache', tc.toolchain);
  mkdirSync(cache, { recursive: true });
  execFileSync(tc.go, ['build', '-o', out, '.'], {
    cwd: dir,
    env: { ...process.env, GOCACHE: cache, GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local', GO111MODULE: 'on', HOME: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return out;
}

/**
 * Runs a test program that waits for a line on stdin before it starts (so
 * the tracer can be attached first) and ends by printing `calls N`;
 * resolves with N.
 */
export function runCountingProgram(binary: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const m = /^calls (\d+)$/m.exec(out);
      if (code !== 0 || !m) reject(new Error(`${binary} exited with ${code}: ${out}`));
      else resolve(Number(m[1]));
    });
    child.stdin.end('go\n');
  });
}
