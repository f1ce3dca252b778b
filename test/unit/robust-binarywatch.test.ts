// watchBinary: a traced file written in place ends tracing at once with a
// sentence; replaced by rename or removed, it only warns (running processes
// are still traced); chmod changes nothing; cancel() stops watching.

import { chmodSync, copyFileSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { watchBinary } from '../../src/binarywatch.js';

const dir = mkdtempSync(join(tmpdir(), 'weaver-watch-'));
const file = join(dir, 'program');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => writeFileSync(file, Buffer.alloc(4096, 0x90)));

/** What happened within `ms`: the stop sentence or 'still running'. */
function within(promise: Promise<string>, ms: number): Promise<string> {
  return Promise.race([promise, new Promise<string>((r) => setTimeout(() => r('still running'), ms))]);
}

describe('watchBinary', () => {
  it('stops when the file is overwritten in place (cp over it)', async () => {
    const warnings: string[] = [];
    const w = watchBinary(file, (s) => warnings.push(s));
    const other = join(dir, 'other');
    writeFileSync(other, Buffer.alloc(8192, 0xcc));
    const started = performance.now();
    copyFileSync(other, file); // same inode, new bytes
    const said = await within(w.promise, 2000);
    expect(said).toBe(
      `${file} was changed on disk while traced; its probes were removed at once, since they now sit in different code (start weaver again to trace the new program)`,
    );
    expect(performance.now() - started).toBeLessThan(500);
    expect(warnings).toEqual([]);
  });

  it('only warns when a new file is renamed over it', async () => {
    const warnings: string[] = [];
    const w = watchBinary(file, (s) => warnings.push(s));
    const fresh = join(dir, 'fresh');
    writeFileSync(fresh, Buffer.alloc(100, 1));
    renameSync(fresh, file);
    expect(await within(w.promise, 800)).toBe('still running');
    w.cancel();
    expect(warnings).toEqual([
      `${file} was replaced on disk; processes already running it are still traced, ones started from now on are not (start weaver again to trace them)`,
    ]);
  });

  it('only warns when it is removed', async () => {
    const warnings: string[] = [];
    const w = watchBinary(file, (s) => warnings.push(s));
    unlinkSync(file);
    expect(await within(w.promise, 800)).toBe('still running');
    w.cancel();
    expect(warnings).toEqual([`${file} was removed; processes already running it are still traced`]);
  });

  it('ignores a change of permissions', async () => {
    const warnings: string[] = [];
    const w = watchBinary(file, (s) => warnings.push(s));
    chmodSync(file, 0o700);
    expect(await within(w.promise, 800)).toBe('still running');
    w.cancel();
    expect(warnings).toEqual([]);
  });

  it('stops watching once cancelled', async () => {
    const warnings: string[] = [];
    const w = watchBinary(file, (s) => warnings.push(s));
    w.cancel();
    writeFileSync(file, 'changed');
    expect(await within(w.promise, 600)).toBe('still running');
    expect(warnings).toEqual([]);
  });
});
