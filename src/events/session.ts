// What is loaded: a TraceSpec's compiled object, opened, loaded, attached
// and streaming records, in libbpf's fixed order (open → size → load →
// attach → ring/perf buffer → poll) with one cleanup path, close().

import { cpus } from 'node:os';
import { RecordDecoder, MalformedRecordError } from './decode.js';
import { BpfError, WeaverError, type CallEvent } from '../core/index.js';
import { BpfObject, forEachRecord, monotonicToRealtimeOffsetNs, PAIR_STATS_MAP, type KernelFeatures, type TraceSpec } from '../bpf/index.js';
import { ReturnPairer, type PairingStats } from './pairing.js';
import { PAIR_STAT, RECORD_KIND } from '../spec/index.js';
import { TimeOrder } from './reorder.js';

export const EVENTS_MAP = 'weaver_events';
export const DROPS_MAP = 'weaver_drops';
/** The ring transport's per-CPU batches and the program that sends them (bpf/weaver.h). */
export const BATCHES_MAP = 'weaver_batches';
export const FLUSH_PROGRAM = 'weaver_flush';

/** How records reach user space; the object must be generated for the same one (CodegenOptions.transport). */
export type Transport = 'ring' | 'perf';

/** bpf/weaver.h builds perf records in a per-CPU map value, which the kernel caps at 32 KiB. */
export const PERF_MAX_RECORD_SIZE = 32768;
const PAGE_SIZE = 4096;
/** Events handed to onEvents at a time (see onBatch). */
export const EVENTS_PER_DELIVERY = 256;

/** `--transport auto`: the ring buffer where the kernel has it (src/bpf/features.ts), per-CPU perf buffers elsewhere. */
export function resolveTransport(choice: Transport | 'auto', features: Pick<KernelFeatures, 'ringbuf'>): Transport {
  if (choice !== 'auto') return choice;
  return features.ringbuf ? 'ring' : 'perf';
}

/**
 * `--attach auto`: one uprobe_multi link for all probes where the kernel
 * has them (attaching and detaching then cost one kernel grace period in
 * all instead of one per probe), one link per probe elsewhere.
 */
export function resolveAttachMode(choice: 'auto' | 'multi' | 'single', features: Pick<KernelFeatures, 'uprobe_multi'>): 'multi' | 'single' {
  if (choice !== 'auto') return choice;
  return features.uprobe_multi ? 'multi' : 'single';
}

/** Pages per CPU for perf buffers sharing `bufferSize` bytes: a power of two, at least 1. */
export function perfPagesPerCpu(bufferSize: number, cpuCount: number): number {
  const pages = Math.floor(bufferSize / PAGE_SIZE / Math.max(1, cpuCount));
  let p = 1;
  while (p * 2 <= pages) p *= 2;
  return p;
}

export interface SessionOptions {
  pid?: number;
  /** Attach once for each of these processes (overrides `pid`); every process when absent or empty. */
  pids?: number[];
  /** Kernel buffer size in bytes (a power of two, a multiple of the page size); perf buffers share it among CPUs. */
  bufferSize: number;
  /** Must match the transport the object was generated for (default ring). */
  transport?: Transport;
  /** Receives decoded events, up to EVENTS_PER_DELIVERY at a time. */
  onEvents(events: CallEvent[]): void;
  /** A record that did not match its plan (counted, reported with -v). */
  onMalformed?(err: MalformedRecordError): void;
  /** Called while attaching, for progress on stderr. */
  onAttach?(attached: number, total: number): void;
  /** With --returns: number each call and link it to the call it runs inside (PairedEvent.callId; for OTLP spans). */
  nesting?: boolean;
  /** Kernel BTF to relocate against instead of the kernel's own (src/bpf/kernelbtf.ts). */
  kernelBtf?: string;
  /** The load failed with `kernelBtf`; it is retried with the kernel's own BTF. */
  onKernelBtfRefused?(path: string, err: BpfError): void;
}

export interface SessionStats {
  events: number;
  /** Records the kernel could not put in the ring or perf buffer. */
  dropped: bigint;
  malformed: number;
  /** With --returns: how entries and returns were paired, in user space and in the kernel. */
  pairing?: PairingStats & { kernel: KernelPairStats };
}

/** The kernel side's pairing counters (src/spec/returns.ts PAIR_STAT). */
export interface KernelPairStats {
  /** Pending calls replaced by a newer one at the same stack depth (their frame was unwound). */
  replaced: bigint;
  /** Returns whose entry was no longer in the bounded map (evicted) or never stored. */
  unmatched: bigint;
  /** Entries the map refused. */
  insertFailed: bigint;
}

