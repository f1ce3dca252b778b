// What the user should know about a trace before it starts, printed once on
// stderr. Notes about single functions (no RET instruction, results that
// cannot be shown) come by the hundred in package mode: each kind is then
// one line with a count and a few names, and -v says every one in full.

export type FunctionNoteKind = 'no-ret' | 'tail-jump' | 'results-hidden' | 'size-unknown' | 'undecodable';

/** The one line for `n` functions of a kind (n ≥ 2). */
const GROUPED: Record<FunctionNoteKind, (n: number) => string> = {
  'no-ret': (n) => `${n} functions have no RET instruction (they never return, or end in a tail call), so their calls show no return`,
  'tail-jump': (n) => `${n} functions also leave through a jump to another function, so their calls that return that way show as left without a traced return`,
  'results-hidden': (n) => `${n} functions return values of types weaver cannot read, so their calls are timed but their results not shown`,
  'size-unknown': (n) => `${n} functions have no known size, so their RET instructions cannot be found and their calls show no return`,
  undecodable: (n) => `${n} functions have code that could not be decoded, so their calls show no return`,
};

/** Notes as plain data (Notes.toData). */
export interface NotesData {
  general: string[];
  byKind: [FunctionNoteKind, { name: string; text: string }[]][];
}

/** Names given on a grouped line. */
const NAMES_SHOWN = 3;

export class Notes {
  private readonly general: string[] = [];
  private readonly byKind = new Map<FunctionNoteKind, { name: string; text: string }[]>();

  /** A note about the whole trace, always said as it is. */
  push(text: string): void {
    this.general.push(text);
  }

  /** A note about one function: `text` is what -v (or a kind with no other function) says. */
  addFunction(kind: FunctionNoteKind, name: string, text: string): void {
    const list = this.byKind.get(kind) ?? [];
    list.push({ name, text });
    this.byKind.set(kind, list);
  }

  /** As plain data, for the spec cache (src/speccache.ts). */
  toData(): NotesData {
    return { general: [...this.general], byKind: [...this.byKind].map(([kind, list]) => [kind, list.map((n) => ({ ...n }))]) };
  }

  static fromData(data: NotesData): Notes {
    const notes = new Notes();
    for (const text of data.general) notes.push(text);
    for (const [kind, list] of data.byKind) for (const n of list) notes.addFunction(kind, n.name, n.text);
    return notes;
  }

  /** The lines to print, without the `weaver: ` prefix. */
  lines(verbose: boolean): string[] {
    const out = [...this.general];
    for (const [kind, list] of this.byKind) {
      if (verbose || list.length === 1) {
        out.push(...list.map((n) => n.text));
        continue;
      }
      const names = list.slice(0, NAMES_SHOWN).map((n) => n.name);
      const more = list.length - names.length;
      out.push(`${GROUPED[kind](list.length)}: ${names.join(', ')}${more > 0 ? ` and ${more} more` : ''} (-v lists each)`);
    }
    return out;
  }
}
