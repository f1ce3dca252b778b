// The notes a trace spec carries (src/returnspec.ts, src/tracespec.ts), as
// printed at start: notes that repeat for many functions (tracing runtime
// with --returns gave 89 lines) are grouped into one line with a count;
// -v prints each.

interface Group {
  /** Matches one function's note. */
  pattern: RegExp;
  /** The grouped sentence for `n` functions. */
  sentence: (n: number) => string;
}

const GROUPS: Group[] = [
  {
    pattern: / has no RET instruction \(it never returns, or ends in a tail call\); its calls show no return$/,
    sentence: (n) => `${n} functions have no RET instruction (they never return, or end in a tail call); their calls show no return`,
  },
  {
    pattern: / also leaves through a jump to another function at [^;]*; calls that return that way show as not returned$/,
    sentence: (n) => `${n} functions also leave through a jump to another function; calls that return that way show as not returned`,
  },
];

/** The lines to print for `notes`: each group of more than one note as one line (unless `verbose`), in first-seen order. */
export function groupNotes(notes: string[], verbose: boolean): string[] {
  if (verbose) return notes;
  const counts = GROUPS.map((g) => notes.filter((n) => g.pattern.test(n)).length);
  const out: string[] = [];
  const done = new Set<Group>();
  for (const note of notes) {
    const i = GROUPS.findIndex((g) => g.pattern.test(note));
    if (i < 0 || counts[i]! < 2) out.push(note);
    else if (!done.has(GROUPS[i]!)) {
      done.add(GROUPS[i]!);
      out.push(`${GROUPS[i]!.sentence(counts[i]!)} (-v names them)`);
    }
  }
  return out;
}
