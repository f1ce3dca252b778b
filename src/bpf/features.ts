// What the running kernel can do, asked of the kernel itself: each feature
// weaver chooses a fallback for is probed by creating the map, link or
// program that needs it (native/src/probe.c), once per boot, and the
// answers are kept in the cache directory until the next boot. A release
// number would be wrong both ways: distributions backport (RHEL 8's 4.18
// has the BPF ring buffer) and configurations remove.
//
// The answers are plain data handed to the spec builder (TraceRequest
// .features), so everything before loading stays a function of its inputs.

import { constants as osConstants } from 'node:os';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { defaultCacheDir, UsageError } from '../core/index.js';
import { probeKernelFeature } from './loader.js';
import { effectiveCapabilities, hasBpfPrivileges } from './privileges.js';

/** Each feature, by the name probeFeature and WEAVER_FEATURES_DISABLE use, and what weaver does without it. */
export const FEATURES = {
  /** The BPF ring buffer map (Linux 5.8); without it: per-CPU perf buffers. */
  ringbuf: 'the BPF ring buffer',
  /** BPF_PROG_TEST_RUN on a chosen CPU (5.10), which flushes per-CPU record batches; without it: records reserved one by one. */
  run_on_cpu: 'running a program on a chosen CPU',
  /** uprobe_multi links with a pid filter (6.6); without them: one link per probe. */
  uprobe_multi: 'uprobe_multi links',
  /** bpf_get_current_task_btf in uprobe programs (5.11); without it: a helper call for each task field. */
  task_btf: 'bpf_get_current_task_btf',
  /** bpf_loop (5.17), which walks a Go map's storage; without it: map lengths only. */
  bpf_loop: 'bpf_loop',
} as const;

export type FeatureName = keyof typeof FEATURES;
export const FEATURE_NAMES = Object.keys(FEATURES) as FeatureName[];

/** Whether the kernel has each feature. */
export type KernelFeatures = Record<FeatureName, boolean>;

/** Every feature present: what a current kernel has, and the default for building a spec. */
export const ALL_FEATURES: Readonly<KernelFeatures> = Object.freeze({ ringbuf: true, run_on_cpu: true, uprobe_multi: true, task_btf: true, bpf_loop: true });

/** A probe's answer (bpf-loader-node probeFeature): errno set when the probe could not run. */
export interface ProbeAnswer {
  supported: boolean;
  errno?: number;
}

/** The environment variable naming features to treat as missing (comma-separated), to try the fallbacks on any kernel. */
export const DISABLE_ENV = 'WEAVER_FEATURES_DISABLE';

/** The file, in weaver's cache directory, holding one boot's answers. */
export const FEATURES_CACHE_FILE = 'kernel-features.json';

export const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';

export interface FeatureFindings {
  features: KernelFeatures;
  /** probed: asked now; cached: answered earlier in this boot; assumed: no privileges to ask (--emit c), all present. */
  source: 'probed' | 'cached' | 'assumed';
  /** Why a feature is counted missing other than by the kernel's own answer. */
  reasons: Partial<Record<FeatureName, string>>;
}

export interface FindOptions {
  /** The directory of kernel-features.json; null: no cache (probe every time). */
  cacheDir: string | null;
  /** Asks the kernel about one feature (the native probe). */
  probe: (name: FeatureName) => ProbeAnswer;
  /** Whether this process may load BPF programs; without, nothing is probed and all features are assumed. */
  privileged: boolean;
  env?: NodeJS.ProcessEnv;
  bootIdPath?: string;
}

/** Bumped when the file's meaning changes: a file of another format is probed over. */
const CACHE_FORMAT = 1;

interface CacheContents {
  format: typeof CACHE_FORMAT;
  bootId: string;
  features: KernelFeatures;
}

/**
 * The kernel's features: from this boot's cache file, else probed (and
 * stored when every probe answered), then WEAVER_FEATURES_DISABLE applied.
 * A probe that cannot run counts its feature as missing: the fallback
 * works on every kernel, the feature only on one that has it.
 */
