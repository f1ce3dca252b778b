// Package mode on real programs: wall time from starting `node
// bin/weaver.js` to its "Tracing" line, cold (an empty $XDG_CACHE_HOME:
// clang compiles, the binary is analysed) and warm (the same cache again),
// and the peak memory of weaver and its children (clang) while starting,
// sampled from /proc every 20 ms (the sum of their RSS, weaver's own, and,
// every 200 ms, the sum of their PSS, which counts pages clangs share once); the CPU
// time of weaver and its children up to "Tracing"; then whether the default buffer loses
// events while 200 requests go to pprof's web UI.
//
// Programs: fixtures/build/go1.27/httpserver -p main,net/http (~280
// functions); Go 1.24's own cmd/pprof, built here from that toolchain's
// sources (DWARF), -p net/http (~1270 functions) and five packages (~3100
// functions). The load average is recorded around each case.
//
// Then a launched program's start, untraced and traced (exec to its first
// line of output).
//
// Usage: node bench/package-mode.mjs [warm runs] [case regexp, 'launch' for the launch cases] [skip the requests: 1]

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { REPO, RESULTS, buildGo, median, requireBuilt, requireRoot, sleep, startWeaver } from './lib.mjs';

requireRoot('bench/package-mode.mjs');
requireBuilt();
const WARM_RUNS = Number(process.argv[2] ?? 3);
const ONLY = new RegExp(process.argv[3] ?? '.');
const SKIP_REQUESTS = process.argv[4] === '1';
const load = () => loadavg()[0].toFixed(2);

