// Raw binding to libbpf. Use it through src/loader.ts, which validates
// arguments and turns these errors into weaver's typed errors.

/** Opaque handle to one opened BPF object. */
export type ObjectHandle = { readonly __brand: 'bpf-loader-node.ObjectHandle' };

/** What every failed libbpf/kernel call throws. */
export interface NativeBpfError extends Error {
  /** Positive errno, e.g. 1 for EPERM. */
  errno: number;
  /** Errno name, e.g. 'EPERM'. */
  code: string;
  /** The call that failed, e.g. 'bpf_object__load', 'attach_uprobe'. */
  operation: string;
  /** What libbpf printed during the call (includes the verifier log); '' when nothing. */
  log: string;
}

/** Misuse (closed object, wrong order) throws an Error with code 'ERR_BPF_STATE' and `operation`. */

/**
 * Opens an ELF BPF object from memory; `name` is the libbpf object name.
 * `kernelBtfPath` replaces the kernel's BTF for CO-RE relocations
 * (libbpf's btf_custom_path), e.g. a minimal one from bpftool gen min_core_btf.
 */
export function openObject(bytes: Uint8Array, name: string, kernelBtfPath?: string): ObjectHandle;
/** Sets a map's max_entries (a ring buffer's size in bytes); only before load. */
export function setMapMaxEntries(h: ObjectHandle, map: string, entries: number): void;
/** Loads programs (verifier) and creates maps. */
export function load(h: ObjectHandle): void;
export function programNames(h: ObjectHandle): string[];
export function mapNames(h: ObjectHandle): string[];
/**
 * Attaches program `program` as an entry uprobe at `fileOffset` in
 * `binaryPath`, for process `pid` or every process (-1). Returns a link id (>= 1).
 */
export function attachUprobe(h: ObjectHandle, program: string, binaryPath: string, fileOffset: number, pid: number): number;
/** Sets the attach type a program is loaded for (e.g. 48, BPF_TRACE_UPROBE_MULTI); only before load. */
export function setExpectedAttachType(h: ObjectHandle, program: string, type: number): void;
/**
 * Attaches `program` at every `offsets[i]` of `binaryPath` through one
 * uprobe_multi link (Linux 6.6+); `cookies[i]` is what bpf_get_attach_cookie
 * returns at that offset. pid -1 is every process. The program must have
 * been loaded expecting BPF_TRACE_UPROBE_MULTI. Returns a link id.
 */
export function attachUprobeMulti(h: ObjectHandle, program: string, binaryPath: string, offsets: number[], cookies: bigint[], pid: number): number;
export function detach(h: ObjectHandle, linkId: number): void;
export function attachedCount(h: ObjectHandle): number;
/**
 * Starts a poll thread on ring-buffer map `map`. `onBatch` receives many
 * records at once; each is `[u32 length][u32 reserved][length bytes][pad to 8]`.
 * With `batching`, ring samples of kind `batchKind` are split into their
 * records, `flushProgram` runs on every CPU every 10 ms, and `watermark`
 * (CLOCK_MONOTONIC ns) says every record timed before it was delivered.
 */
export function startRingBuffer(
  h: ObjectHandle,
  map: string,
  onBatch: (batch: Buffer, count: number, watermark?: bigint) => void,
  batching?: { batchMap: string; flushProgram: string; batchKind: number },
): void;
/**
 * Starts a poll thread on perf-event-array map `map`, with a per-CPU perf
 * buffer of `pagesPerCpu` pages (a power of two). Batches are laid out as
 * for startRingBuffer; a record's length includes the kernel's padding to 8.
 * `watermark` (CLOCK_MONOTONIC ns): every record timed before it has been
 * delivered (the per-CPU buffers are read all at once every 20 ms).
 * At most one reader (ring or perf) runs per object.
 */
export function startPerfBuffer(
  h: ObjectHandle,
  map: string,
  pagesPerCpu: number,
  onBatch: (batch: Buffer, count: number, watermark: bigint) => void,
): void;
/** Samples the perf buffers had no room for (reported by the kernel), since startPerfBuffer. */
export function lostSamples(h: ObjectHandle): bigint;
/** Positive errno the poll thread stopped on, or 0. */
export function ringBufferError(h: ObjectHandle): number;
/** Bytes of ring-buffer records not yet handed to onBatch (in the kernel or in a batch); -1 when unknown (perf buffers, no reader, closed). */
export function pendingBytes(h: ObjectHandle): number;
/** Element `key` of a per-CPU array of u64, summed over all possible CPUs. */
export function sumPerCpuU64(h: ObjectHandle, map: string, key: number): bigint;
/** Element `key` of an array of u64. */
export function readArrayU64(h: ObjectHandle, map: string, key: number): bigint;
/** Stops the poll thread, destroys every link, closes the object. Idempotent. */
export function close(h: ObjectHandle): void;
/** CLOCK_REALTIME − CLOCK_MONOTONIC in ns: add it to bpf_ktime_get_ns() for epoch time. */
export function monotonicToRealtimeOffsetNs(): bigint;
/** Kernel features weaver chooses between (src/features.ts). */
export type FeatureName = 'ringbuf' | 'run_on_cpu' | 'uprobe_multi' | 'task_btf' | 'bpf_loop';
/**
 * Asks the running kernel whether it has `name`, by creating the map, link
 * or program that needs it (src/probe.c). `errno` is set when the probe
 * itself could not run (EPERM without privileges, …): `supported` is then
 * false and means unknown. Another name throws (code ERR_INVALID_ARG).
 */
export function probeFeature(name: FeatureName): { supported: boolean; errno?: number };
