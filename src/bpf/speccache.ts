// The whole trace spec of one request on one build, kept between runs: a
// warm start then neither reads the binary's DWARF nor plans, shapes and
// generates C again (~0.5 s for 277 functions, ~1 s for 1,266), and does
// not even read the binary; the compile cache (src/compile.ts) then finds
// the object by the C text as before.
//
//   $XDG_CACHE_HOME/weaver/specs/<sha256 of the request>.spec
//
// The key is the request: the binary's path (as given and real), every
// field of the TraceRequest (packages, --depth, --returns, kernel
// features, …), the functions file's contents, and a fingerprint of
// weaver's own code. The entry holds the binary's identity: size, mtime,
// ctime and inode, and its Go build ID (read from its note section with a
// few small reads) or, when it has none or was written in the last
// seconds, a hash of the whole file. A
// rebuilt binary at the same path, or a rebuilt weaver, never reuses a
// spec. Only binaries with their own DWARF are kept: a separate debug file
// (src/debuginfo/) is looked up anew each run, and one may appear later.
// Anything wrong with the cache (unreadable, corrupt, unwritable) only
// costs the cache; its files are bounded like the other caches
// (src/cachelru.ts).
//
// A spec is plain data except for two tables the decoder asks: the
// runtime types (for interface values) and the function names (for func
// values). They are stored as markers and become lazy tables again on
// reading, every plan sharing one of each as before.

import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, realpathSync, renameSync, rmSync, utimesSync, writeSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deserialize, serialize } from 'node:v8';
import { binaryIdentity, functionNames, isCurrentBuild, runtimeTypesFromList, type BinaryIdentity, type ElfFile, type FunctionNames, type RuntimeTable, type RuntimeTypes } from '../binary/index.js';
import { cachedFiles, decoderPackageFile, defaultCacheDir, filesFingerprint, filesUnder, leastRecentlyUsed, Notes, type FunctionSymbol, type NotesData } from '../core/index.js';
import type { FunctionPlan } from '../spec/index.js';
import type { TraceRequest, TraceSpec } from './tracespec.js';

/** Bumped when the file's layout changes (2: plan bodies in chunks). */
const FORMAT = 2;
/** Specs kept; the least recently used go first. */
export const MAX_CACHED_SPECS = 16;
/** Bytes of spec files kept at most (277 functions of net/http take ~5 MB, 3,128 functions of five packages ~28 MB). */
export const MAX_SPEC_BYTES = 128 << 20;

/** $XDG_CACHE_HOME/weaver/specs (or ~/.cache/weaver/specs): beside the compile cache. */
export function defaultSpecCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(dirname(defaultCacheDir(env)), 'specs');
}

const TYPES_MARK = 'weaver:runtime-types';
const NAMES_MARK = 'weaver:function-names';

/**
 * The file: a u32 length, the Header (JSON), then the parts one after the
 * other, each v8-serialized. A start reads the header and the spec; the
 * plans' argument trees (~70,000 objects for 277 functions, ~0.1 s to
 * deserialize), the binary's function list and the runtime-type table are
 * read, through the descriptor kept open, when first used (the first
 * record decoded, the first func or interface value named): a newer file
 * renamed over this one meanwhile does not mix with it.
 */
interface Header {
  format: number;
  /** The build it was made from; null in a file read back at once (writeSpecFile). */
  binary: BinaryIdentity | null;
  /** [offset, length] of each part in the file; runtimeTable null when no plan reads interfaces. */
  parts: { spec: Range; bodies: Range[]; functions: Range; runtimeTable: Range | null };
}

type Range = [number, number];

/** The spec part: without notes and cSource (rebuilt), every plan's `args` null and the binary's `functions` empty. */
type StoredSpec = Omit<TraceSpec, 'notes' | 'cSource'> & { notes: NotesData };

/**
 * What plans hold that a start does not need, in chunks of consecutive
 * plans: a chunk is serialized, written and dropped before the next
 * (20 MB of bodies for 3,128 functions, serialized at once, grew the heap
 * by as much again), and read when one of its plans is first decoded.
 */
