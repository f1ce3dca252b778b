// --otlp without a collector: the configuration from flag and environment,
// the mapping of calls to spans and log records (src/output/otlp/mapping.ts),
// the bounded queue and its counts (src/output/otlp/queue.ts), and the summary.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SpanStatusCode } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { resolveOtlpConfig, signalUrl } from '../../src/output/otlp/config.js';
import { attributeValue, callStatus, callToLogRecord, callToSpan, SpanIds } from '../../src/output/otlp/mapping.js';
import { ExportQueue, type QueueLimits } from '../../src/output/otlp/queue.js';
import { weaverResource } from '../../src/output/otlp/index.js';
import { formatOtlp, formatSummary, summaryRecord, type SummaryFacts } from '../../src/output/summary.js';
import type { CallEvent, Value } from '../../src/core/model.js';
import type { PairedEvent } from '../../src/events/pairing.js';
import { UsageError } from '../../src/core/errors.js';
import { runWeaver } from '../helpers/weaver.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
const str = (s: string, extra: Partial<Extract<Value, { kind: 'string' }>> = {}): Value => ({ kind: 'string', bytes: utf8(s), len: s.length, truncated: false, ...extra });

describe('configuration', () => {
  it('the flag, else OTEL_EXPORTER_OTLP_ENDPOINT, else localhost:4318; http/protobuf unless the environment says http/json', () => {
    expect(resolveOtlpConfig('http://c:4318/', {})).toEqual({ endpoint: 'http://c:4318', protocol: 'http/protobuf' });
    expect(resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example:443' })).toEqual({ endpoint: 'https://otel.example:443', protocol: 'http/protobuf' });
    expect(resolveOtlpConfig(true, {})).toEqual({ endpoint: 'http://localhost:4318', protocol: 'http/protobuf' });
    expect(resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }).protocol).toBe('http/json');
    expect(signalUrl(resolveOtlpConfig('http://c:4318/base', {}), 'traces')).toBe('http://c:4318/base/v1/traces');
  });

  it('gRPC, unknown protocols and non-HTTP URLs are refused with one sentence', () => {
    const refusal = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        expect(err).toBeInstanceOf(UsageError);
        return (err as UsageError).message;
      }
      throw new Error('no error');
    };
    expect(refusal(() => resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }))).toBe('weaver sends OTLP over HTTP, not gRPC');
    expect(refusal(() => resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_PROTOCOL: 'thrift' }))).toBe('OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or http/json, not "thrift"');
    expect(refusal(() => resolveOtlpConfig('./server', {}))).toBe(
      '--otlp takes the collector\'s URL, such as http://localhost:4318, not "./server" (a program to trace goes before --otlp or after --)',
    );
    expect(refusal(() => resolveOtlpConfig('ftp://c', {}))).toBe('--otlp sends over HTTP: give an http:// or https:// URL, not "ftp://c"');
    expect(refusal(() => resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_ENDPOINT: 'c:4318' }))).toBe('OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL, not "c:4318"');
  });
});

