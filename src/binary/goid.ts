// Where `goid` is inside runtime.g, so events can carry goroutine IDs.
// From DWARF when the binary has it (the exact answer for that build);
// otherwise from what Go versions are known to use.

import { dwarfTypeInUnit } from './dwarf/index.js';
import type { ElfFile } from './elf/file.js';
import type { GoBinaryInfo } from '../core/index.js';

/**
 * Offset of runtime.g.goid on amd64 for binaries without DWARF. Read from
 * the DWARF of Go 1.15, 1.19, 1.22, 1.24 and 1.27 builds and the runtime2.go
 * of 1.23 and 1.26: 152 up to 1.22; 1.23 added g.syscallbp before goid
 * (160); 1.25 dropped gobuf.ret from g.sched (152 again; seen in the
 * sources of 1.26 and 1.27, for 1.25 only in a third-party copy of its g).
 */
export function goidOffsetByVersion(goVersion: string | null): number {
  const m = goVersion ? /^go1\.(\d+)/.exec(goVersion) : null;
  if (!m) return 0;
  const minor = Number(m[1]);
  if (minor < 9) return 0;
  return minor === 23 || minor === 24 ? 160 : 152;
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
