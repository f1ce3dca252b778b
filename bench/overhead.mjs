// Per-call overhead on a hot main.f(int, string), every configuration side
// by side in one run, interleaved round by round so that drift in the
// machine's speed hits all of them alike:
//
//   untraced                        the program alone
//   tracefs uprobe event on the jbe a uprobe event with no BPF program, on the jbe weaver picks (the "bare uprobe")
//   bare uprobe, after stack check  a BPF program that returns at once, on that jbe (one trap)
//   bare uprobe, entry              the same on the first instruction (two traps)
//   weaver's program, no reader     weaver's generated program on the jbe, one link, nothing reading its records
//   … task fields by helper calls   the same with ppid and comm read the way kernels before 5.11 need
//   the same, dispatched            through a uprobe_multi link and weaver's dispatcher (what the CLI attaches)
//   … records one by one            the program with records reserved in the ring buffer one by one, not in per-CPU batches (kernels before 5.10)
//   weaver session                  weaver's programs and reader in this process (src/events/session.ts), records decoded, not formatted: batched, and one by one
//   weaver (ring)                   auto placement, JSON to a file
//   weaver (perf)                   auto placement, --transport perf
//   weaver --probe-placement entry  ring
//   bpftrace                        uprobe:BIN:main.f { printf("%d %s\n", reg("ax"), str(reg("bx"), reg("cx"))); }
//   weaver --returns, ± --otlp      ring, with results; and the same also exporting every call as a span to an
//                                   OTLP sink in another process (bench/otlp.mjs sink) that answers at once
//
// and --stack, on main.f called below 80 more frames (hot loop N deep), so
// that a walk always reaches its bound, with its own untraced baseline:
// weaver's program alone (no reader, a buffer with room for every record)
// and the CLI, each without --stack, with --stack=16 and --stack=64, a bare uprobe,
// bpftrace as above and bpftrace adding ustack(16) / ustack(64) to each line.
//
// and beside them two leaf functions (no stack check), each with its own
// untraced loop as the baseline:
//
//   main.leafSum(n int, s string) int   { return n + len(s) }: a store and an argument write come first,
//                                        so its probe stays on the entry (two traps): bare uprobe, weaver, bpftrace
//   main.leafBranch(n, m int) int        compares n and branches first: weaver with --probe-placement entry
//                                        (before) and auto, on the branch (after); a bare uprobe there
//
// Overhead = traced − untraced per call, in wall-clock time (what a user
// waits, including time the traced thread waited for a CPU) and in CPU time
// (user + system of the traced program, the uprobe trap included; it leaves
// out waiting for a CPU, so other work on this shared 2-CPU machine moves it
// far less). Then a second, shorter run of the same configuration with
// kernel.bpf_stats_enabled set: the kernel times each BPF program, and
// run_time_ns / run_cnt over the programs the tracing process holds
// (/proc/PID/fdinfo) is the program's own cost per call. bpf_stats adds two
// clock reads to every run (~25-30 ns here, all of the empty program's
// figure), which is why the timed calls run with it off.
//
// Usage: node bench/overhead.mjs [calls] [rounds] [regexp of configuration names]

import { appendFileSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, RESULTS, buildGo, median, requireBuilt, requireRoot, run, settle, startBpftrace, startWeaver, us } from './lib.mjs';

requireRoot('bench/overhead.mjs');
requireBuilt();
const { BpfObject } = await import('../dist/bpf/loader.js');
const { compileBpf } = await import('../dist/bpf/compile.js');
const { buildTraceSpec } = await import('../dist/bpf/tracespec.js');
const { TraceSession } = await import('../dist/events/session.js');

const CALLS = Number(process.argv[2] ?? 200000);
const ROUNDS = Number(process.argv[3] ?? 3);
const UNTRACED_CALLS = 20_000_000;
/** Calls of the second run, with bpf_stats on. */
const STATS_CALLS = Math.max(1, Math.floor(CALLS / 4));
const BPF_STATS = '/proc/sys/kernel/bpf_stats_enabled';

const bin = buildGo(join(BENCH_DIR, 'programs/hot'), 'hot');
const funcs = join(RESULTS, 'hot.funcs.txt');
writeFileSync(funcs, 'main.f(n int, s string)\n');
const leafSumFuncs = join(RESULTS, 'hot.leafSum.funcs.txt');
writeFileSync(leafSumFuncs, 'main.leafSum(n int, s string) int\n');
const leafBranchFuncs = join(RESULTS, 'hot.leafBranch.funcs.txt');
writeFileSync(leafBranchFuncs, 'main.leafBranch(n int, m int) int\n');
const out = join(RESULTS, 'overhead.jsonl');

