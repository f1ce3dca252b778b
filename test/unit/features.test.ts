// Kernel features (src/bpf/features.ts): each is probed on this kernel (which
// has them all: yes), forced to no by WEAVER_FEATURES_DISABLE, by this
// boot's cache file, or by a probe that cannot run; answers are kept per
// boot id; every "no" leads to its fallback in the plain data the spec
// builder and the session take, and -v says which it was.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ALL_FEATURES,
  BOOT_ID_PATH,
  FEATURE_NAMES,
  FEATURES_CACHE_FILE,
  describeFeatures,
  findKernelFeatures,
  type FeatureName,
  type FindOptions,
  type KernelFeatures,
} from '../../src/bpf/features.js';
import { probeKernelFeature } from '../../src/bpf/loader.js';
import { resolveAttachMode, resolveTransport } from '../../src/events/session.js';
import { buildTraceSpec } from '../../src/bpf/tracespec.js';
import { fixtureBuild } from '../helpers/fixtures.js';
import { REPO_ROOT, requireBpfOrSkip } from '../helpers/weaver.js';

const canRun = requireBpfOrSkip();
const work = mkdtempSync(join(tmpdir(), 'weaver-features-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const bootId = readFileSync(BOOT_ID_PATH, 'utf8').trim();
const ALL_YES = 'ringbuf yes, run_on_cpu yes, uprobe_multi yes, task_btf yes, bpf_loop yes';

/** The real probe, counting the questions it was asked. */
function countingProbe() {
  const asked: FeatureName[] = [];
  const probe = (name: FeatureName) => {
    asked.push(name);
    return probeKernelFeature(name);
  };
  return { asked, probe };
}

let cacheDir: string;
let n = 0;
beforeEach(() => {
  cacheDir = join(work, `cache${n++}`);
});
const cachePath = () => join(cacheDir, FEATURES_CACHE_FILE);
const options = (extra: Partial<FindOptions> = {}): FindOptions => ({ cacheDir, probe: probeKernelFeature, privileged: true, env: {}, ...extra });
/** The -v line with every feature yes but `name`, said with `why`. */
const lineWith = (how: string, name: FeatureName, why: string) =>
  `weaver: kernel features (${how}): ${FEATURE_NAMES.map((f) => `${f} ${f === name ? `no (${why})` : 'yes'}`).join(', ')}`;

describe.skipIf(!canRun)('probes on this kernel (Linux 6.18 has every feature)', () => {
  it.each(FEATURE_NAMES)('%s: yes, with no errno', (name) => {
    expect(probeKernelFeature(name)).toEqual({ supported: true });
  });

  it('an unknown feature name is refused by the binding', () => {
    expect(() => probeKernelFeature('nonsense' as FeatureName)).toThrow('unknown feature name (ringbuf, run_on_cpu, uprobe_multi, task_btf, bpf_loop)');
  });

  it('without privileges every probe fails with EPERM: it cannot tell, which is not a "no" from the kernel', () => {
    // The real binding, run as nobody with no capabilities.
    const script = `const b = require(${JSON.stringify(join(REPO_ROOT, 'node_modules/bpf-loader-node'))});
      console.log(JSON.stringify(${JSON.stringify(FEATURE_NAMES)}.map((n) => b.probeFeature(n))));`;
    const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual(FEATURE_NAMES.map(() => ({ supported: false, errno: 1 })));
  });

  it('probes once per boot: the first run asks the kernel and stores the answers, the next reads them', () => {
    const first = countingProbe();
    const probed = findKernelFeatures(options({ probe: first.probe }));
    expect(first.asked).toEqual(FEATURE_NAMES);
    expect(probed).toEqual({ features: ALL_FEATURES, source: 'probed', reasons: {} });
    expect(describeFeatures(probed)).toBe(`weaver: kernel features (probed): ${ALL_YES}`);
    expect(JSON.parse(readFileSync(cachePath(), 'utf8'))).toEqual({ format: 1, bootId, features: ALL_FEATURES });

    const second = countingProbe();
    const cached = findKernelFeatures(options({ probe: second.probe }));
    expect(second.asked).toEqual([]);
    expect(cached).toEqual({ features: ALL_FEATURES, source: 'cached', reasons: {} });
    expect(describeFeatures(cached)).toBe(`weaver: kernel features (cached for this boot): ${ALL_YES}`);
  });

  it("another boot's answers are probed over, and the file then holds this boot's", () => {
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(cachePath(), JSON.stringify({ format: 1, bootId: '00000000-0000-0000-0000-000000000000', features: { ...ALL_FEATURES, ringbuf: false } }));
    const { asked, probe } = countingProbe();
    const found = findKernelFeatures(options({ probe }));
    expect(asked).toEqual(FEATURE_NAMES);
    expect(found.features).toEqual(ALL_FEATURES);
    expect(JSON.parse(readFileSync(cachePath(), 'utf8')).bootId).toBe(bootId);
  });

  it('a new boot id (another boot_id file) is a new boot', () => {
    const otherBoot = join(work, 'boot_id');
    writeFileSync(otherBoot, '11111111-2222-3333-4444-555555555555\n');
    findKernelFeatures(options());
    const { asked, probe } = countingProbe();
    findKernelFeatures(options({ probe, bootIdPath: otherBoot }));
    expect(asked).toEqual(FEATURE_NAMES);
    expect(JSON.parse(readFileSync(cachePath(), 'utf8')).bootId).toBe('11111111-2222-3333-4444-555555555555');
  });

  it.each([
    ['not JSON', '{"format":1,"bootId":'],
    ['a feature missing', JSON.stringify({ format: 1, bootId, features: { ringbuf: true } })],
    ['a feature not a boolean', JSON.stringify({ format: 1, bootId, features: { ...ALL_FEATURES, bpf_loop: 'yes' } })],
    ['another format', JSON.stringify({ format: 2, bootId, features: ALL_FEATURES })],
    ['not an object', '[]'],
  ])('a corrupt cache file (%s) is probed over and rewritten', (_what, text) => {
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(cachePath(), text);
    const { asked, probe } = countingProbe();
    const found = findKernelFeatures(options({ probe }));
    expect(asked).toEqual(FEATURE_NAMES);
    expect(describeFeatures(found)).toBe(`weaver: kernel features (probed): ${ALL_YES}`);
    expect(JSON.parse(readFileSync(cachePath(), 'utf8'))).toEqual({ format: 1, bootId, features: ALL_FEATURES });
  });

  it('with no cache directory every run probes and nothing is written', () => {
    const { asked, probe } = countingProbe();
    findKernelFeatures(options({ cacheDir: null, probe }));
    findKernelFeatures(options({ cacheDir: null, probe }));
    expect(asked).toEqual([...FEATURE_NAMES, ...FEATURE_NAMES]);
  });
});

describe.skipIf(!canRun)('each feature\'s "no" and its fallback', () => {
  const composites = fixtureBuild({ fixture: 'composites', toolchain: '1.24' });
  const funcs = join(work, 'funcs.txt');
  writeFileSync(funcs, 'main.maps(m map[string]int64, empty map[int64]int64, none map[string]int64, wide map[int64]int64)\n');

  /** What the spec builder and the session choose with `features`, as trace.ts asks them (the same features, the same answer). */
  const chosen = new Map<string, ReturnType<typeof choose>>();
  const fallbacks = (features: KernelFeatures) => {
    const key = JSON.stringify(features);
    if (!chosen.has(key)) chosen.set(key, choose(features));
    return chosen.get(key)!;
  };
  function choose(features: KernelFeatures) {
    const transport = resolveTransport('auto', features);
    const attach = resolveAttachMode('auto', features);
    const spec = buildTraceSpec({
      binaryPath: composites.path,
      functionsFile: funcs,
      packages: [],
      plan: { stringSize: 64, maxElements: 16, maxRecordSize: 16384 },
      transport,
      attach,
      features,
      // The binary's analysis once, not once per feature set.
      binaryCacheDir: join(work, 'binaries'),
    });
    return {
      transport,
      attach,
      dispatch: spec.dispatch !== null,
      ringBatches: spec.ringBatches,
      taskBtfByHelpers: spec.cSource.includes('#define WEAVER_TASK_BTF 0\n'),
      mapEntries: spec.targets[0]!.plan.args![0]!.value.kind === 'map',
    };
  }
  const withAll = { transport: 'ring', attach: 'multi', dispatch: true, ringBatches: true, taskBtfByHelpers: false, mapEntries: true };

  it('with every feature: ring buffer, batches, uprobe_multi dispatchers, the task by BTF, map entries', () => {
    expect(fallbacks(ALL_FEATURES)).toEqual(withAll);
  });

  const cases: [FeatureName, Partial<typeof withAll>][] = [
    ['ringbuf', { transport: 'perf', ringBatches: false }],
    ['run_on_cpu', { ringBatches: false }],
    ['uprobe_multi', { attach: 'single', dispatch: false }],
    ['task_btf', { taskBtfByHelpers: true }],
    ['bpf_loop', { mapEntries: false }],
  ];

  it.each(cases)('%s off by WEAVER_FEATURES_DISABLE: %j', (name, change) => {
    const found = findKernelFeatures(options({ env: { WEAVER_FEATURES_DISABLE: name } }));
    expect(found.features).toEqual({ ...ALL_FEATURES, [name]: false });
    expect(describeFeatures(found)).toBe(lineWith('probed', name, 'off by WEAVER_FEATURES_DISABLE'));
    // The kernel's own answers are what is stored, not the forced one.
    expect(JSON.parse(readFileSync(cachePath(), 'utf8')).features).toEqual(ALL_FEATURES);
    expect(fallbacks(found.features)).toEqual({ ...withAll, ...change });
  });

  it.each(cases)('%s no in this boot\'s cache file: %j', (name, change) => {
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(cachePath(), JSON.stringify({ format: 1, bootId, features: { ...ALL_FEATURES, [name]: false } }));
    const { asked, probe } = countingProbe();
    const found = findKernelFeatures(options({ probe }));
    expect(asked).toEqual([]);
    expect(describeFeatures(found)).toBe(
      `weaver: kernel features (cached for this boot): ${FEATURE_NAMES.map((f) => `${f} ${f === name ? 'no' : 'yes'}`).join(', ')}`,
    );
    expect(fallbacks(found.features)).toEqual({ ...withAll, ...change });
  });

  it.each(cases)('%s whose probe fails (EPERM) falls back, and is probed again next run: %j', (name, change) => {
    const failing = (f: FeatureName) => (f === name ? { supported: false, errno: 1 } : probeKernelFeature(f));
    const found = findKernelFeatures(options({ probe: failing }));
    expect(describeFeatures(found)).toBe(lineWith('probed', name, 'probe failed: EPERM'));
    expect(fallbacks(found.features)).toEqual({ ...withAll, ...change });
    // Not stored: a failure may not be the kernel's answer.
    expect(() => readFileSync(cachePath())).toThrow(/ENOENT/);
    const { asked, probe } = countingProbe();
    expect(findKernelFeatures(options({ probe })).features).toEqual(ALL_FEATURES);
    expect(asked).toEqual(FEATURE_NAMES);
  });

  it('a probe that throws (a binding without probeFeature) counts as failed, EINVAL', () => {
    const throwing = (f: FeatureName) => {
      if (f === 'uprobe_multi') throw new TypeError('probeFeature is not a function');
      return probeKernelFeature(f);
    };
    expect(describeFeatures(findKernelFeatures(options({ probe: throwing })))).toBe(lineWith('probed', 'uprobe_multi', 'probe failed: EINVAL'));
  });

  it('several features off at once, spaces allowed', () => {
    const found = findKernelFeatures(options({ env: { WEAVER_FEATURES_DISABLE: ' ringbuf, bpf_loop ' } }));
    expect(found.features).toEqual({ ...ALL_FEATURES, ringbuf: false, bpf_loop: false });
  });
});

describe('without the kernel', () => {
  it('without privileges nothing is probed: every feature is assumed (--emit c), and nothing is stored', () => {
    const dir = join(work, 'unprivileged');
    const found = findKernelFeatures({ cacheDir: dir, privileged: false, env: {}, probe: () => { throw new Error('must not probe'); } });
    expect(describeFeatures(found)).toBe(`weaver: kernel features (assumed, no privileges to probe): ${ALL_YES}`);
    expect(() => readFileSync(join(dir, FEATURES_CACHE_FILE))).toThrow(/ENOENT/);
  });

  it('an unknown name in WEAVER_FEATURES_DISABLE is a usage error naming the known ones', () => {
    const find = () => findKernelFeatures({ cacheDir: null, privileged: false, env: { WEAVER_FEATURES_DISABLE: 'ringbuf,ring_buffer' }, probe: probeKernelFeature });
    expect(find).toThrow('WEAVER_FEATURES_DISABLE names ring_buffer, which is not a kernel feature weaver probes');
    try {
      find();
    } catch (err) {
      expect((err as { hint?: string; exitCode?: number }).hint).toBe('use a comma-separated list of ringbuf, run_on_cpu, uprobe_multi, task_btf, bpf_loop');
      expect((err as { exitCode?: number }).exitCode).toBe(2);
    }
  });
});
