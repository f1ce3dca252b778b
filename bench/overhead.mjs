// Per-call overhead on a hot main.f(int, string), every configuration side
// by side in one run, interleaved round by round so that drift in the
// machine's speed hits all of them alike:
//
//   untraced                        the program alone
//   bare uprobe, after stack check  a BPF program that returns at once, on the jbe weaver picks (one trap)
//   bare uprobe, entry              the same on the first instruction (two traps)
//   weaver's program, no reader     weaver's generated program on the jbe, nothing reading its records
//   weaver (ring)                   auto placement, JSON to a file
//   weaver (perf)                   auto placement, --transport perf
//   weaver --probe-placement entry  ring
//   bpftrace                        uprobe:BIN:main.f { printf("%d %s\n", reg("ax"), str(reg("bx"), reg("cx"))); }
//
// Overhead = traced ns/call − untraced ns/call. Usage: node bench/overhead.mjs [calls] [rounds]

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, RESULTS, buildGo, median, requireBuilt, requireRoot, run, settle, startBpftrace, startWeaver, us } from './lib.mjs';

requireRoot('bench/overhead.mjs');
requireBuilt();
const { BpfObject } = await import('../dist/loader.js');
const { compileBpf } = await import('../dist/compile.js');
const { buildTraceSpec } = await import('../dist/tracespec.js');

const CALLS = Number(process.argv[2] ?? 200000);
const ROUNDS = Number(process.argv[3] ?? 3);
const UNTRACED_CALLS = 20_000_000;

const bin = buildGo(join(BENCH_DIR, 'programs/hot'), 'hot');
const funcs = join(RESULTS, 'hot.funcs.txt');
writeFileSync(funcs, 'main.f(n int, s string)\n');
const out = join(RESULTS, 'overhead.jsonl');

const planOpts = { stringSize: 64, maxElements: 16, maxRecordSize: 16384 };
const auto = buildTraceSpec({ binaryPath: bin, functionsFile: funcs, packages: [], plan: planOpts }).targets[0];
if (auto.probe.kind !== 'after-stack-check') throw new Error(`main.f's probe is not after the stack check: ${auto.probe.reason}`);
const entryOffset = auto.symbol.fileOffset;

const NOP_C = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("uprobe") int nop(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
`;
const nopObject = (await compileBpf(NOP_C)).object;

async function nsPerCall(calls) {
  const text = await run(bin, ['loop', String(calls)]);
  return Number(/ns_per_call ([\d.]+)/.exec(text)[1]);
}

async function withNop(fileOffset) {
  const obj = BpfObject.open(nopObject, 'nop');
  try {
    obj.load();
    obj.attachUprobe({ program: 'nop', binaryPath: bin, fileOffset });
    return await nsPerCall(CALLS);
  } finally {
    obj.close();
  }
}

/** weaver's own BPF program for main.f (one link, no dispatcher), with no reader: its cost alone. */
async function withWeaverProgramOnly() {
  const spec = buildTraceSpec({ binaryPath: bin, functionsFile: funcs, packages: [], plan: planOpts, attach: 'single' });
  const obj = BpfObject.open((await compileBpf(spec.cSource)).object, 'weaver');
  try {
    obj.setMapMaxEntries('weaver_events', 64 << 20); // room for every record: none is dropped
    obj.load();
    for (const p of spec.probes) obj.attachUprobe({ program: p.program, binaryPath: bin, fileOffset: p.attachOffset });
    return await nsPerCall(CALLS);
  } finally {
    obj.close();
  }
}

async function withWeaver(flags) {
  // A buffer that holds every call's record: drops would make traced calls look cheaper.
  const w = await startWeaver([bin, '-f', funcs, '--format', 'json', '--buffer-size', '64M', ...flags], { outFile: out });
  const ns = await nsPerCall(CALLS);
  // weaver drops what is still in the kernel buffer when it is stopped: let it catch up first.
  await settle(out);
  const s = await w.stop();
  return { ns, events: s.events, lost: s.lost };
}

async function withBpftrace() {
  const b = await startBpftrace(`uprobe:${bin}:main.f { printf("%d %s\\n", reg("ax"), str(reg("bx"), reg("cx"))); }`, { outFile: out });
  const ns = await nsPerCall(CALLS);
  await b.stop();
  return { ns };
}

const configs = [
  ['untraced', () => nsPerCall(UNTRACED_CALLS).then((ns) => ({ ns }))],
  ['bare uprobe after stack check', () => withNop(auto.attachOffset).then((ns) => ({ ns }))],
  ['bare uprobe at entry', () => withNop(entryOffset).then((ns) => ({ ns }))],
  ["weaver's program, no reader", () => withWeaverProgramOnly().then((ns) => ({ ns }))],
  ['weaver (ring)', () => withWeaver(['--transport', 'ring'])],
  ['weaver (perf)', () => withWeaver(['--transport', 'perf'])],
  ['weaver --probe-placement entry', () => withWeaver(['--transport', 'ring', '--probe-placement', 'entry'])],
  ['bpftrace', () => withBpftrace()],
];

const samples = new Map(configs.map(([name]) => [name, []]));
const notes = new Map(configs.map(([name]) => [name, []]));
for (let round = 1; round <= ROUNDS; round++) {
  for (const [name, fn] of configs) {
    const r = await fn();
    samples.get(name).push(r.ns);
    if (r.events !== undefined && r.events + r.lost !== CALLS) notes.get(name).push(`round ${round}: ${r.events} events + ${r.lost} lost ≠ ${CALLS} calls`);
    else if (r.lost) notes.get(name).push(`round ${round}: ${r.lost} lost`);
    process.stderr.write(`round ${round}: ${name}: ${r.ns.toFixed(1)} ns/call\n`);
  }
}

const base = median(samples.get('untraced'));
const overhead = Object.fromEntries([...samples].map(([name, xs]) => [name, Math.max(0, median(xs) - base)]));
const bare = overhead['bare uprobe after stack check'];
const bpftrace = overhead['bpftrace'];
console.log(`per-call overhead on main.f(int, string), ${CALLS} calls a run, median of ${ROUNDS} rounds (untraced: ${base.toFixed(1)} ns/call)`);
console.log('| configuration | ns/call | overhead | × bare uprobe after stack check | × bpftrace |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const [name, xs] of samples) {
  const o = overhead[name];
  const cells = name === 'untraced' ? ['—', '—', '—'] : [us(o), (o / bare).toFixed(2), (o / bpftrace).toFixed(2)];
  console.log(`| ${name} | ${median(xs).toFixed(1)} | ${cells.join(' | ')} |`);
}
for (const [name, ns] of notes) for (const n of ns) console.log(`note: ${name}: ${n}`);
writeFileSync(join(RESULTS, 'overhead.json'), JSON.stringify({ calls: CALLS, rounds: ROUNDS, samples: Object.fromEntries(samples), overheadNs: overhead }, null, 2));
