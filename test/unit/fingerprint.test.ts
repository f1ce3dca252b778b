// Fingerprints of weaver's own files (src/core/fingerprint.ts), which the
// per-binary cache and the spec cache keep their answers under.

import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decoderPackageFile, filesFingerprint, filesUnder } from '../../src/core/fingerprint.js';

function tree(): string {
  const root = mkdtempSync(join(tmpdir(), 'weaver-fingerprint-'));
  mkdirSync(join(root, 'b', 'c'), { recursive: true });
  for (const f of ['z.js', 'a.js', 'a.d.ts', 'b/m.js', 'b/c/n.js', 'b/readme.md']) writeFileSync(join(root, f), f);
  return root;
}

describe('filesUnder', () => {
  it('lists the files with the extension, in sub-folders too, in name order', () => {
    const root = tree();
    expect(filesUnder(root, '.js').map((f) => f.slice(root.length + 1))).toEqual(['a.js', 'b/c/n.js', 'b/m.js', 'z.js']);
  });

  it('lists an unreadable folder itself, so that its absence counts', () => {
    const gone = join(tmpdir(), 'weaver-fingerprint-none-0');
    expect(filesUnder(gone, '.js')).toEqual([gone]);
  });
});

describe('filesFingerprint', () => {
  const cases: [string, (root: string) => void][] = [
    ['a file rewritten with another size', (root) => writeFileSync(join(root, 'a.js'), 'longer text')],
    ['a file touched', (root) => utimesSync(join(root, 'b/m.js'), 1, 1)],
    ['a file removed', (root) => rmSync(join(root, 'z.js'))],
  ];
  it.each(cases)('changes with %s', (_what, change) => {
    const root = tree();
    const files = filesUnder(root, '.js');
    const before = filesFingerprint(files, root);
    expect(filesFingerprint(files, root)).toBe(before);
    change(root);
    expect(filesFingerprint(files, root)).not.toBe(before);
  });

  it('names files relative to the root, so the same tree elsewhere gives the same fingerprint', () => {
    const a = tree();
    const b = tree();
    for (const root of [a, b]) for (const f of filesUnder(root, '.js')) utimesSync(f, 1000, 1000);
    expect(filesFingerprint(filesUnder(a, '.js'), a)).toBe(filesFingerprint(filesUnder(b, '.js'), b));
  });

  it("finds the decoder package's package.json", () => {
    expect(decoderPackageFile()).toMatch(/node_modules\/iced-x86\/package\.json$/);
  });
});
