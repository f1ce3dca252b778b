// What weaver works out from one build of a program and would otherwise
// work out again on every start: its function list (parsing .symtab and
// .gopclntab, ~25 ms for a small program and seconds for a huge one), where
// each entry probe goes (decoding the prologue needs iced-x86, ~70 ms to
// load), where goid sits in runtime.g (a DWARF walk, ~50 ms), the runtime-type
// table interfaces are read through (DWARF and the type descriptors, ~150 ms
// for a 7 MB program) and, with --returns, each function's RET sites. All
// depend only on the binary's bytes and on weaver's own code, so they are kept per binary under the cache root the
// compile cache uses, in one JSON file per binary path:
//   $XDG_CACHE_HOME/weaver/binaries/<sha256 of the real path>.json
// and the runtime-type table beside it in <same>.types.json (~0.5 MB for a
// 7 MB program), read only by a run that plans an interface: parsing it
// cost every other start ~10 ms.
// An entry is used only when the file still has the same identity (Go build
// ID, or a hash of the contents when it has none; size; mtime; ctime; inode;
// the separate debug file its DWARF was read from, if any)
// and weaver's analysing code is the same (a fingerprint of its files): a
// rebuilt binary or a rebuilt weaver never reuses stale answers. Anything
// wrong with the cache (unreadable, corrupt, unwritable) only costs the cache.
// Every binary path gets its own file (tests alone trace hundreds of copies
// in temporary directories), so only the most recently used files are kept.

import { cachedFiles, decoderPackageFile, defaultCacheDir, filesFingerprint, filesUnder, leastRecentlyUsed, type FunctionSymbol, type GoBinaryInfo } from '../core/index.js';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ElfFile } from './elf/file.js';
import { binaryIdentity, type BinaryIdentity as FileIdentity } from './identity.js';
import type { ReturnSites } from './x86/returns.js';
import type { ProbeKind } from './x86/prologue.js';
import type { RuntimeTable, RuntimeTableStore } from './runtimetypes.js';
import { NotStorableError, TypeEncoder, decodeTypes, type EncodedType } from './typecodec.js';

/** Bumped when the file's layout changes. */
const FORMAT = 5;
/** Cache files kept; the least recently used go first. */
export const MAX_CACHED_BINARIES = 64;
/** Bytes of cache files (with their type tables) kept at most; the least recently used go first. */
export const MAX_CACHED_BYTES = 64 << 20;

/** An entry probe as src/bpf/tracespec.ts places it (TraceTarget['probe']). */
export interface CachedProbe {
  offset: number;
  kind: ProbeKind;
  reason: string;
  traps?: 1 | 2;
  stackCheckFailFlags?: number;
}

interface BinaryIdentity extends FileIdentity {
  /**
   * The separate debug file the DWARF came from (src/binary/debuginfo/), as
   * `<real path> <size> <mtime ns> <inode>`; '' when the binary's own.
   * Answers that read DWARF differ with and without it.
   */
  debug: string;
}

/** GoBinaryInfo without its path (that of the current request) and with its functions as rows. */
interface StoredInfo {
  scalars: Record<string, string | number | boolean | null>;
  /** [name, address, size, fileOffset, abi0 (1) or not (0)], in the Map's order. */
  functions: [string, number, number, number, 0 | 1][];
}

/** RuntimeTable with its types as one node table (src/binary/typecodec.ts). */
interface StoredRuntimeTable {
  nodes: EncodedType[];
  /** [descriptor address, name, node index]. */
  types: [number, string, number][];
  /** [itab address, concrete type's descriptor address]. */
  itabs: [number, number][];
}

/** ReturnSites with its sites as rows: [kind, offset, frameSize]. */
interface StoredReturnSites {
  sites: ['ret' | 'deferreturn', number, number][];
  tailJumps: number[];
  skippedDeferreturns: number[];
}

/** The .types.json file: the same identity as the main file, and the table (checked when used). */
interface TypesFile {
  format: number;
  fingerprint: string;
  binary: BinaryIdentity;
  table: unknown;
}

