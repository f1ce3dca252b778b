// Where `goid` is inside runtime.g, so events can carry goroutine IDs.
// From DWARF when the binary has it (the exact answer for that build);
// otherwise from what Go versions are known to use.

import { dwarfTypeByName } from './dwarf/index.js';
import type { ElfFile } from './elf/file.js';
import type { GoBinaryInfo } from './model.js';

/** Offset of runtime.g.goid on amd64 by Go minor version, for binaries without DWARF. */
export function goidOffsetByVersion(goVersion: string | null): number {
  const m = goVersion ? /^go1\.(\d+)/.exec(goVersion) : null;
  if (!m) return 0;
  const minor = Number(m[1]);
  if (minor < 9) return 0;
  return minor >= 23 ? 160 : 152;
}

/** The offset of runtime.g's goid field in this binary; 0 when it cannot be known. */
export function goidOffsetFor(info: GoBinaryInfo, elf: ElfFile): number {
  if (info.hasDwarf) {
    try {
      const g = dwarfTypeByName(elf, 'runtime.g');
      const field = g?.kind === 'struct' ? g.fields.find((f) => f.name === 'goid') : undefined;
      if (field) return field.offset;
    } catch {
      // Corrupt DWARF: fall back to the table.
    }
  }
  return goidOffsetByVersion(info.goVersion);
}
