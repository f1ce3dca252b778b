// "Did you mean …?" suggestions: the closest names by edit distance.
// Used for misspelt type names in the functions file and for functions that
// are not in the binary, where there can be tens of thousands of candidates;
// so each comparison is a banded computation that gives up as soon as the
// distance exceeds the limit.

/** Largest distance still worth suggesting for a name of this length. */
function distanceLimit(name: string): number {
  return Math.max(1, Math.floor(name.length / 3));
}

/**
 * Optimal-string-alignment distance (insertions, deletions, substitutions and
 * swaps of two neighbours each cost 1), or limit+1 when it is larger than limit.
 */
export function boundedEditDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  const n = b.length;
  let prev2 = new Array<number>(n + 1).fill(0);
  let prev = new Array<number>(n + 1);
  let cur = new Array<number>(n + 1);
  for (let j = 0; j <= n; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    let rowMin = i;
    const ca = a.charCodeAt(i - 1);
    for (let j = 1; j <= n; j++) {
      const cb = b.charCodeAt(j - 1);
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (ca === cb ? 0 : 1));
      if (i > 1 && j > 1 && ca === b.charCodeAt(j - 2) && a.charCodeAt(i - 2) === cb) {
        d = Math.min(d, prev2[j - 2]! + 1);
      }
      cur[j] = d;
      if (d < rowMin) rowMin = d;
    }
    if (rowMin > limit) return limit + 1;
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return Math.min(prev[n]!, limit + 1);
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
