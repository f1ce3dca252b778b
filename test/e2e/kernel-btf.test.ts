// The kernel BTF kept for a cached object (src/bpf/kernelbtf.ts): a start
// after the first relocates against the few kernel types the object names
// (task_struct's pid, tgid, real_parent, comm, thread.fsbase) instead of the
// kernel's whole BTF, and reads the same process and goroutine facts with
// it; a kept file that does not parse is removed, the load retried with
// the kernel's own BTF, and the trace is the same. Go 1.15 (goroutine ids
// through fsbase, the stack ABI) and the newest toolchain.

import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildGoProgram, oldestAndNewestToolchains } from '../helpers/goprogram.js';
import { requireBpfOrSkip, runWeaver } from '../helpers/weaver.js';

const SOURCE = fileURLToPath(new URL('./programs/flood.go', import.meta.url));
const CALLS = 25;
const canRun = requireBpfOrSkip();
const toolchains = oldestAndNewestToolchains();

interface Call {
  function: string;
  pid: number;
  tid: number;
  ppid: number;
  comm: string;
  goid: number;
  args: { name: string; value: unknown }[];
}

async function trace(binary: string, cacheHome: string) {
  const r = await runWeaver(['-v', '-p', 'main', '--format', 'json', '--', binary, String(CALLS)], {
    env: { ...process.env, XDG_CACHE_HOME: cacheHome },
    timeoutMs: 60_000,
  });
  expect(r.code, r.stderr).toBe(0);
  const pid = Number(/pid (\d+)\)/.exec(r.stderr)?.[1]);
  const calls = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Call).filter((c) => c.function === 'main.f');
  return {
    // What the kernel types give, with this run's pid put back to a name.
    facts: calls.map((c) => ({ pid: c.pid === pid, tid: c.tid > 0, ppid: c.ppid === process.pid || c.ppid > 1, comm: c.comm, goid: c.goid, args: c.args.map((a) => a.value) })),
    keptBtf: /^weaver: kernel BTF for CO-RE from (\S+\.btf)$/m.exec(r.stderr)?.[1] ?? null,
    refused: /^weaver: the kept kernel BTF \S+ did not serve \(/m.test(r.stderr),
    stderr: r.stderr,
  };
}

/** The kept BTF is written in the background after a start; waits for it. */
async function keptBtfIn(cacheHome: string): Promise<string | null> {
  const dir = join(cacheHome, 'weaver', 'bpf');
  for (let i = 0; i < 100; i++) {
    const found = existsSync(dir) ? readdirSync(dir).find((n) => n.endsWith('.btf')) : undefined;
    if (found) return join(dir, found);
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

describe.runIf(canRun).each(toolchains)('kept kernel BTF on Go $toolchain', (tc) => {
  const binary = buildGoProgram(tc, SOURCE, 'flood');

  it('a later start relocates against the kept BTF and reads the same facts; a damaged one is replaced', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'weaver-kernel-btf-'));
    const first = await trace(binary, cache);
    expect(first.keptBtf).toBe(null);
    expect(first.facts).toHaveLength(CALLS);
    expect(first.facts[0]).toEqual({ pid: true, tid: true, ppid: true, comm: 'flood', goid: 1, args: [0, 'flood'] });

    const kept = await keptBtfIn(cache);
    expect(kept, 'bpftool gen min_core_btf wrote no BTF beside the cached object').not.toBe(null);
    const second = await trace(binary, cache);
    expect(second.keptBtf).toBe(kept);
    expect(second.refused).toBe(false);
    expect(second.facts).toEqual(first.facts);

    writeFileSync(kept!, 'not BTF');
    const third = await trace(binary, cache);
    expect(third.refused, third.stderr).toBe(true);
    expect(third.facts).toEqual(first.facts);
    // Cut again from the kernel's BTF for the next start.
    expect(await keptBtfIn(cache)).toBe(kept);
  }, 120_000);
});
