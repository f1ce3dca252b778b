// Shared by the DWARF reader tests: Go builds of the sample program in
// fixtures/oracles/dwarfdump/sample, and what independent tools say about
// them — fixtures/oracles/dwarfdump (Go's own debug/dwarf) and `go tool nm`.
// Expected values always come from these tools, never from src/dwarf.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ORACLE_DIR = join(REPO_ROOT, 'fixtures/oracles/dwarfdump');
const SAMPLE_DIR = join(ORACLE_DIR, 'sample');
const WORK = join(tmpdir(), 'weaver-dwarf-tests');

export interface Toolchain {
  /** `1.22` */
  version: string;
  minor: number;
  go: string;
}

const CANDIDATES: [string, string][] = [
  ['1.15', '/tmp/goapt/x/usr/lib/go-1.15/bin/go'],
  ['1.19', '/usr/lib/go-1.19/bin/go'],
  ['1.22', '/tmp/goapt/x/usr/lib/go-1.22/bin/go'],
  ['1.27', '/tmp/goapt/x/usr/lib/go-1.27/bin/go'],
];

/** Toolchains on this machine, oldest first; also those of .cache/go/toolchains.json when setup has run. */
export function availableToolchains(): Toolchain[] {
  const found = new Map<string, string>();
  for (const [version, go] of CANDIDATES) if (existsSync(go)) found.set(version, go);
  const listed = join(REPO_ROOT, '.cache/go/toolchains.json');
  if (existsSync(listed)) {
    try {
      const { toolchains } = JSON.parse(execFileSync('cat', [listed], { encoding: 'utf8' })) as {
        toolchains: { goVersion: string; goroot: string }[];
      };
      for (const t of toolchains) {
        const m = /^go?(1\.\d+)/.exec(t.goVersion.replace(/^go/, ''));
        const go = join(t.goroot, 'bin/go');
        if (m && existsSync(go) && !found.has(m[1]!)) found.set(m[1]!, go);
      }
    } catch {
      // An unreadable list only means fewer toolchains.
    }
  }
  return [...found]
    .map(([version, go]) => ({ version, go, minor: Number(version.split('.')[1]) }))
    .sort((a, b) => a.minor - b.minor);
}

function goEnv(tc: Toolchain): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GOTOOLCHAIN: 'local',
    GOFLAGS: '-mod=mod',
    GOPROXY: 'off',
    GOWORK: 'off',
    CGO_ENABLED: '0',
    GO111MODULE: 'on',
    GOCACHE: join(WORK, `gocache-${tc.version}`),
    GOPATH: join(WORK, 'gopath'),
  };
}

/** Builds the sample program; `variant` adds flags (uncompressed DWARF). */
export function buildSample(tc: Toolchain, variant: 'normal' | 'uncompressed' = 'normal'): string {
  mkdirSync(WORK, { recursive: true });
  const out = join(WORK, `sample-${tc.version}-${variant}`);
  const args = ['build', '-o', out];
  if (variant === 'uncompressed') args.push('-ldflags=-compressdwarf=false');
  execFileSync(tc.go, [...args, '.'], { cwd: SAMPLE_DIR, env: goEnv(tc), stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}

let oracleBinary: string | undefined;

/** Builds the debug/dwarf oracle with the newest toolchain (its debug/dwarf reads every DWARF version). */
function oracle(toolchains: Toolchain[]): string {
  if (oracleBinary) return oracleBinary;
  const tc = toolchains.filter((t) => t.minor >= 18).at(-1);
  if (!tc) throw new Error('no Go toolchain ≥ 1.18 to build the dwarfdump oracle');
  mkdirSync(WORK, { recursive: true });
  const out = join(WORK, 'dwarfdump');
  execFileSync(tc.go, ['build', '-o', out, '.'], { cwd: ORACLE_DIR, env: goEnv(tc), stdio: ['ignore', 'ignore', 'pipe'] });
  oracleBinary = out;
  return out;
}

export interface OracleType {
  name: string;
  /** debug/dwarf's name of the DIE's tag after typedefs: `PointerType`, `StructType`… */
  tag: string;
  goKind: number;
  size: number;
  elem?: string;
  key?: string;
  len?: number;
  fields?: { name: string; offset: number; type: string }[];
  under?: string;
}

export interface OracleFunc {
  name: string;
  unit: string;
  lowPc: number;
  highPc: number;
  params: { name: string; result: boolean; type: OracleType }[];
}

/** Every subprogram with code, as Go's debug/dwarf reads it; only names with one of `prefixes` when given. */
export function dwarfdump(toolchains: Toolchain[], binary: string, prefixes: string[] = []): OracleFunc[] {
  const json = execFileSync(oracle(toolchains), [binary, ...prefixes], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const funcs = (JSON.parse(json) as OracleFunc[] | null) ?? [];
  for (const f of funcs) f.params ??= [];
  return funcs;
}

/** Text symbols from `go tool nm`: name → address. */
export function nmFunctions(tc: Toolchain, binary: string): Map<string, number> {
  const out = execFileSync(tc.go, ['tool', 'nm', binary], { encoding: 'utf8', env: goEnv(tc), maxBuffer: 1 << 28 });
  const map = new Map<string, number>();
  for (const line of out.split('\n')) {
    const m = /^\s*([0-9a-f]+) [Tt] (.+)$/.exec(line);
    if (m) map.set(m[2]!, parseInt(m[1]!, 16));
  }
  return map;
}