interface CacheFile {
  format: number;
  fingerprint: string;
  binary: BinaryIdentity;
  info?: StoredInfo;
  goidOffset?: number;
  /** By `<address>:<size>` of the function. */
  probes: Record<string, CachedProbe>;
  /** By `<address>:<size>` of the function; checked when used. */
  returns?: Record<string, unknown>;
}

/** $XDG_CACHE_HOME/weaver/binaries (or ~/.cache/weaver/binaries): beside the compile cache. */
export function defaultBinaryCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(dirname(defaultCacheDir(env)), 'binaries');
}

export interface ProbeCacheOptions {
  /** Overrides the cache directory; null: no cache (every answer is computed). */
  dir?: string | null;
}

export class ProbeCache implements RuntimeTableStore {
  private dirty = false;
  /** The table to write to the .types.json file on save. */
  private tableToSave: StoredRuntimeTable | null = null;

  private constructor(
    /** The cache file, or null when the cache is off or the binary cannot be identified. */
    readonly path: string | null,
    private readonly data: CacheFile,
    /** Entries found in the file (for tests and -v). */
    readonly loaded: boolean,
  ) {}

  /** The cache for the binary `elf` was read from; never throws. */
  static open(elf: ElfFile, options: ProbeCacheOptions = {}): ProbeCache {
    const dir = options.dir === undefined ? defaultBinaryCacheDir() : options.dir;
    const binary = dir === null ? null : identify(elf);
    if (dir === null || binary === null) return new ProbeCache(null, emptyFile(null), false);
    let path: string;
    try {
      path = join(dir, `${sha256(realpathSync(elf.path))}.json`);
    } catch {
      return new ProbeCache(null, emptyFile(binary), false);
    }
    const stored = readCacheFile(path, binary);
    if (!stored) return new ProbeCache(path, emptyFile(binary), false);
    try {
      // Its modification time says when it was last used, for pruning.
      const now = new Date();
      utimesSync(path, now, now);
    } catch {
      // A read-only cache still answers.
    }
    return new ProbeCache(path, stored, true);
  }

  /** What the ELF stage knows about the binary (openGoBinary), from the cache or `compute`. */
  binaryInfo(path: string, compute: () => GoBinaryInfo): GoBinaryInfo {
    if (this.data.info) return restoreInfo(path, this.data.info);
    const info = compute();
    const stored = storableInfo(info);
    if (stored) {
      this.data.info = stored;
      this.dirty = true;
    }
    return info;
  }

  /** The offset of runtime.g.goid, from the cache or `compute`. */
  goidOffset(compute: () => number): number {
    if (this.data.goidOffset !== undefined) return this.data.goidOffset;
    const offset = compute();
    this.data.goidOffset = offset;
    this.dirty = true;
    return offset;
  }

  /** The entry probe of `symbol` with automatic placement, from the cache or `compute`. */
  entryProbe(symbol: FunctionSymbol, compute: () => CachedProbe): CachedProbe {
    const key = `${symbol.address}:${symbol.size}`;
    const hit = this.data.probes[key];
    // A probe outside the function would put int3 in another one's code: never trusted.
    if (hit && hit.offset < Math.max(1, symbol.size)) return { ...hit };
    const probe = compute();
    this.data.probes[key] = { ...probe };
    this.dirty = true;
    return probe;
  }

  /** The binary's runtime-type table (src/binary/runtimetypes.ts), from the cache or `compute`. */
  runtimeTable(compute: () => RuntimeTable): RuntimeTable {
    const stored = this.path === null ? null : readTypesFile(typesPath(this.path), this.data.binary);
    const hit = stored === null ? null : restoreRuntimeTable(stored.table);
    if (hit) return hit;
    const table = compute();
    // A corrupt or foreign file is written again; a table that cannot be stored exactly is computed every run.
    this.tableToSave = storableRuntimeTable(table);
    return table;
  }

  /** The RET and deferreturn sites of `symbol` (src/binary/x86/returns.ts findReturnProbes), from the cache or `compute`. */
  returnSites(symbol: FunctionSymbol, compute: () => ReturnSites): ReturnSites {
    const key = `${symbol.address}:${symbol.size}`;
    const hit = restoreReturnSites(this.data.returns?.[key], symbol.size);
    if (hit) return hit;
    const found = compute();
    this.data.returns ??= {};
    this.data.returns[key] = {
      sites: found.sites.map((s) => [s.kind, s.offset, s.frameSize]),
      tailJumps: [...found.tailJumps],
      skippedDeferreturns: [...found.skippedDeferreturns],
    } satisfies StoredReturnSites;
    this.dirty = true;
    return found;
  }

