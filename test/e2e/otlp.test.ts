// End to end: --otlp sends each call to an OTLP/HTTP receiver on 127.0.0.1,
// which decodes the requests with the official OTLP protobuf definitions
// (the generated root of @opentelemetry/otlp-transformer). The calls of
// test/e2e/programs/otlp.go, traced with --returns, must arrive as spans
// that agree exactly with weaver's own JSON output of the same run; a
// receiver that answers 503 first gets them on the retry, and one that
// never answers leaves them all counted as dropped. Needs root.

import { execFileSync } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { beforeAll, afterEach, describe, expect, it } from 'vitest';
import { buildGoProgram, goToolchains } from '../helpers/goprogram.js';
import { REPO_ROOT, requireBpfOrSkip, runWeaver } from '../helpers/weaver.js';

const canRun = requireBpfOrSkip();

// protobufjs classes generated from opentelemetry-proto, as the OTel JS project publishes them.
const proto = createRequire(import.meta.url)('otlp-proto-definitions/build/src/generated/root.js').opentelemetry.proto;
const TraceRequest = proto.collector.trace.v1.ExportTraceServiceRequest;
const LogsRequest = proto.collector.logs.v1.ExportLogsServiceRequest;

type Answer = 'ok' | 503 | 'hang';

interface Receiver {
  url: string;
  requests: { path: string; headers: IncomingHttpHeaders; body: Buffer }[];
  close(): Promise<void>;
}

/** An OTLP/HTTP receiver; `answers[i]` says how to answer request i (the last one repeats). */
function startReceiver(answers: Answer[]): Promise<Receiver> {
  const requests: Receiver['requests'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = answers[Math.min(requests.length, answers.length - 1)]!;
      requests.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      if (answer === 'hang') return;
      res.writeHead(answer === 'ok' ? 200 : answer, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        requests,
        close: () => {
          server.closeAllConnections();
          return new Promise((done) => server.close(() => done()));
        },
      });
    });
  });
}

const hex = (b64: string) => Buffer.from(b64, 'base64').toString('hex');
const toObject = { longs: String, bytes: String, enums: String };

interface AnyValue {
  stringValue?: string;
  intValue?: string;
  boolValue?: boolean;
  doubleValue?: number;
}

function attributeMap(list: { key: string; value: AnyValue }[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list) {
    out[key] = value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : value.boolValue ?? value.doubleValue);
  }
  return out;
}

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: string;
  start: bigint;
  end: bigint;
  attributes: Record<string, unknown>;
  status: { code?: string; message?: string };
}

function decodeSpans(body: Buffer): { resource: Record<string, unknown>; scope: { name: string; version: string }; spans: Span[] }[] {
  const request = TraceRequest.toObject(TraceRequest.decode(body), toObject);
  return request.resourceSpans.flatMap((rs: any) =>
    rs.scopeSpans.map((ss: any) => ({
      resource: attributeMap(rs.resource.attributes),
      scope: ss.scope,
      spans: ss.spans.map((s: any) => ({
        traceId: hex(s.traceId),
        spanId: hex(s.spanId),
        parentSpanId: s.parentSpanId ? hex(s.parentSpanId) : '',
        name: s.name,
        kind: s.kind,
        start: BigInt(s.startTimeUnixNano),
        end: BigInt(s.endTimeUnixNano),
        attributes: attributeMap(s.attributes),
        status: s.status ?? {},
      })),
    })),
  );
}

interface JsonCall {
  ts: string;
  function: string;
  pid: number;
  tid: number;
  ppid: number;
  comm: string;
  goid: number;
  args: { name: string; value: unknown }[];
  returns?: { name: string; value: unknown }[];
  duration_ns?: string;
}

/** weaver's JSON lines, with ts and duration_ns kept exact (they pass 2^53). */
function jsonCalls(stdout: string): JsonCall[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l.replace(/"(ts|duration_ns)":(\d+)/g, '"$1":"$2"')));
}

/** The attributes a call's span must carry: values as in the JSON output, non-scalars as their JSON text. */
function expectedAttributes(c: JsonCall): Record<string, unknown> {
  const value = (v: unknown) => (v === null || typeof v === 'object' ? JSON.stringify(v) : v);
  const attrs: Record<string, unknown> = { 'code.function.name': c.function };
  for (const a of c.args) attrs[`args.${a.name}`] = value(a.value);
  for (const r of c.returns ?? []) attrs[`returns.${r.name}`] = value(r.value);
  Object.assign(attrs, { 'go.goroutine.id': c.goid, 'process.pid': c.pid, 'process.parent_pid': c.ppid, 'thread.id': c.tid, 'thread.name': c.comm });
  return attrs;
}

