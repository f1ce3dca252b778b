// The rule weaver's bounded caches share (compiled objects, per-binary
// analyses, kept specs, debuginfod downloads): the most recently used files stay while they number at most
// `keep` and add up to at most `maxBytes`; the most recent one always
// stays, being the one just written.

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** A cache file, when it was last used (its mtime, set on every use) and its size with anything stored beside it. */
export interface CachedFile {
  path: string;
  used: number;
  bytes: number;
}

/** The files to remove from `files` under the rule above, least recently used last. */
export function leastRecentlyUsed(files: CachedFile[], keep: number, maxBytes: number): CachedFile[] {
  const newestFirst = [...files].sort((a, b) => b.used - a.used);
  let bytes = 0;
  return newestFirst.filter((f, i) => {
    bytes += f.bytes;
    return !(i === 0 || (i < keep && bytes <= maxBytes));
  });
}

/**
 * The files in `dir` whose names match `pattern`, each with its mtime and
 * its size plus `besideBytes(path)` (what is stored beside it). A file
 * another weaver removes meanwhile is left out; an unreadable `dir` throws.
 */
export function cachedFiles(dir: string, pattern: RegExp, besideBytes: (path: string) => number = () => 0): CachedFile[] {
  const files: CachedFile[] = [];
  for (const name of readdirSync(dir)) {
    if (!pattern.test(name)) continue;
    const path = join(dir, name);
    try {
      const st = statSync(path);
      files.push({ path, used: st.mtimeMs, bytes: st.size + besideBytes(path) });
    } catch {
      // Removed by another weaver meanwhile.
    }
  }
  return files;
}