export class TraceSession {
  private events = 0;
  private malformed = 0;
  private closed = false;
  /** Link ids, for detach(). */
  private readonly links: number[] = [];
  private pairer: ReturnPairer | null = null;
  /** Hands on what tracing left waiting (held for order, pending calls); run once, by close(). */
  private finish: (() => void) | null = null;

  private constructor(private readonly object: BpfObject) {}

  static start(spec: TraceSpec, objectBytes: Uint8Array, options: SessionOptions): TraceSession {
    const transport = options.transport ?? 'ring';
    if (transport === 'perf') checkPerfRecordSizes(spec);
    const object = loadObject(spec, objectBytes, options, transport);
    const session = new TraceSession(object);
    try {
      const pids: (number | undefined)[] = options.pids?.length ? options.pids : [options.pid];
      const total = spec.probes.length * pids.length;
      let attached = 0;
      for (const pid of pids) {
        if (spec.dispatch) {
          // One link per dispatcher: the kernel adds (and later removes) its probes as a batch.
          for (const d of spec.dispatch) {
            session.links.push(object.attachUprobeMulti({ program: d.program, binaryPath: spec.binary.path, offsets: d.offsets, cookies: d.cookies, pid }));
            attached += d.offsets.length;
            options.onAttach?.(attached, total);
          }
          continue;
        }
        // Return probes come first in spec.probes: a call that begins once its
        // entry probe is attached must find its return probes in place.
        for (const p of spec.probes) {
          session.links.push(object.attachUprobe({ program: p.program, binaryPath: spec.binary.path, fileOffset: p.attachOffset, pid }));
          options.onAttach?.(++attached, total);
        }
      }
      const decoder = new RecordDecoder(
        spec.targets.map((t) => t.plan),
        monotonicToRealtimeOffsetNs(),
      );
      if (spec.returns) {
        session.pairer = new ReturnPairer(
          spec.targets.map((t) => t.plan),
          spec.targets.flatMap((t) => (t.returns ? [t.returns.plan] : [])),
          new Map(spec.targets.flatMap((t) => (t.returns ? [[t.plan.id, t.returns.depthOffset] as [number, number]] : []))),
          monotonicToRealtimeOffsetNs(),
          // Per-CPU batches and perf buffers deliver a goroutine's records out
          // of order when it moves between CPUs; TimeOrder puts them back.
          {
            ordered: true,
            // No RET, or a jump to another function besides its RETs
            // (runtime.memequal): a frame gone without a return may have
            // left that way, not by a panic (src/bpf/returnspec.ts).
            untracedExits: new Set(spec.targets.filter((t) => t.returns?.leavesByJump).map((t) => t.plan.id)),
            nesting: options.nesting,
          },
        );
      }
      const pairer = session.pairer;
      // A native batch holds thousands of records. Handing them on in small
      // chunks lets each chunk's events die young: decoding a whole batch
      // before formatting it kept every event alive through garbage
      // collections and made decode + JSON 2.5× slower (bench/decode.mjs).
      const deliver = (events: CallEvent[]) => {
        session.events += events.length;
        options.onEvents(events);
      };
      let out: CallEvent[] = [];
      const handle = (view: DataView, offset: number, length: number) => {
        try {
          if (pairer) out.push(...pairer.push(view, offset, length));
          else out.push(decoder.decode(view, offset, length));
        } catch (err) {
          if (!(err instanceof MalformedRecordError)) throw err;
          session.malformed++;
          options.onMalformed?.(err);
        }
        if (out.length >= EVENTS_PER_DELIVERY) {
          deliver(out);
          out = [];
        }
      };
      const deliverRest = () => {
        if (!out.length) return;
        const events = out;
        out = [];
        deliver(events);
      };
      // Per-CPU batches and perf buffers come with a watermark (src/events/reorder.ts).
      let order: TimeOrder | null = null;
      const onBatch = (batch: Buffer, _count: number, watermark?: bigint) => {
        const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
        if (watermark === undefined) {
          forEachRecord(batch, (offset, length) => handle(view, offset, length));
        } else {
          const records: [number, number][] = [];
          forEachRecord(batch, (offset, length) => records.push([offset, length]));
          (order ??= new TimeOrder()).push(view, records, watermark, handle);
        }
        deliverRest();
      };
      session.finish = () => {
        // Records still waiting for a later watermark: nothing older can come now.
        order?.drain(handle);
        deliverRest();
        // Calls still pending never returned while traced: show them, flagged.
        const rest = pairer?.flush() ?? [];
        if (rest.length) deliver(rest);
      };
      if (transport === 'ring') {
        object.startRingBuffer(
          EVENTS_MAP,
          onBatch,
          spec.ringBatches ? { batchMap: BATCHES_MAP, flushProgram: FLUSH_PROGRAM, batchKind: RECORD_KIND.batch } : undefined,
        );
      }
      else object.startPerfBuffer(EVENTS_MAP, perfPagesPerCpu(options.bufferSize, cpus().length), onBatch);
    } catch (err) {
      session.close();
      throw err;
    }
    return session;
  }

