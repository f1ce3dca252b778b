// Where `goid` is inside runtime.g, so events can carry goroutine IDs.
// From DWARF when the binary has it (the exact answer for that build);
// otherwise from what Go versions are known to use.

import { dwarfTypeInUnit } from './dwarf/index.js';
import type { ElfFile } from './elf/file.js';
import type { GoBinaryInfo } from './model.js';

/**
 * Offset of runtime.g.goid on amd64 for binaries without DWARF. Read from
 * the DWARF of Go 1.15, 1.19, 1.22 and 1.27 builds: 152 in each (a table
 * that circulates says 160 from 1.23; the 1.27 build says otherwise).
 */
export function goidOffsetByVersion(goVersion: string | null): number {
  const m = goVersion ? /^go1\.(\d+)/.exec(goVersion) : null;
  if (!m) return 0;
  return Number(m[1]) >= 9 ? 152 : 0;
}

/** The offset of runtime.g's goid field in this binary; 0 when it cannot be known. */
export function goidOffsetFor(info: GoBinaryInfo, elf: ElfFile): number {
  if (info.hasDwarf) {
    try {
      const g = dwarfTypeInUnit(elf, 'runtime.g', 'runtime');
      const field = g?.kind === 'struct' ? g.fields.find((f) => f.name === 'goid') : undefined;
      if (field) return field.offset;
    } catch {
      // Corrupt DWARF: fall back to the table.
    }
  }
  return goidOffsetByVersion(info.goVersion);
}
