// The one place that talks to the native libbpf binding (bpf-loader-node).
// It validates arguments, enforces libbpf's order (open → size maps → load
// → attach → ring buffer → poll → close) and turns native failures into
// BpfError / EnvironmentError / InputError with a next step.

import { accessSync, constants as fsConstants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Native from 'bpf-loader-node';
import { BpfError, EnvironmentError, InputError } from '../core/index.js';

const SUDO_HINT = 'weaver needs root or CAP_BPF and CAP_PERFMON; run it with sudo';
const EINVAL = 22;

type NativeModule = typeof Native;
let nativeModule: NativeModule | undefined;

/** Loads the addon on first use, so commands that need no BPF work without it. */
function native(): NativeModule {
  if (nativeModule) return nativeModule;
  try {
    nativeModule = createRequire(import.meta.url)('bpf-loader-node') as NativeModule;
    return nativeModule;
  } catch (err) {
    const text = String((err as Error)?.message ?? err);
    if (/libbpf\.so|libelf\.so/.test(text)) {
      throw new EnvironmentError('libbpf is not installed, so the BPF loader cannot start', {
        hint: 'install it with apt-get install libbpf1 libelf1, then run npm run setup',
        cause: err,
      });
    }
    throw new EnvironmentError('the native BPF loader (bpf-loader-node) is not built', {
      hint: 'run npm run setup',
      cause: err,
    });
  }
}

/** A native failure: errno/code/operation/log set by native/src/errors.c. */
interface NativeFailure extends Error {
  errno?: number;
  code?: string;
  operation?: string;
  log?: string;
}

/** BpfError that also carries what libbpf printed (verifier log included), for -v. */
export class BpfCallError extends BpfError {
  constructor(
    message: string,
    operation: string,
    errno: number,
    readonly code: string,
    readonly log: string,
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(message, operation, errno, options);
  }
}

/** The part of a libbpf log between BEGIN/END PROG LOAD LOG: the verifier's own words. */
export function verifierLog(log: string): string {
  const m = /-- BEGIN PROG LOAD LOG --\n([\s\S]*?)-- END PROG LOAD LOG --/.exec(log);
  return m ? m[1] : '';
}

/** The verifier's last statements, without the instruction-count summary lines. */
export function verifierVerdict(log: string, lines = 2): string[] {
  return verifierLog(log)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^(processed \d+ insns|verification time|stack depth)/.test(l))
    .slice(-lines);
}

/** The libbpf reason from a native message `op failed: reason[: detail]`. */
function reasonOf(err: NativeFailure): string {
  const m = /failed: (.*)$/.exec(err.message);
  return m ? m[1] : err.message;
}

/** The lower-level error for `cause`: the native message followed by the libbpf log. */
function causeOf(err: NativeFailure): Error {
  if (!err.log) return err;
  const cause = new Error(`${err.message}\n--- libbpf log ---\n${err.log.trimEnd()}`);
  return Object.assign(cause, { errno: err.errno, code: err.code, operation: err.operation, log: err.log });
}

function isPermission(err: NativeFailure): boolean {
  return err.code === 'EPERM' || err.code === 'EACCES';
}

/** Turns anything the binding threw into one typed error sentence. `what` says what we were doing. */
function convert(err: unknown, what: string): Error {
  if (!(err instanceof Error)) return new BpfError(`${what}: ${String(err)}`, 'unknown', EINVAL);
  const e = err as NativeFailure;
  if (e.code === 'ERR_BPF_STATE' || e.code === 'ERR_INVALID_ARG') {
    return new BpfError(`${what}: ${e.message}`, e.operation ?? 'unknown', EINVAL, { cause: e });
  }
  if (typeof e.errno !== 'number') return new BpfError(`${what}: ${e.message}`, 'unknown', EINVAL, { cause: e });
  const operation = e.operation ?? 'unknown';
  const log = e.log ?? '';
  const verdict = verifierVerdict(log);
  const message = `${what}: ${reasonOf(e)} (${e.code})`;
  if (verdict.length > 0) {
    return new BpfCallError(`${what}: the kernel verifier rejected a program (${e.code})`, operation, e.errno, e.code ?? '', log, {
      hint: `the verifier said: ${verdict.join(' / ')} (run with -v for the full log)`,
      cause: causeOf(e),
    });
  }
  if (isPermission(e) && operation !== 'attach_uprobe') {
    return new EnvironmentError(`${what}: not permitted to use BPF (${e.code})`, { hint: SUDO_HINT, cause: causeOf(e) });
  }
  return new BpfCallError(message, operation, e.errno, e.code ?? '', log, { cause: causeOf(e) });
}