/** cmd/pprof of the project's Go 1.24, built once into bench/results. */
function pprofBinary() {
  const out = join(RESULTS, 'pprof-go1.24');
  if (existsSync(out)) return out;
  const list = JSON.parse(readFileSync(join(REPO, '.cache/go/toolchains.json'), 'utf8'));
  const go124 = list.toolchains.find((t) => t.toolchain === '1.24');
  if (!go124) throw new Error('Go 1.24 is not among the project toolchains: run npm run setup');
  console.log('building cmd/pprof with Go 1.24 (once; a few minutes)…');
  execFileSync(join(go124.goroot, 'bin/go'), ['build', '-o', out, '.'], {
    cwd: join(go124.goroot, 'src/cmd/pprof'),
    env: { ...process.env, GOROOT: go124.goroot, GOCACHE: join(RESULTS, 'gocache'), GOTOOLCHAIN: 'local' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return out;
}

const httpserver = join(REPO, 'fixtures/build/go1.27/httpserver');
const pprof = pprofBinary();
const FIVE = 'net/http,net,crypto/tls,cmd/vendor/github.com/ianlancetaylor/demangle,cmd/vendor/github.com/google/pprof/internal/driver';
const CASES = [
  { name: 'httpserver -p main,net/http', args: [httpserver, '-p', 'main,net/http'] },
  { name: 'pprof -p net/http', args: [pprof, '-p', 'net/http'] },
  { name: 'pprof -p (5 packages)', args: [pprof, '-p', FIVE] },
].filter((c) => ONLY.test(c.name));

/**
 * `pid` and every process below it, from each task's `children` file: a
 * few reads a sample. (Reading every /proc/<pid>/stat for parents, three
 * times a sample, cost a quarter to a third of a CPU at 20 ms, taken from the
 * start being measured: bench/README.md §3f.)
 */
function processTree(pid) {
  const all = [pid];
  for (let i = 0; i < all.length; i++) {
    let tasks = [];
    try {
      tasks = readdirSync(`/proc/${all[i]}/task`);
    } catch {
      continue; // Gone meanwhile.
    }
    for (const t of tasks) {
      try {
        for (const c of readFileSync(`/proc/${all[i]}/task/${t}/children`, 'utf8').split(' ')) if (c) all.push(Number(c));
      } catch {
        // Gone meanwhile.
      }
    }
  }
  return all;
}

/**
 * Memory of the processes `pids`, in KiB: the sum of their RSS, the first's
 * own RSS, and (with `withPss`) the sum of their PSS (from smaps_rollup: each
 * shared page counted once over all processes, so two clangs' libLLVM is
 * not counted twice). smaps_rollup walks a process's page tables: 1-3 ms a
 * process, so it is read every 10th sample only.
 */
function memoryKiB(pids, withPss = true) {
  const field = (path, re) => {
    try {
      return Number(re.exec(readFileSync(path, 'utf8'))?.[1] ?? 0);
    } catch {
      return 0;
    }
  };
  const rss = pids.map((p) => field(`/proc/${p}/status`, /VmRSS:\s+(\d+)/));
  const pss = withPss ? pids.map((p) => field(`/proc/${p}/smaps_rollup`, /^Pss:\s+(\d+)/m)) : [];
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  return { rss: sum(rss), self: rss[0] ?? 0, pss: sum(pss) };
}

/** CPU seconds of `pid` and its children it has waited for (clang, bpftool), from /proc. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime, stime, cutime, cstime: fields 14-17, in clock ticks (100 a second here).
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
}

/** Starts weaver, samples its tree's memory until Tracing, stops it. */
async function startOnce(args, env) {
  let peak = 0;
  let peakSelf = 0;
  let peakPss = 0;
  let pid = 0;
  let sampleMs = 0;
  let samples = 0;
  const sampler = setInterval(() => {
    if (!pid) return;
    const t = process.hrtime.bigint();
    const m = memoryKiB(processTree(pid), samples % 10 === 0);
    peak = Math.max(peak, m.rss);
    peakSelf = Math.max(peakSelf, m.self);
    peakPss = Math.max(peakPss, m.pss);
    sampleMs += Number(process.hrtime.bigint() - t) / 1e6;
    samples++;
  }, 20);
  const starting = startWeaver([...args, '--format', 'json'], { env, onSpawn: (p) => (pid = p) });
  try {
    const w = await starting;
    peak = Math.max(peak, memoryKiB(processTree(w.pid), false).rss);
    const cpu = cpuSeconds(w.pid);
    const functions = Number(/^Tracing (\d+) function/m.exec(w.stderr())?.[1] ?? NaN);
    await w.stop();
    return { ms: w.readyMs, peakMiB: peak / 1024, peakSelfMiB: peakSelf / 1024, peakPssMiB: peakPss / 1024, cpu, functions, sampleMs: samples ? sampleMs / samples : 0 };
  } finally {
    clearInterval(sampler);
  }
}

const results = [];
for (const c of CASES) {
  const cache = mkdtempSync(join(RESULTS, 'cache-'));
  const env = { ...process.env, XDG_CACHE_HOME: cache };
  const loadBefore = load();
  const cold = await startOnce(c.args, env);
  const warm = [];
  for (let i = 0; i < WARM_RUNS; i++) warm.push(await startOnce(c.args, env));
  rmSync(cache, { recursive: true, force: true });
  const r = {
    case: c.name,
    functions: cold.functions,
    coldMs: cold.ms,
    warmMs: median(warm.map((w) => w.ms)),
    warmRunsMs: warm.map((w) => w.ms),
    peakMiB: Math.max(cold.peakMiB, ...warm.map((w) => w.peakMiB)),
    coldPeakMiB: cold.peakMiB,
    coldPeakWeaverMiB: cold.peakSelfMiB,
    coldPeakPssMiB: cold.peakPssMiB,
    coldCpuS: cold.cpu,
    sampleMs: cold.sampleMs,
    loadBefore,
    loadAfter: load(),
  };
  results.push(r);
  console.log(
    `${c.name}: ${r.functions} functions; cold ${(r.coldMs / 1000).toFixed(2)} s (CPU ${r.coldCpuS.toFixed(2)} s), warm ${(r.warmMs / 1000).toFixed(2)} s ` +
      `(median of ${WARM_RUNS}); peak RSS of weaver and children ${r.peakMiB.toFixed(0)} MiB (weaver alone ${r.coldPeakWeaverMiB.toFixed(0)} MiB cold; PSS of all, cold ${r.coldPeakPssMiB.toFixed(0)} MiB; a memory sample took ${r.sampleMs.toFixed(2)} ms); load ${r.loadBefore} → ${r.loadAfter}`,
  );
}

/**
 * pprof's web UI serving a small profile, traced with -p net/http at the
 * default buffer size: 200 requests over its pages, then the summary's
 * counts and the lines written.
 */
async function requests() {
  const profile = join(RESULTS, 'busy.pprof');
  execFileSync(buildGo(join(REPO, 'bench/programs/profile'), 'profile'), [profile], { stdio: 'inherit' });
  const port = 18000 + (process.pid % 1000);
  const ui = spawn(pprof, [`-http=127.0.0.1:${port}`, '-no_browser', profile], { stdio: 'ignore', env: { ...process.env, PPROF_TMPDIR: RESULTS } });
  try {
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      try {
        await fetch(`${base}/ui/`);
        break;
      } catch {
        if (i > 100) throw new Error('pprof -http did not start');
        await sleep(100);
      }
    }
    const outFile = join(RESULTS, 'pprof-requests.jsonl');
    const w = await startWeaver(['--pid', String(ui.pid), '-p', 'net/http', '--format', 'json'], { outFile });
    const pages = ['/ui/', '/ui/top', '/ui/flamegraph', '/ui/peek', '/ui/source', '/ui/disasm?f=main.sum', '/ui/graph'];
    const t = process.hrtime.bigint();
    for (let i = 0; i < 200; i++) await (await fetch(base + pages[i % pages.length])).arrayBuffer();
    const requestMs = Number(process.hrtime.bigint() - t) / 1e6;
    await sleep(1000);
    const stopped = await w.stop();
    const lines = readFileSync(outFile, 'utf8').split('\n').filter(Boolean).length;
    const r = { requests: 200, requestMs, events: stopped.events, lost: stopped.lost, lines, summary: stopped.stderr.split('\n').find((l) => / events? (shown )?.*in /.test(l) && l.startsWith('weaver: ')), load: load() };
    console.log(`pprof web UI, 200 requests in ${(requestMs / 1000).toFixed(1)} s under -p net/http: ${r.summary}; ${lines} lines written`);
    return r;
  } finally {
    ui.kill('SIGTERM');
  }
}

/**
 * A launched program's own start: from its exec to its first line of
 * output, untraced and under weaver with thousands of probes attached first
 * (timed from weaver's "Starting it now." line). Medians of 5.
 */
async function firstLineMs(file, args, afterLine) {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let started = afterLine ? null : process.hrtime.bigint();
  let text = '';
  const ms = await new Promise((resolve, reject) => {
    const onData = (d) => {
      text += d;
      if (afterLine && started === null && afterLine.test(text)) {
        started = process.hrtime.bigint();
        text = text.slice(text.search(afterLine)).replace(afterLine, '');
      }
      if (started !== null && /\n/.test(text.replace(/^weaver:.*\n/gm, '').replace(/^\s*\n/, ''))) resolve(Number(process.hrtime.bigint() - started) / 1e6);
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.on('close', () => reject(new Error(`${file} ended before its first line: ${text}`)));
  });
  child.kill('SIGINT');
  await new Promise((r) => child.on('close', r));
  return ms;
}

async function launchCost(name, binary, args, packages) {
  const untraced = [];
  const traced = [];
  for (let i = 0; i < 5; i++) {
    untraced.push(await firstLineMs(binary, args));
    traced.push(await firstLineMs(process.execPath, [join(REPO, 'bin/weaver.js'), '-p', packages, '-o', '/dev/null', '--', binary, ...args], /Starting it now\.\n/));
  }
  const r = { case: name, untracedMs: median(untraced), tracedMs: median(traced), load: load() };
  console.log(`${name}: exec to first line ${r.untracedMs.toFixed(1)} ms untraced, ${r.tracedMs.toFixed(1)} ms with the probes attached (medians of 5; load ${r.load})`);
  return r;
}

const launch = ONLY.test('launch')
  ? [
      await launchCost('launch httpserver -p main,net/http,net', httpserver, [], 'main,net/http,net'),
      await launchCost('launch pprof -p (5 packages)', pprof, ['-h'], FIVE),
    ]
  : [];
const requestResult = SKIP_REQUESTS ? null : await requests();
writeFileSync(join(RESULTS, 'package-mode.json'), JSON.stringify({ cases: results, launch, requests: requestResult }, null, 2));
