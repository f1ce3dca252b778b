// Shared by the benchmark scripts: building Go programs into
// bench/results/build, running weaver/bpftrace until ready, reading a
// process's peak memory, and small statistics.

import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, closeSync, existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO = join(BENCH_DIR, '..');
export const RESULTS = join(BENCH_DIR, 'results');
export const BUILD = join(RESULTS, 'build');
export const WEAVER = join(REPO, 'bin/weaver.js');
/** $GO, else the project's Go 1.19 (scripts/toolchains.sh, run by npm run setup). */
export const GO = process.env.GO ?? projectGo('1.19');

function projectGo(toolchain) {
  const list = join(REPO, '.cache/go/toolchains.json');
  const found = existsSync(list) ? JSON.parse(readFileSync(list, 'utf8')).toolchains.find((t) => t.toolchain === toolchain) : undefined;
  if (!found) throw new Error(`Go ${toolchain} is not in ${list}: run npm run setup`);
  return join(found.goroot, 'bin/go');
}

mkdirSync(BUILD, { recursive: true });

/** Builds the Go package in `srcDir` (its .go and .s files) to BUILD/`name` (module-less: a go.mod is written beside the copy). */
export function buildGo(srcDir, name) {
  const work = join(BUILD, `${name}-src`);
  mkdirSync(work, { recursive: true });
  execFileSync('sh', ['-c', `find "${srcDir}" -maxdepth 1 \\( -name '*.go' -o -name '*.s' \\) -exec cp {} "${work}"/ \\; && printf 'module ${name}\\n\\ngo 1.15\\n' > "${work}/go.mod"`]);
  const out = join(BUILD, name);
  execFileSync(GO, ['build', '-o', out, '.'], {
    cwd: work,
    env: { ...process.env, GOCACHE: join(RESULTS, 'gocache'), GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return out;
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs a command to completion; resolves with its stdout. */
export function run(file, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'inherit'], ...opts });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${file} ${args.join(' ')} exited with ${code}`))));
  });
}

/**
 * Starts weaver with stdout going to `outFile` and resolves once it prints
 * "Tracing" (probes attached). `stop()` sends SIGINT and resolves with
 * stderr and the summary's event and lost counts.
 */
export async function startWeaver(args, { outFile = '/dev/null', env = process.env, onSpawn = () => {} } = {}) {
  const fd = openSync(outFile, 'w');
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [WEAVER, ...args], { stdio: ['ignore', fd, 'pipe'], env });
  onSpawn(child.pid);
  closeSync(fd);
  let stderr = '';
  const exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  const readyMs = await new Promise((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (d) => {
      stderr += d;
      if (/^Tracing /m.test(stderr)) resolve(Number(process.hrtime.bigint() - started) / 1e6);
    });
    exited.then((code) => reject(new Error(`weaver exited (${code}) before tracing:\n${stderr}`)));
  });
  return {
    pid: child.pid,
    readyMs,
    stderr: () => stderr,
    async stop() {
      child.kill('SIGINT');
      await exited;
      const m = /^weaver: (\d+) events?\b[^\n]*?, (?:none lost|(\d+) lost)/m.exec(stderr);
      return { stderr, events: m ? Number(m[1]) : NaN, lost: m ? Number(m[2] ?? 0) : NaN };
    },
  };
}

/** Starts bpftrace with a program, stdout to `outFile`; resolves once it has attached. */
export async function startBpftrace(program, { outFile = '/dev/null' } = {}) {
  const child = spawn('bpftrace', ['-e', program], { stdio: ['ignore', 'pipe', 'pipe'] });
  const { createWriteStream } = await import('node:fs');
  const sink = createWriteStream(outFile);
  let head = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  await new Promise((resolve, reject) => {
    const onData = (d) => {
      head += d.toString();
      if (/Attaching \d+ probe/.test(head)) {
        child.stdout.off('data', onData);
        child.stdout.pipe(sink);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    exited.then((code) => reject(new Error(`bpftrace exited (${code}):\n${stderr}`)));
  });
  // bpftrace reports attachment before the probe is live on some versions: let it settle.
  await sleep(300);
  return {
    pid: child.pid,
    async stop() {
      child.kill('SIGINT');
      await exited;
      return { stderr };
    },
  };
}

/** Peak resident memory of a live process, in MiB (VmHWM). */
export function peakRssMiB(pid) {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function requireRoot(what) {
  if (process.getuid?.() !== 0) {
    console.error(`${what} needs root (uprobes); run it with sudo`);
    process.exit(1);
  }
}

export function requireBuilt() {
  if (!existsSync(join(REPO, 'dist/bpf/tracespec.js'))) {
    console.error('weaver is not built: run npx tsc -p tsconfig.json (bench/run.sh does)');
    process.exit(1);
  }
}

/** "x.y µs" with one decimal. */
export function us(ns) {
  return `${(ns / 1000).toFixed(2)} µs`;
}

/** Waits until `file` stops growing: the tracer has written everything it read. */
export async function settle(file, quietMs = 500) {
  let last = -1;
  for (;;) {
    await sleep(quietMs);
    const size = statSync(file).size;
    if (size === last) return;
    last = size;
  }
}