/** Runs a binding call, converting its errors. */
function call<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw convert(err, what);
  }
}

function invalid(what: string, operation: string): BpfError {
  return new BpfError(what, operation, EINVAL);
}

function checkName(value: unknown, what: string, operation: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(`${what} must be a non-empty string`, operation);
}

function checkUint(value: unknown, what: string, operation: string, max: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw invalid(`${what} must be an integer from 0 to ${max}, got ${String(value)}`, operation);
  }
}

export interface UprobeTarget {
  /** Name of the BPF program (its C function name). */
  program: string;
  binaryPath: string;
  /** Where the probed instruction is in the file (not its virtual address). */
  fileOffset: number;
  /** Only this process; all processes when absent. */
  pid?: number;
}

type Stage = 'opened' | 'loaded' | 'closed';

/** One BPF object: open → setMapMaxEntries → load → attach/ring buffer → close. */
/** enum bpf_attach_type BPF_TRACE_UPROBE_MULTI (Linux 6.6). */
export const BPF_TRACE_UPROBE_MULTI = 48;

export class BpfObject {
  private stage: Stage = 'opened';
  private programs: string[] | undefined;
  private maps: string[] | undefined;
  private readonly links = new Set<number>();
  private readerRunning = false;

  private constructor(
    private readonly handle: Native.ObjectHandle,
    readonly name: string,
  ) {}

  /**
   * Parses an ELF BPF object (clang -target bpf output) from memory.
   * `kernelBtf`: a file of kernel BTF to relocate against instead of the
   * kernel's own (src/bpf/kernelbtf.ts).
   */
  static open(objectBytes: Uint8Array, name: string, options: { kernelBtf?: string } = {}): BpfObject {
    const op = 'bpf_object__open_mem';
    if (!(objectBytes instanceof Uint8Array) || objectBytes.length === 0) {
      throw invalid('the BPF object is empty or not bytes', op);
    }
    checkName(name, 'the BPF object name', op);
    if (options.kernelBtf !== undefined && (typeof options.kernelBtf !== 'string' || options.kernelBtf === '')) {
      throw invalid('the kernel BTF path must be a non-empty string', op);
    }
    const lib = native();
    try {
      return new BpfObject(options.kernelBtf === undefined ? lib.openObject(objectBytes, name) : lib.openObject(objectBytes, name, options.kernelBtf), name);
    } catch (err) {
      const e = err as NativeFailure;
      if (e.code === 'LIBBPF_ERRNO__FORMAT' || e.code === 'LIBBPF_ERRNO__LIBELF') {
        throw new BpfCallError(
          `the BPF object ${name} is not a valid BPF ELF file (${e.code})`,
          op,
          e.errno ?? EINVAL,
          e.code,
          e.log ?? '',
          { hint: 'it must be the output of clang -target bpf -c', cause: causeOf(e) },
        );
      }
      throw convert(err, `could not open the BPF object ${name}`);
    }
  }

  private requireStage(stage: Stage, operation: string, doing: string): void {
    if (this.stage === stage) return;
    const why =
      this.stage === 'closed'
        ? 'the BPF object is closed'
        : this.stage === 'loaded'
          ? 'the BPF object is already loaded'
          : 'the BPF object is not loaded yet';
    throw new BpfError(`cannot ${doing}: ${why}`, operation, EINVAL);
  }

  /** Sizes a map (a ring buffer's max_entries is its size in bytes); only before load. */
  setMapMaxEntries(map: string, entries: number): void {
    const op = 'bpf_map__set_max_entries';
    this.requireStage('opened', op, `resize map ${map}`);
    this.checkMap(map, op);
    if (!Number.isSafeInteger(entries) || entries < 1 || entries > 0xffffffff) {
      throw invalid(`the size of map ${map} must be an integer from 1 to ${0xffffffff}, got ${entries}`, op);
    }
    call(`could not resize map ${map}`, () => native().setMapMaxEntries(this.handle, map, entries));
  }

  /** Creates the maps and loads every program; the verifier runs here. */
  load(): void {
    this.requireStage('opened', 'bpf_object__load', 'load');
    call(`could not load the BPF object ${this.name}`, () => native().load(this.handle));
    this.stage = 'loaded';
  }

  programNames(): string[] {
    if (this.stage === 'closed') throw new BpfError('cannot list programs: the BPF object is closed', 'programNames', EINVAL);
    this.programs ??= call('could not list programs', () => native().programNames(this.handle));
    return [...this.programs];
  }

