// What is loaded: a TraceSpec's compiled object, opened, loaded, attached
// and streaming records, in libbpf's fixed order (open → size → load →
// attach → ring buffer → poll) with one cleanup path, close().

import { RecordDecoder, MalformedRecordError } from './decode.js';
import { BpfObject, forEachRecord, monotonicToRealtimeOffsetNs } from './loader.js';
import type { CallEvent } from './model.js';
import type { TraceSpec } from './tracespec.js';

export const EVENTS_MAP = 'weaver_events';
export const DROPS_MAP = 'weaver_drops';

export interface SessionOptions {
  pid?: number;
  /** Ring buffer size in bytes (a power of two, a multiple of the page size). */
  bufferSize: number;
  /** Receives decoded events, a batch at a time. */
  onEvents(events: CallEvent[]): void;
  /** A record that did not match its plan (counted, reported with -v). */
  onMalformed?(err: MalformedRecordError): void;
  /** Called while attaching, for progress on stderr. */
  onAttach?(attached: number, total: number): void;
}

export interface SessionStats {
  events: number;
  /** Records the kernel could not put in the ring buffer. */
  dropped: bigint;
  malformed: number;
}

export class TraceSession {
  private events = 0;
  private malformed = 0;
  private closed = false;

  private constructor(private readonly object: BpfObject) {}

  static start(spec: TraceSpec, objectBytes: Uint8Array, options: SessionOptions): TraceSession {
    const object = BpfObject.open(objectBytes, 'weaver');
    const session = new TraceSession(object);
    try {
      object.setMapMaxEntries(EVENTS_MAP, options.bufferSize);
      object.load();
      const total = spec.targets.length;
      spec.targets.forEach((t, i) => {
        object.attachUprobe({ program: t.program, binaryPath: spec.binary.path, fileOffset: t.attachOffset, pid: options.pid });
        options.onAttach?.(i + 1, total);
      });
      const decoder = new RecordDecoder(
        spec.targets.map((t) => t.plan),
        monotonicToRealtimeOffsetNs(),
      );
      object.startRingBuffer(EVENTS_MAP, (batch) => {
        const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
        const out: CallEvent[] = [];
        forEachRecord(batch, (offset, length) => {
          try {
            out.push(decoder.decode(view, offset, length));
          } catch (err) {
            if (!(err instanceof MalformedRecordError)) throw err;
            session.malformed++;
            options.onMalformed?.(err);
          }
        });
        session.events += out.length;
        if (out.length) options.onEvents(out);
      });
    } catch (err) {
      session.close();
      throw err;
    }
    return session;
  }

  stats(): SessionStats {
    let dropped = 0n;
    if (!this.closed) {
      try {
        dropped = this.object.sumPerCpuCounter(DROPS_MAP, 0);
      } catch {
        // The map is gone only if the object is closed; report what we have.
      }
    }
    return { events: this.events, dropped, malformed: this.malformed };
  }

  /** Detaches every probe and frees everything; safe to call more than once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.object.close();
  }
}