export function findKernelFeatures(options: FindOptions): FeatureFindings {
  const disabled = disabledByEnv(options.env ?? process.env);
  const bootId = readBootId(options.bootIdPath ?? BOOT_ID_PATH);
  const cachePath = options.cacheDir === null ? null : join(options.cacheDir, FEATURES_CACHE_FILE);
  const reasons: FeatureFindings['reasons'] = {};
  let features: KernelFeatures;
  let source: FeatureFindings['source'];
  const cached = cachePath && bootId ? readCache(cachePath, bootId) : null;
  if (cached) {
    features = cached;
    source = 'cached';
  } else if (!options.privileged) {
    features = { ...ALL_FEATURES };
    source = 'assumed';
  } else {
    features = { ...ALL_FEATURES };
    source = 'probed';
    let allAnswered = true;
    for (const name of FEATURE_NAMES) {
      const answer = probeSafely(options.probe, name);
      features[name] = answer.supported && !answer.errno;
      if (answer.errno) {
        allAnswered = false;
        reasons[name] = `probe failed: ${errnoName(answer.errno)}`;
      }
    }
    // An answer the probe could not give may come next time (a transient failure): not kept.
    if (cachePath && bootId && allAnswered) writeCache(cachePath, { format: CACHE_FORMAT, bootId, features });
  }
  for (const name of disabled) {
    features[name] = false;
    reasons[name] = `off by ${DISABLE_ENV}`;
  }
  return { features, source, reasons };
}

/** The features of the kernel weaver runs on, with weaver's cache (none with `cache: false`, as --no-cache). */
export function kernelFeatures(options: { cache?: boolean; env?: NodeJS.ProcessEnv } = {}): FeatureFindings {
  const env = options.env ?? process.env;
  return findKernelFeatures({
    // Beside the compile cache (bpf/) and the binary cache (binaries/).
    cacheDir: options.cache === false ? null : dirname(defaultCacheDir(env)),
    probe: probeKernelFeature,
    privileged: hasBpfPrivileges(effectiveCapabilities()),
    env,
  });
}

/** The -v line: `weaver: kernel features (probed): ringbuf yes, run_on_cpu yes, …`. */
export function describeFeatures(findings: FeatureFindings): string {
  const how = findings.source === 'cached' ? 'cached for this boot' : findings.source === 'assumed' ? 'assumed, no privileges to probe' : 'probed';
  const parts = FEATURE_NAMES.map((name) => {
    const reason = findings.reasons[name];
    return `${name} ${findings.features[name] ? 'yes' : 'no'}${reason ? ` (${reason})` : ''}`;
  });
  return `weaver: kernel features (${how}): ${parts.join(', ')}`;
}

/** WEAVER_FEATURES_DISABLE's names; an unknown one is a usage error (a typo would test nothing). */
export function disabledByEnv(env: NodeJS.ProcessEnv): FeatureName[] {
  const text = env[DISABLE_ENV]?.trim();
  if (!text) return [];
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of names) {
    if (!(name in FEATURES)) {
      throw new UsageError(`${DISABLE_ENV} names ${name}, which is not a kernel feature weaver probes`, {
        hint: `use a comma-separated list of ${FEATURE_NAMES.join(', ')}`,
      });
    }
  }
  return names as FeatureName[];
}

export function readBootId(path: string = BOOT_ID_PATH): string | null {
  try {
    const id = readFileSync(path, 'utf8').trim();
    return id || null;
  } catch {
    return null;
  }
}

/** This boot's answers, or null when the file is missing, unreadable, corrupt or from another boot. */
function readCache(path: string, bootId: string): KernelFeatures | null {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
  if (typeof data !== 'object' || data === null) return null;
  const { format, bootId: storedBoot, features } = data as Partial<CacheContents>;
  if (format !== CACHE_FORMAT || storedBoot !== bootId || typeof features !== 'object' || features === null) return null;
  const out = { ...ALL_FEATURES };
  for (const name of FEATURE_NAMES) {
    const value = (features as Record<string, unknown>)[name];
    if (typeof value !== 'boolean') return null;
    out[name] = value;
  }
  return out;
}

/** Written whole or not at all (another weaver may be reading); a cache that cannot be written is only slower. */
function writeCache(path: string, contents: CacheContents): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, `${JSON.stringify(contents)}\n`);
    renameSync(tmp, path);
  } catch {
    // Read-only or full: the next run probes again.
  }
}

/** A probe that throws (a binding without probeFeature) could not run. */
function probeSafely(probe: FindOptions['probe'], name: FeatureName): ProbeAnswer {
  try {
    return probe(name);
  } catch (err) {
    const errno = (err as { errno?: unknown }).errno;
    return { supported: false, errno: typeof errno === 'number' && errno > 0 ? errno : osConstants.errno.EINVAL };
  }
}

/** EPERM for 1: the name people search for. */
export function errnoName(errno: number): string {
  const entry = Object.entries(osConstants.errno).find(([, n]) => n === errno);
  return entry ? entry[0] : `errno ${errno}`;
}