  mapNames(): string[] {
    if (this.stage === 'closed') throw new BpfError('cannot list maps: the BPF object is closed', 'mapNames', EINVAL);
    this.maps ??= call('could not list maps', () => native().mapNames(this.handle));
    return [...this.maps];
  }

  private checkMap(map: unknown, operation: string): asserts map is string {
    checkName(map, 'the map name', operation);
    const maps = this.mapNames();
    if (!maps.includes(map)) throw invalid(`the BPF object has no map ${map}; it has ${maps.join(', ') || 'none'}`, operation);
  }

  /** Attaches an entry uprobe (never a return probe); returns the link id for detach(). */
  attachUprobe(t: UprobeTarget): number {
    const op = 'attach_uprobe';
    this.requireStage('loaded', op, `attach ${t?.program}`);
    checkName(t.program, 'the program name', op);
    checkName(t.binaryPath, 'the binary path', op);
    checkUint(t.fileOffset, 'the file offset', op, Number.MAX_SAFE_INTEGER);
    this.checkAttachTarget(op, t.program, t.binaryPath, t.pid, 'a uprobe');
    const where = `${t.binaryPath} at file offset 0x${t.fileOffset.toString(16)}`;
    let link: number;
    try {
      link = native().attachUprobe(this.handle, t.program, t.binaryPath, t.fileOffset, t.pid ?? -1);
    } catch (err) {
      throw convertAttach(err, `could not attach ${t.program} to ${where}`, t.pid);
    }
    this.links.add(link);
    return link;
  }

  /** What every attach checks before asking the kernel: the pid, the program, the binary, the process. */
  private checkAttachTarget(op: string, program: string, binaryPath: string, pid: number | undefined, what: string): void {
    if (pid !== undefined && (!Number.isSafeInteger(pid) || pid < 1 || pid > 0x7fffffff)) {
      throw invalid(`the pid must be a positive integer, got ${pid}`, op);
    }
    const programs = this.programNames();
    if (!programs.includes(program)) {
      throw invalid(`the BPF object has no program ${program}; it has ${programs.join(', ') || 'none'}`, op);
    }
    try {
      accessSync(binaryPath, fsConstants.R_OK);
    } catch (err) {
      throw new InputError(`cannot read ${binaryPath} to attach ${what}`, { cause: err });
    }
    if (pid !== undefined && !processExists(pid)) {
      throw new InputError(`no process has pid ${pid}`, { hint: 'check the pid with ps' });
    }
  }

  /** Loads `program` for a uprobe_multi link (call before load). */
  prepareUprobeMulti(program: string): void {
    const op = 'bpf_program__set_expected_attach_type';
    this.requireStage('opened', op, `prepare ${program} for a multi-probe link`);
    checkName(program, 'the program name', op);
    call(`could not prepare ${program} for a multi-probe link`, () => native().setExpectedAttachType(this.handle, program, BPF_TRACE_UPROBE_MULTI));
  }

  /**
   * Attaches one program at many offsets through a single uprobe_multi link
   * (Linux 6.6+): the kernel adds and removes them as a batch. `cookies[i]`
   * tells the program which probe fired. Returns the link id for detach().
   */
  attachUprobeMulti(t: { program: string; binaryPath: string; offsets: number[]; cookies: bigint[]; pid?: number }): number {
    const op = 'attach_uprobe_multi';
    this.requireStage('loaded', op, `attach ${t?.program}`);
    checkName(t.program, 'the program name', op);
    checkName(t.binaryPath, 'the binary path', op);
    if (!Array.isArray(t.offsets) || t.offsets.length === 0 || t.offsets.length !== t.cookies?.length) {
      throw invalid('a multi-probe link needs as many cookies as offsets, and at least one of each', op);
    }
    t.offsets.forEach((o) => checkUint(o, 'a file offset', op, Number.MAX_SAFE_INTEGER));
    t.cookies.forEach((c) => {
      if (typeof c !== 'bigint' || c < 0n || c >= 1n << 64n) throw invalid(`a cookie must be a BigInt from 0 to 2^64-1, got ${String(c)}`, op);
    });
    this.checkAttachTarget(op, t.program, t.binaryPath, t.pid, 'uprobes');
    let link: number;
    try {
      link = native().attachUprobeMulti(this.handle, t.program, t.binaryPath, t.offsets, t.cookies, t.pid ?? -1);
    } catch (err) {
      throw convertAttach(err, `could not attach ${t.offsets.length} probes of ${t.program} to ${t.binaryPath}`, t.pid);
    }
    this.links.add(link);
    return link;
  }

