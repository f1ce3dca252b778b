// --otlp: every call shown is also sent to an OpenTelemetry collector, as a
// span (--returns) or a log record, through the official OTLP/HTTP
// exporters. The exporting runs in weaver, behind a bounded queue
// (src/output/otlp/queue.ts): the traced program never waits for the collector.

import { hostname } from 'node:os';
import { basename } from 'node:path';
import type { InstrumentationScope } from '@opentelemetry/core';
import { detectResources, envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { CallEvent, GoBinaryInfo } from '../../core/index.js';
import { signalUrl, type OtlpConfig } from './config.js';
import { callToLogRecord, callToSpan, SpanIds } from './mapping.js';
import { DEFAULT_QUEUE_LIMITS, ExportQueue, type QueueCounts, type QueueLimits } from './queue.js';

export { resolveOtlpConfig, otlpEndpointProblem, type OtlpConfig } from './config.js';

/** How long the exit waits for the collector to take what is queued; a second signal cuts it. */
export const EXIT_FLUSH_MS = 5000;

/** One request's limit (also the exporters' retry deadline) unless OTEL_EXPORTER_OTLP_TIMEOUT says otherwise. */
const REQUEST_TIMEOUT_MS = 10_000;

export interface OtlpTarget {
  binary: GoBinaryInfo;
  buildId: string | null;
  /** The one traced process, when there is one (launch mode, a single --pid). */
  pid?: number;
  weaverVersion: string;
}

export interface OtlpCounts extends QueueCounts {
  /** Where the calls went. */
  url: string;
  signal: 'traces' | 'logs';
}

/** Resource attributes of a run: weaver's own, then OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME over them. */
export function weaverResource(target: OtlpTarget): Resource {
  const b = target.binary;
  const own = resourceFromAttributes({
    'service.name': basename(b.path),
    'host.name': hostname(),
    'host.arch': b.arch,
    'os.type': 'linux',
    'process.executable.path': b.path,
    'process.executable.name': basename(b.path),
    ...(target.pid !== undefined ? { 'process.pid': target.pid } : {}),
    'process.runtime.name': 'go',
    ...(b.goVersion ? { 'process.runtime.version': b.goVersion } : {}),
    ...(target.buildId ? { 'process.executable.build_id.go': target.buildId } : {}),
    'telemetry.sdk.name': 'weaver',
    'telemetry.sdk.version': target.weaverVersion,
  });
  return own.merge(detectResources({ detectors: [envDetector] }));
}

interface Exporter<T> {
  export(items: T[], done: (result: { code: number; error?: Error }) => void): void;
  shutdown(): Promise<void>;
}

export class OtlpExport {
  private readonly ids = new SpanIds();
  private readonly scope: InstrumentationScope;

  private constructor(
    private readonly exporter: Exporter<unknown>,
    private readonly queue: ExportQueue<unknown>,
    private readonly resource: Resource,
    readonly url: string,
    readonly signal: 'traces' | 'logs',
    weaverVersion: string,
  ) {
    this.scope = { name: 'weaver', version: weaverVersion };
  }

  /** Creates the exporter for spans (`returns`) or log records. */
  static async create(
    config: OtlpConfig,
    target: OtlpTarget,
    options: { returns: boolean; limits?: QueueLimits; onFirstFailure?: (sentence: string) => void },
  ): Promise<OtlpExport> {
    const signal = options.returns ? 'traces' : 'logs';
    const url = signalUrl(config, signal);
    const exporterConfig = { url, timeoutMillis: Number(process.env.OTEL_EXPORTER_OTLP_TIMEOUT) || REQUEST_TIMEOUT_MS, concurrencyLimit: 64 };
    let exporter: Exporter<unknown>;
    if (options.returns) {
      const { OTLPTraceExporter } =
        config.protocol === 'http/json' ? await import('@opentelemetry/exporter-trace-otlp-http') : await import('@opentelemetry/exporter-trace-otlp-proto');
      exporter = new OTLPTraceExporter(exporterConfig) as unknown as Exporter<unknown>;
    } else {
      const { OTLPLogExporter } =
        config.protocol === 'http/json' ? await import('@opentelemetry/exporter-logs-otlp-http') : await import('@opentelemetry/exporter-logs-otlp-proto');
      exporter = new OTLPLogExporter(exporterConfig) as unknown as Exporter<unknown>;
    }
    const send = (items: unknown[]) =>
      new Promise<string | null>((resolve) => {
        exporter.export(items, (result) => resolve(result.code === 0 ? null : (result.error?.message ?? 'the export failed')));
      });
    const failure = options.onFirstFailure ?? (() => {});
    const queue = new ExportQueue<unknown>(send, options.limits ?? DEFAULT_QUEUE_LIMITS, (error) => failure(`OTLP export to ${url} failed (${error}); calls are dropped while it fails`));
    return new OtlpExport(exporter, queue, weaverResource(target), url, signal, target.weaverVersion);
  }

  /** Queues one call; dropped (and counted) when the queue is full. */
  add(ev: CallEvent): void {
    // A full queue drops the call before it costs a span.
    if (!this.queue.hasRoom) {
      this.queue.dropUnbuilt();
      return;
    }
    const mapped = this.signal === 'traces' ? callToSpan(ev, this.ids, this.resource, this.scope) : callToLogRecord(ev, this.resource, this.scope, BigInt(Date.now()) * 1_000_000n);
    this.queue.offer(mapped.item, mapped.bytes);
  }

  /**
   * At exit: sends what is queued, waits at most EXIT_FLUSH_MS (or until
   * `cut`), then closes the exporter. Returns false when requests were left
   * unanswered (they would keep the process alive).
   */
  async finish(cut?: Promise<unknown>, maxMs = EXIT_FLUSH_MS): Promise<boolean> {
    const complete = await this.queue.drain(maxMs, cut);
    if (complete) await this.exporter.shutdown().catch(() => {});
    return complete;
  }

  counts(): OtlpCounts {
    return { ...this.queue.counts, url: this.url, signal: this.signal };
  }

  get exported(): number {
    return this.queue.counts.exported;
  }

  get dropped(): number {
    return this.queue.dropped;
  }
}