  /** Writes what was added since open (atomically: a concurrent weaver reads the old or the new file). */
  save(): void {
    if (this.path === null) return;
    if (this.tableToSave) {
      const { format, fingerprint, binary } = this.data;
      writeAtomically(typesPath(this.path), { format, fingerprint, binary, table: this.tableToSave } satisfies TypesFile);
      this.tableToSave = null;
    }
    if (!this.dirty) return;
    this.dirty = false;
    if (writeAtomically(this.path, this.data)) {
      try {
        pruneCache(dirname(this.path), MAX_CACHED_BINARIES);
      } catch {
        // Another weaver pruned meanwhile.
      }
    }
  }
}

/** Where the runtime-type table of the cache file `path` is kept. */
function typesPath(path: string): string {
  return path.replace(/\.json$/, '.types.json');
}

/** Writes through a temporary file, so a concurrent weaver reads the old or the new file; false when it could not. */
function writeAtomically(path: string, data: unknown): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, JSON.stringify(data));
    renameSync(tmp, path);
    return true;
  } catch {
    // An unwritable cache directory only costs the cache.
    try {
      rmSync(tmp, { force: true });
    } catch {
      // There was no directory to write it in.
    }
    return false;
  }
}

function storableRuntimeTable(table: RuntimeTable): StoredRuntimeTable | null {
  const encoder = new TypeEncoder();
  try {
    const types = table.types.map((t): [number, string, number] => [t.address, t.name, encoder.encode(t.type)]);
    return { nodes: encoder.nodes, types, itabs: table.itabs.map((i) => [i.address, i.type]) };
  } catch (err) {
    if (err instanceof NotStorableError) return null;
    throw err;
  }
}

/** Null when `v` is not a table this version wrote (then it is computed and written again). */
function restoreRuntimeTable(v: unknown): RuntimeTable | null {
  if (typeof v !== 'object' || v === null) return null;
  const { nodes, types, itabs } = v as Record<string, unknown>;
  const decoded = decodeTypes(nodes);
  if (!decoded || !Array.isArray(types) || !Array.isArray(itabs)) return null;
  const table: RuntimeTable = { types: [], itabs: [] };
  for (const row of types) {
    if (!Array.isArray(row) || row.length !== 3 || !isCount(row[0]) || typeof row[1] !== 'string' || !isCount(row[2]) || row[2] >= decoded.length) {
      return null;
    }
    table.types.push({ address: row[0], name: row[1], type: decoded[row[2]]! });
  }
  for (const row of itabs) {
    if (!Array.isArray(row) || row.length !== 2 || !isCount(row[0]) || !isCount(row[1])) return null;
    table.itabs.push({ address: row[0], type: row[1] });
  }
  return table;
}

/**
 * Null when `v` is not what this version wrote, or names an offset outside
 * the function: a probe there would put int3 in another function's code.
 */
function restoreReturnSites(v: unknown, size: number): ReturnSites | null {
  if (typeof v !== 'object' || v === null) return null;
  const { sites, tailJumps, skippedDeferreturns } = v as Record<string, unknown>;
  const inside = (o: unknown): o is number => isCount(o) && o < size;
  if (!Array.isArray(sites) || !Array.isArray(tailJumps) || !Array.isArray(skippedDeferreturns)) return null;
  if (!tailJumps.every(inside) || !skippedDeferreturns.every(inside)) return null;
  const found: ReturnSites = { sites: [], tailJumps: [...tailJumps], skippedDeferreturns: [...skippedDeferreturns] };
  for (const row of sites) {
    if (!Array.isArray(row) || row.length !== 3 || !inside(row[1]) || !isCount(row[2])) return null;
    if (row[0] === 'ret' && row[2] === 0) found.sites.push({ kind: 'ret', offset: row[1], frameSize: 0 });
    else if (row[0] === 'deferreturn') found.sites.push({ kind: 'deferreturn', offset: row[1], frameSize: row[2] });
    else return null;
  }
  return found;
}