const planOpts = { stringSize: 64, maxElements: 16, maxRecordSize: 16384 };
const auto = buildTraceSpec({ binaryPath: bin, functionsFile: funcs, packages: [], plan: planOpts }).targets[0];
if (auto.probe.kind !== 'after-stack-check') throw new Error(`main.f's probe is not after the stack check: ${auto.probe.reason}`);
const entryOffset = auto.symbol.fileOffset;
const leafSum = buildTraceSpec({ binaryPath: bin, functionsFile: leafSumFuncs, packages: [], plan: planOpts }).targets[0];
if (leafSum.probe.traps !== 2) throw new Error(`main.leafSum's probe was expected to cost two traps: ${leafSum.probe.reason}`);
const leafBranch = buildTraceSpec({ binaryPath: bin, functionsFile: leafBranchFuncs, packages: [], plan: planOpts }).targets[0];
if (leafBranch.probe.kind !== 'first-emulated') throw new Error(`main.leafBranch's probe is not on its branch: ${leafBranch.probe.reason}`);

const NOP_C = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("uprobe") int nop(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
`;
const nopObject = (await compileBpf(NOP_C)).object;

/** Wall-clock and CPU (user + system) ns per call of the traced program, calling main.f or the leaf function `which`. */
async function nsPerCall(calls, which) {
  const text = await run(bin, ['loop', String(calls), ...(which ? [which] : [])]);
  const m = /ns_per_call ([\d.]+) cpu_ns_per_call ([\d.]+)/.exec(text);
  return { ns: Number(m[1]), cpuNs: Number(m[2]) };
}

/** Run time and run count, summed over the BPF programs process `pid` holds open (needs kernel.bpf_stats_enabled). */
function bpfProgramStats(pid) {
  let runTimeNs = 0;
  let runCount = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    if (target !== 'anon_inode:bpf-prog') continue;
    const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    runTimeNs += Number(/^run_time_ns:\s*(\d+)/m.exec(info)?.[1] ?? 0);
    runCount += Number(/^run_cnt:\s*(\d+)/m.exec(info)?.[1] ?? 0);
  }
  return { runTimeNs, runCount };
}

/** ns/call of the traced program (bpf_stats off), then ns/run of the BPF programs held by `pid` over STATS_CALLS more calls. */
async function timedCalls(pid, which) {
  const times = await nsPerCall(CALLS, which);
  writeFileSync(BPF_STATS, '1');
  try {
    const before = bpfProgramStats(pid);
    await nsPerCall(STATS_CALLS, which);
    const after = bpfProgramStats(pid);
    const runs = after.runCount - before.runCount;
    return { ...times, nsPerRun: runs > 0 ? (after.runTimeNs - before.runTimeNs) / runs : undefined, runs, calls: CALLS + STATS_CALLS };
  } finally {
    writeFileSync(BPF_STATS, '0');
  }
}

async function withNop(fileOffset, which) {
  const obj = BpfObject.open(nopObject, 'nop');
  try {
    obj.load();
    obj.attachUprobe({ program: 'nop', binaryPath: bin, fileOffset });
    return await timedCalls(process.pid, which);
  } finally {
    obj.close();
  }
}

/** A uprobe event through tracefs, with no BPF program: what the issue measured as the bare uprobe. */
async function withTracefsEvent(fileOffset) {
  const group = `weaver_overhead_${process.pid}`;
  const events = `${TRACEFS}/uprobe_events`;
  appendFileSync(events, `p:${group}/jbe ${bin}:0x${fileOffset.toString(16)}\n`);
  try {
    writeFileSync(`${TRACEFS}/events/${group}/jbe/enable`, '1');
    try {
      return await nsPerCall(CALLS);
    } finally {
      writeFileSync(`${TRACEFS}/events/${group}/jbe/enable`, '0');
    }
  } finally {
    appendFileSync(events, `-:${group}/jbe\n`);
  }
}

/**
 * weaver's own BPF program for main.f with no reader: its cost alone, through
 * one link or through the dispatcher. `taskBtf: false` forces the helper calls
 * that kernels before 5.11 use for ppid and comm (bpf/weaver.h WEAVER_TASK_BTF).
 */
async function withWeaverProgramOnly(attach, { taskBtf = true, ringBatches = true, stackFrames, which } = {}) {
  const spec = buildTraceSpec({ binaryPath: bin, functionsFile: funcs, packages: [], plan: planOpts, attach, ringBatches, stackFrames });
  const source = (taskBtf ? '' : '#define WEAVER_TASK_BTF 0\n') + spec.cSource;
  const obj = BpfObject.open((await compileBpf(source)).object, 'weaver');
  try {
    // Room for every record: none is dropped (with --stack=64 a record is 688 bytes).
    obj.setMapMaxEntries('weaver_events', (stackFrames ? 256 : 64) << 20);
    for (const d of spec.dispatch ?? []) obj.prepareUprobeMulti(d.program);
    obj.load();
    if (spec.dispatch) {
      for (const d of spec.dispatch) obj.attachUprobeMulti({ program: d.program, binaryPath: bin, offsets: d.offsets, cookies: d.cookies });
    } else {
      for (const p of spec.probes) obj.attachUprobe({ program: p.program, binaryPath: bin, fileOffset: p.attachOffset });
    }
    return await timedCalls(process.pid, which);
  } finally {
    obj.close();
  }
}

/**
 * weaver's programs and reader (src/events/session.ts) in this process, records
 * decoded and counted but not formatted: the kernel side with a reader
 * running, records in per-CPU batches or reserved one by one in the ring
 * buffer (what kernels before 5.10 get, and what weaver did before).
 */
async function withWeaverSession(ringBatches) {
  const spec = buildTraceSpec({ binaryPath: bin, functionsFile: funcs, packages: [], plan: planOpts, attach: 'multi', ringBatches });
  let events = 0;
  const session = TraceSession.start(spec, (await compileBpf(spec.cSource)).object, {
    bufferSize: 64 << 20,
    onEvents: (batch) => {
      events += batch.length;
    },
  });
  try {
    const r = await timedCalls(process.pid);
    await new Promise((resolve) => setTimeout(resolve, 300));
    return { ...r, events, lost: Number(session.stats().dropped) };
  } finally {
    session.close();
  }
}

async function withWeaver(flags, which, functionsFile = funcs) {
  // A buffer that holds every call's record: drops would make traced calls
  // look cheaper (a failed reservation costs less than a record). The CLI's
  // 8 MiB default lost 90-150k of these 250k calls (2026-11-26).
  const w = await startWeaver([bin, '-f', functionsFile, '--format', 'json', '--buffer-size', '64M', ...flags], { outFile: out });
  const r = await timedCalls(w.pid, which);
  // weaver drops what is still in the kernel buffer when it is stopped: let it catch up first.
  await settle(out);
  const s = await w.stop();
  return { ...r, events: s.events, lost: s.lost };
}

/** Runs `fn` with an OTLP sink (bench/otlp.mjs sink) listening; hands it the sink's URL. */
async function withOtlpSink(fn) {
  const portFile = join(RESULTS, 'overhead-otlp-sink.port');
  writeFileSync(portFile, '');
  const { spawn } = await import('node:child_process');
  const sink = spawn(process.execPath, [join(BENCH_DIR, 'otlp.mjs'), 'sink', portFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    while (!readFileSync(portFile, 'utf8')) await new Promise((r) => setTimeout(r, 20));
    return await fn(`http://127.0.0.1:${readFileSync(portFile, 'utf8')}`);
  } finally {
    sink.kill('SIGTERM');
  }
}

