// The one search behind "which function holds this address" (func values
// by name, --stack frames): the last row starting at or before it.

import { describe, expect, it } from 'vitest';
import { lastStartingAtOrBefore } from '../../src/core/search.js';

const rows = [{ at: 0x1000 }, { at: 0x1040 }, { at: 0x1040 }, { at: 0x2000 }];

describe('lastStartingAtOrBefore', () => {
  it.each([
    ['an empty table', [], 0x1000, -1],
    ['before the first row', rows, 0xfff, -1],
    ['at the first row', rows, 0x1000, 0],
    ['inside the first row', rows, 0x103f, 0],
    ['at a start two rows share: the later', rows, 0x1040, 2],
    ['after the last start', rows, 0x9999, 3],
  ] as const)('%s', (_, table, at, index) => {
    expect(lastStartingAtOrBefore(table, (r) => r.at, at)).toBe(index);
  });
});
