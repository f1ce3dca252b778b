// The rule weaver's bounded caches share (src/core/cachelru.ts): which
// files stay, and how a cache directory is listed for it.

import { mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cachedFiles, leastRecentlyUsed, type CachedFile } from '../../src/core/cachelru.js';

const file = (name: string, used: number, bytes: number): CachedFile => ({ path: name, used, bytes });

describe('leastRecentlyUsed', () => {
  it.each([
    ['within both bounds: none goes', [file('a', 1, 10), file('b', 2, 10)], 5, 100, []],
    ['over the count: the oldest go', [file('a', 1, 10), file('b', 3, 10), file('c', 2, 10)], 2, 100, ['a']],
    ['over the bytes: the oldest go until the rest fit', [file('a', 1, 40), file('b', 2, 40), file('c', 3, 40)], 10, 90, ['a']],
    ['the newest stays even alone over the bytes', [file('a', 1, 10), file('b', 2, 500)], 10, 100, ['a']],
  ])('%s', (_what, files, keep, maxBytes, removed) => {
    expect(leastRecentlyUsed(files, keep, maxBytes).map((f) => f.path)).toEqual(removed);
  });
});

describe('cachedFiles', () => {
  it("lists the files whose names match, with mtime and size plus what is beside each", () => {
    const dir = mkdtempSync(join(tmpdir(), 'weaver-cachelru-'));
    writeFileSync(join(dir, 'one.o'), 'x'.repeat(10));
    writeFileSync(join(dir, 'two.o'), 'x'.repeat(20));
    writeFileSync(join(dir, 'other.tmp'), 'x'.repeat(30));
    utimesSync(join(dir, 'one.o'), 1000, 1000);
    utimesSync(join(dir, 'two.o'), 2000, 2000);
    const listed = cachedFiles(dir, /\.o$/, (path) => (path.endsWith('two.o') ? 5 : 0)).sort((a, b) => a.used - b.used);
    expect(listed).toEqual([
      { path: join(dir, 'one.o'), used: 1_000_000, bytes: 10 },
      { path: join(dir, 'two.o'), used: 2_000_000, bytes: 25 },
    ]);
  });

  it('throws for a directory that cannot be listed', () => {
    expect(() => cachedFiles(join(tmpdir(), 'weaver-no-such-dir-0'), /x/)).toThrow(/ENOENT/);
  });
});