/** bpftrace printing main.f's or main.leafSum's (n, s), or main.leafBranch's (n, m); `ustack`: and that many frames of the user stack. */
async function withBpftrace(which, ustack) {
  const print = which === 'leafBranch' ? 'printf("%d %d\\n", reg("ax"), reg("bx"))' : 'printf("%d %s\\n", reg("ax"), str(reg("bx"), reg("cx")))';
  const stack = ustack ? `printf("%s", ustack(${ustack}));` : '';
  const fn = which === 'leafSum' || which === 'leafBranch' ? which : 'f';
  const b = await startBpftrace(`uprobe:${bin}:main.${fn} { ${print}; ${stack} }`, { outFile: out });
  const r = await timedCalls(b.pid, which);
  await b.stop();
  return r;
}

const allConfigs = [
  ['untraced', () => nsPerCall(UNTRACED_CALLS)],
  ['tracefs uprobe event after stack check (no BPF)', () => withTracefsEvent(auto.attachOffset)],
  ['bare uprobe after stack check', () => withNop(auto.attachOffset)],
  ['bare uprobe at entry', () => withNop(entryOffset)],
  ["weaver's program, no reader", () => withWeaverProgramOnly('single')],
  ["weaver's program, no reader, task fields by helper calls", () => withWeaverProgramOnly('single', { taskBtf: false })],
  ["weaver's program via dispatcher, no reader", () => withWeaverProgramOnly('multi')],
  ["weaver's program, no reader, records one by one in the ring (before 5.10)", () => withWeaverProgramOnly('single', { ringBatches: false })],
  ['weaver session, per-CPU batches', () => withWeaverSession(true)],
  ['weaver session, records one by one in the ring (before 5.10)', () => withWeaverSession(false)],
  ['weaver (ring)', () => withWeaver(['--transport', 'ring'])],
  ['weaver (perf)', () => withWeaver(['--transport', 'perf'])],
  ['weaver --probe-placement entry', () => withWeaver(['--transport', 'ring', '--probe-placement', 'entry'])],
  ['bpftrace', () => withBpftrace()],
  ['weaver (ring) --returns', () => withWeaver(['--transport', 'ring', '--returns'])],
  ['weaver (ring) --returns --otlp', () => withOtlpSink((url) => withWeaver(['--transport', 'ring', '--returns', '--otlp', url]))],
  ['untraced, leafSum', () => nsPerCall(UNTRACED_CALLS, 'leafSum')],
  ['bare uprobe at leafSum entry (two traps)', () => withNop(leafSum.attachOffset, 'leafSum')],
  ['weaver (ring), leafSum: entry, two traps', () => withWeaver(['--transport', 'ring'], 'leafSum', leafSumFuncs)],
  ['bpftrace, leafSum', () => withBpftrace('leafSum')],
  ['untraced, leafBranch', () => nsPerCall(UNTRACED_CALLS, 'leafBranch')],
  ['bare uprobe at leafBranch entry (two traps)', () => withNop(leafBranch.symbol.fileOffset, 'leafBranch')],
  [`bare uprobe on leafBranch's branch`, () => withNop(leafBranch.attachOffset, 'leafBranch')],
  ['weaver (ring), leafBranch --probe-placement entry (before)', () => withWeaver(['--transport', 'ring', '--probe-placement', 'entry'], 'leafBranch', leafBranchFuncs)],
  ['weaver (ring), leafBranch on its branch (after)', () => withWeaver(['--transport', 'ring'], 'leafBranch', leafBranchFuncs)],
  ['bpftrace, leafBranch', () => withBpftrace('leafBranch')],
  ['untraced, deep', () => nsPerCall(UNTRACED_CALLS, 'deep')],
  ['bare uprobe after stack check, deep', () => withNop(auto.attachOffset, 'deep')],
  ["weaver's program, no reader, deep", () => withWeaverProgramOnly('single', { which: 'deep' })],
  ["weaver's program, no reader, --stack=16, deep", () => withWeaverProgramOnly('single', { which: 'deep', stackFrames: 16 })],
  ["weaver's program, no reader, --stack=64, deep", () => withWeaverProgramOnly('single', { which: 'deep', stackFrames: 64 })],
  ['weaver (ring), deep', () => withWeaver(['--transport', 'ring'], 'deep')],
  ['weaver (ring) --stack=16, deep', () => withWeaver(['--transport', 'ring', '--stack=16'], 'deep')],
  ['weaver (ring) --stack=64, deep', () => withWeaver(['--transport', 'ring', '--stack=64'], 'deep')],
  ['bpftrace, deep', () => withBpftrace('deep')],
  ['bpftrace ustack(16), deep', () => withBpftrace('deep', 16)],
  ['bpftrace ustack(64), deep', () => withBpftrace('deep', 64)],
];
/** The untraced loop each configuration's overhead is measured against. */
const baselineOf = (name) =>
  /leafSum/.test(name) ? 'untraced, leafSum' : /leafBranch/.test(name) ? 'untraced, leafBranch' : /deep/.test(name) ? 'untraced, deep' : 'untraced';