interface PlanBodies {
  /** The `args` of this chunk's plans of plansOf(spec), in that order. */
  args: FunctionPlan['args'][];
  /** The marker objects the args hold (v8 keeps each one object in a chunk), null when none does. */
  marks: { types: Record<string, unknown> | null; names: Record<string, unknown> | null };
}

/** Plans per chunk of bodies: 64 at least, and at most 32 chunks (their ranges fit the header). */
function plansPerChunk(plans: number): number {
  return Math.max(64, Math.ceil(plans / 32));
}

/** Every FunctionPlan of the spec, in a fixed order: entry plans, then the results of return plans. */
function plansOf(spec: Pick<TraceSpec, 'targets'>): FunctionPlan[] {
  return [...spec.targets.map((t) => t.plan), ...spec.targets.flatMap((t) => (t.returns ? [t.returns.plan.results] : []))];
}

/**
 * The cache file of `req`, or null when the request cannot be keyed (its
 * binary or functions file cannot be read: building the spec says why).
 */
export function specCachePath(req: TraceRequest, dir: string): string | null {
  let real: string;
  let functionsFile: string | null = null;
  try {
    real = realpathSync(req.binaryPath);
    if (req.functionsFile !== undefined) functionsFile = sha256(readFileSync(req.functionsFile));
  } catch {
    return null;
  }
  const { elf: _elf, binaryCacheDir: _dir, binaryPath, functionsFile: functionsPath, ...rest } = req;
  const key = stableJson({ format: FORMAT, code: codeFingerprint(), binaryPath, real, functionsPath, functionsFile, request: rest });
  return join(dir, `${sha256(key)}.spec`);
}

/** The spec kept for `req` when the binary is still the build it was made from; null otherwise. Never throws. */
export function readCachedSpec(req: TraceRequest, dir: string): TraceSpec | null {
  const path = specCachePath(req, dir);
  if (!path) return null;
  // A kept file names the build it was made from; one without (a transfer file) is no cache entry.
  const spec = readSpecAt(path, req.binaryPath, true);
  if (!spec) return null;
  try {
    // Its modification time says when it was last used, for pruning.
    const now = new Date();
    utimesSync(path, now, now);
  } catch {
    // Pruned meanwhile: the spec is read already.
  }
  return spec;
}

/**
 * The spec in the file at `path` (written by writeSpecFile), for the
 * binary at `binaryPath`; null when the file cannot be read, is not whole,
 * or was made from another build of the binary. Never throws.
 */
export function readSpecFile(path: string, binaryPath: string): TraceSpec | null {
  return readSpecAt(path, binaryPath, false);
}

function readSpecAt(path: string, binaryPath: string, mustNameBuild: boolean): TraceSpec | null {
  let fd: number | null = null;
  try {
    fd = openSync(path, 'r');
    const file = fd;
    const at = ([offset, length]: Range): Buffer => {
      const buf = Buffer.allocUnsafe(length);
      if (readSync(file, buf, 0, length, offset) !== length) throw new Error('the spec file is cut short');
      return buf;
    };
    const header = JSON.parse(at([4, at([0, 4]).readUInt32LE(0)]).toString('utf8')) as Header;
    if (header.format !== FORMAT || (header.binary === null ? mustNameBuild : !isCurrentBuild(binaryPath, header.binary))) {
      closeSync(fd);
      return null;
    }
    const { parts } = header;
    // Every part must be there now: the lazy ones are read later.
    const end = Math.max(...[parts.spec, ...parts.bodies, parts.functions, parts.runtimeTable ?? [0, 0]].map(([o, n]) => o + n));
    if (fstatSync(fd).size !== end) throw new Error('the spec file is not as long as its header says');
    return restoreSpec(deserialize(at(parts.spec)) as StoredSpec, binaryPath, {
      bodies: (chunk) => at(parts.bodies[chunk]!),
      functions: () => at(parts.functions),
      runtimeTable: parts.runtimeTable ? () => at(parts.runtimeTable!) : null,
    });
  } catch {
    if (fd !== null) closeSync(fd);
    return null;
  }
}

