// "Did you mean …?" suggestions: the closest names by edit distance.
// Used for misspelt type names in the functions file and for functions that
// are not in the binary, where there can be tens of thousands of candidates;
// so each comparison is a banded computation that gives up as soon as the
// distance exceeds the limit.

import { withoutTypeArguments } from './gonames.js';

/** Largest distance still worth suggesting: a third of the name, at most 5 edits. */
function distanceLimit(name: string): number {
  return Math.max(1, Math.min(5, Math.floor(name.length / 3)));
}

// Rows reused between calls: a comparison allocates nothing.
let rows: Int32Array[] = [new Int32Array(64), new Int32Array(64), new Int32Array(64)];

/**
 * Optimal-string-alignment distance (insertions, deletions, substitutions and
 * swaps of two neighbours each cost 1), or limit+1 when it is larger than limit.
 */
export function boundedEditDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  // A shared prefix and suffix cost nothing; names in one package share a lot.
  let lo = 0;
  while (lo < a.length && lo < b.length && a.charCodeAt(lo) === b.charCodeAt(lo)) lo++;
  let ea = a.length;
  let eb = b.length;
  while (ea > lo && eb > lo && a.charCodeAt(ea - 1) === b.charCodeAt(eb - 1)) {
    ea--;
    eb--;
  }
  // Keep one character of context before the difference so a swap across the boundary still counts 1.
  if (lo > 0) lo--;
  const n = eb - lo;
  const m = ea - lo;
  if (n === 0 || m === 0) return Math.min(Math.max(n, m), limit + 1);
  if (rows[0]!.length < n + 1) rows = [new Int32Array(n + 1), new Int32Array(n + 1), new Int32Array(n + 1)];
  let [prev2, prev, cur] = rows as [Int32Array, Int32Array, Int32Array];
  const big = limit + 1;
  for (let j = 0; j <= n; j++) prev[j] = j;
  for (let i = 1; i <= m; i++) {
    // Cells farther than `limit` from the diagonal cannot be within the limit.
    const from = Math.max(1, i - limit);
    const to = Math.min(n, i + limit);
    cur[0] = i;
    if (from > 1) cur[from - 1] = big;
    let rowMin = from === 1 ? i : big;
    const ca = a.charCodeAt(lo + i - 1);
    for (let j = from; j <= to; j++) {
      const cb = b.charCodeAt(lo + j - 1);
      let d = prev[j - 1]! + (ca === cb ? 0 : 1);
      const del = prev[j]! + 1;
      if (del < d) d = del;
      const ins = cur[j - 1]! + 1;
      if (ins < d) d = ins;
      if (i > 1 && j > 1 && ca === b.charCodeAt(lo + j - 2) && a.charCodeAt(lo + i - 2) === cb && prev2[j - 2]! + 1 < d) {
        d = prev2[j - 2]! + 1;
      }
      cur[j] = d;
      if (d < rowMin) rowMin = d;
    }
    if (to < n) cur[to + 1] = big;
    if (rowMin > limit) return big;
    const spare = prev2;
    prev2 = prev;
    prev = cur;
    cur = spare;
  }
  return Math.min(prev[n]!, big);
}

/**
 * Up to `max` candidates closest to `name`, best first (ties by name).
 * A candidate whose last dot-separated part equals `name` (`main.handler`
 * for `handler`) ranks first: it is what someone who left out the package meant.
 */
export function closestNames(name: string, candidates: Iterable<string>, max = 3): string[] {
  if (max <= 0 || name === '') return [];
  const limit = distanceLimit(name);
  const scored: { candidate: string; score: number }[] = [];
  const seen = new Set<string>();
  for (const candidate of candidates) {
    if (candidate === name || seen.has(candidate)) continue;
    let score: number;
    if (candidate.endsWith('.' + name)) {
      score = 0;
    } else {
      score = boundedEditDistance(name, candidate, limit);
      if (score > limit) continue;
    }
    seen.add(candidate);
    scored.push({ candidate, score });
  }
  scored.sort((x, y) => x.score - y.score || (x.candidate < y.candidate ? -1 : x.candidate > y.candidate ? 1 : 0));
  return scored.slice(0, max).map((s) => s.candidate);
}

/** `; did you mean "a" or "b"?`, or '' when there is nothing to suggest. */
export function didYouMean(suggestions: string[]): string {
  if (suggestions.length === 0) return '';
  const quoted = suggestions.map((s) => `"${s}"`);
  const list = quoted.length === 1 ? quoted[0] : `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}`;
  return `; did you mean ${list}?`;
}

/**
 * Functions someone naming `name` may mean. Go compiles a generic function
 * into shape instantiations (main.Max[go.shape.int64]), so `main.Max` or
 * `main.Max[int64]` stands for those when the binary has them; otherwise
 * the closest names.
 */
export function closestFunctions(name: string, candidates: Iterable<string>, max = 3): string[] {
  const base = withoutTypeArguments(name);
  const all = [...candidates];
  const instances = all.filter((c) => c !== name && c.includes('[') && withoutTypeArguments(c) === base).sort();
  return instances.length > 0 ? instances.slice(0, max) : closestNames(name, all, max);
}
