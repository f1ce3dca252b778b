// What each part of weaver's BPF program costs per call, on the same hot
// main.f(int, string) as overhead.mjs. The generated program (one link, no
// reader, a ring buffer big enough for every record) is loaded as it is and
// in variants that each leave one part out; the kernel times every run
// (kernel.bpf_stats_enabled, run_time_ns / run_cnt from /proc/self/fdinfo),
// and the traced program reports its CPU time per call. All variants run in
// every round, interleaved. A variant is a text substitution in the
// generated C (bpf/weaver.h inlined): when the generator changes so that a
// substitution no longer matches, the script says which and stops.
//
// The variants are not correct programs (a record without a timestamp is
// useless): they only tell what a part costs.
//
// Usage: node bench/program-cost.mjs [calls] [rounds] [regexp of variant names]

import { readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, REPO, RESULTS, buildGo, median, requireBuilt, requireRoot, run } from './lib.mjs';

requireRoot('bench/program-cost.mjs');
requireBuilt();
const { BpfObject } = await import('../dist/bpf/loader.js');
const { compileBpf } = await import('../dist/bpf/compile.js');
const { buildTraceSpec } = await import('../dist/bpf/tracespec.js');

const CALLS = Number(process.argv[2] ?? 1_000_000);
const ROUNDS = Number(process.argv[3] ?? 5);
const BPF_STATS = '/proc/sys/kernel/bpf_stats_enabled';

const bin = buildGo(join(BENCH_DIR, 'programs/hot'), 'hot');
const funcs = join(RESULTS, 'hot.funcs.txt');
writeFileSync(funcs, 'main.f(n int, s string)\n');
const specFor = (ringBatches) =>
  buildTraceSpec({ binaryPath: bin, functionsFile: funcs, packages: [], plan: { stringSize: 64, maxElements: 16, maxRecordSize: 16384 }, attach: 'single', ringBatches });
const spec = specFor(true);
if (spec.probes.length !== 1) throw new Error(`expected one probe for main.f, got ${spec.probes.length}`);
const probe = spec.probes[0];
const inlineHeader = (source) => source.replace('#include "weaver.h"', () => readFileSync(join(REPO, 'bpf/weaver.h'), 'utf8'));
/** The program as generated (records in per-CPU batches), and with records reserved one by one in the ring buffer (kernels before 5.10). */
const SOURCES = { batched: inlineHeader(spec.cSource), unbatched: inlineHeader(specFor(false).cSource) };