/**
 * Keeps `spec`, built from `elf` for `req`; false when it is not kept (the
 * cache is unwritable, the debug info is a separate file, the spec holds
 * something that cannot be stored). Never throws.
 */
export function writeCachedSpec(req: TraceRequest, spec: TraceSpec, elf: ElfFile, dir: string): boolean {
  if (elf.dwarfFile || !spec.binary.hasDwarf) return false;
  const path = specCachePath(req, dir);
  const binary = binaryIdentity(elf);
  if (!path || !binary) return false;
  try {
    mkdirSync(dir, { recursive: true });
  } catch {
    return false;
  }
  if (!writeSpecFile(path, spec, binary)) return false;
  try {
    pruneSpecs(dir, MAX_CACHED_SPECS);
  } catch {
    // Another weaver pruned meanwhile.
  }
  return true;
}

/**
 * Writes `spec` to `path`, whole or not at all (a temporary file renamed
 * over it). `binary` is the build it was made from, which readSpecFile
 * then checks; null: not checked (a file read back at once). False when
 * the spec holds something that cannot be stored or the file cannot be
 * written. Never throws.
 */
export function writeSpecFile(path: string, spec: TraceSpec, binary: BinaryIdentity | null): boolean {
  // The header goes last, into room of fixed width before the parts: their offsets are known only once they are written.
  const HEADER_ROOM = 4096;
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      const put = (buf: Buffer, at: number) => {
        for (let done = 0; done < buf.length; ) done += writeSync(fd, buf, done, buf.length - done, at + done);
      };
      let offset = 4 + HEADER_ROOM;
      const parts = writeSpecParts(spec, (part) => {
        put(part, offset);
        offset += part.length;
        return [offset - part.length, part.length];
      });
      if (!parts) throw new Error('the spec holds something that cannot be stored');
      const json = Buffer.from(JSON.stringify({ format: FORMAT, binary, parts } satisfies Header));
      if (json.length > HEADER_ROOM) throw new Error('the spec file header is too long');
      const header = Buffer.alloc(4 + HEADER_ROOM, 0x20);
      header.writeUInt32LE(json.length, 0);
      json.copy(header, 4);
      put(header, 0);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    return true;
  } catch {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // The directory itself is unusable (XDG_CACHE_HOME a file: ENOTDIR): nothing was written.
    }
    return false;
  }
}

/** Removes all but the `keep` most recently used spec files, then the oldest until they take at most `maxBytes`. */
export function pruneSpecs(dir: string, keep: number, maxBytes = MAX_SPEC_BYTES): void {
  for (const f of leastRecentlyUsed(cachedFiles(dir, /^[0-9a-f]{64}\.spec$/), keep, maxBytes)) rmSync(f.path, { force: true });
}

/**
 * Serializes the file's parts one at a time, each handed to `append` (which
 * says where it went) and dropped before the next: a spec of thousands of
 * functions makes parts of tens of MB. The runtime-type table and
 * function-name table that plans share are swapped for markers meanwhile.
 * Null when the spec holds anything else that is not data.
 */
