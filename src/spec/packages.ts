// Package paths of a Go binary and the `-p` patterns that select them.
//
// Symbol names escape the dots of an import path's last element
// (`gopkg.in/yaml%2ev3.Marshal`) so that the first dot after the last slash
// ends the package; DWARF and users write the path as Go does
// (`gopkg.in/yaml.v3`). Here every path is the unescaped one.
//
// Patterns follow `go list`: `...` matches any string, `net/...` also
// matches `net` itself. A wildcard never reaches into the runtime's own
// packages (they run inside every call and are hot) unless the pattern's
// fixed part already lies inside them: `runtime/...` does, `...` does not.

import { closestNames, didYouMean, InputError, packageOf } from '../core/index.js';

/** `%2e` and the other `%xx` escapes of a symbol's package path, decoded. */
export function unescapePackagePath(path: string): string {
  return path.includes('%') ? path.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))) : path;
}

/**
 * The import path of the package a function belongs to, unescaped, or null
 * for functions the compiler generates outside any package: type equality
 * and hash functions (`type..eq.main.T`, `type:.hash.net/http.x`), methods
 * of anonymous struct types (`go:struct { io.Reader; … }.Read`), `_.f`.
 */
export function functionPackage(name: string): string | null {
  const pkg = packageOf(name);
  if (pkg === null || pkg === '_' || pkg === 'type' || pkg === 'go') return null;
  if (/^(type|go)[.:]/.test(pkg) || /[\s(){};:]/.test(pkg)) return null;
  return unescapePackagePath(pkg);
}

/** Package path → number of distinct functions, and how many functions belong to no package. */
export interface PackageCounts {
  counts: Map<string, number>;
  generated: number;
}

export function countPackages(functionNames: Iterable<string>): PackageCounts {
  const counts = new Map<string, number>();
  let generated = 0;
  for (const name of functionNames) {
    const pkg = functionPackage(name);
    if (pkg === null) generated++;
    else counts.set(pkg, (counts.get(pkg) ?? 0) + 1);
  }
  return { counts, generated };
}

/** Packages a wildcard leaves out unless its fixed part starts inside them. */
const RUNTIME_PREFIXES = ['runtime', 'internal', 'sync/atomic'];

function isRuntimePackage(path: string): boolean {
  return RUNTIME_PREFIXES.some((r) => path === r || path.startsWith(`${r}/`));
}

/** True when the package path `pkg` (unescaped) matches the `-p` pattern. */
export function matchesPattern(pattern: string, pkg: string): boolean {
  const p = unescapePackagePath(pattern);
  if (!p.includes('...')) return p === pkg;
  const fixed = p.slice(0, p.indexOf('...'));
  if (isRuntimePackage(pkg) && !RUNTIME_PREFIXES.some((r) => fixed.startsWith(r))) return false;
  const body = p.split('...').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  // `x/...` matches `x` as well, as in `go list`.
  const re = p.endsWith('/...') ? `^(?:${body}|${body.slice(0, -'/.*'.length)})$` : `^${body}$`;
  return new RegExp(re).test(pkg);
}

/**
 * The packages of the binary the patterns select, sorted. A pattern that
 * selects nothing is an error naming the closest packages, never ignored:
 * a misspelt package would otherwise trace or list nothing without a word.
 */
export function selectPackages(patterns: string[], available: Iterable<string>, binaryPath: string): string[] {
  const all = [...available];
  const selected = new Set<string>();
  for (const pattern of patterns) {
    const matched = all.filter((pkg) => matchesPattern(pattern, pkg));
    if (matched.length === 0) {
      throw new InputError(`no package in ${binaryPath} matches -p ${pattern}${didYouMean(closestPackages(pattern, all))}`, {
        hint: `see every package it has with: weaver list --packages ${binaryPath}`,
      });
    }
    for (const pkg of matched) selected.add(pkg);
  }
  return [...selected].sort();
}

/**
 * Packages someone writing `pattern` may mean: those whose last element is
 * the pattern (`http` → `net/http`), else the closest paths by edit
 * distance; for a wildcard, those close to its fixed part.
 */
export function closestPackages(pattern: string, packages: string[], max = 3): string[] {
  const p = unescapePackagePath(pattern);
  const fixed = p.includes('...') ? p.slice(0, p.indexOf('...')).replace(/\/$/, '') : p;
  if (fixed === '') return [];
  const wildcard = p.includes('...');
  // A wildcard's fixed part may name a directory above the packages: `github.com/acme` of `github.com/acme/shop`.
  const candidates = wildcard ? [...new Set(packages.flatMap((pkg) => pkg.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'))))] : packages;
  const byLastElement = candidates.filter((pkg) => pkg.endsWith(`/${fixed}`)).sort();
  const found = byLastElement.length > 0 ? byLastElement.slice(0, max) : closestNames(fixed, candidates, max);
  return found.map((pkg) => (wildcard ? pkg + p.slice(fixed.length) : pkg));
}
