// Which instruction forms the kernel emulates at a uprobe, measured: a
// uprobe event through tracefs (no BPF program) on the first instruction of
// small assembly functions (bench/programs/insns), each called in a loop.
// An emulated instruction costs one trap; one the kernel copies out of line
// and single-steps costs a second trap (~15-20 µs on this VM, against
// ~0.5 µs). src/binary/x86/emulation.ts must agree with the kernel: the script
// prints what it says for each form beside what was measured.
//
// Usage: node bench/emulation.mjs [calls] [rounds]   (root)

import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, RESULTS, buildGo, median, requireBuilt, requireRoot, run } from './lib.mjs';

requireRoot('bench/emulation.mjs');
requireBuilt();
const { ElfFile } = await import('../dist/binary/elf/file.js');
const { kernelEmulates } = await import('../dist/binary/x86/emulation.js');
const { decodeFunction } = await import('../dist/binary/x86/decode.js');

const CALLS = Number(process.argv[2] ?? 100000);
const ROUNDS = Number(process.argv[3] ?? 3);
const TRACEFS = '/sys/kernel/tracing';
/**
 * A form is single-stepped when it costs at least this share of the
 * dearest form (a mov or ret, single-stepped on every kernel): a trap costs
 * 0.4-5 µs depending on the machine, a second one about as much again plus
 * the out-of-line copy.
 */
const SINGLE_STEPPED_SHARE = 0.6;
/** Below this share of the median emulated form: no trap at all (the kernel turned the probe into a call). */
const NO_TRAP_SHARE = 0.5;

const bin = buildGo(join(BENCH_DIR, 'programs/insns'), 'insns');
const elf = ElfFile.read(bin);
const forms = (await run(bin, ['list'])).trim().split('\n').sort();
const symbols = new Map(elf.symbols().map((s) => [s.name, s]));

async function cpuNsPerCall(form, calls) {
  const m = /cpu_ns_per_call ([\d.]+)/.exec(await run(bin, [form, String(calls)]));
  return Number(m[1]);
}

async function traced(form, fileOffset) {
  const group = `weaver_emulation_${process.pid}`;
  appendFileSync(`${TRACEFS}/uprobe_events`, `p:${group}/${form} ${bin}:0x${fileOffset.toString(16)}\n`);
  const enable = `${TRACEFS}/events/${group}/${form}/enable`;
  try {
    writeFileSync(enable, '1');
    try {
      return await cpuNsPerCall(form, CALLS);
    } finally {
      writeFileSync(enable, '0');
    }
  } finally {
    appendFileSync(`${TRACEFS}/uprobe_events`, `-:${group}/${form}\n`);
  }
}

const loads = [readFileSync('/proc/loadavg', 'utf8').split(' ')[0]];
const rows = [];
for (const form of forms) {
  const sym = symbols.get(`main.${form}.abi0`);
  if (!sym) throw new Error(`main.${form}.abi0 is not in ${bin}`);
  const first = decodeFunction(elf.readVirtual(sym.value, sym.size), sym.value)[0];
  const overheads = [];
  for (let round = 0; round < ROUNDS; round++) {
    const base = await cpuNsPerCall(form, CALLS * 10);
    overheads.push((await traced(form, elf.vaddrToFileOffset(sym.value))) - base);
  }
  const ns = median(overheads);
  rows.push({ form, bytes: Buffer.from(first.bytes).toString('hex'), mnemonic: first.mnemonic, ns, said: kernelEmulates(first.bytes).emulated });
  process.stderr.write(`${form}: ${ns.toFixed(0)} ns\n`);
}
loads.push(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

const dearest = Math.max(...rows.map((r) => r.ns));
for (const r of rows) r.measured = r.ns < SINGLE_STEPPED_SHARE * dearest;
const oneTrap = median(rows.filter((r) => r.measured).map((r) => r.ns));
console.log(`uprobe event on each form, CPU overhead per call, median of ${ROUNDS} rounds of ${CALLS} calls (load average ${loads.join(' → ')})`);
console.log('| form | bytes | overhead | kernel | src/binary/x86/emulation.ts |');
console.log('| --- | --- | ---: | --- | --- |');
for (const r of rows) {
  const word = (e) => (e ? 'emulated' : 'single-stepped');
  const kernel = r.ns < NO_TRAP_SHARE * oneTrap ? 'no trap (optimized into a call)' : word(r.measured);
  const mark = r.measured === r.said ? '' : ' **(disagrees)**';
  console.log(`| ${r.form} (${r.mnemonic}) | \`${r.bytes}\` | ${(r.ns / 1000).toFixed(2)} µs | ${kernel} | ${word(r.said)}${mark} |`);
}
writeFileSync(join(RESULTS, 'emulation.json'), JSON.stringify({ calls: CALLS, rounds: ROUNDS, loads, rows }, null, 2));