const EMPTY = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("uprobe") int weaver_f0(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
`;

/** [text or pattern, replacement] pairs applied to the generated program. */
const CUT = {
  ktime: ['h->ktime_ns = bpf_ktime_get_ns();', 'h->ktime_ns = 0;'],
  goid: ['h->goid = weaver_goid(g, goid_offset);', 'h->goid = 0;'],
  string: [/^\tweaver_read_slot\(rec \+ \d+, \d+, \*\(u64 \*\)\(rec \+ \d+\), \*\(s64 \*\)\(rec \+ \d+\)\);$/m, ''],
  taskFields: ['\tweaver_task_fields(h);\n', ''],
  warm: [/^\tWEAVER_WARM\(rec, \d+\);\n/gm, ''],
  taskHelpers: ['#ifndef WEAVER_TASK_BTF', '#define WEAVER_TASK_BTF 0\n#ifndef WEAVER_TASK_BTF'],
  // The perf transport's per-CPU scratch record, never sent: the record is
  // built in the same place on every call, the floor for any transport.
  scratch: ['#ifdef WEAVER_TRANSPORT_PERF', '#if 1'],
  scratchNoSend: ['if (bpf_perf_event_output((ctx), &weaver_events, BPF_F_CURRENT_CPU, (rec), (size)))', 'if (0)'],
  batch2k: ['#define WEAVER_BATCH_SEND_AT 8192\n', '#define WEAVER_BATCH_SEND_AT 2048\n'],
  batch4k: ['#define WEAVER_BATCH_SEND_AT 8192\n', '#define WEAVER_BATCH_SEND_AT 4096\n'],
};

/** [name, source (null: the empty program), cuts]. */
const allVariants = [
  ['empty program (return 0)', null, []],
  ['as generated (per-CPU batches of 8 KiB)', 'batched', []],
  ['records reserved one by one in the ring buffer (before Linux 5.10; as generated before)', 'unbatched', []],
  ['the same, without the loads that warm the record (WEAVER_WARM)', 'unbatched', ['warm']],
  ['batches sent at 2 KiB', 'batched', ['batch2k']],
  ['batches sent at 4 KiB', 'batched', ['batch4k']],
  ['ppid and comm by helper calls (kernels before 5.11)', 'batched', ['taskHelpers']],
  ['without ppid and comm', 'batched', ['taskFields']],
  ['without the timestamp (bpf_ktime_get_ns)', 'batched', ['ktime']],
  ['without the goroutine id (a user read)', 'batched', ['goid']],
  ['without the string (a user read)', 'batched', ['string']],
  ['without timestamp, goroutine id and string', 'batched', ['ktime', 'goid', 'string']],
  ['record in per-CPU scratch, not sent', 'unbatched', ['scratch', 'scratchNoSend']],
];
/** Only the variants whose names match, besides the empty program and the one as generated. */
const only = process.argv[4] ? new RegExp(process.argv[4]) : null;
const variants = allVariants.filter(([name], i) => i < 2 || !only || only.test(name));

function variantSource(name, base, cuts) {
  if (base === null) return EMPTY;
  let text = SOURCES[base];
  for (const cut of cuts) {
    const [from, to] = CUT[cut];
    const found = typeof from === 'string' ? text.includes(from) : text.search(from) >= 0;
    if (!found) throw new Error(`variant "${name}": the generated program no longer contains ${from} (bench/program-cost.mjs needs updating)`);
    text = text.replace(from, to);
  }
  return text;
}

function bpfProgramStats() {
  let runTimeNs = 0;
  let runCount = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    let target;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (target !== 'anon_inode:bpf-prog') continue;
    const info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    runTimeNs += Number(/^run_time_ns:\s*(\d+)/m.exec(info)?.[1] ?? 0);
    runCount += Number(/^run_cnt:\s*(\d+)/m.exec(info)?.[1] ?? 0);
  }
  return { runTimeNs, runCount };
}

async function cpuNsPerCall(calls) {
  const text = await run(bin, ['loop', String(calls)]);
  return Number(/cpu_ns_per_call ([\d.]+)/.exec(text)[1]);
}

const objects = new Map();
const usesRing = new Map();
for (const [name, base, cuts] of variants) {
  const source = variantSource(name, base, cuts);
  objects.set(name, (await compileBpf(source)).object);
  usesRing.set(name, !cuts.includes('scratch'));
}

async function measure(name) {
  const obj = BpfObject.open(objects.get(name), 'weaver');
  try {
    // Room for every record, so that no reservation fails (a failed one is cheaper).
    if (obj.mapNames().includes('weaver_events') && usesRing.get(name)) {
      obj.setMapMaxEntries('weaver_events', 2 ** Math.ceil(Math.log2(CALLS * 256)));
    }
    obj.load();
    obj.attachUprobe({ program: 'weaver_f0', binaryPath: bin, fileOffset: probe.attachOffset });
    const cpu = await cpuNsPerCall(CALLS);
    writeFileSync(BPF_STATS, '1');
    try {
      const before = bpfProgramStats();
      await cpuNsPerCall(Math.floor(CALLS / 4));
      const after = bpfProgramStats();
      return { cpu, nsPerRun: (after.runTimeNs - before.runTimeNs) / (after.runCount - before.runCount) };
    } finally {
      writeFileSync(BPF_STATS, '0');
    }
  } finally {
    obj.close();
  }
}

const statsWas = readFileSync(BPF_STATS, 'utf8').trim();
writeFileSync(BPF_STATS, '0');
process.on('exit', () => writeFileSync(BPF_STATS, statsWas));

const untraced = [];
const results = new Map(variants.map(([name]) => [name, []]));
const loads = [];
for (let round = 1; round <= ROUNDS; round++) {
  loads.push(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  untraced.push(await cpuNsPerCall(CALLS * 10));
  for (const [name] of variants) {
    const r = await measure(name);
    results.get(name).push(r);
    process.stderr.write(`round ${round}: ${name}: ${r.nsPerRun.toFixed(1)} ns/run, CPU ${r.cpu.toFixed(1)} ns/call\n`);
  }
}
loads.push(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

const base = median(untraced);
const asGenerated = results.get(variants[1][0]);
const run0 = median(asGenerated.map((r) => r.nsPerRun));
const cpu0 = median(asGenerated.map((r) => r.cpu)) - base;
console.log(`weaver's program for main.f(int, string) by parts, ${CALLS} calls a run, median of ${ROUNDS} rounds (load average ${loads.join(' → ')})`);
console.log('| variant | BPF ns/run | Δ ns/run vs as generated | CPU overhead ns/call | Δ CPU vs as generated |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const [name, rs] of results) {
  const r = median(rs.map((x) => x.nsPerRun));
  const c = median(rs.map((x) => x.cpu)) - base;
  const sign = (x) => (x >= 0 ? '+' : '') + x.toFixed(1);
  console.log(`| ${name} | ${r.toFixed(1)} | ${sign(r - run0)} | ${c.toFixed(1)} | ${sign(c - cpu0)} |`);
}
writeFileSync(join(RESULTS, 'program-cost.json'), JSON.stringify({ calls: CALLS, rounds: ROUNDS, loads, untracedCpuNs: untraced, results: Object.fromEntries(results) }, null, 2));