function writeSpecParts(spec: TraceSpec, append: (part: Buffer) => Range): Header['parts'] | null {
  const swaps: { holder: Record<string, unknown>; key: string; value: unknown }[] = [];
  const swap = (holder: Record<string, unknown>, key: string, value: unknown) => {
    swaps.push({ holder, key, value: holder[key] });
    holder[key] = value;
  };
  let types: RuntimeTypes | null = null;
  let names: FunctionNames | null = null;
  const typesMark = { [TYPES_MARK]: true };
  const namesMark = { [NAMES_MARK]: true };
  const seen = new Set<object>();
  // The tables by their own methods (an array's or a typed array's `at` is not one of them).
  const isTypes = (x: object) => typeof (x as RuntimeTypes).lookup === 'function' && typeof (x as RuntimeTypes).table === 'function';
  const isNames = (x: object) => typeof (x as FunctionNames).at === 'function' && !Array.isArray(x) && !ArrayBuffer.isView(x) && Object.keys(x).length === 1;
  // Tens of thousands of objects for thousands of functions: arrays by index, objects by for-in (no key arrays made).
  const visit = (v: unknown): boolean => {
    if (typeof v !== 'object' || v === null) return typeof v !== 'function';
    if (seen.has(v)) return true;
    seen.add(v);
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto === Array.prototype) {
      const list = v as unknown[];
      for (let i = 0; i < list.length; i++) if (!visit(list[i])) return false;
      return true;
    }
    if (ArrayBuffer.isView(v)) return true;
    if (proto === Map.prototype) {
      for (const [k, x] of v as Map<unknown, unknown>) if (!visit(k) || !visit(x)) return false;
      return true;
    }
    if (proto === Set.prototype) {
      for (const x of v as Set<unknown>) if (!visit(x)) return false;
      return true;
    }
    // A class instance would come back a plain object without its methods.
    if (proto !== Object.prototype && proto !== null) return false;
    const holder = v as Record<string, unknown>;
    for (const key in holder) {
      const x = holder[key];
      if (typeof x !== 'object' || x === null) {
        if (typeof x === 'function') return false;
      } else if (isTypes(x)) {
        if (types !== null && types !== x) return false;
        types = x as RuntimeTypes;
        swap(holder, key, typesMark);
      } else if (isNames(x)) {
        if (names !== null && names !== x) return false;
        names = x as FunctionNames;
        swap(holder, key, namesMark);
      } else if (!visit(x)) return false;
    }
    return true;
  };
  const { notes, cSource: _c, ...rest } = spec;
  try {
    if (!visit(rest)) return null;
    // The walk's set holds every object of the spec (36 MB at 3,128 functions). Where garbage can be collected on
    // request (the spec builder runs with --expose-gc: src/cli/specprocess.ts), serializing then reuses its pages
    // instead of growing the heap: the builder's peak went from 329 to 263 MiB (bench/README.md §3g).
    seen.clear();
    (globalThis as { gc?: () => void }).gc?.();
    const plans = plansOf(spec);
    const marks = { types: types ? typesMark : null, names: names ? namesMark : null };
    const bodyRanges: Range[] = [];
    const perChunk = plansPerChunk(plans.length);
    for (let i = 0; i < plans.length; i += perChunk) {
      bodyRanges.push(append(serialize({ args: plans.slice(i, i + perChunk).map((p) => p.args), marks } satisfies PlanBodies)));
    }
    const functionRange = append(serialize([...spec.binary.functions]));
    for (const p of plans) swap(p as unknown as Record<string, unknown>, 'args', null);
    const table = types ? (types as RuntimeTypes).table!() : null;
    const tableRange = table ? append(serialize(table)) : null;
    const stored: StoredSpec = { ...rest, binary: { ...rest.binary, functions: new Map() }, notes: notes.toData() };
    return { spec: append(serialize(stored)), bodies: bodyRanges, functions: functionRange, runtimeTable: tableRange };
  } finally {
    for (const s of swaps.reverse()) s.holder[s.key] = s.value;
  }
}

/**
 * The spec from its stored form, the path as given now. Plans' `args` and
 * the binary's functions are deserialized on first use; the markers become
 * the shared tables again (themselves built on first use).
 */
