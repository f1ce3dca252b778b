// End-to-end test of the native loader and its facade (src/bpf/loader.ts):
// real BPF objects compiled here, real uprobes on a Go program built here.
// Needs root. With CI set, missing BPF support fails the run; otherwise the
// suite is skipped with the reason printed.

import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfError, EnvironmentError, InputError } from '../../src/core/errors.js';
import { BpfCallError, BpfObject, forEachRecord, monotonicToRealtimeOffsetNs } from '../../src/bpf/loader.js';
import { goCommand } from '../helpers/goprogram.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const BPF_DIR = join(HERE, 'bpf');
const GO = goCommand('1.19');
const TRACED_SYMBOL = 'main.traced';

/** Why the suite cannot run here, or undefined when it can. */
function missingPrerequisite(): string | undefined {
  if (process.geteuid?.() !== 0) return 'not running as root (uprobes need root or CAP_BPF+CAP_PERFMON)';
  if (!existsSync(join(HERE, '../../native/build/Release/bpf_loader.node'))) return 'native addon not built (npm run build:native)';
  for (const [tool, arg] of [['clang', '--version'], [GO, 'version']]) {
    try {
      execFileSync(tool, [arg], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed`;
    }
  }
  if (!existsSync('/sys/bus/event_source/devices/uprobe/type') && !existsSync('/sys/kernel/tracing')) {
    return 'the kernel has no uprobe support';
  }
  return undefined;
}

const missing = missingPrerequisite();
if (missing && !process.env.CI) console.warn(`loader e2e tests skipped: ${missing}`);

// ---- helpers -------------------------------------------------------------

/** Virtual address → file offset through the PT_LOAD segment containing it (ELF64 little-endian). */
function fileOffsetOf(elf: Buffer, vaddr: bigint): number {
  const phoff = elf.readBigUInt64LE(0x20);
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const ph = Number(phoff) + i * phentsize;
    if (elf.readUInt32LE(ph) !== 1 /* PT_LOAD */) continue;
    const offset = elf.readBigUInt64LE(ph + 8);
    const segVaddr = elf.readBigUInt64LE(ph + 16);
    const filesz = elf.readBigUInt64LE(ph + 32);
    if (vaddr >= segVaddr && vaddr < segVaddr + filesz) return Number(vaddr - segVaddr + offset);
  }
  throw new Error(`no PT_LOAD segment holds 0x${vaddr.toString(16)}`);
}

function symbolAddress(binary: string, symbol: string): bigint {
  const nm = execFileSync(GO, ['tool', 'nm', binary], { encoding: 'utf8' });
  const line = nm.split('\n').find((l) => l.trim().endsWith(` T ${symbol}`));
  if (!line) throw new Error(`${symbol} not in ${binary}`);
  return BigInt('0x' + line.trim().split(/\s+/)[0]);
}

function compileBpf(source: string, out: string): Buffer {
  const multiarch = execFileSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).trim() || 'x86_64-linux-gnu';
  execFileSync('clang', ['-O2', '-g', '-target', 'bpf', '-D__TARGET_ARCH_x86', `-I/usr/include/${multiarch}`, '-c', source, '-o', out]);
  return readFileSync(out);
}

/** The Go target, started and waiting on stdin before its calls. */
interface Target {
  child: ChildProcessWithoutNullStreams;
  pid: number;
  /** Lets the target make its calls; resolves when it exits. */
  run(): Promise<void>;
}

function startTarget(binary: string, calls: number, base: number): Promise<Target> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [String(calls), String(base)]);
    const exited = new Promise<void>((res, rej) =>
      child.on('exit', (code) => (code === 0 ? res() : rej(new Error(`target exited with ${code}`)))),
    );
    child.on('error', reject);
    child.stdout.once('data', (chunk: Buffer) => {
      if (!chunk.toString().startsWith('ready')) return reject(new Error(`target said ${chunk}`));
      resolve({
        child,
        pid: child.pid!,
        run: () => {
          child.stdin.end('\n');
          return exited;
        },
      });
    });
  });
}

async function runTarget(binary: string, calls: number, base: number): Promise<number> {
  const t = await startTarget(binary, calls, base);
  await t.run();
  return t.pid;
}

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Decodes record_rax.bpf.c's struct event. */
interface Event {
  rax: bigint;
  seq: bigint;
  ktimeNs: bigint;
  pid: number;
}

function collector() {
  const events: Event[] = [];
  let batches = 0;
  const onBatch = (batch: Buffer, count: number) => {
    batches++;
    let seen = 0;
    forEachRecord(batch, (offset, length) => {
      expect(length).toBe(32);
      events.push({
        rax: batch.readBigUInt64LE(offset),
        seq: batch.readBigUInt64LE(offset + 8),
        ktimeNs: batch.readBigUInt64LE(offset + 16),
        pid: batch.readUInt32LE(offset + 24),
      });
      seen++;
    });
    expect(seen).toBe(count);
  };
  return { events, onBatch, batches: () => batches };
}

/** This process's perf-event and BPF fds: what attached probes and loaded objects hold. */
function bpfFdCount(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (/^anon_inode:(\[perf_event\]|bpf-|\[bpf)/.test(target)) n++;
    } catch {
      // closed between readdir and readlink
    }
  }
  return n;
}

function range(base: number, count: number): bigint[] {
  return Array.from({ length: count }, (_, i) => BigInt(base + i));
}

// ---- tests ---------------------------------------------------------------

describe.skipIf(missing !== undefined && !process.env.CI)('BPF loader (root, real uprobes)', () => {
  let dir: string;
  let probeObject: Buffer;
  let rejectedObject: Buffer;
  let target: string;
  let tracedOffset: number;
  const open: BpfObject[] = [];

  /** A loaded record_rax object with a 4 MiB ring buffer, closed after the test file. */
  function loadProbe(ringBytes = 4 << 20): BpfObject {
    const obj = BpfObject.open(probeObject, 'record_rax');
    open.push(obj);
    obj.setMapMaxEntries('events', ringBytes);
    obj.load();
    return obj;
  }

  beforeAll(() => {
    if (missing) throw new Error(`BPF is not available on this CI machine: ${missing}`);
    if (!existsSync('/sys/kernel/tracing/uprobe_events')) {
      try {
        execFileSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing'], { stdio: 'ignore' });
      } catch {
        // libbpf attaches through the uprobe PMU; tracefs is only its fallback.
      }
    }
    dir = mkdtempSync(join(tmpdir(), 'weaver-loader-'));
    probeObject = compileBpf(join(BPF_DIR, 'record_rax.bpf.c'), join(dir, 'record_rax.o'));
    rejectedObject = compileBpf(join(BPF_DIR, 'rejected.bpf.c'), join(dir, 'rejected.o'));
    target = join(dir, 'target');
    const env = { ...process.env, GO111MODULE: 'off', GOCACHE: process.env.GOCACHE ?? join(tmpdir(), 'weaver-test-gocache') };
    execFileSync(GO, ['build', '-o', target, join(BPF_DIR, 'target.go')], { env, cwd: dir });
    tracedOffset = fileOffsetOf(readFileSync(target), symbolAddress(target, TRACED_SYMBOL));
  });

  afterAll(() => {
    for (const obj of open) obj.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('delivers exactly one record per call with the exact argument, in batches, without drops', async () => {
    const calls = 3000;
    const base = 1_000_000;
    const obj = loadProbe();
    expect(obj.programNames()).toEqual(['record_rax']);
    obj.attachUprobe({ program: 'record_rax', binaryPath: target, fileOffset: tracedOffset });
    expect(obj.attachedCount).toBe(1);
    const c = collector();
    obj.startRingBuffer('events', c.onBatch);

    const before = BigInt(Date.now()) * 1_000_000n;
    const pid = await runTarget(target, calls, base);
    const after = BigInt(Date.now() + 1) * 1_000_000n;
    await waitFor(() => c.events.length >= calls);
    await new Promise((r) => setTimeout(r, 100)); // nothing extra may arrive

    expect(c.events.map((e) => e.rax)).toEqual(range(base, calls));
    expect(c.events.map((e) => e.seq)).toEqual(range(0, calls));
    expect(new Set(c.events.map((e) => e.pid))).toEqual(new Set([pid]));
    expect(c.batches()).toBeLessThan(calls);
    expect(obj.sumPerCpuCounter('drops', 0)).toBe(0n);
    expect(obj.readArrayCounter('hits', 0)).toBe(BigInt(calls));
    expect(obj.ringBufferError()).toBeUndefined();

    // Kernel monotonic timestamps + the offset land inside the run's wall-clock window.
    const offset = monotonicToRealtimeOffsetNs();
    for (const e of [c.events[0], c.events[calls - 1]]) {
      expect(e.ktimeNs + offset).toBeGreaterThanOrEqual(before);
      expect(e.ktimeNs + offset).toBeLessThanOrEqual(after);
    }
    obj.close();
  });

  it('sees only the given pid when attached with a pid filter', async () => {
    const calls = 200;
    const obj = loadProbe();
    const watched = await startTarget(target, calls, 5000);
    const other = await startTarget(target, calls, 9000);
    obj.attachUprobe({ program: 'record_rax', binaryPath: target, fileOffset: tracedOffset, pid: watched.pid });
    const c = collector();
    obj.startRingBuffer('events', c.onBatch);
    await Promise.all([other.run(), watched.run()]);
    await waitFor(() => c.events.length >= calls);
    await new Promise((r) => setTimeout(r, 100));

    expect(c.events.map((e) => e.rax)).toEqual(range(5000, calls));
    expect(new Set(c.events.map((e) => e.pid))).toEqual(new Set([watched.pid]));
    expect(obj.readArrayCounter('hits', 0)).toBe(BigInt(calls));
    obj.close();
  });

  it('stops firing after detach, and close releases every probe and fd', async () => {
    const fdsBefore = bpfFdCount();
    const obj = loadProbe();
    const first = obj.attachUprobe({ program: 'record_rax', binaryPath: target, fileOffset: tracedOffset });
    const second = obj.attachUprobe({ program: 'record_rax', binaryPath: target, fileOffset: tracedOffset });
    expect(obj.attachedCount).toBe(2);
    expect(bpfFdCount()).toBeGreaterThan(fdsBefore);

    await runTarget(target, 10, 0);
    expect(obj.readArrayCounter('hits', 0)).toBe(20n); // two probes, ten calls

    obj.detach(first);
    expect(obj.attachedCount).toBe(1);
    await runTarget(target, 10, 0);
    expect(obj.readArrayCounter('hits', 0)).toBe(30n);

    obj.detach(second);
    expect(obj.attachedCount).toBe(0);
    await runTarget(target, 10, 0);
    expect(obj.readArrayCounter('hits', 0)).toBe(30n);
    expect(() => obj.detach(second)).toThrow(new BpfError(`cannot detach link ${second}: no probe is attached with that link id`, 'bpf_link__destroy', 22));

    obj.attachUprobe({ program: 'record_rax', binaryPath: target, fileOffset: tracedOffset });
    obj.startRingBuffer('events', () => {});
    obj.close();
    obj.close(); // idempotent
    expect(obj.attachedCount).toBe(0);
    expect(bpfFdCount()).toBe(fdsBefore);
    if (existsSync('/sys/kernel/tracing/uprobe_events')) {
      expect(readFileSync('/sys/kernel/tracing/uprobe_events', 'utf8')).not.toContain(target);
    }
  });

  it('stops delivering batches as soon as close returns', async () => {
    const obj = loadProbe();
    obj.attachUprobe({ program: 'record_rax', binaryPath: target, fileOffset: tracedOffset });
    let afterClose = 0;
    let closed = false;
    let delivered = 0;
    obj.startRingBuffer('events', (_batch, count) => {
      if (closed) afterClose += count;
      delivered += count;
    });
    const t = await startTarget(target, 200_000, 0);
    const running = t.run();
    await waitFor(() => delivered > 0);
    const started = Date.now();
    obj.close();
    closed = true;
    expect(Date.now() - started).toBeLessThan(1000);
    t.child.kill();
    await running.catch(() => {});
    await new Promise((r) => setTimeout(r, 200));
    expect(afterClose).toBe(0);
  });

  it('pendingBytes counts the records JavaScript has not received, in the kernel and in a batch', async () => {
    const calls = 2000;
    const obj = loadProbe();
    obj.attachUprobe({ program: 'record_rax', binaryPath: target, fileOffset: tracedOffset });
    expect(obj.pendingBytes()).toBeUndefined(); // no reader yet
    let received = 0;
    obj.startRingBuffer('events', (_batch, count) => {
      received += count;
    });
    expect(obj.pendingBytes()).toBe(0);
    // The target runs while this thread is blocked: no batch can be delivered.
    const run = spawnSync(target, [String(calls), '0'], { input: '\n' });
    expect(run.status).toBe(0);
    // Each 32-byte record takes 8 bytes of header plus its length rounded to 8, in the ring as in a batch.
    expect(obj.pendingBytes()).toBe(calls * 40);
    expect(received).toBe(0);
    await waitFor(() => received === calls);
    expect(obj.pendingBytes()).toBe(0);
    obj.close();
    expect(obj.pendingBytes()).toBeUndefined();
  });

  it('counts drops instead of growing memory when JavaScript is slower than the probe', async () => {
    const calls = 4000;
    const obj = loadProbe(4096 * 4); // 16 KiB ring: about 400 records
    obj.attachUprobe({ program: 'record_rax', binaryPath: target, fileOffset: tracedOffset });
    let received = 0;
    obj.startRingBuffer('events', (_batch, count) => {
      received += count;
      const until = Date.now() + 30; // a consumer far slower than the producer
      while (Date.now() < until);
    });
    await runTarget(target, calls, 0);
    const dropped = obj.sumPerCpuCounter('drops', 0);
    await waitFor(() => BigInt(received) + dropped === BigInt(calls));
    expect(dropped).toBeGreaterThan(0n);
    expect(obj.readArrayCounter('hits', 0)).toBe(BigInt(calls));
    obj.close();
  });

  it('reports a verifier rejection with the verifier log', () => {
    const obj = BpfObject.open(rejectedObject, 'rejected');
    open.push(obj);
    let err: unknown;
    try {
      obj.load();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BpfCallError);
    const e = err as BpfCallError;
    expect(e).toBeInstanceOf(BpfError);
    expect(e.message).toBe('could not load the BPF object rejected: the kernel verifier rejected a program (EACCES)');
    expect(e.operation).toBe('bpf_object__load');
    expect(e.errno).toBe(13);
    expect(e.log).toContain("R0 invalid mem access 'map_value_or_null'");
    // The hint quotes the verifier's last words (their exact wording is the kernel's).
    expect(e.hint).toMatch(/^the verifier said: .*R0 invalid mem access 'map_value_or_null' \(run with -v for the full log\)$/);
    expect(String((e.cause as Error).message)).toContain("R0 invalid mem access 'map_value_or_null'");
  });

  it('rejects bytes that are not a BPF object with a clear error', () => {
    const junk = Buffer.alloc(4096);
    for (let i = 0, x = 12345; i < junk.length; i++) junk[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    let err: unknown;
    try {
      BpfObject.open(junk, 'junk');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BpfCallError);
    expect((err as BpfCallError).message).toBe('the BPF object junk is not a valid BPF ELF file (LIBBPF_ERRNO__FORMAT)');
    expect((err as BpfCallError).operation).toBe('bpf_object__open_mem');
    expect((err as BpfCallError).log).toContain('is not a proper ELF object');
  });

  // Each misuse → one typed error with an exact sentence.
  it.each([
    {
      name: 'attach before load',
      act: (o: BpfObject) => o.attachUprobe({ program: 'record_rax', binaryPath: '/bin/true', fileOffset: 0 }),
      loaded: false,
      error: new BpfError('cannot attach record_rax: the BPF object is not loaded yet', 'attach_uprobe', 22),
    },
    {
      name: 'resize after load',
      act: (o: BpfObject) => o.setMapMaxEntries('events', 8192),
      loaded: true,
      error: new BpfError('cannot resize map events: the BPF object is already loaded', 'bpf_map__set_max_entries', 22),
    },
    {
      name: 'load twice',
      act: (o: BpfObject) => o.load(),
      loaded: true,
      error: new BpfError('cannot load: the BPF object is already loaded', 'bpf_object__load', 22),
    },
    {
      name: 'unknown program',
      act: (o: BpfObject) => o.attachUprobe({ program: 'nope', binaryPath: '/bin/true', fileOffset: 0 }),
      loaded: true,
      error: new BpfError('the BPF object has no program nope; it has record_rax', 'attach_uprobe', 22),
    },
    {
      name: 'missing binary',
      act: (o: BpfObject) => o.attachUprobe({ program: 'record_rax', binaryPath: '/nonexistent/prog', fileOffset: 0 }),
      loaded: true,
      error: new InputError('cannot read /nonexistent/prog to attach a uprobe'),
    },
    {
      name: 'negative offset',
      act: (o: BpfObject) => o.attachUprobe({ program: 'record_rax', binaryPath: '/bin/true', fileOffset: -1 }),
      loaded: true,
      error: new BpfError('the file offset must be an integer from 0 to 9007199254740991, got -1', 'attach_uprobe', 22),
    },
    {
      name: 'offset past the end of the file',
      act: (o: BpfObject) => o.attachUprobe({ program: 'record_rax', binaryPath: '/bin/true', fileOffset: 0x10000000 }),
      loaded: true,
      error: new BpfError('could not attach record_rax to /bin/true at file offset 0x10000000: Invalid argument (EINVAL)', 'attach_uprobe', 22),
    },
    {
      name: 'pid that does not exist',
      act: (o: BpfObject) => o.attachUprobe({ program: 'record_rax', binaryPath: '/bin/true', fileOffset: 0, pid: 0x7ffffff0 }),
      loaded: true,
      error: new InputError(`no process has pid ${0x7ffffff0}`),
    },
    {
      name: 'unknown map',
      act: (o: BpfObject) => o.sumPerCpuCounter('nope', 0),
      loaded: true,
      error: new BpfError('the BPF object has no map nope; it has hits, events, drops', 'bpf_map__lookup_elem', 22),
    },
    {
      name: 'per-CPU read of a plain array',
      act: (o: BpfObject) => o.sumPerCpuCounter('hits', 0),
      loaded: true,
      error: new BpfError('could not read map hits: Invalid argument: map is not a per-CPU array of u64 (EINVAL)', 'bpf_map__lookup_elem', 22),
    },
    {
      name: 'ring buffer on a non-ring map',
      act: (o: BpfObject) => o.startRingBuffer('hits', () => {}),
      loaded: true,
      error: new BpfError('could not read ring buffer hits: Invalid argument: map is not a BPF_MAP_TYPE_RINGBUF (EINVAL)', 'ring_buffer__new', 22),
    },
  ])('$name gives a typed error', ({ act, loaded, error }) => {
    const obj = BpfObject.open(probeObject, 'record_rax');
    open.push(obj);
    if (loaded) obj.load();
    let err: unknown;
    try {
      act(obj);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(error.constructor);
    expect((err as Error).message).toBe(error.message);
    if (error instanceof BpfError) {
      expect((err as BpfError).operation).toBe(error.operation);
      expect((err as BpfError).errno).toBe(error.errno);
    }
    obj.close();
    expect(() => obj.load()).toThrow('cannot load: the BPF object is closed');
  });

  it('turns a permission failure into an EnvironmentError with the sudo hint', () => {
    // Dropping the effective uid clears the effective capabilities of every
    // thread (glibc applies setresuid process-wide); seteuid(0) restores them.
    const obj = BpfObject.open(probeObject, 'record_rax');
    open.push(obj);
    let err: unknown;
    process.seteuid!(65534);
    try {
      obj.load();
    } catch (e) {
      err = e;
    } finally {
      process.seteuid!(0);
    }
    expect(err).toBeInstanceOf(EnvironmentError);
    expect((err as EnvironmentError).message).toBe('could not load the BPF object record_rax: not permitted to use BPF (EPERM)');
    expect((err as EnvironmentError).hint).toBe('weaver needs root or CAP_BPF and CAP_PERFMON; run it with sudo');
  });
});