/** Only the configurations whose names match (argv[4]), besides the bare BPF uprobe after the stack check and the untraced loops they need. */
const only = process.argv[4] ? new RegExp(process.argv[4]) : null;
const picked = allConfigs.filter(([name]) => !only || only.test(name) || name === 'bare uprobe after stack check');
const baselines = new Set(['untraced', ...picked.map(([name]) => baselineOf(name))]);
const configs = allConfigs.filter(([name]) => picked.some(([n]) => n === name) || baselines.has(name));

const TRACEFS = '/sys/kernel/tracing';
const statsWas = readFileSync(BPF_STATS, 'utf8').trim();
writeFileSync(BPF_STATS, '0');
process.on('exit', () => writeFileSync(BPF_STATS, statsWas));

const samples = new Map(configs.map(([name]) => [name, []]));
const cpuSamples = new Map(configs.map(([name]) => [name, []]));
const runSamples = new Map(configs.map(([name]) => [name, []]));
const notes = new Map(configs.map(([name]) => [name, []]));
const loads = [];
for (let round = 1; round <= ROUNDS; round++) {
  loads.push(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  for (const [name, fn] of configs) {
    const r = await fn();
    samples.get(name).push(r.ns);
    cpuSamples.get(name).push(r.cpuNs);
    if (r.nsPerRun !== undefined) runSamples.get(name).push(r.nsPerRun);
    if (r.runs !== undefined && r.runs < STATS_CALLS) notes.get(name).push(`round ${round}: the BPF programs ran ${r.runs} times for ${STATS_CALLS} calls`);
    if (r.events !== undefined && r.events + r.lost !== r.calls) notes.get(name).push(`round ${round}: ${r.events} events + ${r.lost} lost ≠ ${r.calls} calls`);
    else if (r.lost) notes.get(name).push(`round ${round}: ${r.lost} lost`);
    const perRun = r.nsPerRun !== undefined ? `, BPF ${r.nsPerRun.toFixed(1)} ns/run` : '';
    process.stderr.write(`round ${round}: ${name}: ${r.ns.toFixed(1)} ns/call, CPU ${r.cpuNs.toFixed(1)} ns/call${perRun}\n`);
  }
}
loads.push(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

// Overheads over the untraced program: wall clock (what a user waits) and
// CPU time (the same without the time spent waiting for a CPU, which on a
// shared 2-CPU machine depends on everything else running); ratios on CPU time.
function overheads(series) {
  const base = median(series.get('untraced'));
  return { base, of: Object.fromEntries([...series].map(([name, xs]) => [name, Math.max(0, median(xs) - median(series.get(baselineOf(name))))])) };
}
const wall = overheads(samples);
const cpu = overheads(cpuSamples);
const BARE = 'bare uprobe after stack check';
const TRACEFS_EVENT = 'tracefs uprobe event after stack check (no BPF)';
const nsPerRun = Object.fromEntries([...runSamples].filter(([, xs]) => xs.length).map(([name, xs]) => [name, median(xs)]));
console.log(
  `per-call overhead on main.f(int, string) and the leaf functions, ${CALLS} calls a run, median of ${ROUNDS} rounds ` +
    `(untraced: ${wall.base.toFixed(1)} ns/call wall, ${cpu.base.toFixed(1)} CPU; load average ${loads.join(' → ')})`,
);
console.log('| configuration | wall overhead | CPU overhead | × bare BPF uprobe (wall / CPU) | × tracefs uprobe event (CPU) | × bpftrace (CPU) | BPF program ns/run |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const name of samples.keys()) {
  if (baselines.has(name) && name.startsWith('untraced')) continue;
  const w = wall.of[name];
  const c = cpu.of[name];
  const ratios = `${(w / wall.of[BARE]).toFixed(2)} / ${(c / cpu.of[BARE]).toFixed(2)}`;
  const run = nsPerRun[name] !== undefined ? nsPerRun[name].toFixed(1) : '—';
  const ratio = (other) => (cpu.of[other] === undefined ? '—' : (c / cpu.of[other]).toFixed(2)); // a configuration left out by argv[4]
  // Against bpftrace tracing the same function.
  const bpftrace = baselineOf(name) === 'untraced' ? 'bpftrace' : baselineOf(name).replace('untraced', 'bpftrace');
  console.log(`| ${name} | ${us(w)} | ${us(c)} | ${ratios} | ${ratio(TRACEFS_EVENT)} | ${ratio(bpftrace)} | ${run} |`);
}
for (const [name, ns] of notes) for (const n of ns) console.log(`note: ${name}: ${n}`);
writeFileSync(
  join(RESULTS, 'overhead.json'),
  JSON.stringify(
    {
      calls: CALLS,
      rounds: ROUNDS,
      loads,
      wallSamples: Object.fromEntries(samples),
      cpuSamples: Object.fromEntries(cpuSamples),
      wallOverheadNs: wall.of,
      cpuOverheadNs: cpu.of,
      bpfNsPerRun: nsPerRun,
      bpfRunSamples: Object.fromEntries(runSamples),
    },
    null,
    2,
  ),
);