const SYMBOL_KEYS = new Set(['name', 'address', 'size', 'fileOffset', 'abi0']);

/** Null when `info` has something JSON would not give back as it is (a field added since this was written). */
function storableInfo(info: GoBinaryInfo): StoredInfo | null {
  const scalars: StoredInfo['scalars'] = {};
  for (const [key, value] of Object.entries(info)) {
    if (key === 'path' || key === 'functions') continue;
    if (!isScalar(value)) return null;
    scalars[key] = value;
  }
  const functions: StoredInfo['functions'] = [];
  for (const [name, f] of info.functions) {
    if (f.name !== name || Object.keys(f).some((k) => !SYMBOL_KEYS.has(k))) return null;
    functions.push([f.name, f.address, f.size, f.fileOffset, f.abi0 ? 1 : 0]);
  }
  return { scalars, functions };
}

function restoreInfo(path: string, stored: StoredInfo): GoBinaryInfo {
  const functions = new Map<string, FunctionSymbol>();
  for (const [name, address, size, fileOffset, abi0] of stored.functions) {
    functions.set(name, abi0 ? { name, address, size, fileOffset, abi0: true } : { name, address, size, fileOffset });
  }
  return { ...(stored.scalars as Omit<GoBinaryInfo, 'path' | 'functions'>), path, functions };
}

