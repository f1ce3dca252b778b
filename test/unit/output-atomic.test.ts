// Lines weaver writes must stay whole when another process writes to the same
// pipe, as the traced program does in launch mode.

import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lineAlignedChunks, OutputWriter, PIPE_BUF } from '../../src/output/writer.js';

const outputModule = fileURLToPath(new URL('../../dist/output/writer.js', import.meta.url));

describe('lineAlignedChunks', () => {
  const line = (n: number, ch = 'x') => ch.repeat(n - 1) + '\n';
  const cases: Array<[string, string, number, number[]]> = [
    ['short text is one write', line(10) + line(20), 64, [30]],
    ['cut at the last line break that fits', line(30) + line(30) + line(30), 64, [60, 30]],
    ['a line exactly at the limit', line(64) + line(5), 64, [64, 5]],
    ['a line longer than the limit stays whole', line(10) + line(100) + line(10), 64, [10, 100, 10]],
    ['multi-byte characters are counted in bytes', line(21, 'é'), 32, [41]],
  ];
  for (const [what, text, limit, sizes] of cases) {
    it(what, () => {
      const chunks = lineAlignedChunks(Buffer.from(text), limit);
      expect(chunks.map((c) => c.length)).toEqual(sizes);
      expect(Buffer.concat(chunks).toString()).toBe(text);
      for (const c of chunks) expect(c.at(-1)).toBe(0x0a);
    });
  }
});

describe('OutputWriter on a pipe shared with another writer', () => {
  it('no line of either writer is cut by the other', async () => {
    const LINES = 20000;
    const ours = `import { OutputWriter } from ${JSON.stringify(outputModule)};
      const w = new OutputWriter(process.stdout, { lineAtomic: process.env.ATOMIC === '1' });
      for (let b = 0; b < ${LINES / 500}; b++) {
        const lines = [];
        for (let i = 0; i < 500; i++) lines.push(JSON.stringify({ n: b * 500 + i, pad: 'p'.repeat(200) }));
        w.writeLines(lines);
      }`;
    // The pipe is non-blocking for both (Node sets O_NONBLOCK on the shared file description): retry on EAGAIN.
    const theirs = `const fs = require('node:fs');
      for (let i = 0; i < ${LINES}; i++) {
        for (;;) { try { fs.writeSync(1, 'OTHER ' + i + '\\n'); break; } catch (e) { if (e.code !== 'EAGAIN') throw e; } }
      }`;
    const script = 'node --input-type=module -e "$OURS" & node -e "$THEIRS" & wait';
    const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, OURS: ours, THEIRS: theirs, ATOMIC: '1' } });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    await new Promise((resolve) => child.on('close', resolve));
    const lines = out.split('\n').slice(0, -1);
    const broken = lines.filter((l) => !/^OTHER \d+$/.test(l) && !/^\{"n":\d+,"pad":"p{200}"\}$/.test(l));
    expect(broken.slice(0, 3)).toEqual([]);
    expect(lines.length).toBe(2 * LINES);
    expect(PIPE_BUF).toBe(4096);
  }, 30000);
});

describe('OutputWriter.flush on a file', () => {
  it('resolves once lines below the stream\'s high-water mark are written (no drain event comes for them)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weaver-flush-'));
    try {
      const path = join(dir, 'events.jsonl');
      const stream = createWriteStream(path);
      const w = new OutputWriter(stream);
      w.writeLines(['{"n":1}', '{"n":2}']);
      expect(stream.writableLength).toBeGreaterThan(0);
      expect(stream.writableNeedDrain).toBe(false);
      const flushed = await Promise.race([w.flush().then(() => true), new Promise((r) => setTimeout(() => r(false), 2000))]);
      expect(flushed).toBe(true);
      expect(stream.writableLength).toBe(0);
      await new Promise<void>((r) => stream.end(r));
      expect(readFileSync(path, 'utf8')).toBe('{"n":1}\n{"n":2}\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
