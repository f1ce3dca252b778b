// Notes before a trace: per-function notes of one kind are one line with a
// count and three names, unless there is only one or -v asks for each.

import { describe, expect, it } from 'vitest';
import { Notes, type FunctionNoteKind } from '../../src/core/notes.js';

function notes(general: string[], functions: [FunctionNoteKind, string][]): Notes {
  const n = new Notes();
  for (const g of general) n.push(g);
  for (const [kind, name] of functions) n.addFunction(kind, name, `${name}: full ${kind} note`);
  return n;
}

const noRet = (count: number): [FunctionNoteKind, string][] => Array.from({ length: count }, (_, i) => ['no-ret', `main.f${i}`]);

describe('Notes', () => {
  it.each<[string, Notes, boolean, string[]]>([
    ['nothing', notes([], []), false, []],
    ['general notes as they are, first', notes(['b.out has no DWARF'], [['no-ret', 'main.a']]), false, ['b.out has no DWARF', 'main.a: full no-ret note']],
    ['one function of a kind in full', notes([], [['tail-jump', 'main.t']]), false, ['main.t: full tail-jump note']],
    [
      'two of a kind on one line',
      notes([], noRet(2)),
      false,
      ['2 functions have no RET instruction (they never return, or end in a tail call), so their calls show no return: main.f0, main.f1 (-v lists each)'],
    ],
    [
      'hundreds of a kind on one line, three names',
      notes([], noRet(300)),
      false,
      ['300 functions have no RET instruction (they never return, or end in a tail call), so their calls show no return: main.f0, main.f1, main.f2 and 297 more (-v lists each)'],
    ],
    ['every one with -v', notes([], noRet(3)), true, ['main.f0: full no-ret note', 'main.f1: full no-ret note', 'main.f2: full no-ret note']],
    [
      'each kind its own line, in the order first seen',
      notes([], [['results-hidden', 'main.r'], ['tail-jump', 'main.t'], ['results-hidden', 'main.s'], ['tail-jump', 'main.u'], ['size-unknown', 'main.z'], ['size-unknown', 'main.y'], ['undecodable', 'main.x'], ['undecodable', 'main.w']]),
      false,
      [
        '2 functions return values of types weaver cannot read, so their calls are timed but their results not shown: main.r, main.s (-v lists each)',
        '2 functions also leave through a jump to another function, so their calls that return that way show as left without a traced return: main.t, main.u (-v lists each)',
        '2 functions have no known size, so their RET instructions cannot be found and their calls show no return: main.z, main.y (-v lists each)',
        '2 functions have code that could not be decoded, so their calls show no return: main.x, main.w (-v lists each)',
      ],
    ],
  ])('%s', (_what, n, verbose, lines) => {
    expect(n.lines(verbose)).toEqual(lines);
  });
});
