// Each kernel feature's fallback, end to end on this kernel (which has them
// all): weaver launches the composites fixture with one feature turned off
// by WEAVER_FEATURES_DISABLE, and the same exact values come out through
// the other path (perf buffers, records reserved one by one, one link per
// probe, task fields by helper calls; map lengths only without bpf_loop).
// -v says what was probed, and how records travel and probes attach.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCacheDir } from '../../src/core/cachedir.js';
import { FEATURE_NAMES, type FeatureName } from '../../src/bpf/features.js';
import { defaultBinaryCacheDir } from '../../src/binary/probecache.js';
import { fixtureBuild } from '../helpers/fixtures.js';
import { WEAVER_BIN, requireBpfOrSkip } from '../helpers/weaver.js';

const canRun = requireBpfOrSkip();

interface Traced {
  /** weaver's pid: the launched program's parent. */
  weaverPid: number;
  code: number | null;
  stderr: string;
  events: { function: string; pid: number; tid: number; ppid: number; comm: string; goid: number; args: { name: string; value: unknown; len?: number }[] }[];
}

const BATCHES = '  events through the BPF ring buffer, records up to 1024 bytes in per-CPU batches of ';
const MULTI = '  probes attached through uprobe_multi links, one per dispatcher program and process';
const SINGLE = '  probes attached one link each';
const CAROL = { ID: 7, Owner: 'carol', Balance: 10, Active: true };
const FRUIT = [['apple', 3], ['kiwi', -1], ['plum', 8589934592]];

describe.skipIf(!canRun)('kernel features turned off one at a time (root, real uprobes)', () => {
  const composites = fixtureBuild({ fixture: 'composites', toolchain: '1.24' });
  let dir: string;
  let funcs: string;
  let cacheHome: string;
  /** The BPF object the run with every feature loaded: each fallback loads another. */
  let fullObject = '';

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'weaver-features-e2e-'));
    funcs = join(dir, 'funcs.txt');
    writeFileSync(funcs, 'main.structValue(a main.Account)\nmain.maps(m map[string]int64, empty map[int64]int64, none map[string]int64, wide map[int64]int64)\n');
    // A cache of its own for the features file, sharing the compiled objects and binary analyses.
    cacheHome = join(dir, 'cache');
    mkdirSync(join(cacheHome, 'weaver'), { recursive: true });
    for (const real of [defaultCacheDir(), defaultBinaryCacheDir()]) {
      mkdirSync(real, { recursive: true });
      symlinkSync(real, join(cacheHome, 'weaver', real.split('/').pop()!));
    }
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** weaver -v launching `composites -n 1` (one call of each traced function), with `disabled` turned off. */
  function trace(disabled: FeatureName | ''): Promise<Traced> {
    const args = [WEAVER_BIN, '-f', funcs, '--format', 'json', '-v', '--', composites.path, '-n', '1'];
    const child = spawn(process.execPath, args, {
      env: { ...process.env, XDG_CACHE_HOME: cacheHome, WEAVER_FEATURES_DISABLE: disabled },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`weaver did not end in 30 s:\n${stderr}`))), 30_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        // The program's own EXPECT lines share stdout with weaver's events.
        const events = stdout.split('\n').filter((l) => l.startsWith('{"ts"')).map((l) => JSON.parse(l));
        resolve({ weaverPid: child.pid!, code, stderr, events });
      });
    });
  }

  const objectOf = (run: Traced) => /^weaver: BPF object (?:compiled|from cache) \((\S+\.o)\)$/m.exec(run.stderr)![1];

  /** The -v features line with `off` turned off by the environment. */
  const featuresLine = (how: string, off: FeatureName | '') =>
    `weaver: kernel features (${how}): ${FEATURE_NAMES.map((f) => `${f} ${f === off ? 'no (off by WEAVER_FEATURES_DISABLE)' : 'yes'}`).join(', ')}\n`;

  /** The exact values (and record header) every run must show, whatever the path. */
  function expectValues(run: Traced, mapEntries: boolean) {
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('weaver: 2 events in ');
    expect(run.stderr).toContain(', none lost; ');
    expect(run.events.map((e) => e.function)).toEqual(['main.structValue', 'main.maps']);
    const pid = Number(/\(go1\.24\.\d+, register ABI, pid (\d+)\)/.exec(run.stderr)![1]);
    for (const e of run.events) {
      expect({ pid: e.pid, ppid: e.ppid, comm: e.comm, goid: e.goid }).toEqual({ pid, ppid: run.weaverPid, comm: 'composites', goid: 1 });
      // The main goroutine may run on any of the program's threads (a busy
      // machine moves it), and a thread's id is given after its process's.
      expect(e.tid).toBeGreaterThanOrEqual(pid);
    }
    const [structValue, maps] = run.events;
    expect(structValue!.args).toEqual([{ name: 'a', type: 'main.Account', value: CAROL }]);
    const [m, empty, none, wide] = maps!.args;
    expect([m!.len, empty!.len, none!.value, wide!.len]).toEqual([3, 0, null, 40]);
    if (mapEntries) {
      expect((m!.value as unknown[]).slice().sort()).toEqual(FRUIT);
      expect(empty!.value).toEqual([]);
    } else {
      // Without bpf_loop the walk cannot run: the map's address and length.
      expect([m!.value, empty!.value]).toEqual([expect.stringMatching(/^0xc[0-9a-f]+$/), expect.stringMatching(/^0xc[0-9a-f]+$/)]);
    }
  }

  it('every feature: probed once, ring buffer batches, uprobe_multi links', async () => {
    const run = await trace('');
    expect(run.stderr).toContain(featuresLine('probed', ''));
    expect(run.stderr).toContain(BATCHES);
    expect(run.stderr).toContain(MULTI);
    expectValues(run, true);
    fullObject = objectOf(run);
  });

  // After the first run the answers come from this boot's cache file.
  it.concurrent.each([
    ['ringbuf', '  events through the per-CPU perf buffers of ', MULTI, true],
    ['run_on_cpu', '  events through the BPF ring buffer of ', MULTI, true],
    ['uprobe_multi', BATCHES, SINGLE, true],
    ['task_btf', BATCHES, MULTI, true],
    ['bpf_loop', BATCHES, MULTI, false],
  ] as const)('%s off: its fallback path, the same values', async (off, transportLine, attachLine, mapEntries) => {
    const run = await trace(off);
    expect(run.stderr).toContain(featuresLine('cached for this boot', off));
    expect(run.stderr).toContain(transportLine);
    expect(run.stderr).toContain(attachLine);
    expectValues(run, mapEntries);
    expect(objectOf(run)).not.toBe(fullObject);
  });
});
