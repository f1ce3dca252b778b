// watchBinary: a traced file written in place ends tracing at once with a
// sentence; replaced by rename or removed, it only warns (running processes
// are still traced) — and, when every process of the binary is traced,
// ends once nothing can run the old file any more; chmod changes nothing;
// cancel() stops watching.

import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, linkSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { watchBinary } from '../../src/process/binarywatch.js';

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

  it('tracing every process: removed and run by none, it ends at once with a sentence', async () => {
    const warnings: string[] = [];
    const w = watchBinary(file, (s) => warnings.push(s), 50, { endWhenUntraceable: true });
    unlinkSync(file);
    expect(await within(w.promise, 1000)).toBe(`${file} was removed and no process runs the traced file any more: nothing is left to trace`);
    expect(warnings).toEqual([`${file} was removed; processes already running it are still traced, and weaver ends once none is left`]);
  });

  it('tracing every process: waits while another link to the file is left', async () => {
    const other = join(dir, 'hardlink');
    linkSync(file, other);
    const w = watchBinary(file, () => {}, 50, { endWhenUntraceable: true });
    unlinkSync(file);
    expect(await within(w.promise, 400)).toBe('still running');
    unlinkSync(other);
    expect(await within(w.promise, 1000)).toBe(`${file} was removed and no process runs the traced file any more: nothing is left to trace`);
  });

  it('tracing every process: waits while a process runs the removed file, ends when it exits', async () => {
    const program = join(dir, 'sleeper');
    copyFileSync('/bin/sleep', program);
    chmodSync(program, 0o755);
    const child = spawn(program, ['30'], { stdio: 'ignore' });
    await new Promise((r) => child.on('spawn', r));
    const w = watchBinary(program, () => {}, 50, { endWhenUntraceable: true });
    unlinkSync(program);
    expect(await within(w.promise, 400)).toBe('still running');
    child.kill('SIGKILL');
    expect(await within(w.promise, 1000)).toBe(`${program} was removed and no process runs the traced file any more: nothing is left to trace`);
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
