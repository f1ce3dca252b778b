// Which row of a table sorted by start address holds an address: the
// question behind naming a code pointer (func values) and a return address
// (--stack), asked of .symtab rows and of .gopclntab rows alike.

/** The index of the last row whose start is at or before `at`, or -1. `rows` are sorted by `start`. */
export function lastStartingAtOrBefore<T>(rows: readonly T[], start: (row: T) => number, at: number): number {
  let lo = 0;
  let hi = rows.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (start(rows[mid]!) <= at) lo = mid + 1;
    else hi = mid - 1;
  }
  return hi;
}