function summaryJson(path: string): any {
  return JSON.parse(readFileSync(path, 'utf8'));
}

describe.runIf(canRun)('--otlp', () => {
  let prog: string;
  let funcs: string;
  let dir: string;
  let receiver: Receiver | undefined;

  beforeAll(() => {
    const tc = goToolchains().find((t) => t.toolchain === '1.22') ?? goToolchains().at(-1)!;
    prog = buildGoProgram(tc, join(REPO_ROOT, 'test/e2e/programs/otlp.go'), 'otlpprog');
    dir = mkdtempSync(join(tmpdir(), 'weaver-otlp-'));
    funcs = join(dir, 'funcs.txt');
    writeFileSync(funcs, 'main.handle(path string, n int) (code int)\nmain.lookup(key string, n int) (int, error)\n');
  });

  afterEach(async () => {
    await receiver?.close();
    receiver = undefined;
  });

  it('sends each call as a span: names, attributes, times, parent links and resource agree with the JSON output', async () => {
    receiver = await startReceiver(['ok']);
    const summary = join(dir, 'summary-ok.json');
    const r = await runWeaver(['-f', funcs, '--returns', '--format', 'json', '--summary-json', summary, '--otlp', receiver.url, '--', prog], {
      env: {
        ...process.env,
        OTEL_SERVICE_NAME: 'checkout',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test,team=payments',
        OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=blue',
      },
    });
    expect(r.stderr).toMatch(/weaver: 4 events in \S+, none lost; OTLP: 4 exported, 0 dropped; .*otlpprog exited with code 0/);
    expect(r.code).toBe(0);
    const calls = jsonCalls(r.stdout);
    expect(calls.map((c) => c.function)).toEqual(['main.lookup', 'main.handle', 'main.lookup', 'main.handle']);

    expect(receiver.requests).toHaveLength(1);
    const req = receiver.requests[0]!;
    expect(req.path).toBe('/v1/traces');
    expect(req.headers['content-type']).toBe('application/x-protobuf');
    expect(req.headers['x-tenant']).toBe('blue');
    const groups = decodeSpans(req.body);
    expect(groups).toHaveLength(1);
    const { resource, scope, spans } = groups[0]!;

    const goVersion = /\((go[^,]+), register ABI, pid (\d+)\)/.exec(r.stderr)!;
    const buildId = execFileSync(goToolchains().find((t) => t.toolchain === '1.22')!.go, ['tool', 'buildid', prog], { encoding: 'utf8' }).trim();
    expect(resource).toEqual({
      'service.name': 'checkout',
      'deployment.environment': 'test',
      team: 'payments',
      'host.name': hostname(),
      'host.arch': 'amd64',
      'os.type': 'linux',
      'process.executable.path': prog,
      'process.executable.name': 'otlpprog',
      'process.pid': Number(goVersion[2]),
      'process.runtime.name': 'go',
      'process.runtime.version': goVersion[1],
      'process.executable.build_id.go': buildId,
      'telemetry.sdk.name': 'weaver',
      'telemetry.sdk.version': JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version,
    });
    expect(scope.name).toBe('weaver');

    // One span per call, in the order shown, each agreeing with its JSON line.
    expect(spans.map((s) => s.name)).toEqual(calls.map((c) => c.function));
    spans.forEach((s, i) => {
      const c = calls[i]!;
      expect(s.kind).toBe('SPAN_KIND_INTERNAL');
      expect(s.attributes).toEqual(expectedAttributes(c));
      expect(s.start).toBe(BigInt(c.ts));
      expect(s.end - s.start).toBe(BigInt(c.duration_ns!));
      // Each call sleeps a millisecond.
      expect(s.end - s.start).toBeGreaterThan(1_000_000n);
    });
    const [lookupA, handleA, lookupB, handleB] = spans as [Span, Span, Span, Span];
    expect(lookupA.attributes['returns.~r0']).toBe(10);
    expect(lookupA.status).toEqual({ code: 'STATUS_CODE_UNSET' });
    expect(lookupB.status).toEqual({ code: 'STATUS_CODE_ERROR', message: 'negative /b' });
    expect(handleA.status).toEqual({ code: 'STATUS_CODE_UNSET' });

    // lookup runs inside handle on the same goroutine: its child, within its time, in its trace.
    for (const [child, parent] of [[lookupA, handleA], [lookupB, handleB]] as const) {
      expect(parent.parentSpanId).toBe('');
      expect(child.parentSpanId).toBe(parent.spanId);
      expect(child.traceId).toBe(parent.traceId);
      expect(child.start).toBeGreaterThan(parent.start);
      expect(child.end).toBeLessThan(parent.end);
    }
    expect(handleA.traceId).not.toBe(handleB.traceId);
    expect(new Set(spans.map((s) => s.spanId)).size).toBe(4);
    expect(summaryJson(summary).otlp).toEqual({ exported: 4, dropped: 0, droppedQueueFull: 0, droppedFailed: 0, droppedAtExit: 0, lastError: null });
  });

  it('without --returns each call is a log record; --filter and --count choose which', async () => {
    receiver = await startReceiver(['ok']);
    // Entries in order: handle /a, lookup /a, handle /b, lookup /b.
    const r = await runWeaver(['-f', funcs, '--filter', 'main.handle: n < 0', '--filter', 'main.lookup: n < 0', '--count', '1', '--format', 'json', '--otlp', receiver.url, '--', prog]);
    expect(r.stderr).toMatch(/weaver: 1 event shown \(2 filtered out, 1 after --count\) in \S+, none lost; 4 calls seen; OTLP: 1 exported, 0 dropped; /);
    const [call] = jsonCalls(r.stdout);
    expect(call!.function).toBe('main.handle');
    expect(receiver.requests.map((q) => q.path)).toEqual(['/v1/logs']);
    const request = LogsRequest.toObject(LogsRequest.decode(receiver.requests[0]!.body), toObject);
    const records = request.resourceLogs[0].scopeLogs[0].logRecords;
    expect(records).toHaveLength(1);
    expect(records[0].body).toEqual({ stringValue: 'main.handle' });
    expect(records[0].eventName).toBe('weaver.call');
    expect(records[0].timeUnixNano).toBe(call!.ts);
    expect(attributeMap(records[0].attributes)).toEqual(expectedAttributes(call!));
  });

  it('a receiver that answers 503 gets the spans again on the retry, none dropped', async () => {
    receiver = await startReceiver([503, 'ok']);
    const summary = join(dir, 'summary-503.json');
    const r = await runWeaver(['-f', funcs, '--returns', '--format', 'json', '-o', join(dir, 'calls.jsonl'), '--summary-json', summary, '--otlp', receiver.url, '--', prog]);
    expect(r.stderr).toMatch(/none lost; OTLP: 4 exported, 0 dropped;/);
    expect(receiver.requests).toHaveLength(2);
    expect(receiver.requests[1]!.body.equals(receiver.requests[0]!.body)).toBe(true);
    expect(decodeSpans(receiver.requests[1]!.body)[0]!.spans).toHaveLength(4);
    expect(summaryJson(summary).otlp).toMatchObject({ exported: 4, dropped: 0 });
  });

  it('a receiver that never answers: weaver ends after its bounded flush and counts every call as dropped', async () => {
    receiver = await startReceiver(['hang']);
    const summary = join(dir, 'summary-hang.json');
    const started = Date.now();
    // The exporter's own request timeout far beyond the exit's 5 s flush bound.
    const r = await runWeaver(['-f', funcs, '--returns', '-c', '--summary-json', summary, '--otlp', receiver.url, '--', prog], { env: { ...process.env, OTEL_EXPORTER_OTLP_TIMEOUT: '60000' } });
    const tookMs = Date.now() - started;
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/OTLP: 0 exported, 4 dropped \(4 unsent when the exit flush ended\)/);
    expect(summaryJson(summary).otlp).toEqual({ exported: 0, dropped: 4, droppedQueueFull: 0, droppedFailed: 0, droppedAtExit: 4, lastError: null });
    expect(summaryJson(summary).shown).toBe(4);
    // The 5 s flush bound, not the exporter's 10 s request timeout.
    expect(tookMs).toBeLessThan(20_000);
    expect(receiver.requests).toHaveLength(1);
  });
});
