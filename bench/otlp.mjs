// What --otlp costs weaver per call (src/output/otlp): calls like those of
// main.lookup(key string, n int) (int, error), with --returns's pairing ids,
// are offered to weaver's OTLP export at a steady rate (default 100,000 a
// second, in 1,000-call slices every 10 ms, as the session delivers them)
// for a few seconds, then the exit flush. A sink in another process
// answers every request 200 at once (or, with "down", never). Measured:
// the fraction delivered, and the CPU time (user + system) of this process
// per exported call, less the same loop with the export left out (making
// the calls and pacing them).
//
// Usage: node bench/otlp.mjs [calls/s] [seconds]   (also: OTEL_EXPORTER_OTLP_PROTOCOL=http/json)
//        node bench/otlp.mjs sink|down PORTFILE     (the sink, started by the above)

import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESULTS, requireBuilt, sleep } from './lib.mjs';

if (process.argv[2] === 'sink' || process.argv[2] === 'down') {
  let requests = 0;
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on('data', (c) => (bytes += c.length));
    req.on('end', () => {
      requests++;
      if (process.argv[2] === 'sink') res.end();
    });
  });
  server.listen(0, '127.0.0.1', () => writeFileSync(process.argv[3], String(server.address().port)));
  process.on('SIGTERM', () => {
    process.stdout.write(JSON.stringify({ requests, bytes }));
    process.exit(0);
  });
} else {
  requireBuilt();
  const { OtlpExport } = await import('../dist/output/otlp/index.js');
  const RATE = Number(process.argv[2] ?? 100_000);
  const SECONDS = Number(process.argv[3] ?? 5);
  const SLICE_MS = 10;
  const perSlice = Math.round((RATE * SLICE_MS) / 1000);
  const enc = new TextEncoder();

  let nextId = 1;
  function makeCall(i) {
    const callId = nextId++;
    return {
      ts: BigInt(Date.now()) * 1_000_000n,
      function: 'main.lookup',
      pid: 4242,
      tid: 4243,
      ppid: 1,
      comm: 'server',
      goid: 17n,
      args: [
        { name: 'key', type: 'string', value: { kind: 'string', bytes: enc.encode(`/api/items/${i % 1000}`), len: 14, truncated: false } },
        { name: 'n', type: 'int', value: { kind: 'int', value: BigInt(i) } },
      ],
      returns: [
        { name: '~r0', type: 'int', value: { kind: 'int', value: BigInt(i * 10) } },
        { name: '~r1', type: 'error', value: { kind: 'interface', typeAddress: 0n, dataAddress: 0n } },
      ],
      durationNs: 12_345n,
      callId,
      rootCallId: callId,
    };
  }

  /** Offers RATE calls a second for SECONDS to `add`; returns CPU µs used and calls offered. */
  async function offer(add) {
    const cpu0 = process.cpuUsage();
    const start = Date.now();
    let offered = 0;
    for (let slice = 0; slice < (SECONDS * 1000) / SLICE_MS; slice++) {
      for (let i = 0; i < perSlice; i++) add(makeCall(offered++));
      const due = start + (slice + 1) * SLICE_MS;
      const wait = due - Date.now();
      await sleep(Math.max(0, wait));
    }
    return { offered, cpu0, lateMs: Date.now() - start - SECONDS * 1000 };
  }

  async function startSink(mode) {
    const portFile = join(RESULTS, `otlp-sink-${process.pid}.port`);
    writeFileSync(portFile, '');
    const child = spawn(process.execPath, [new URL(import.meta.url).pathname, mode, portFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    while (!readFileSync(portFile, 'utf8')) await sleep(20);
    const port = readFileSync(portFile, 'utf8');
    return {
      url: `http://127.0.0.1:${port}`,
      async stop() {
        const closed = new Promise((r) => child.on('close', r));
        child.kill('SIGTERM');
        await closed;
        return JSON.parse(out || '{}');
      },
    };
  }

  const target = {
    binary: { path: '/srv/server', arch: 'amd64', goVersion: 'go1.22.12', abi: 'register', pie: false, stripped: false, hasDwarf: true, functions: new Map() },
    buildId: 'bench',
    pid: 4242,
    weaverVersion: 'bench',
  };
  const protocol = process.env.OTEL_EXPORTER_OTLP_PROTOCOL === 'http/json' ? 'http/json' : 'http/protobuf';

  async function measure(mode) {
    const sink = await startSink(mode);
    const exp = await OtlpExport.create({ endpoint: sink.url, protocol }, target, { returns: true });
    const rss0 = process.memoryUsage().rss;
    let peakRss = rss0;
    const watch = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
    const { offered, cpu0, lateMs } = await offer((ev) => exp.add(ev));
    const answered = await exp.finish(undefined, 5000);
    const cpu = process.cpuUsage(cpu0);
    clearInterval(watch);
    const got = await sink.stop();
    const c = exp.counts();
    return { mode, offered, exported: c.exported, dropped: exp.dropped, counts: c, answered, cpuUs: cpu.user + cpu.system, lateMs, peakRssGrowthMiB: (peakRss - rss0) / 2 ** 20, sink: got };
  }

  // The loop alone, to subtract.
  const base = await offer(() => {});
  const baseCpu = process.cpuUsage(base.cpu0);
  const baseUsPerCall = (baseCpu.user + baseCpu.system) / base.offered;

  const results = [];
  for (const mode of ['sink', 'down']) {
    const r = await measure(mode);
    const exportUs = r.cpuUs - baseUsPerCall * r.offered;
    results.push({ ...r, baseUsPerCall, usPerOffered: exportUs / r.offered, usPerExported: r.exported ? exportUs / r.exported : null });
  }
  console.log(`OTLP export (${protocol}) at ${RATE} calls/s for ${SECONDS} s; making and pacing the calls alone: ${baseUsPerCall.toFixed(2)} µs/call`);
  console.log('| collector | offered | exported | dropped | delivered | CPU µs per offered call | CPU µs per exported call | wire bytes per span | peak RSS growth |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    const perSpan = r.exported ? (r.sink.bytes / r.sink.requests / (r.exported / r.sink.requests)).toFixed(0) : '—';
    console.log(
      `| ${r.mode === 'sink' ? 'answers 200 at once' : 'never answers'} | ${r.offered} | ${r.exported} | ${r.dropped} | ${((100 * r.exported) / r.offered).toFixed(1)} % | ${r.usPerOffered.toFixed(2)} | ${r.usPerExported === null ? '—' : r.usPerExported.toFixed(2)} | ${perSpan} | ${r.peakRssGrowthMiB.toFixed(0)} MiB |`,
    );
  }
  writeFileSync(join(RESULTS, `otlp-${protocol.replace('/', '-')}.json`), JSON.stringify({ rate: RATE, seconds: SECONDS, protocol, results }, null, 2));
  process.exit(0);
}
