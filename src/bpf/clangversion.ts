// `clang --version` is part of every compiled object's cache key, and
// running it costs 0.1–0.2 s of every start, even one whose objects are all
// cached. The answer is kept per clang executable, identified by its real
// path, inode, size and modification and change times, so clang runs again
// only once it was replaced (an upgrade, another alternative, a rebuild).

import { accessSync, constants, mkdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const FILE = 'clang-version.json';

/** The executable `command` names, looked up in PATH the way execvp does; null when none is found. */
export function resolveExecutable(command: string, env: NodeJS.ProcessEnv = process.env): string | null {
  const candidates = command.includes('/') ? [command] : (env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, command));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      if (statSync(c).isFile()) return c;
    } catch {
      // Not here: the next directory.
    }
  }
  return null;
}

/** What identifies one clang executable's file, or null when it cannot be found. */
export function executableIdentity(command: string, env: NodeJS.ProcessEnv = process.env): string | null {
  const found = resolveExecutable(command, env);
  if (!found) return null;
  try {
    const real = realpathSync(found);
    const s = statSync(real, { bigint: true });
    return `${real} ${s.ino} ${s.size} ${s.mtimeNs} ${s.ctimeNs}`;
  } catch {
    return null;
  }
}

/** The version kept for `identity` in `dir`, or null. */
export function keptVersion(dir: string, identity: string): string | null {
  try {
    const kept = JSON.parse(readFileSync(join(dir, FILE), 'utf8')) as unknown;
    if (kept && typeof kept === 'object' && !Array.isArray(kept)) {
      const v = (kept as Record<string, unknown>)[identity];
      if (typeof v === 'string' && v.length > 0) return v;
    }
  } catch {
    // Missing or damaged: asked again.
  }
  return null;
}

/** Keeps `version` for `identity` (only the latest few executables); a cache that cannot be written only costs the next start a run of clang. */
export function keepVersion(dir: string, identity: string, version: string): void {
  try {
    let kept: Record<string, string> = {};
    try {
      const old = JSON.parse(readFileSync(join(dir, FILE), 'utf8')) as unknown;
      if (old && typeof old === 'object' && !Array.isArray(old)) kept = old as Record<string, string>;
    } catch {
      // Start afresh.
    }
    delete kept[identity];
    const entries = [...Object.entries(kept).filter(([, v]) => typeof v === 'string').slice(-7), [identity, version]];
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `${FILE}.${process.pid}.tmp`);
    writeFileSync(tmp, JSON.stringify(Object.fromEntries(entries)));
    renameSync(tmp, join(dir, FILE));
  } catch {
    // Read-only or full: not kept.
  }
}