  /** Bytes of records not yet decoded; undefined when unknown (perf buffers). */
  pendingBytes(): number | undefined {
    return this.closed ? undefined : this.object.pendingBytes();
  }

  stats(): SessionStats {
    let dropped = 0n;
    if (!this.closed) {
      try {
        // The BPF programs count what did not fit; for perf buffers the kernel
        // also reports lost samples (late, and only once there is room again),
        // so that count can confirm the programs' own but never add to it.
        const counted = this.object.sumPerCpuCounter(DROPS_MAP, 0);
        const reported = this.object.lostSamples();
        dropped = counted > reported ? counted : reported;
      } catch {
        // The map is gone only if the object is closed; report what we have.
      }
    }
    const stats: SessionStats = { events: this.events, dropped, malformed: this.malformed };
    if (this.pairer) stats.pairing = { ...this.pairer.stats, kernel: this.kernelPairStats() };
    return stats;
  }

  private kernelPairStats(): KernelPairStats {
    const read = (key: number) => {
      if (this.closed) return 0n;
      try {
        return this.object.sumPerCpuCounter(PAIR_STATS_MAP, key);
      } catch {
        return 0n;
      }
    };
    return { replaced: read(PAIR_STAT.replaced), unmatched: read(PAIR_STAT.unmatched), insertFailed: read(PAIR_STAT.insertFailed) };
  }

  /**
   * Removes every probe but keeps reading: once this returns no new record
   * can be written, so waiting for pendingBytes() to reach 0 reads every
   * call the probes saw, and the counts add up exactly.
   */
  detach(): void {
    for (const link of this.links.splice(0)) {
      try {
        this.object.detach(link);
      } catch {
        // close() removes whatever is left.
      }
    }
  }

  /**
   * Hands on what tracing left waiting: records held for time order, then
   * calls still pending (flagged as running at exit). Called after detach()
   * and the last read, before the final stats(), so the counts include what
   * it delivers; close() runs it again for anything read since (it hands on
   * each record and call once).
   */
  drain(): void {
    if (!this.closed) this.finish?.();
  }

  /** Detaches every probe and frees everything; safe to call more than once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.object.close();
    this.finish?.();
  }
}

/**
 * The object opened and loaded, its event map sized and its dispatchers
 * prepared. A kept kernel BTF that fails the load (another kernel, a
 * damaged file) is reported and the load done again with the kernel's own.
 */
function loadObject(spec: TraceSpec, objectBytes: Uint8Array, options: SessionOptions, transport: Transport): BpfObject {
  const load = (kernelBtf?: string): BpfObject => {
    const object = BpfObject.open(objectBytes, 'weaver', kernelBtf ? { kernelBtf } : {});
    try {
      // A perf event array has one entry per CPU, which libbpf sets itself.
      if (transport === 'ring') object.setMapMaxEntries(EVENTS_MAP, options.bufferSize);
      for (const d of spec.dispatch ?? []) object.prepareUprobeMulti(d.program);
      object.load();
      return object;
    } catch (err) {
      object.close();
      throw err;
    }
  };
  if (!options.kernelBtf) return load();
  try {
    return load(options.kernelBtf);
  } catch (err) {
    if (!(err instanceof BpfError) || err.operation !== 'bpf_object__load') throw err;
    options.onKernelBtfRefused?.(options.kernelBtf, err);
    return load();
  }
}

function checkPerfRecordSizes(spec: TraceSpec): void {
  const big = spec.targets.find((t) => t.plan.recordSize > PERF_MAX_RECORD_SIZE);
  if (big) {
    throw new WeaverError(
      `a call of ${big.plan.name} takes ${big.plan.recordSize} bytes, more than the ${PERF_MAX_RECORD_SIZE} one record can hold with --transport perf`,
      { hint: `lower --max-event-size to ${PERF_MAX_RECORD_SIZE} or less, or use --transport ring on Linux 5.8 and later` },
    );
  }
}
