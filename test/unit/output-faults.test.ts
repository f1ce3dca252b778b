// OutputWriter when the output fails or stalls: one sentence naming the
// error, every line either written or counted as not written, and a reader
// that never reads can neither block weaver nor keep it waiting.

import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OutputWriter, ownNonBlocking } from '../../src/output/writer.js';

const dir = mkdtempSync(join(tmpdir(), 'weaver-output-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fifos = 0;

/** A named pipe with its read end open (never read) and its write end: [read, write]. */
function pipe(): [number, number] {
  const path = join(dir, `fifo-${++fifos}`);
  execFileSync('mkfifo', [path]);
  const read = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  return [read, openSync(path, 'w')];
}

const lines = (n: number, from = 0) => Array.from({ length: n }, (_, i) => JSON.stringify({ n: from + i, pad: 'p'.repeat(100) }));

describe('OutputWriter faults', () => {
  it('a full device: one sentence naming the error, every line counted as not written, later ones too', async () => {
    const fd = openSync('/dev/full', 'w');
    const w = new OutputWriter(fd, { name: '/dev/full' });
    w.writeLines(lines(3));
    const failure = await w.closed;
    expect(failure).toEqual({ code: 'ENOSPC', sentence: 'cannot write to /dev/full: no space left on device (ENOSPC)' });
    w.writeLines(lines(2));
    expect({ written: w.written, dropped: w.dropped }).toEqual({ written: 0, dropped: 5 });
    closeSync(fd);
  });

  it('a reader that went away (EPIPE): "the output was closed"', async () => {
    const [read, write] = pipe();
    closeSync(read);
    const w = new OutputWriter(write);
    w.writeLines(lines(4));
    expect(await w.closed).toEqual({ code: 'EPIPE', sentence: 'the output was closed' });
    expect(w.dropped).toBe(4);
    closeSync(write);
  });

  it('a reader that never reads: the event loop runs on, and abandon() counts what was not written', async () => {
    const [read, write] = pipe();
    const fd = ownNonBlocking(write);
    expect(fd).not.toBe(write);
    const w = new OutputWriter(fd, { lineAtomic: true });
    // 2000 lines of ~120 bytes: more than the pipe's 64 KiB.
    for (let b = 0; b < 20; b++) w.writeLines(lines(100, b * 100));
    let flushed = false;
    void w.flush().then(() => (flushed = true));
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 200));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(flushed).toBe(false);
    expect(w.written).toBeGreaterThan(0);
    expect(w.written).toBeLessThan(2000);
    w.abandon();
    await w.flush();
    expect(flushed).toBe(true);
    expect(w.written + w.dropped).toBe(2000);
    expect(w.stuck).toBe(false);
    for (const f of [fd, write, read]) closeSync(f);
  });

  it('ownNonBlocking leaves a regular file as it is', () => {
    const fd = openSync(join(dir, 'plain'), 'w');
    expect(ownNonBlocking(fd)).toBe(fd);
    closeSync(fd);
  });
});
