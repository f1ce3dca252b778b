// Where the kept kernel BTF of a cached object lives, and how the files of
// other boots, of objects no longer cached and of killed cuts go.

import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keepKernelBtf, keptBtfPathFor, keptKernelBtf } from '../../src/bpf/kernelbtf.js';

const BOOT = '85285423-be50-1548-66aa-0123456789ab';
const OTHER_BOOT = '11111111-2222-3333-4444-555555555555';

function fresh(): string {
  return mkdtempSync(join(tmpdir(), 'weaver-kernelbtf-'));
}

/** A bpftool that writes "min of <kernel btf> for <object>" as its min_core_btf. */
function fakeBpftool(dir: string): string {
  const path = join(dir, 'bpftool');
  writeFileSync(path, '#!/bin/sh\n[ "$1 $2" = "gen min_core_btf" ] || exit 2\necho "min of $3 for $5" > "$4"\n');
  chmodSync(path, 0o755);
  return path;
}

async function waitForFile(path: string): Promise<boolean> {
  for (let i = 0; i < 100 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 50));
  return existsSync(path);
}

describe('kept kernel BTF', () => {
  it('is named after the object and this boot, and found only when there', () => {
    const dir = fresh();
    const object = join(dir, 'abc123.o');
    expect(keptBtfPathFor(object, BOOT)).toBe(join(dir, 'abc123.kernel-85285423be501548.btf'));
    expect(keptBtfPathFor(object, null)).toBe(null);
    expect(keptBtfPathFor(join(dir, 'abc123.bin'), BOOT)).toBe(null);
    expect(keptKernelBtf(object, BOOT)).toBe(null);
    expect(keptKernelBtf(null, BOOT)).toBe(null);
    writeFileSync(keptBtfPathFor(object, BOOT)!, 'btf');
    expect(keptKernelBtf(object, BOOT)).toBe(keptBtfPathFor(object, BOOT));
    expect(keptKernelBtf(object, OTHER_BOOT)).toBe(null);
  });

  it('is cut by bpftool in the background, and what no longer serves goes', async () => {
    const dir = fresh();
    const bpftool = fakeBpftool(fresh());
    const object = join(dir, 'abc123.o');
    writeFileSync(object, 'object');
    writeFileSync(join(dir, 'gone.o'), 'object');
    const stale = [
      join(dir, 'abc123.kernel-1111111122223333.btf'), // another boot
      join(dir, 'removed.kernel-85285423be501548.btf'), // its object is no longer cached
      join(dir, 'abc123.kernel-85285423be501548.btf.999.tmp'), // a cut killed long ago
    ];
    for (const f of stale) writeFileSync(f, 'old');
    utimesSync(stale[2]!, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    const recentTmp = join(dir, 'gone.kernel-85285423be501548.btf.998.tmp');
    writeFileSync(recentTmp, 'a cut running now');

    keepKernelBtf(object, { bootId: BOOT, bpftool, kernelBtf: '/kernel.btf' });
    const kept = keptBtfPathFor(object, BOOT)!;
    expect(await waitForFile(kept)).toBe(true);
    expect(readFileSync(kept, 'utf8')).toBe(`min of /kernel.btf for ${object}\n`);
    expect(stale.filter(existsSync)).toEqual([]);
    expect(existsSync(recentTmp)).toBe(true);
    expect(readdirSync(dir).filter((n) => n.includes('.tmp') && n.startsWith('abc123'))).toEqual([]);
  });

  it('a failed cut leaves nothing behind', async () => {
    const dir = fresh();
    const object = join(dir, 'abc123.o');
    writeFileSync(object, 'object');
    const tools = fresh();
    const failing = join(tools, 'bpftool');
    const ran = join(tools, 'ran');
    writeFileSync(failing, `#!/bin/sh\necho partial > "$4"\ntouch ${ran}\nexit 1\n`);
    chmodSync(failing, 0o755);
    keepKernelBtf(object, { bootId: BOOT, bpftool: failing });
    expect(await waitForFile(ran)).toBe(true);
    for (let i = 0; i < 100 && readdirSync(dir).length > 1; i++) await new Promise((r) => setTimeout(r, 50));
    expect(readdirSync(dir)).toEqual(['abc123.o']);
  });
});