  detach(linkId: number): void {
    this.requireStage('loaded', 'bpf_link__destroy', `detach link ${linkId}`);
    if (!this.links.has(linkId)) throw invalid(`cannot detach link ${linkId}: no probe is attached with that link id`, 'bpf_link__destroy');
    this.links.delete(linkId);
    call(`could not detach link ${linkId}`, () => native().detach(this.handle, linkId));
  }

  /** Probes currently attached (0 once closed). */
  get attachedCount(): number {
    return native().attachedCount(this.handle);
  }

  /**
   * Starts reading ring-buffer map `map` on a background thread. `onBatch`
   * gets many records per call; walk them with forEachRecord. The Buffer
   * owns its bytes (no copy was made) and may be kept. The poll thread keeps
   * the process alive until close(). An exception thrown by `onBatch`
   * becomes an uncaught exception.
   *
   * With `batching`, the BPF programs write records in per-CPU batches
   * (bpf/weaver.h): the reader splits ring samples of kind `batchKind`
   * into their records, runs `flushProgram` on every CPU every few
   * milliseconds, and passes `watermark` (CLOCK_MONOTONIC ns): every record
   * timed before it has been delivered, in this batch or an earlier one.
   * A batch may then hold no records, only a newer watermark.
   */
  startRingBuffer(
    map: string,
    onBatch: (batch: Buffer, count: number, watermark?: bigint) => void,
    batching?: RingBatching,
  ): void {
    const op = 'ring_buffer__new';
    this.requireStage('loaded', op, `read ring buffer ${map}`);
    this.checkMap(map, op);
    if (typeof onBatch !== 'function') throw invalid('the batch callback must be a function', op);
    if (this.readerRunning) throw invalid('a reader is already running for this object', op);
    if (batching) {
      this.checkMap(batching.batchMap, op);
      checkUint(batching.batchKind, 'a batch kind', op, 0xffffffff);
    }
    call(`could not read ring buffer ${map}`, () => native().startRingBuffer(this.handle, map, onBatch, batching));
    this.readerRunning = true;
  }

  /**
   * Like startRingBuffer, for a BPF_MAP_TYPE_PERF_EVENT_ARRAY map: one perf
   * buffer of `pagesPerCpu` pages (a power of two) per CPU. Records the
   * kernel had no room for are counted by lostSamples(). Every batch comes
   * with a watermark, as with per-CPU batches: the CPUs' buffers are read
   * one after another, so records come out of time order.
   */
  startPerfBuffer(map: string, pagesPerCpu: number, onBatch: (batch: Buffer, count: number, watermark: bigint) => void): void {
    const op = 'perf_buffer__new';
    this.requireStage('loaded', op, `read perf buffer ${map}`);
    this.checkMap(map, op);
    if (!Number.isSafeInteger(pagesPerCpu) || pagesPerCpu < 1 || pagesPerCpu > 1 << 20 || (pagesPerCpu & (pagesPerCpu - 1)) !== 0) {
      throw invalid(`the perf buffer's pages per CPU must be a power of two from 1 to ${1 << 20}, got ${pagesPerCpu}`, op);
    }
    if (typeof onBatch !== 'function') throw invalid('the batch callback must be a function', op);
    if (this.readerRunning) throw invalid('a reader is already running for this object', op);
    call(`could not read perf buffer ${map}`, () => native().startPerfBuffer(this.handle, map, pagesPerCpu, onBatch));
    this.readerRunning = true;
  }

  /** Perf samples lost because a CPU's perf buffer was full (0 for a ring buffer). */
  lostSamples(): bigint {
    if (this.stage === 'closed') return 0n;
    return native().lostSamples(this.handle);
  }

  /**
   * Bytes of records the BPF programs wrote that the batch callback has not
   * received yet; undefined when that cannot be known (perf buffers, no
   * reader, closed).
   */
  pendingBytes(): number | undefined {
    if (this.stage === 'closed') return undefined;
    const n = native().pendingBytes(this.handle);
    return n < 0 ? undefined : n;
  }

  /** Why the record reader (ring or perf buffer) stopped on its own, if it did. */
  ringBufferError(): BpfError | undefined {
    if (this.stage === 'closed') return undefined;
    const errno = native().ringBufferError(this.handle);
    return errno ? new BpfError(`reading the events stopped: errno ${errno}`, 'ring_buffer__poll', errno) : undefined;
  }

