// Shared by the DWARF reader tests: Go builds of the sample program in
// fixtures/oracles/dwarfdump/sample, and what independent tools say about
// them — fixtures/oracles/dwarfdump (Go's own debug/dwarf) and `go tool nm`.
// Expected values always come from these tools, never from src/binary/dwarf.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { DwarfFunction } from '../../src/binary/dwarf/index.js';
import { type GoType, sizeOf } from '../../src/core/gotypes.js';

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

/** The toolchains of .cache/go/toolchains.json (scripts/toolchains.sh, run by npm run setup); oldest first. */
export function availableToolchains(): Toolchain[] {
  const found = new Map<string, string>();
  const listed = join(REPO_ROOT, '.cache/go/toolchains.json');
  if (existsSync(listed)) {
    try {
      const { toolchains } = JSON.parse(readFileSync(listed, 'utf8')) as { toolchains: { toolchain: string; goroot: string }[] };
      for (const t of toolchains) {
        const go = join(t.goroot, 'bin/go');
        if (/^1\.\d+$/.test(t.toolchain) && existsSync(go)) found.set(t.toolchain, go);
      }
    } catch {
      // An unreadable list is the same as none: the tests then say to run npm run setup.
    }
  }
  if (found.size === 0) throw new Error('no Go toolchains in .cache/go/toolchains.json: run npm run setup');
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

/** debug/dwarf's view of the first type entry named `name`; null when there is none. */
export function dwarfdumpType(toolchains: Toolchain[], binary: string, name: string): OracleType | null {
  return JSON.parse(execFileSync(oracle(toolchains), ['-type', binary, name], { encoding: 'utf8' })) as OracleType | null;
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

/** reflect.Kind of each GoType kind, as Go writes it in DW_AT_go_kind. */
const REFLECT_KIND: Record<string, number> = {
  bool: 1, int: 2, int8: 3, int16: 4, int32: 5, int64: 6, uint: 7, uint8: 8, uint16: 9, uint32: 10, uint64: 11,
  uintptr: 12, float32: 13, float64: 14, complex64: 15, complex128: 16, array: 17, chan: 18, func: 19,
  interface: 20, map: 21, pointer: 22, slice: 23, string: 24, struct: 25,
};

/** Mismatches between one of our types and debug/dwarf's view of the same DIE (empty when they agree). */
export function typeMismatches(ours: GoType, o: OracleType): string[] {
  const bad: string[] = [];
  const check = (what: string, actual: unknown, expected: unknown) => {
    if (JSON.stringify(actual) !== JSON.stringify(expected)) bad.push(`${what}: ${JSON.stringify(actual)} ≠ ${JSON.stringify(expected)}`);
  };
  // `.paramN` typedefs stand for a shape type parameter: we give the shape type's own name.
  if (!o.name.startsWith('.param')) check('name', ours.name, o.name);
  if (o.goKind === 0) {
    // Go writes no kind for unsafe.Pointer and for pointer types the compiler makes up (`*uintptr` of a write barrier).
    check('kind', ours.kind, o.tag === 'PointerType' ? 'pointer' : 'opaque');
  } else {
    check('reflect kind', REFLECT_KIND[ours.kind], o.goKind);
  }
  check('size', sizeOf(ours), o.size);
  switch (ours.kind) {
    case 'struct':
      check('fields', ours.fields.map((f) => [f.name, f.offset, f.type.name]), (o.fields ?? []).map((f) => [f.name, f.offset, f.type]));
      break;
    case 'pointer':
      check('pointee', ours.elem?.name ?? null, o.name === 'unsafe.Pointer' ? null : o.elem);
      break;
    case 'slice': case 'chan':
      check('elem', ours.elem.name, o.elem);
      break;
    case 'array':
      check('len', ours.len, o.len ?? 0);
      check('elem', ours.elem.name, o.elem);
      break;
    case 'map':
      check('key', ours.key.name, o.key);
      check('elem', ours.elem.name, o.elem);
      break;
    case 'interface':
      check('empty', ours.empty, o.under === 'runtime.eface');
      break;
  }
  return bad;
}

/** Our params and results as the oracle lists them: one list, results flagged; `.dict` is compared separately. */
export function flatten(fn: DwarfFunction): { name: string; result: boolean; type: GoType }[] {
  return [
    ...fn.spec.params.map((p) => ({ ...p, result: false })),
    ...(fn.spec.results ?? []).map((p) => ({ ...p, result: true })),
  ].filter((p) => p.name !== '.dict');
}

export function firstByName(funcs: OracleFunc[]): Map<string, OracleFunc> {
  const m = new Map<string, OracleFunc>();
  for (const f of funcs) if (!m.has(f.name)) m.set(f.name, f);
  return m;
}

/** Every disagreement between our functions and the oracle's: names, entries, parameters, types. */
export function functionMismatches(ours: Map<string, DwarfFunction>, oracle: Map<string, OracleFunc>): string[] {
  const bad: string[] = [];
  const missing = [...oracle.keys()].filter((n) => !ours.has(n));
  const extra = [...ours.keys()].filter((n) => !oracle.has(n));
  if (missing.length) bad.push(`missing: ${missing.slice(0, 10).join(', ')}`);
  if (extra.length) bad.push(`not in debug/dwarf: ${extra.slice(0, 10).join(', ')}`);
  for (const o of oracle.values()) {
    const fn = ours.get(o.name);
    if (!fn) continue;
    if (fn.lowPc !== o.lowPc || fn.highPc !== o.highPc) bad.push(`${o.name}: [${fn.lowPc}, ${fn.highPc}) ≠ [${o.lowPc}, ${o.highPc})`);
    const mine = flatten(fn);
    // Go 1.19–1.24 list results of some functions with a defer twice (~r0, ~r0, ~r1, ~r1):
    // the reader keeps the first of each.
    const theirs = o.params.filter((p, i) => p.name !== '.dict' && !(p.result && o.params.slice(0, i).some((q) => q.result && q.name === p.name)));
    if (mine.length !== theirs.length) {
      bad.push(`${o.name}: ${mine.map((p) => p.name)} ≠ ${theirs.map((p) => p.name)}`);
      continue;
    }
    theirs.forEach((p, i) => {
      const m = mine[i]!;
      // DWARF names every Go parameter; unnamed ones come out as ~r0/~p0/~b1.
      if (m.name !== p.name || m.result !== p.result) bad.push(`${o.name} #${i}: ${m.name}/${m.result} ≠ ${p.name}/${p.result}`);
      for (const x of typeMismatches(m.type, p.type)) bad.push(`${o.name} ${p.name}: ${x}`);
    });
  }
  return bad;
}
