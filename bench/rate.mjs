// Sustained event rate: the load generator calls main.f(int, string) at a
// fixed rate for a fixed time while weaver writes JSON lines to a file. A
// rate is lossless when weaver reports every call (the summary says none
// lost and the file has one line per call). Steps through rates until loss
// appears, for each transport, then holds the target (100,000
// calls/s) for 10 s. Also records the tracer's peak memory (VmHWM).
//
// Usage: node bench/rate.mjs [seconds per step] [rates,comma,separated]

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, RESULTS, buildGo, peakRssMiB, requireBuilt, requireRoot, run, settle, startWeaver } from './lib.mjs';

requireRoot('bench/rate.mjs');
requireBuilt();
const STEP_SECONDS = Number(process.argv[2] ?? 4);
const RATES = (process.argv[3] ?? '50000,100000,200000,300000,400000,600000,800000,1000000').split(',').map(Number);
const TARGET_RATE = 100000;
const TARGET_SECONDS = 10;

const bin = buildGo(join(BENCH_DIR, 'programs/hot'), 'hot');
const funcs = join(RESULTS, 'hot.funcs.txt');
writeFileSync(funcs, 'main.f(n int, s string)\n');
const out = join(RESULTS, 'rate.jsonl');

function countLines(file) {
  const buf = readFileSync(file);
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

async function step(transport, rate, seconds) {
  const w = await startWeaver([bin, '-f', funcs, '--format', 'json', '--transport', transport], { outFile: out });
  const text = await run(bin, ['rate', String(rate), String(seconds)]);
  const [, calls, achieved] = /calls (\d+) rate (\d+)/.exec(text).map(Number);
  await settle(out);
  const rss = peakRssMiB(w.pid);
  const s = await w.stop();
  const lines = countLines(out);
  const lossless = s.lost === 0 && s.events === calls && lines === calls;
  // Past what two cores can call and trace, the generator falls behind the rate it was asked for.
  const saturated = achieved < 0.9 * rate;
  return { transport, rate, seconds, calls, achieved, events: s.events, lost: s.lost, lines, lossless, saturated, peakRssMiB: rss };
}

const results = [];
const print = (r) =>
  console.log(
    `${r.transport} ${String(r.rate).padStart(7)}/s × ${r.seconds} s: achieved ${r.achieved}/s, ${r.calls} calls, ` +
      `${r.events} events, ${r.lost} lost, ${r.lines} lines: ${r.lossless ? 'lossless' : 'LOSS'}` +
      `${r.saturated ? ' (generator saturated: it could not make the calls that fast while traced)' : ''}; tracer peak RSS ${r.peakRssMiB.toFixed(0)} MiB`,
  );
for (const transport of ['ring', 'perf']) {
  for (const rate of RATES) {
    const r = await step(transport, rate, STEP_SECONDS);
    results.push(r);
    print(r);
    if (!r.lossless || r.saturated) break;
  }
  const held = await step(transport, TARGET_RATE, TARGET_SECONDS);
  results.push({ ...held, target: true });
  print(held);
}
writeFileSync(join(RESULTS, 'rate.json'), JSON.stringify(results, null, 2));
