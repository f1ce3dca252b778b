// The Go fixtures built by scripts/build-fixtures.sh (npm run setup), and the
// EXPECT lines they print before each traced call (see
// fixtures/internal/expect/expect.go for how values are written).

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseLosslessJson, type LosslessJson } from './losslessJson.js';

export const FIXTURES_DIR = fileURLToPath(new URL('../../fixtures/', import.meta.url));
export const MANIFEST_PATH = fileURLToPath(new URL('../../fixtures/build/manifest.json', import.meta.url));

export type FixtureName = 'types' | 'goroutines' | 'httpserver' | 'composites' | 'returns' | 'soak' | 'hostile';
export type FixtureVariant = 'normal' | 'stripped' | 'pie';

export interface FixtureBuild {
  /** `1.15`, `1.19`, `1.22`, `1.24`, or the newest that Debian sid offers. */
  toolchain: string;
  /** As the binary reports it: `go1.19.8`. */
  goVersion: string;
  goroot: string;
  abi: 'stack' | 'register';
  fixture: FixtureName;
  variant: FixtureVariant;
  /** Absolute path of the binary. */
  path: string;
  /**
   * The fixture's functions file for this toolchain: exactly the functions its
   * binaries have (no generics before Go 1.18), named as this toolchain names them.
   */
  funcs: string | null;
  /** `go tool nm -size -sort address` output; null for stripped builds. */
  nm: string | null;
}

export interface FixtureFilter {
  fixture?: FixtureName;
  variant?: FixtureVariant;
  toolchain?: string;
  abi?: 'stack' | 'register';
}

let manifestCache: FixtureBuild[] | null = null;

function readManifest(): FixtureBuild[] {
  if (manifestCache) return manifestCache;
  if (!existsSync(MANIFEST_PATH)) {
    throw new Error(`the Go fixtures are not built (${MANIFEST_PATH} is missing): run npm run setup`);
  }
  const parsed = JSON.parse(readFileSync(MANIFEST_PATH, 'utf8')) as { builds?: FixtureBuild[] };
  if (!Array.isArray(parsed.builds)) throw new Error(`${MANIFEST_PATH} has no "builds" list: run npm run setup`);
  manifestCache = parsed.builds;
  return manifestCache;
}

/** Every fixture build matching the filter, in manifest order (toolchains oldest first). */
export function fixtureBuilds(filter: FixtureFilter = {}): FixtureBuild[] {
  return readManifest().filter(
    (b) =>
      (filter.fixture === undefined || b.fixture === filter.fixture) &&
      (filter.variant === undefined || b.variant === filter.variant) &&
      (filter.toolchain === undefined || b.toolchain === filter.toolchain) &&
      (filter.abi === undefined || b.abi === filter.abi),
  );
}

/** Exactly one build; throws when the filter matches none or several. */
export function fixtureBuild(filter: FixtureFilter & { fixture: FixtureName; toolchain: string }): FixtureBuild {
  const variant = filter.variant ?? 'normal';
  const found = fixtureBuilds({ ...filter, variant });
  if (found.length !== 1) {
    throw new Error(`expected one ${filter.fixture} build for Go ${filter.toolchain} (${variant}), found ${found.length}: run npm run setup`);
  }
  return found[0]!;
}

/** The newest toolchain in the manifest (the one that follows Debian sid). */
export function newestToolchain(): string {
  const versions = [...new Set(readManifest().map((b) => b.toolchain))];
  versions.sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]));
  const newest = versions[versions.length - 1];
  if (newest === undefined) throw new Error(`${MANIFEST_PATH} lists no builds: run npm run setup`);
  return newest;
}

export interface ExpectedCall {
  /** Full symbol name as in the binary. */
  function: string;
  /** Argument values, receiver first; integers are bigints (see losslessJson.ts). */
  args: LosslessJson[];
}

/**
 * The EXPECT lines of a fixture's stdout, in order; other lines (WAITING,
 * LISTENING, DONE) are skipped. Throws on a malformed EXPECT line.
 */
export function parseExpectLines(stdout: string): ExpectedCall[] {
  const calls: ExpectedCall[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('EXPECT ')) continue;
    const parsed = parseLosslessJson(line.slice('EXPECT '.length));
    if (
      parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) ||
      typeof parsed.function !== 'string' || !Array.isArray(parsed.args)
    ) {
      throw new Error(`EXPECT line without a "function" string and an "args" list: ${line}`);
    }
    calls.push({ function: parsed.function, args: parsed.args });
  }
  return calls;
}

/**
 * The function names a functions file lists, in order, one per line that is
 * not blank or a # comment: the text before the parameter list's "(", which
 * follows a name character or "]" (the "(" of `cart.(*Cart).Add` follows a dot).
 */
export function functionsInFile(funcsPath: string): string[] {
  return readFileSync(funcsPath, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const m = /^(.*?[\w\]])\(/u.exec(line);
      if (!m) throw new Error(`${funcsPath}: no parameter list in ${JSON.stringify(line)}`);
      return m[1]!;
    });
}
