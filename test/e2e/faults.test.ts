// No leftovers: however weaver ends — SIGINT, SIGTERM, SIGKILL, an uncaught
// exception or unhandled rejection inside it, or a signal at a random moment
// while it loads and attaches (from outside, and from inside right after
// the n-th attach call) — the kernel ends up with none of its BPF programs,
// links or maps, and the traced process, which keeps running throughout,
// has its original instruction bytes back at every probe site (no int3 left
// to trap on). libbpf attaches through perf_event_open or one uprobe_multi
// link, so these are the places a leftover would show; tracefs's
// uprobe_events is checked too.

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { fixtureBuild } from '../helpers/fixtures.js';
import { requireBpfOrSkip, startTracer, WEAVER_BIN, type Tracer } from '../helpers/weaver.js';
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
/** Tracers a test started; a failed assertion must not leave one attached for the next test. */
const tracers: Tracer[] = [];
afterEach(async () => {
  for (const t of tracers.splice(0)) await t.stop('SIGKILL');
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
async function expectNothingLeft(ids: BpfIds, targetProgram: Program, sites: ReturnType<typeof probeSites>, binary = soak!.path): Promise<void> {
  expect(await waitUnloaded(ids)).toEqual({ progs: [], links: [], maps: [] });
  expect(targetProgram.running()).toBe(true);
  expect(sitesNotMatching(targetProgram.pid, sites, false)).toEqual([]);
  expect(uprobeEventsMentioning(binary)).toEqual([]);
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
    tracers.push(tracer);
    // Probes are in place and working: int3 at every site, events arriving.
    // (One link per probe, or one uprobe_multi link for all: both are fine.)
    const ids = bpfIdsOf(tracer.child.pid!);
    expect(ids.progs.length).toBeGreaterThan(0);
    expect(ids.links.length).toBeGreaterThan(0);
    expect(sitesNotMatching(target.pid, sites, true)).toEqual([]);
    expect(await tracer.waitFor((lines) => lines.length >= 20)).toBe(true);

    const result = await tracer.stop(signal ?? 'SIGCONT');
    expect({ code: result.code, signal: result.signal }).toEqual(exit);
    if (exit.code === 70) {
      expect(result.stderr).toMatch(/^weaver: internal error: injected (fault|rejection) \(run with -v for details\)$/m);
      expect(result.stderr).not.toMatch(/^\s+at /m);
    }
    if (exit.code === 0) expect(result.stderr).toMatch(/^weaver: \d+ events? in [\d.]+m?s/m);
    await expectNothingLeft(ids, target, sites);
  });
});

describe.skipIf(!canRun)('killed at random moments while attaching', () => {
  it('leaves no program, link, map or int3, whatever the moment', async () => {
    // 75 functions of the HTTP server, one link per probe: long enough an attach phase to land in.
    const http = fixtureBuild({ fixture: 'httpserver', toolchain: '1.19' });
    const packages = ['main', 'net/url', 'strconv'];
    const sites = probeSites(http.path, { packages });
    target = await startProgram(http.path, [], /^LISTENING /);
    const args = [http.path, '-p', packages.join(','), '--format', 'json', '--attach', 'single'];
    // A first run fills the compile cache and shows the watching works.
    const warm = await watchWeaver(args, undefined);
    expect(warm.loadedAt).toBeGreaterThan(0);
    expect(warm.tracingAt).toBeGreaterThan(warm.loadedAt);
    await expectNothingLeft(warm.ids, target, sites, http.path);

    const random = rng(Number(process.env.FAULT_SEED ?? 7));
    const runs = Number(process.env.FAULT_RUNS ?? 3);
    const signals = ['SIGKILL', 'SIGINT', 'SIGTERM'] as const;
    for (let i = 0; i < runs; i++) {
      const signal = signals[i % signals.length]!;
      // From inside: right after the n-th of the 75 attach calls returns, weaver signals itself.
      const n = 1 + Math.floor(random() * (sites.length - 1));
      const inside = await watchWeaver(args, undefined, { WEAVER_FAULT: 'signal-at-attach', WEAVER_FAULT_ATTACH: String(n), WEAVER_FAULT_SIGNAL: signal });
      expect(inside.exit).toEqual({ code: null, signal });
      expect(inside.tracingAt).toBe(0);
      await expectNothingLeft(inside.ids, target, sites, http.path);

      // From outside: a random moment while the programs load and attach.
      const outside = await watchWeaver(args, { after: 'load', delayMs: random() * 400, signal });
      expect(outside.exit.signal === signal || outside.exit.code === 0).toBe(true);
      await expectNothingLeft(outside.ids, target, sites, http.path);
    }
    // With one uprobe_multi link: signalled between loading and attaching.
    const multi = await watchWeaver([...args.slice(0, -1), 'multi'], undefined, { WEAVER_FAULT: 'signal-at-attach', WEAVER_FAULT_ATTACH: '0' });
    expect(multi.exit).toEqual({ code: null, signal: 'SIGKILL' });
    await expectNothingLeft(multi.ids, target, sites, http.path);
  }, 300_000);
});

interface Watched {
  ids: BpfIds;
  loadedAt: number;
  tracingAt: number;
  /** ms after start when the signal was sent. */
  killedAt: number;
  exit: { code: number | null; signal: NodeJS.Signals | null };
}

/**
 * Runs weaver, polling its BPF file descriptors every few ms. With
 * `kill`, sends the signal `delayMs` after its first program appeared;
 * without (and without an injected fault), stops it with SIGINT a second
 * after Tracing.
 */
async function watchWeaver(
  args: string[],
  kill: { after: 'load'; delayMs: number; signal: NodeJS.Signals } | undefined,
  faultEnv: Record<string, string> = {},
): Promise<Watched> {
  const started = performance.now();
  const env = { ...process.env, ...faultEnv, NODE_OPTIONS: `--import=${INJECT}` };
  const child = spawn(process.execPath, [WEAVER_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let ids: BpfIds = { progs: [], links: [], maps: [] };
  let loadedAt = 0;
  let tracingAt = 0;
  let killedAt = -1;
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
    const due = kill ? loadedAt > 0 && now >= loadedAt + kill.delayMs : tracingAt > 0 && now >= tracingAt + 1000 && !faultEnv.WEAVER_FAULT;
    if (due && !sent) {
      killedAt = now;
      child.kill(kill?.signal ?? 'SIGINT');
      sent = true;
    }
    await sleep(2);
  }
  return { ids, loadedAt, tracingAt, killedAt, exit: await exit };
}

describe.skipIf(!canRun)('Ctrl-C on a program that calls traced functions flat out', () => {
  // Node dispatches up to 1000 queued threadsafe-function calls per turn of
  // its event loop; when the poll thread kept its queue full, the SIGINT
  // handler (and timers, and EPIPE) waited behind 2-90 s of batches. The
  // reader now hands over one batch per turn of the loop.
  it('stops within 5 seconds', async () => {
    target = await startProgram(soak!.path, FLOOD, 'READY');
    const tracer = await startTracer([soak!.path, '-f', FUNCS, '--format', 'json', '-v']);
    tracers.push(tracer);
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