describe('the CLI', () => {
  it('a program where the endpoint goes, and gRPC, are refused before anything is read: one sentence, exit 2', async () => {
    const eaten = await runWeaver(['--otlp', './server', '-f', 'funcs.txt']);
    expect(eaten.code).toBe(2);
    expect(eaten.stderr).toBe(
      'weaver: option \'--otlp [endpoint]\' argument \'./server\' is invalid. --otlp takes the collector\'s URL, such as http://localhost:4318, not "./server" (a program to trace goes before --otlp or after --)\n',
    );
    const grpc = await runWeaver(['./missing', '-f', 'funcs.txt', '--otlp'], { env: { ...process.env, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' } });
    expect(grpc.code).toBe(2);
    expect(grpc.stderr.split('\n')[0]).toBe('weaver: weaver sends OTLP over HTTP, not gRPC');
  });
});

describe('attribute values follow the JSON output', () => {
  it.each<[string, Value, unknown]>([
    ['bool', { kind: 'bool', value: true }, true],
    ['int', { kind: 'int', value: -42n }, -42],
    ['int beyond 2^53', { kind: 'int', value: 2n ** 63n - 1n }, '9223372036854775807'],
    ['float32 0.1', { kind: 'float', value: Math.fround(0.1), bits: 32 }, 0.1],
    ['NaN', { kind: 'float', value: NaN, bits: 64 }, 'NaN'],
    ['string', str('héllo'), 'héllo'],
    ['truncated string', str('abc', { len: 10, truncated: true }), '{"value":"abc","len":10,"truncated":true}'],
    ['nil pointer', { kind: 'pointer', address: 0n }, 'null'],
    ['struct', { kind: 'struct', fields: [{ name: 'A', value: { kind: 'int', value: 1n } }, { name: 'B', value: str('x') }] }, '{"A":1,"B":"x"}'],
    ['slice', { kind: 'slice', address: 0xc000n, len: 2n, cap: 4n, elems: [{ kind: 'int', value: 1n }, { kind: 'int', value: 2n }], truncated: false }, '{"value":[1,2],"len":2,"cap":4}'],
  ])('%s', (_name, value, expected) => {
    expect(attributeValue(value)).toEqual(expected);
  });
});

const errorValue = (message: string): Value => ({
  kind: 'interface',
  typeAddress: 0x4a0000n,
  dataAddress: 0xc0001n,
  typeName: '*errors.errorString',
  value: { kind: 'pointer', address: 0xc0001n, target: { kind: 'struct', fields: [{ name: 's', value: str(message) }] } },
});

function call(extra: Partial<PairedEvent> = {}): PairedEvent {
  return {
    ts: 1_700_000_000_123_456_789n,
    function: 'main.lookup',
    pid: 10,
    tid: 11,
    ppid: 1,
    comm: 'server',
    goid: 7n,
    args: [{ name: 'key', type: 'string', value: str('/a') }],
    returns: [
      { name: '~r0', type: 'int', value: { kind: 'int', value: 3n } },
      { name: '~r1', type: 'error', value: { kind: 'interface', typeAddress: 0n, dataAddress: 0n } },
    ],
    durationNs: 2_500_000_000n,
    ...extra,
  };
}

const resource = resourceFromAttributes({ 'service.name': 's' });
const scope = { name: 'weaver', version: '0.1.0' };
const KEY = Buffer.from('0123456789abcdef0011223344556677', 'hex');

describe('spans', () => {
  it('a call becomes a span: name, times, attributes, ids from the call numbers', () => {
    const ids = new SpanIds(KEY);
    const { item: span, bytes } = callToSpan(call({ callId: 5, parentCallId: 2, rootCallId: 1 }), ids, resource, scope);
    expect(span.name).toBe('main.lookup');
    expect(span.startTime).toEqual([1_700_000_000, 123_456_789]);
    expect(span.endTime).toEqual([1_700_000_002, 623_456_789]);
    expect(span.duration).toEqual([2, 500_000_000]);
    expect(span.attributes).toEqual({
      'code.function.name': 'main.lookup',
      'args.key': '/a',
      'returns.~r0': 3,
      'returns.~r1': 'null',
      'go.goroutine.id': 7,
      'process.pid': 10,
      'process.parent_pid': 1,
      'thread.id': 11,
      'thread.name': 'server',
    });
    expect(span.status).toEqual({ code: SpanStatusCode.UNSET });
    // XOR with the key's first 8 bytes: 0x0123456789abcdef ^ 5, ^ 2, ^ 1.
    expect(span.spanContext().spanId).toBe('0123456789abcdea');
    expect(span.parentSpanContext?.spanId).toBe('0123456789abcded');
    expect(span.spanContext().traceId).toBe('00112233445566770123456789abcdee');
    expect(span.parentSpanContext?.traceId).toBe(span.spanContext().traceId);
    expect(bytes).toBeGreaterThan(400);
  });

  it('ids are distinct for distinct call numbers, and calls without a number get their own', () => {
    const ids = new SpanIds(KEY);
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 52 - 1 }), fc.integer({ min: 1, max: 2 ** 52 - 1 }), (a, b) => (a === b) === (ids.spanId(a) === ids.spanId(b))));
    const a = ids.of(call());
    const b = ids.of(call());
    expect(a.spanId).not.toBe(b.spanId);
    expect(a.parentSpanId).toBeUndefined();
  });

  it('a non-nil error as last result is an error status with the message found in it', () => {
    expect(callStatus(call({ returns: [{ name: 'err', type: 'error', value: errorValue('no such key') }] }))).toEqual({ code: SpanStatusCode.ERROR, message: 'no such key' });
    const opaque: Value = { kind: 'interface', typeAddress: 1n, dataAddress: 2n, typeName: 'main.E' };
    expect(callStatus(call({ returns: [{ name: 'err', type: 'error', value: opaque }] }))).toEqual({ code: SpanStatusCode.ERROR, message: 'main.E' });
    // Only the last result, and only of type error.
    expect(callStatus(call({ returns: [{ name: 'err', type: 'error', value: errorValue('x') }, { name: 'n', type: 'int', value: { kind: 'int', value: 1n } }] }))).toEqual({ code: SpanStatusCode.UNSET });
  });

  it('a call with no return seen says why and ends where it began', () => {
    const { item: span } = callToSpan(call({ returns: undefined, durationNs: undefined, returned: false, notReturnedReason: 'exit', viaDeferreturn: true }), new SpanIds(KEY), resource, scope);
    expect(span.endTime).toEqual(span.startTime);
    expect(span.attributes).toMatchObject({ 'weaver.returned': false, 'weaver.not_returned': 'exit', 'weaver.via_deferreturn': true });
  });
});

