// What the fault tests look at from outside weaver: the BPF programs, links
// and maps a weaver process holds (from /proc/PID/fdinfo), whether the kernel
// still has them (bpftool), and the bytes at each probe site in a traced
// process's memory (0xcc while a uprobe is installed, the file's own bytes
// once it is gone).

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, openSync, readSync, closeSync } from 'node:fs';
import { openGoBinary } from '../../src/binary/elf/gobinary.js';
import { buildTraceSpec } from '../../src/bpf/tracespec.js';

export interface BpfIds {
  progs: number[];
  links: number[];
  maps: number[];
}

/** The BPF objects process `pid` holds file descriptors for. */
export function bpfIdsOf(pid: number): BpfIds {
  const ids: BpfIds = { progs: [], links: [], maps: [] };
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return ids;
  }
  for (const fd of fds) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    // A link's fdinfo names its program too; count it as a link only.
    const link = /^link_id:\s*(\d+)/m.exec(info);
    const prog = /^prog_id:\s*(\d+)/m.exec(info);
    const map = /^map_id:\s*(\d+)/m.exec(info);
    if (link) ids.links.push(Number(link[1]));
    else if (prog) ids.progs.push(Number(prog[1]));
    else if (map) ids.maps.push(Number(map[1]));
  }
  return ids;
}

export function mergeIds(into: BpfIds, more: BpfIds): BpfIds {
  const merge = (a: number[], b: number[]) => [...new Set([...a, ...b])];
  return { progs: merge(into.progs, more.progs), links: merge(into.links, more.links), maps: merge(into.maps, more.maps) };
}

function bpftoolIds(kind: 'prog' | 'link' | 'map'): Set<number> {
  const out = execFileSync('bpftool', ['-j', kind, 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return new Set((JSON.parse(out || '[]') as { id: number }[]).map((o) => o.id));
}

/** Which of `ids` the kernel still has. */
export function stillLoaded(ids: BpfIds): BpfIds {
  const progs = bpftoolIds('prog');
  const links = bpftoolIds('link');
  const maps = bpftoolIds('map');
  return { progs: ids.progs.filter((i) => progs.has(i)), links: ids.links.filter((i) => links.has(i)), maps: ids.maps.filter((i) => maps.has(i)) };
}

/** Waits (the kernel frees programs after an RCU grace period) until none of `ids` is loaded; returns what is left. */
export async function waitUnloaded(ids: BpfIds, timeoutMs = 10_000): Promise<BpfIds> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const left = stillLoaded(ids);
    if (left.progs.length + left.links.length + left.maps.length === 0 || Date.now() > end) return left;
    await sleep(100);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface ProbeSite {
  function: string;
  /** Virtual address of the probed instruction (the binaries used here are not PIE). */
  address: number;
  /** The instruction's first byte as in the file. */
  original: number;
}

/** Where weaver will put its probes for these functions, computed as weaver does. */
export function probeSites(binary: string, request: { functionsFile?: string; packages?: string[] }): ProbeSite[] {
  const spec = buildTraceSpec({
    binaryPath: binary,
    functionsFile: request.functionsFile,
    packages: request.packages ?? ['main'],
    plan: { stringSize: 64, maxElements: 16, maxRecordSize: 16384 },
  });
  if (spec.binary.pie) throw new Error(`${binary} is PIE: probe sites would need the load address`);
  const { elf } = openGoBinary(binary);
  return spec.targets.map((t) => {
    const address = t.symbol.address + t.probe.offset;
    return { function: t.plan.name, address, original: elf.readVirtual(address, 1)[0]! };
  });
}

/** The first byte at each site in process `pid`'s memory. */
export function bytesAt(pid: number, sites: ProbeSite[]): number[] {
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  try {
    return sites.map((s) => {
      const b = Buffer.alloc(1);
      readSync(fd, b, 0, 1, s.address);
      return b[0]!;
    });
  } finally {
    closeSync(fd);
  }
}

export const INT3 = 0xcc;

/** Sites whose byte is not what it should be: 0xcc while traced, the file's byte after. */
export function sitesNotMatching(pid: number, sites: ProbeSite[], traced: boolean): string[] {
  const bytes = bytesAt(pid, sites);
  return sites
    .filter((s, i) => bytes[i] !== (traced ? INT3 : s.original))
    .map((s) => `${s.function} at 0x${s.address.toString(16)}: 0x${bytes[sites.indexOf(s)]!.toString(16)}`);
}

export interface Program {
  child: ChildProcess;
  pid: number;
  stdout(): string;
  /** Resolves with the exit code (or signal name) once it has exited. */
  exited: Promise<number | string>;
  running(): boolean;
}

/** Starts a program and waits until it prints `readyLine` (when given). */
export async function startProgram(path: string, args: string[], readyLine?: string | RegExp): Promise<Program> {
  const child = spawn(path, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d) => (out += d));
  let done = false;
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      done = true;
      resolve(code ?? signal ?? -1);
    });
  });
  const program: Program = { child, pid: child.pid!, stdout: () => out, exited, running: () => !done };
  if (readyLine) {
    const end = Date.now() + 10_000;
    const ready = typeof readyLine === 'string' ? (l: string) => l === readyLine : (l: string) => readyLine.test(l);
    while (!out.split('\n').some(ready)) {
      if (done || Date.now() > end) throw new Error(`${path} did not print ${readyLine}: ${out}`);
      await sleep(10);
    }
  }
  return program;
}
