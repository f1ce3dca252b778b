// The build IDs that name a program and its separate debug file: the GNU
// build ID (.note.gnu.build-id, what gdb, perf and debuginfod key on) and
// Go's own (.note.go.buildid, a string the go command writes). Go links a
// GNU build ID only from Go 1.24 on (or with -ldflags=-B), so for older Go
// programs weaver names the debug file by Go's build ID, hex-encoded.

import type { ElfFile } from '../elf/file.js';

const NT_GNU_BUILD_ID = 3;
const NT_GO_BUILDID = 4;

export interface BuildIds {
  /** The GNU build ID as lowercase hex, or null. */
  gnu: string | null;
  /** Go's build ID as written (`action/content` parts joined by `/`), or null. */
  go: string | null;
}

/** The build IDs of a program or a debug file (notes survive `objcopy --only-keep-debug`). */
export function readBuildIds(elf: ElfFile): BuildIds {
  const gnu = noteDesc(elf, '.note.gnu.build-id', 'GNU', NT_GNU_BUILD_ID);
  const go = noteDesc(elf, '.note.go.buildid', 'Go', NT_GO_BUILDID);
  return { gnu: gnu ? gnu.toString('hex') : null, go: go ? go.toString('latin1') : null };
}

/**
 * The ID a debug file is looked up by, as hex: the GNU build ID, else Go's
 * build ID hex-encoded (a weaver convention; the tools of the GNU world know
 * only the GNU one). Null when the program has neither.
 */
export function lookupId(ids: BuildIds): string | null {
  if (ids.gnu) return ids.gnu;
  if (ids.go) return Buffer.from(ids.go, 'latin1').toString('hex');
  return null;
}

/**
 * Why `debug` is not the debug file of `program`, or null when it may be:
 * IDs of the same kind must match; with no kind in common nothing can be
 * checked (and the file is trusted, as gdb trusts a debuglink CRC).
 */
export function idMismatch(program: BuildIds, debug: BuildIds): string | null {
  if (program.gnu && debug.gnu) {
    return program.gnu === debug.gnu ? null : `its GNU build ID is ${debug.gnu} but the program's is ${program.gnu}`;
  }
  if (program.go && debug.go) {
    return program.go === debug.go ? null : `its Go build ID is ${debug.go} but the program's is ${program.go}`;
  }
  return null;
}

/** The descriptor of the first note of `type` owned by `owner` in section `name`. */
function noteDesc(elf: ElfFile, name: string, owner: string, type: number): Buffer | null {
  const data = elf.section(name)?.data;
  if (!data) return null;
  let off = 0;
  while (off + 12 <= data.length) {
    const namesz = data.readUInt32LE(off);
    const descsz = data.readUInt32LE(off + 4);
    const noteType = data.readUInt32LE(off + 8);
    const nameStart = off + 12;
    const descStart = nameStart + align4(namesz);
    const end = descStart + align4(descsz);
    if (descStart + descsz > data.length) return null;
    // The owner name is NUL-terminated and namesz counts the NUL.
    const noteOwner = data.toString('latin1', nameStart, nameStart + namesz).replace(/\0+$/, '');
    if (noteType === type && noteOwner === owner && descsz > 0) return data.subarray(descStart, descStart + descsz);
    off = end;
  }
  return null;
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}