describe('log records (without --returns)', () => {
  it('body is the function, attributes as a span\'s, time the call\'s', () => {
    const { item } = callToLogRecord(call({ returns: undefined, durationNs: undefined }), resource, scope, 5_000_000_001n);
    expect(item.body).toBe('main.lookup');
    expect(item.eventName).toBe('weaver.call');
    expect(item.hrTime).toEqual([1_700_000_000, 123_456_789]);
    expect(item.hrTimeObserved).toEqual([5, 1]);
    expect(item.attributes['args.key']).toBe('/a');
    expect(item.attributes['returns.~r0']).toBeUndefined();
  });
});

describe('resource', () => {
  it("weaver's attributes, then OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME over them", () => {
    const saved = { ...process.env };
    process.env.OTEL_SERVICE_NAME = 'checkout';
    process.env.OTEL_RESOURCE_ATTRIBUTES = 'host.arch=override,zone=b';
    try {
      const r = weaverResource({
        binary: { path: '/srv/app', arch: 'amd64', goVersion: 'go1.22.1', abi: 'register', pie: false, stripped: false, hasDwarf: true, functions: new Map() },
        buildId: 'abc/def',
        pid: 42,
        weaverVersion: '9.9.9',
      });
      expect(r.attributes).toMatchObject({
        'service.name': 'checkout',
        'host.arch': 'override',
        zone: 'b',
        'process.executable.path': '/srv/app',
        'process.executable.name': 'app',
        'process.pid': 42,
        'process.runtime.name': 'go',
        'process.runtime.version': 'go1.22.1',
        'process.executable.build_id.go': 'abc/def',
        'telemetry.sdk.version': '9.9.9',
      });
    } finally {
      process.env = saved;
    }
  });
});

/** A sender whose answers the test gives by hand. */
function manualSender() {
  const calls: { items: number[]; answer(error: string | null): void }[] = [];
  const send = (items: number[]) => new Promise<string | null>((resolve) => calls.push({ items, answer: resolve }));
  return { calls, send };
}

const LIMITS: QueueLimits = { maxItems: 10, maxBytes: 1000, batchSize: 4, maxInFlight: 2, lingerMs: 20 };
const tick = () => new Promise((r) => setImmediate(r));