  /** Element `key` of a per-CPU array of u64, summed over all CPUs (e.g. a drop counter). */
  sumPerCpuCounter(map: string, key: number): bigint {
    const op = 'bpf_map__lookup_elem';
    this.requireStage('loaded', op, `read map ${map}`);
    this.checkMap(map, op);
    checkUint(key, 'the key', op, 0xffffffff);
    return call(`could not read map ${map}`, () => native().sumPerCpuU64(this.handle, map, key));
  }

  /** Element `key` of an array of u64. */
  readArrayCounter(map: string, key: number): bigint {
    const op = 'bpf_map__lookup_elem';
    this.requireStage('loaded', op, `read map ${map}`);
    this.checkMap(map, op);
    checkUint(key, 'the key', op, 0xffffffff);
    return call(`could not read map ${map}`, () => native().readArrayU64(this.handle, map, key));
  }

  /** Stops the reader, detaches every probe, frees the object. Safe to call again. */
  close(): void {
    if (this.stage === 'closed') return;
    this.stage = 'closed';
    this.links.clear();
    native().close(this.handle);
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function convertAttach(err: unknown, what: string, pid: number | undefined): Error {
  const e = err as NativeFailure;
  if (e?.code === 'EPERM' || e?.code === 'EACCES') {
    return new EnvironmentError(`${what}: not permitted (${e.code})`, { hint: SUDO_HINT, cause: causeOf(e) });
  }
  if (e?.code === 'ESRCH') {
    return new InputError(`${what}: process ${pid} has exited`, { cause: causeOf(e) });
  }
  if (e?.code === 'ENOENT' && !uprobeSupportVisible()) {
    return new EnvironmentError(`${what}: the kernel offers no uprobe interface (${e.code})`, {
      hint: 'mount tracefs with: mount -t tracefs nodev /sys/kernel/tracing (and check that the kernel has CONFIG_UPROBE_EVENTS)',
      cause: causeOf(e),
    });
  }
  if (e?.code === 'EINVAL') {
    const converted = convert(err, what);
    return new BpfCallError(converted.message, 'attach_uprobe', e.errno ?? EINVAL, e.code, e.log ?? '', {
      hint: 'the file offset must be inside the binary, at an instruction boundary',
      cause: causeOf(e),
    });
  }
  return convert(err, what);
}

/** libbpf attaches through the uprobe PMU, or through tracefs's uprobe_events as a fallback. */
function uprobeSupportVisible(): boolean {
  return (
    existsSync('/sys/bus/event_source/devices/uprobe/type') ||
    existsSync('/sys/kernel/tracing/uprobe_events') ||
    existsSync('/sys/kernel/debug/tracing/uprobe_events')
  );
}

/** Record layout inside a batch: [u32 length][u32 reserved][length bytes][pad to 8]. */
export const RECORD_HEADER_SIZE = 8;

/** Per-CPU record batches written by the BPF programs: see BpfObject.startRingBuffer. */
export interface RingBatching {
  /** The BPF_MAP_TYPE_PERCPU_ARRAY holding each CPU's batch. */
  batchMap: string;
  /** A raw tracepoint program that sends the batch of the CPU it runs on. */
  flushProgram: string;
  /** The first word of a ring-buffer sample that is a batch. */
  batchKind: number;
}

/** Calls `fn(offset, length)` for each record's bytes in a batch from startRingBuffer. */
export function forEachRecord(batch: Buffer, fn: (offset: number, length: number) => void): void {
  let offset = 0;
  while (offset < batch.length) {
    if (offset + RECORD_HEADER_SIZE > batch.length) {
      throw new BpfError(`a ring-buffer batch ends inside a record header at byte ${offset}`, 'ring_buffer__poll', EINVAL);
    }
    const length = batch.readUInt32LE(offset);
    const start = offset + RECORD_HEADER_SIZE;
    if (start + length > batch.length) {
      throw new BpfError(`a ring-buffer record at byte ${offset} claims ${length} bytes past the batch end`, 'ring_buffer__poll', EINVAL);
    }
    fn(start, length);
    offset = start + ((length + 7) & ~7);
  }
}

/** CLOCK_REALTIME − CLOCK_MONOTONIC in ns: bpf_ktime_get_ns() + this = nanoseconds since the epoch. */
export function monotonicToRealtimeOffsetNs(): bigint {
  return native().monotonicToRealtimeOffsetNs();
}

/** Asks the kernel whether it has a feature (src/bpf/features.ts decides what to do with the answer). */
export function probeKernelFeature(name: Native.FeatureName): { supported: boolean; errno?: number } {
  return native().probeFeature(name);
}
