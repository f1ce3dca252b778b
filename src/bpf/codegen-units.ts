// Which compile unit defines each reader. A dispatcher and its shapes stay
// in one unit (so a change to one package's functions leaves the other
// units' text, and their cached objects, alone), but a reader is defined in
// exactly one unit and declared `extern` where others call it: libbpf's
// static linker resolves the call, and after linking every program still
// holds each subprogram it reaches. Defining a shared reader in every unit
// that reached it compiled it again in each (pprof -p net/http: 225 readers
// compiled 393 times, 32% of clang's CPU).
//
// Readers are the larger part of the code (pprof: 2/3 of the instructions),
// so placing them is also how the units are evened out: clang compiles the
// units side by side (src/bpf/compile.ts), and the longest decides the
// wait. A trace with one dispatcher gets a second unit of readers, so two
// CPUs share its compile.

/** Subprograms (shapes and readers) a unit holds before another unit is worth its preamble. */
export const UNIT_SUBPROGRAMS = 128;

export interface UnitLoads {
  /** The text length of each dispatcher's unit before readers: its program and shapes. */
  dispatcherUnits: number[];
  /** Each reader's name and the length of its definition, callees before callers. */
  readers: { name: string; length: number }[];
  /** Shapes and readers in the whole trace. */
  subprograms: number;
}

/**
 * The readers each unit defines: units 0..n-1 hold dispatcher n's shapes,
 * the ones after those only readers. Each reader, longest first, goes to
 * the unit with the least text so far; ties go to the lower unit, so the
 * same trace always gives the same units. Text length is a rough stand-in
 * for clang's work: a byte of reader costs clang about twice a byte of
 * shape (bench/README.md §3f), so units of readers come out the slowest,
 * and src/bpf/compile.ts starts them first.
 */
export function placeReaders(loads: UnitLoads): Set<string>[] {
  const count = Math.max(loads.dispatcherUnits.length, Math.ceil(loads.subprograms / UNIT_SUBPROGRAMS), 1);
  const load = Array.from({ length: count }, (_, i) => loads.dispatcherUnits[i] ?? 0);
  const placed = Array.from({ length: count }, () => new Set<string>());
  const order = loads.readers.map((r, index) => ({ ...r, index })).sort((a, b) => b.length - a.length || a.index - b.index);
  for (const reader of order) {
    let least = 0;
    for (let u = 1; u < count; u++) if (load[u]! < load[least]!) least = u;
    placed[least]!.add(reader.name);
    load[least]! += reader.length;
  }
  return placed;
}