describe('export queue', () => {
  it('full batches go at once, at most maxInFlight requests; beyond maxItems calls are dropped and counted', async () => {
    const s = manualSender();
    const q = new ExportQueue<number>(s.send, LIMITS);
    for (let i = 0; i < 20; i++) q.offer(i, 10);
    // 2 requests of 4 in flight, 10 waiting (the bound), 2 dropped.
    expect(s.calls.map((c) => c.items)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7]]);
    expect(q.queued).toBe(10);
    expect(q.counts.droppedFull).toBe(2);
    s.calls[0]!.answer(null);
    await tick();
    expect(s.calls.map((c) => c.items[0])).toEqual([0, 4, 8]);
    expect(q.counts.exported).toBe(4);
  });

  it('hasRoom says a call would be dropped before it is built; dropUnbuilt counts it', async () => {
    const q = new ExportQueue<number>(manualSender().send, { ...LIMITS, batchSize: 100, maxItems: 2 });
    q.offer(1, 1);
    expect(q.hasRoom).toBe(true);
    q.offer(2, 1);
    expect(q.hasRoom).toBe(false);
    q.dropUnbuilt();
    expect(q.counts.droppedFull).toBe(1);
    await q.drain(0);
    q.dropUnbuilt();
    expect(q.counts).toEqual({ exported: 0, droppedFull: 1, droppedFailed: 0, droppedAtExit: 3 });
  });

  it('the byte bound drops too', () => {
    const q = new ExportQueue<number>(manualSender().send, { ...LIMITS, batchSize: 100 });
    expect([q.offer(1, 600), q.offer(2, 300), q.offer(3, 200), q.offer(4, 100)]).toEqual([true, true, false, true]);
    expect(q.counts.droppedFull).toBe(1);
  });

  it('a partial batch goes after lingerMs; a failed request counts its items as dropped, once told', async () => {
    const s = manualSender();
    const failures: string[] = [];
    const q = new ExportQueue<number>(s.send, LIMITS, (e) => failures.push(e));
    q.offer(1, 1);
    expect(s.calls).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 40));
    expect(s.calls.map((c) => c.items)).toEqual([[1]]);
    s.calls[0]!.answer('503 Service Unavailable');
    await tick();
    q.offer(2, 1);
    await new Promise((r) => setTimeout(r, 40));
    s.calls[1]!.answer('timeout');
    await tick();
    expect(q.counts).toEqual({ exported: 0, droppedFull: 0, droppedFailed: 2, droppedAtExit: 0, lastError: 'timeout' });
    expect(failures).toEqual(['503 Service Unavailable']);
  });

  it('drain sends what is left at once and waits for the answers', async () => {
    const s = manualSender();
    const q = new ExportQueue<number>(s.send, LIMITS);
    for (let i = 0; i < 6; i++) q.offer(i, 1);
    const drained = q.drain(1000);
    await tick();
    expect(s.calls.map((c) => c.items)).toEqual([[0, 1, 2, 3], [4, 5]]);
    s.calls.forEach((c) => c.answer(null));
    expect(await drained).toBe(true);
    expect(q.counts.exported).toBe(6);
  });

  it('drain is bounded: what is queued or unanswered then is dropped, late answers change nothing, later offers are dropped', async () => {
    const s = manualSender();
    const q = new ExportQueue<number>(s.send, LIMITS);
    for (let i = 0; i < 10; i++) q.offer(i, 1);
    let cut!: () => void;
    const drained = q.drain(60_000, new Promise<void>((r) => (cut = r)));
    cut();
    expect(await drained).toBe(false);
    s.calls.forEach((c) => c.answer(null));
    await tick();
    expect(q.offer(99, 1)).toBe(false);
    expect(q.counts).toEqual({ exported: 0, droppedFull: 0, droppedFailed: 0, droppedAtExit: 11 });
  });

  it('exported + dropped = offered, whatever the answers and bounds', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 1, max: 300 }), fc.boolean()), { maxLength: 60 }), fc.boolean(), async (offers, answerAll) => {
        const s = manualSender();
        const q = new ExportQueue<number>(s.send, LIMITS);
        let answered = 0;
        for (const [bytes, ok] of offers) {
          q.offer(bytes, bytes);
          if (answerAll && answered < s.calls.length) s.calls[answered++]!.answer(ok ? null : 'failed');
          await tick();
        }
        const drained = q.drain(5);
        for (let i = answered; answerAll && i < s.calls.length; i++) s.calls[i]!.answer(null);
        await drained;
        expect(q.counts.exported + q.dropped).toBe(offers.length);
      }),
      { numRuns: 40 },
    );
  });
});

describe('summary', () => {
  const facts: SummaryFacts = { shown: 6, filteredOut: 0, droppedInKernel: 0n, droppedAtOutput: 0, malformed: 0, elapsedMs: 1000, transport: 'ring' };

  it('one clause in the summary line, the counts in --summary-json', () => {
    const otlp = { exported: 3, droppedFull: 1, droppedFailed: 1, droppedAtExit: 1, lastError: 'timeout' };
    expect(formatOtlp(otlp)).toBe('OTLP: 3 exported, 3 dropped (1 with the queue full, 1 in failed requests: timeout, 1 unsent when the exit flush ended)');
    expect(formatOtlp({ exported: 6, droppedFull: 0, droppedFailed: 0, droppedAtExit: 0 })).toBe('OTLP: 6 exported, 0 dropped');
    expect(formatSummary({ ...facts, otlp })).toBe(`weaver: 6 events in 1s, none lost; ${formatOtlp(otlp)}`);
    expect(summaryRecord({ ...facts, otlp }, { exitStatus: 0 }).otlp).toEqual({ exported: 3, dropped: 3, droppedQueueFull: 1, droppedFailed: 1, droppedAtExit: 1, lastError: 'timeout' });
    expect(summaryRecord(facts, { exitStatus: 0 }).otlp).toBeNull();
  });
});
