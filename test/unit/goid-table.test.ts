// The goid offset table (used for binaries without DWARF) must agree with
// what each toolchain's own DWARF says runtime.g looks like: a wrong entry
// makes every goroutine ID of a stripped binary garbage.

import { describe, expect, it } from 'vitest';
import { openGoBinary } from '../../src/binary/elf/gobinary.js';
import { goidOffsetByVersion, goidOffsetFor } from '../../src/binary/goid.js';
import { fixtureBuilds } from '../helpers/fixtures.js';

describe('goidOffsetByVersion', () => {
  it.each(fixtureBuilds({ fixture: 'types', variant: 'normal' }).map((b) => [b.goVersion, b] as const))(
    '%s: the table gives the offset of goid in runtime.g from DWARF',
    (_, b) => {
      const { info, elf } = openGoBinary(b.path);
      expect(info.hasDwarf).toBe(true);
      expect(goidOffsetByVersion(info.goVersion)).toBe(goidOffsetFor(info, elf));
    },
  );

  // Releases with no fixture build here, from their runtime2.go: 1.23 added
  // g.syscallbp (+8); by 1.26 gobuf.ret was gone from g.sched (−8).
  it.each([
    ['go1.23.5', 160],
    ['go1.24.4', 160],
    ['go1.26.10', 152],
    ['devel +abc', 0],
    [null, 0],
  ] as const)('%s → %d', (version, offset) => {
    expect(goidOffsetByVersion(version)).toBe(offset);
  });
});
