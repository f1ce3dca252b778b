// No leftovers: however weaver ends — SIGINT, SIGTERM, SIGKILL, an uncaught
// exception or unhandled rejection inside it, or a kill at a random moment
// while it attaches — the kernel ends up with none of its BPF programs,
// links or maps, and the traced process, which keeps running throughout,
// has its original instruction bytes back at every probe site (no int3 left
// to trap on). libbpf 1.1 attaches through perf_event_open, so these are
// the places a leftover would show; tracefs's uprobe_events is checked too.

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { fixtureBuild } from '../helpers/fixtures.js';
import { requireBpfOrSkip, startTracer, WEAVER_BIN } from '../helpers/weaver.js';
import { spawn } from 'node:child_process';
import { rng } from '../unit/robust-support.js';
import {
  bpfIdsOf,
  mergeIds,
  probeSites,
  sitesNotMatching,
  sleep,
  startProgram,
  waitUnloaded,
  type BpfIds,
  type Program,
} from './faults-support.js';

const canRun = requireBpfOrSkip();
const INJECT = fileURLToPath(new URL('./faults-inject.mjs', import.meta.url));
const UPROBE_EVENTS = '/sys/kernel/tracing/uprobe_events';

const soak = canRun ? fixtureBuild({ fixture: 'soak', toolchain: '1.19' }) : undefined;
const FUNCS = fileURLToPath(new URL('../../fixtures/soak/funcs.txt', import.meta.url));
/** A target that calls every traced function steadily (~100 calls every few ms) until killed. */
const STEADY = ['-forever', '-goroutines', '2', '-iterations', '1', '-depth', '20', '-pause', '2ms'];
/** A target that calls them as fast as it can, on every core. */
const FLOOD = ['-forever', '-goroutines', '4', '-depth', '50'];

let target: Program | undefined;
afterEach(async () => {
  if (target?.running()) {
    target.child.kill('SIGKILL');
    await target.exited;
  }
  target = undefined;
});

function uprobeEventsMentioning(path: string): string[] {
  if (!existsSync(UPROBE_EVENTS)) return [];
  return readFileSync(UPROBE_EVENTS, 'utf8').split('\n').filter((l) => l.includes(path));
}

/** Everything that must hold once weaver is gone. */
async function expectNothingLeft(ids: BpfIds, targetProgram: Program, sites: ReturnType<typeof probeSites>): Promise<void> {
  expect(await waitUnloaded(ids)).toEqual({ progs: [], links: [], maps: [] });
  expect(targetProgram.running()).toBe(true);
  expect(sitesNotMatching(targetProgram.pid, sites, false)).toEqual([]);
  expect(uprobeEventsMentioning(soak!.path)).toEqual([]);
}

describe.skipIf(!canRun)('nothing is left behind when weaver ends', () => {
  const endings = [
    { how: 'SIGINT', env: {}, signal: 'SIGINT' as const, exit: { code: 0, signal: null } },
    { how: 'SIGTERM', env: {}, signal: 'SIGTERM' as const, exit: { code: 0, signal: null } },
    { how: 'SIGKILL', env: {}, signal: 'SIGKILL' as const, exit: { code: null, signal: 'SIGKILL' } },
    { how: 'an uncaught exception', env: { WEAVER_FAULT: 'throw' }, signal: undefined, exit: { code: 70, signal: null } },
    { how: 'an unhandled rejection', env: { WEAVER_FAULT: 'reject' }, signal: undefined, exit: { code: 70, signal: null } },
  ];

  it.each(endings)('$how', async ({ env, signal, exit }) => {
    const sites = probeSites(soak!.path, { functionsFile: FUNCS });
    target = await startProgram(soak!.path, STEADY, 'READY');
    const tracer = await startTracer([soak!.path, '-f', FUNCS, '--format', 'json'], {
      env: { ...process.env, ...env, NODE_OPTIONS: `--import=${INJECT}` },
    });
    // Probes are in place and working: int3 at every site, events arriving.
    const ids = bpfIdsOf(tracer.child.pid!);
    expect(ids.progs.length).toBe(sites.length);
    expect(ids.links.length).toBe(sites.length);
    expect(sitesNotMatching(target.pid, sites, true)).toEqual([]);
    expect(await tracer.waitFor((lines) => lines.length >= 20)).toBe(true);

    const result = await tracer.stop(signal ?? 'SIGCONT');
    expect({ code: result.code, signal: result.signal }).toEqual(exit);
    if (exit.code === 70) {
      expect(result.stderr).toMatch(/^weaver: internal error: injected (fault|rejection) \(run with -v for details\)$/m);
      expect(result.stderr).not.toMatch(/^\s+at /m);
    }
    if (exit.code === 0) expect(result.stderr).toMatch(/^weaver: \d+ events? in [\d.]+s/m);
    await expectNothingLeft(ids, target, sites);
  });
});

