// Start-up time: from starting `node bin/weaver.js` to its "Tracing" line
// (every probe attached), for 1, 100 and 1000 traced functions: cold (an
// empty $XDG_CACHE_HOME: clang compiles, the binary is analysed), warm (the
// same cache again: compiled object and per-binary cache both hit), and
// warm without the per-binary cache (its directory removed before each run:
// function list, probe placement and goid offset worked out again). Tracer
// peak memory is read at the Tracing line. The program has 1000 generated
// noinline functions F0000…F0999(a int, s string). The load average is
// recorded around each size, and `node -e 0` and `weaver --version` give the
// floor: the machine is often shared.
//
// Real programs at package-mode scale (hundreds to thousands of functions
// of many record shapes): bench/package-mode.mjs.
//
// Usage: node bench/startup.mjs [warm runs per size] [sizes, e.g. 1,100]

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { RESULTS, WEAVER, buildGo, median, peakRssMiB, requireBuilt, requireRoot, startWeaver } from './lib.mjs';

requireRoot('bench/startup.mjs');
requireBuilt();
const WARM_RUNS = Number(process.argv[2] ?? 3);
const SIZES = process.argv[3] ? process.argv[3].split(',').map(Number) : [1, 100, 1000];
const COUNT = 1000;

const load = () => loadavg()[0].toFixed(2);
/** Wall time of a command run to completion, median of `runs`. */
function wallMs(file, args, runs = 5) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    execFileSync(file, args, { stdio: 'ignore' });
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return median(times);
}
const floor = { loadBefore: load(), nodeMs: wallMs(process.execPath, ['-e', '0']), versionMs: wallMs(process.execPath, [WEAVER, '--version']) };
console.log(`load ${floor.loadBefore}; node -e 0: ${floor.nodeMs.toFixed(0)} ms; weaver --version: ${floor.versionMs.toFixed(0)} ms (medians of 5)`);

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
  const loadBefore = load();
  // Interleaved, so both see the same machine load.
  const warm = [];
  const noBinaryCache = [];
  for (let i = 0; i < WARM_RUNS; i++) {
    warm.push(await once());
    rmSync(join(cache, 'weaver', 'binaries'), { recursive: true, force: true });
    noBinaryCache.push(await once());
  }
  rmSync(cache, { recursive: true, force: true });
  const r = {
    functions: n,
    coldMs: cold.ms,
    warmMs: median(warm.map((w) => w.ms)),
    warmRunsMs: warm.map((w) => w.ms),
    warmNoBinaryCacheMs: median(noBinaryCache.map((w) => w.ms)),
    warmNoBinaryCacheRunsMs: noBinaryCache.map((w) => w.ms),
    peakRssMiB: Math.max(cold.rss, ...warm.map((w) => w.rss), ...noBinaryCache.map((w) => w.rss)),
    loadBefore,
    loadAfter: load(),
  };
  results.push(r);
  console.log(
    `${String(n).padStart(4)} function(s): cold ${(r.coldMs / 1000).toFixed(2)} s, warm ${(r.warmMs / 1000).toFixed(2)} s, ` +
      `warm without the binary cache ${(r.warmNoBinaryCacheMs / 1000).toFixed(2)} s (medians of ${WARM_RUNS}); ` +
      `tracer peak RSS ${r.peakRssMiB.toFixed(0)} MiB; load ${r.loadBefore} → ${r.loadAfter}`,
  );
}
writeFileSync(join(RESULTS, 'startup.json'), JSON.stringify({ floor: { ...floor, loadAfter: load() }, sizes: results }, null, 2));
