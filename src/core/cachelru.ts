// The rule weaver's bounded caches share (compiled objects, per-binary
// analyses, kept specs, debuginfod downloads): the most recently used files stay while they number at most
// `keep` and add up to at most `maxBytes`; the most recent one always
// stays, being the one just written.

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