describe.skipIf(!canRun)('killed at random moments while attaching', () => {
  it('leaves no program, link, map or int3, whatever the moment', async () => {
    const sites = probeSites(soak!.path, { functionsFile: FUNCS });
    target = await startProgram(soak!.path, STEADY, 'READY');
    // A first run to learn when loading ends and tracing starts on this machine (and to fill the compile cache).
    const warm = await watchWeaver([soak!.path, '-f', FUNCS, '--format', 'json'], undefined);
    const { loadedAt, tracingAt } = warm;
    expect(loadedAt).toBeGreaterThan(0);
    expect(tracingAt).toBeGreaterThan(loadedAt);
    await expectNothingLeft(warm.ids, target, sites);

    const random = rng(Number(process.env.FAULT_SEED ?? 7));
    const runs = Number(process.env.FAULT_RUNS ?? 4);
    const signals = ['SIGKILL', 'SIGINT', 'SIGTERM', 'SIGKILL'] as const;
    let midAttach = 0;
    for (let i = 0; i < runs; i++) {
      // From just before the programs load to just after the Tracing line.
      const at = loadedAt - 100 + random() * (tracingAt - loadedAt + 200);
      const signal = signals[i % signals.length]!;
      const run = await watchWeaver([soak!.path, '-f', FUNCS, '--format', 'json'], { at, signal });
      if (run.linksAtKill > 0 && run.linksAtKill < sites.length) midAttach++;
      expect(run.exit.signal === signal || run.exit.code === 0 || run.exit.code === 130 || run.exit.code === 143).toBe(true);
      await expectNothingLeft(run.ids, target, sites);
    }
    // The runs must have hit the attach phase itself, or they test nothing new.
    expect(midAttach).toBeGreaterThan(0);
  }, 300_000);
});

interface Watched {
  ids: BpfIds;
  loadedAt: number;
  tracingAt: number;
  linksAtKill: number;
  exit: { code: number | null; signal: NodeJS.Signals | null };
}

/**
 * Runs weaver, polling its BPF file descriptors every few milliseconds. With
 * `kill`, sends the signal at that many ms after start; without, stops it
 * with SIGINT one second after the Tracing line.
 */
async function watchWeaver(args: string[], kill: { at: number; signal: NodeJS.Signals } | undefined): Promise<Watched> {
  const started = performance.now();
  const child = spawn(process.execPath, [WEAVER_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let ids: BpfIds = { progs: [], links: [], maps: [] };
  let loadedAt = 0;
  let tracingAt = 0;
  let linksAtKill = -1;
  let exited = false;
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    if (!tracingAt && /^Tracing /m.test(d)) tracingAt = performance.now() - started;
  });
  const exit = new Promise<Watched['exit']>((resolve) => child.on('exit', (code, signal) => {
    exited = true;
    resolve({ code, signal });
  }));
  let sent = false;
  while (!exited) {
    const now = performance.now() - started;
    const current = bpfIdsOf(child.pid!);
    ids = mergeIds(ids, current);
    if (!loadedAt && current.progs.length > 0) loadedAt = now;
    const due = kill ? now >= kill.at : tracingAt > 0 && now >= tracingAt + 1000;
    if (due && !sent) {
      linksAtKill = current.links.length;
      child.kill(kill?.signal ?? 'SIGINT');
      sent = true;
    }
    await sleep(3);
  }
  return { ids, loadedAt, tracingAt, linksAtKill, exit: await exit };
}

describe.skipIf(!canRun)('Ctrl-C on a program that calls traced functions flat out', () => {
  // Known bug (see the robustness report): the poll thread keeps the native
  // binding's two-batch queue full, and Node dispatches up to 1000 queued
  // threadsafe-function calls per event-loop turn, so the SIGINT handler
  // (and timers, and EPIPE) wait behind tens of seconds of batches; measured
  // 60-90 s here. Marked as failing until the reader yields to the event
  // loop between batches; then drop `.fails`.
  it.fails('stops within 5 seconds', async () => {
    target = await startProgram(soak!.path, FLOOD, 'READY');
    const tracer = await startTracer([soak!.path, '-f', FUNCS, '--format', 'json', '-v']);
    expect(await tracer.waitFor((lines) => lines.length >= 1000)).toBe(true);
    const sent = performance.now();
    tracer.child.kill('SIGINT');
    const stopping = await waitUntil(() => /^weaver: stopping \(SIGINT\)/m.test(tracer.stderr()), 5_000);
    const waited = performance.now() - sent;
    await tracer.stop('SIGKILL');
    expect(stopping, `weaver had not begun to stop ${waited.toFixed(0)} ms after SIGINT`).toBe(true);
  }, 120_000);
});

async function waitUntil(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (predicate()) return true;
    await sleep(25);
  }
  return predicate();
}
