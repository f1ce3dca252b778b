// Decoder and JSON formatter throughput, in records per second, on
// synthetic records laid out by the real planner for real functions of the
// benchmark program: the same path a batch takes in src/events/session.ts
// (forEachRecord → RecordDecoder.decode → chunks of EVENTS_PER_DELIVERY
// events → jsonEvent → one joined string per chunk). And the same decode
// behind src/events/reorder.ts on a batch whose two halves are two CPUs' records,
// interleaved in time: the sort every delivery of per-CPU batches or perf
// buffers can need.
//
// Usage: node bench/decode.mjs [seconds per case]

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, RESULTS, buildGo, requireBuilt } from './lib.mjs';

requireBuilt();
const { buildTraceSpec } = await import('../dist/bpf/tracespec.js');
const { RecordDecoder } = await import('../dist/events/decode.js');
const { forEachRecord } = await import('../dist/bpf/loader.js');
const { createFormatter } = await import('../dist/output/format/index.js');
const { HEADER_FIELDS } = await import('../dist/spec/record.js');
const { EVENTS_PER_DELIVERY } = await import('../dist/events/session.js');
const { TimeOrder } = await import('../dist/events/reorder.js');

const SECONDS = Number(process.argv[2] ?? 2);
const bin = buildGo(join(BENCH_DIR, 'programs/hot'), 'hot');

const CASES = {
  'f(n int, s string)': 'main.f(n int, s string)',
  'g(n int) (names only: header alone)': null,
};

const HDR = Object.fromEntries(HEADER_FIELDS.map((f) => [f.name, f.offset]));
const SLOT_HEADER = 8;

/** Writes a plausible value for `plan` into the record at `rec`. */
function fill(buf, rec, plan, i) {
  switch (plan.kind) {
    case 'scalar':
      if (plan.type.kind === 'bool') buf.writeUInt8(i & 1, rec + plan.offset);
      else if (plan.type.kind === 'float64') buf.writeDoubleLE(i / 7, rec + plan.offset);
      else if (plan.type.kind === 'float32') buf.writeFloatLE(i / 7, rec + plan.offset);
      else buf.writeBigInt64LE(BigInt(i), rec + plan.offset); // wider than small ints need; the decoder reads only its size
      return;
    case 'string': {
      const text = Buffer.from(`benchmark-${i % 1000}`);
      const n = Math.min(text.length, plan.data.capacity);
      buf.writeBigUInt64LE(0xc000010000n + BigInt(i), rec + plan.offset);
      buf.writeBigInt64LE(BigInt(text.length), rec + plan.offset + 8);
      buf.writeUInt32LE(n, rec + plan.data.offset);
      buf.writeInt32LE(0, rec + plan.data.offset + 4);
      text.copy(buf, rec + plan.data.offset + SLOT_HEADER, 0, n);
      return;
    }
    case 'struct':
      for (const f of plan.fields) fill(buf, rec, f.plan, i);
      return;
    case 'array':
      for (const e of plan.elems) fill(buf, rec, e, i);
      return;
    default:
      return; // zero bytes: nil pointers, empty slices
  }
}

/** `interleaved`: the first half's records at even times, the second half's at the odd times between (two CPUs). */
function makeBatch(plan, count, interleaved = false) {
  const space = 8 + ((plan.recordSize + 7) & ~7);
  const buf = Buffer.alloc(space * count);
  for (let i = 0; i < count; i++) {
    const at = i * space;
    buf.writeUInt32LE(plan.recordSize, at);
    const rec = at + 8;
    buf.writeUInt32LE(1, rec + HDR.kind);
    buf.writeUInt32LE(plan.id, rec + HDR.func_id);
    const t = interleaved ? (i < count / 2 ? 2 * i : 2 * (i - count / 2) + 1) : i;
    buf.writeBigUInt64LE(1_000_000_000n + BigInt(t) * 1000n, rec + HDR.ktime_ns);
    buf.writeUInt32LE(4242, rec + HDR.pid);
    buf.writeUInt32LE(4243 + (i & 3), rec + HDR.tid);
    buf.writeUInt32LE(1, rec + HDR.ppid);
    buf.writeBigUInt64LE(BigInt(1 + (i & 7)), rec + HDR.goid);
    buf.writeBigUInt64LE(0xc000123000n, rec + HDR.sp);
    buf.write('hot', rec + HDR.comm);
    for (const a of plan.args ?? []) fill(buf, rec, a.value, i);
  }
  return buf;
}

function measure(fn) {
  // Warm up, then run whole batches until SECONDS have passed.
  for (let i = 0; i < 20; i++) fn();
  let records = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(SECONDS * 1e9);
  let now = start;
  while (now < end) {
    records += fn();
    now = process.hrtime.bigint();
  }
  return records / (Number(now - start) / 1e9);
}

const results = {};
const formatter = createFormatter({ format: 'json', color: false, timestamps: 'absolute' });
let sink = 0;
for (const [label, line] of Object.entries(CASES)) {
  const funcs = join(RESULTS, 'decode.funcs.txt');
  let spec;
  if (line) {
    writeFileSync(funcs, `${line}\n`);
    spec = buildTraceSpec({ binaryPath: bin, functionsFile: funcs, packages: [], plan: { stringSize: 64, maxElements: 16, maxRecordSize: 16384 } });
  } else {
    // Package mode on a binary without argument types: give the planner no locations.
    spec = { targets: [{ plan: { id: 0, name: 'main.g', abi: 'register', args: null, stackArea: null, recordSize: 64 } }] };
  }
  const plan = spec.targets[0].plan;
  const BATCH = 4096; // about what the native reader hands over in one call at high rates
  const batch = makeBatch(plan, BATCH);
  const decoder = new RecordDecoder([plan], 0n);
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  const decodeOnly = measure(() => {
    let n = 0;
    forEachRecord(batch, (off, len) => {
      const ev = decoder.decode(view, off, len);
      n++;
      sink += ev.pid;
    });
    return n;
  });
  const decodeAndFormat = measure(() => {
    let events = [];
    let n = 0;
    const write = () => {
      sink += (events.map((e) => formatter.format(e)).join('\n') + '\n').length;
      n += events.length;
      events = [];
    };
    forEachRecord(batch, (off, len) => {
      events.push(decoder.decode(view, off, len));
      if (events.length >= EVENTS_PER_DELIVERY) write();
    });
    if (events.length) write();
    return n;
  });
  const twoCpus = makeBatch(plan, BATCH, true);
  const twoCpusView = new DataView(twoCpus.buffer, twoCpus.byteOffset, twoCpus.byteLength);
  const order = new TimeOrder();
  const orderedDecode = measure(() => {
    const records = [];
    forEachRecord(twoCpus, (off, len) => records.push([off, len]));
    let n = 0;
    order.push(twoCpusView, records, 1n << 62n, (v, off, len) => {
      sink += decoder.decode(v, off, len).pid;
      n++;
    });
    return n;
  });
  results[label] = { recordSize: plan.recordSize, decodePerSec: decodeOnly, decodeAndJsonPerSec: decodeAndFormat, timeOrderAndDecodePerSec: orderedDecode };
  console.log(
    `${label}: ${plan.recordSize}-byte records: decode ${(decodeOnly / 1e6).toFixed(2)} M records/s, decode + JSON line ${(decodeAndFormat / 1e6).toFixed(2)} M records/s, time order (two CPUs) + decode ${(orderedDecode / 1e6).toFixed(2)} M records/s`,
  );
}
if (sink === 42) console.log('');
writeFileSync(join(RESULTS, 'decode.json'), JSON.stringify(results, null, 2));
