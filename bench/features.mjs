// What asking the kernel for its features costs (src/bpf/features.ts): each
// probe alone (native/src/probe.c), then the whole answer as weaver's
// start-up gets it, probed (the first run of a boot) and read from the
// cache file (every later run). Medians of `rounds` runs in one process.
//
// Usage: node bench/features.mjs [rounds]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, requireBuilt, requireRoot } from './lib.mjs';

requireRoot('bench/features.mjs');
requireBuilt();
const { FEATURE_NAMES, findKernelFeatures } = await import('../dist/bpf/features.js');
const { probeKernelFeature } = await import('../dist/bpf/loader.js');

const ROUNDS = Number(process.argv[2] ?? 50);
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

probeKernelFeature('ringbuf'); // the binding's own load is not a probe's cost
for (const name of FEATURE_NAMES) {
  const times = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = process.hrtime.bigint();
    probeKernelFeature(name);
    times.push(ms(t0));
  }
  console.log(`${name.padEnd(14)} ${median(times).toFixed(3)} ms (max ${Math.max(...times).toFixed(3)})`);
}

const dir = mkdtempSync(join(tmpdir(), 'weaver-bench-features-'));
const probed = [];
const cached = [];
for (let i = 0; i < ROUNDS; i++) {
  const cacheDir = join(dir, String(i));
  const options = { cacheDir, probe: probeKernelFeature, privileged: true, env: {} };
  let t0 = process.hrtime.bigint();
  findKernelFeatures(options);
  probed.push(ms(t0));
  t0 = process.hrtime.bigint();
  findKernelFeatures(options);
  cached.push(ms(t0));
}
rmSync(dir, { recursive: true, force: true });
console.log(`all, probed     ${median(probed).toFixed(3)} ms (max ${Math.max(...probed).toFixed(3)})`);
console.log(`all, cached     ${median(cached).toFixed(3)} ms (max ${Math.max(...cached).toFixed(3)})`);