function restoreSpec(spec: StoredSpec, binaryPath: string, read: { bodies: (chunk: number) => Buffer; functions: () => Buffer; runtimeTable: (() => Buffer) | null }): TraceSpec {
  let functions: Map<string, FunctionSymbol> | null = null;
  const functionMap = () => (functions ??= new Map(deserialize(read.functions()) as [string, FunctionSymbol][]));
  const binary = { ...spec.binary, path: binaryPath };
  Object.defineProperty(binary, 'functions', {
    enumerable: true,
    configurable: true,
    get: () => functionMap(),
    set: (v: Map<string, FunctionSymbol>) => (functions = v),
  });
  const plans = plansOf(spec);
  const perChunk = plansPerChunk(plans.length);
  const tables = sharedTables(read.runtimeTable, functionMap);
  const loaded = new Set<number>();
  const loadChunk = (chunk: number): void => {
    if (loaded.has(chunk)) return;
    const bodies = deserialize(read.bodies(chunk)) as PlanBodies;
    const first = chunk * perChunk;
    if (bodies.args.length !== Math.min(perChunk, plans.length - first)) throw new Error('the kept plan bodies do not match the plans');
    tables.liven(bodies.marks);
    // Plain data properties from here on: decoding reads them for every record.
    bodies.args.forEach((args, k) => Object.defineProperty(plans[first + k]!, 'args', { value: args, writable: true, enumerable: true, configurable: true }));
    loaded.add(chunk);
  };
  plans.forEach((p, i) =>
    Object.defineProperty(p, 'args', {
      enumerable: true,
      configurable: true,
      get: () => {
        loadChunk(Math.floor(i / perChunk));
        return p.args;
      },
      set: (v: FunctionPlan['args']) => {
        loadChunk(Math.floor(i / perChunk));
        p.args = v;
      },
    }),
  );
  return { ...spec, binary, cSource: spec.cUnits.join('\n'), notes: Notes.fromData(spec.notes) };
}

/**
 * The runtime-type and function-name tables of a read spec, each built on
 * first use and shared by every chunk; `liven` makes a chunk's markers
 * answer from them.
 */
function sharedTables(runtimeTable: (() => Buffer) | null, functionMap: () => Map<string, FunctionSymbol>): { liven(marks: PlanBodies['marks']): void } {
  let types: RuntimeTypes | null = null;
  const typeTable = (): RuntimeTypes => {
    if (!types) {
      if (!runtimeTable) throw new Error('a plan reads interfaces but no runtime-type table was kept');
      const t = deserialize(runtimeTable()) as RuntimeTable;
      types = runtimeTypesFromList(t.types, t.itabs);
    }
    return types;
  };
  let names: FunctionNames | null = null;
  const nameTable = (): FunctionNames => (names ??= functionNames(functionMap().values()));
  return {
    liven(marks) {
      if (marks.types) {
        if (!runtimeTable) throw new Error('a plan reads interfaces but no runtime-type table was kept');
        delete marks.types[TYPES_MARK];
        Object.assign(marks.types, {
          lookup: (a: number) => typeTable().lookup(a),
          list: () => typeTable().list(),
          itabType: (a: number) => typeTable().itabType!(a),
          itabsOf: (t: number) => typeTable().itabsOf!(t),
          table: () => typeTable().table!(),
        } satisfies RuntimeTypes);
      }
      if (marks.names) {
        delete marks.names[NAMES_MARK];
        Object.assign(marks.names, { at: (pc: bigint) => nameTable().at(pc) } satisfies FunctionNames);
      }
    },
  };
}

/**
 * Weaver's own code (every module of src/ or dist/, the BPF header, the
 * decoder package): sizes and times, not contents, so ~100 stat calls.
 * A rebuild of weaver rewrites them and makes every kept spec stale.
 */
let fingerprint: string | undefined;

export function codeFingerprint(): string {
  if (fingerprint !== undefined) return fingerprint;
  const here = fileURLToPath(import.meta.url);
  // src/ (or dist/): this module is in its bpf/ folder.
  const root = dirname(dirname(here));
  const files = [...filesUnder(root, extname(here)), join(root, '..', 'bpf', 'weaver.h')];
  const decoder = decoderPackageFile();
  fingerprint = filesFingerprint(decoder ? [...files, decoder] : files, root);
  return fingerprint;
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** JSON with object keys sorted, so equal requests give equal keys. */
function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return `${x}n`;
    if (typeof x !== 'object' || x === null || Array.isArray(x)) return x;
    return Object.fromEntries(Object.keys(x).sort().map((k) => [k, (x as Record<string, unknown>)[k]]));
  });
}
