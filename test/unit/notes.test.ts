// Start-up notes that repeat per function are grouped into one line with a
// count; -v prints every one.

import { describe, expect, it } from 'vitest';
import { groupNotes } from '../../src/notes.js';

const noRet = (f: string) => `${f} has no RET instruction (it never returns, or ends in a tail call); its calls show no return`;
const jump = (f: string, at: string) => `${f} also leaves through a jump to another function at ${at}; calls that return that way show as not returned`;

describe('groupNotes', () => {
  it.each<[string, string[], boolean, string[]]>([
    ['one of a kind stays as it is', [noRet('runtime.a'), 'main.f: results not shown (x)'], false, [noRet('runtime.a'), 'main.f: results not shown (x)']],
    [
      'several of a kind become one line, where the first was',
      ['main.f: results not shown (x)', noRet('runtime.a'), jump('runtime.m', '+0x16'), noRet('runtime.b'), jump('runtime.n', '+0x2f, +0x4f'), noRet('runtime.c')],
      false,
      [
        'main.f: results not shown (x)',
        '3 functions have no RET instruction (they never return, or end in a tail call); their calls show no return (-v names them)',
        '2 functions also leave through a jump to another function; calls that return that way show as not returned (-v names them)',
      ],
    ],
    ['-v: every note', [noRet('runtime.a'), noRet('runtime.b')], true, [noRet('runtime.a'), noRet('runtime.b')]],
  ])('%s', (_what, notes, verbose, lines) => {
    expect(groupNotes(notes, verbose)).toEqual(lines);
  });
});
