// Start-up time: from starting `node bin/weaver.js` to its "Tracing" line
// (every probe attached), for 1, 100 and 1000 traced functions, with a cold
// compile cache (an empty $XDG_CACHE_HOME) and a warm one (the same cache
// again). Tracer peak memory is read at the Tracing line. The program has
// 1000 generated noinline functions F0000…F0999(a int, s string).
//
// Usage: node bench/startup.mjs [warm runs per size]

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESULTS, buildGo, median, peakRssMiB, requireBuilt, requireRoot, startWeaver } from './lib.mjs';

requireRoot('bench/startup.mjs');
requireBuilt();
const WARM_RUNS = Number(process.argv[2] ?? 3);
const SIZES = [1, 100, 1000];
const COUNT = 1000;

const name = (i) => `F${String(i).padStart(4, '0')}`;
const src = join(RESULTS, 'many-src-gen');
mkdirSync(src, { recursive: true });
let go = 'package main\n\nimport "os"\n\nvar sink int\n\n';
for (let i = 0; i < COUNT; i++) go += `//go:noinline\nfunc ${name(i)}(a int, s string) int { return a*${i + 1} + len(s) }\n\n`;
go += 'func main() {\n\ts := os.Args[0]\n';
for (let i = 0; i < COUNT; i++) go += `\tsink += ${name(i)}(len(os.Args), s)\n`;
go += '}\n';
writeFileSync(join(src, 'main.go'), go);
const bin = buildGo(src, 'many');

const results = [];
for (const n of SIZES) {
  const funcs = join(RESULTS, `many-${n}.funcs.txt`);
  writeFileSync(funcs, Array.from({ length: n }, (_, i) => `main.${name(i)}(a int, s string)\n`).join(''));
  const cache = mkdtempSync(join(RESULTS, 'cache-'));
  const env = { ...process.env, XDG_CACHE_HOME: cache };
  const args = [bin, '-f', funcs, '--format', 'json'];
  const once = async () => {
    const w = await startWeaver(args, { env });
    const rss = peakRssMiB(w.pid);
    await w.stop();
    return { ms: w.readyMs, rss };
  };
  let cold;
  try {
    cold = await once();
  } catch (err) {
    rmSync(cache, { recursive: true, force: true });
    const why = String(err.message).split('\n').slice(1, 3).join(' / ');
    results.push({ functions: n, error: why });
    console.log(`${String(n).padStart(4)} function(s): FAILED: ${why}`);
    continue;
  }
  const warm = [];
  for (let i = 0; i < WARM_RUNS; i++) warm.push(await once());
  rmSync(cache, { recursive: true, force: true });
  const r = {
    functions: n,
    coldMs: cold.ms,
    warmMs: median(warm.map((w) => w.ms)),
    warmRunsMs: warm.map((w) => w.ms),
    peakRssMiB: Math.max(cold.rss, ...warm.map((w) => w.rss)),
  };
  results.push(r);
  console.log(
    `${String(n).padStart(4)} function(s): cold cache ${(r.coldMs / 1000).toFixed(2)} s, warm cache ${(r.warmMs / 1000).toFixed(2)} s ` +
      `(median of ${WARM_RUNS}); tracer peak RSS ${r.peakRssMiB.toFixed(0)} MiB`,
  );
}
writeFileSync(join(RESULTS, 'startup.json'), JSON.stringify(results, null, 2));
