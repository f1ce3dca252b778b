// What weaver's own code is, for caches whose answers depend on it (the
// per-binary analyses, the kept trace specs): each file's size and mtime,
// not its contents, so a fingerprint costs one stat a file. A rebuild or
// an upgrade of weaver rewrites the files and so changes it.

import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';

/** A hash of each file's path relative to `root`, size and mtime ("missing" for one that is not there). */
export function filesFingerprint(files: string[], root: string): string {
  const parts = files.map((f) => {
    try {
      const s = statSync(f, { bigint: true });
      return `${relative(root, f)} ${s.size} ${s.mtimeNs}`;
    } catch {
      return `${relative(root, f)} missing`;
    }
  });
  return createHash('sha256').update(parts.join('\n')).digest('hex');
}

/** The files under `dir` whose names end in `ext`, in sub-folders too, in a fixed order; an unreadable folder is itself listed (and stamped missing). */
export function filesUnder(dir: string, ext: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [dir];
  }
  return entries
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name), ext) : e.name.endsWith(ext) ? [join(dir, e.name)] : []));
}

/** The x86 decoder's package.json, which changes with its version; null when it is not installed. */
export function decoderPackageFile(): string | null {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('iced-x86')), 'package.json');
  } catch {
    return null;
  }
}