function isScalar(v: unknown): v is string | number | boolean | null {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

function isStoredInfo(v: unknown): v is StoredInfo {
  if (typeof v !== 'object' || v === null) return false;
  const { scalars, functions } = v as Record<string, unknown>;
  if (typeof scalars !== 'object' || scalars === null || Array.isArray(scalars) || !Object.values(scalars).every(isScalar)) return false;
  return (
    Array.isArray(functions) &&
    functions.every(
      (row) =>
        Array.isArray(row) &&
        row.length === 5 &&
        typeof row[0] === 'string' &&
        isCount(row[1]) &&
        isCount(row[2]) &&
        isCount(row[3]) &&
        (row[4] === 0 || row[4] === 1),
    )
  );
}

/**
 * Removes all but the `keep` most recently used cache files in `dir`, each
 * with its .types.json file, and then the least recently used until what is
 * left takes at most `maxBytes`.
 */
export function pruneCache(dir: string, keep: number, maxBytes = MAX_CACHED_BYTES): void {
  const names = readdirSync(dir);
  const files = cachedFiles(dir, /^[0-9a-f]{64}\.json$/, (path) => {
    try {
      return statSync(typesPath(path)).size;
    } catch {
      return 0;
    }
  });
  // A table whose cache file is gone (pruned by a weaver of before the tables) is never read.
  const kept = new Set(names);
  for (const name of names) {
    const main = /^([0-9a-f]{64})\.types\.json$/.exec(name);
    if (main && !kept.has(`${main[1]}.json`)) rmSync(join(dir, name), { force: true });
  }
  for (const f of leastRecentlyUsed(files, keep, maxBytes)) {
    rmSync(f.path, { force: true });
    rmSync(typesPath(f.path), { force: true });
  }
}

function emptyFile(binary: BinaryIdentity | null): CacheFile {
  return { format: FORMAT, fingerprint: analyserFingerprint(), binary: binary ?? { id: '', size: 0, mtimeNs: '0', ctimeNs: '0', ino: 0, debug: '' }, probes: {} };
}

function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Null when the file on disk is no longer the one that was read: then nothing is cached. */
function identify(elf: ElfFile): BinaryIdentity | null {
  const file = binaryIdentity(elf);
  return file && { ...file, debug: elf.dwarfFile ? debugFileIdentity(elf.dwarfFile) : '' };
}

/** Where the debug file is and which version of it; a hash of it when it is not a file (never stored). */
function debugFileIdentity(debug: ElfFile): string {
  try {
    const stat = statSync(debug.path, { bigint: true });
    if (stat.size === BigInt(debug.buffer.length)) return `${realpathSync(debug.path)} ${stat.size} ${stat.mtimeNs} ${stat.ino}`;
  } catch {
    // Not on disk under that name: identified by its contents.
  }
  return `sha256:${sha256(debug.buffer)}`;
}

/** The .types.json file when it belongs to this binary and this weaver; null otherwise. */
function readTypesFile(path: string, binary: BinaryIdentity): TypesFile | null {
  const parsed = readJsonFile(path);
  if (typeof parsed !== 'object' || parsed === null) return null;
  const f = parsed as Partial<TypesFile>;
  if (f.format !== FORMAT || f.fingerprint !== analyserFingerprint() || !sameBinary(f.binary, binary)) return null;
  return f as TypesFile;
}

function sameBinary(b: Partial<BinaryIdentity> | undefined, binary: BinaryIdentity): boolean {
  return (
    typeof b === 'object' && b !== null &&
    b.id === binary.id && b.size === binary.size && b.mtimeNs === binary.mtimeNs && b.ctimeNs === binary.ctimeNs && b.ino === binary.ino &&
    b.debug === binary.debug
  );
}

/** A file's parsed JSON; undefined when it is missing, unreadable or not JSON. */
function readJsonFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

function readCacheFile(path: string, binary: BinaryIdentity): CacheFile | null {
  const parsed = readJsonFile(path);
  if (!isCacheFile(parsed)) return null;
  if (parsed.format !== FORMAT || parsed.fingerprint !== analyserFingerprint()) return null;
  return sameBinary(parsed.binary, binary) ? parsed : null;
}

function isCacheFile(v: unknown): v is CacheFile {
  if (typeof v !== 'object' || v === null) return false;
  const f = v as Record<string, unknown>;
  const b = f.binary as Record<string, unknown> | null;
  if (typeof f.format !== 'number' || typeof f.fingerprint !== 'string' || typeof b !== 'object' || b === null) return false;
  if (typeof b.id !== 'string' || typeof b.size !== 'number' || typeof b.mtimeNs !== 'string' || typeof b.ctimeNs !== 'string' || typeof b.ino !== 'number' || typeof b.debug !== 'string') {
    return false;
  }
  if (f.goidOffset !== undefined && !isCount(f.goidOffset)) return false;
  if (f.info !== undefined && !isStoredInfo(f.info)) return false;
  if (typeof f.probes !== 'object' || f.probes === null || Array.isArray(f.probes)) return false;
  if (f.returns !== undefined && (typeof f.returns !== 'object' || f.returns === null || Array.isArray(f.returns))) return false;
  return Object.values(f.probes).every(isCachedProbe);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isCachedProbe(v: unknown): v is CachedProbe {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Record<string, unknown>;
  return (
    isCount(p.offset) &&
    (p.kind === 'after-stack-check' || p.kind === 'first-emulated' || p.kind === 'entry') &&
    typeof p.reason === 'string' &&
    (p.traps === undefined || p.traps === 1 || p.traps === 2) &&
    (p.stackCheckFailFlags === undefined || isCount(p.stackCheckFailFlags))
  );
}

/**
 * Weaver's code that computes cached answers: a change to any of these
 * files (a rebuild rewrites them all) or to the decoder package makes
 * every cache file stale. Sizes and times, not contents: ~20 stat calls.
 */
const ANALYSER_DIRS = ['binary/x86', 'binary/dwarf', 'binary/elf'];
const ANALYSER_FILES = [
  'binary/goid', 'core/model', 'binary/probecache', 'bpf/tracespec', 'core/gotypes', 'binary/runtimetypes', 'binary/typecodec', 'spec/returns', 'bpf/returnspec',
];

let fingerprint: string | undefined;

function analyserFingerprint(): string {
  if (fingerprint !== undefined) return fingerprint;
  const here = fileURLToPath(import.meta.url);
  // src/ or dist/: this file is in its binary/ folder.
  const root = dirname(dirname(here));
  // .js under dist/, .ts when the tests run the sources.
  const ext = extname(here);
  const files = [...ANALYSER_FILES.map((f) => join(root, f + ext)), ...ANALYSER_DIRS.flatMap((d) => filesUnder(join(root, d), ext))];
  // Not installed: decoding fails anyway, and nothing is cached from it.
  const decoder = decoderPackageFile();
  fingerprint = filesFingerprint(decoder ? [...files, decoder] : files, root);
  return fingerprint;
}
