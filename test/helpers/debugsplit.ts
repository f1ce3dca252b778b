// A fixture split as distributions ship programs: the binary without DWARF
// (`objcopy --strip-debug --add-gnu-debuglink`) and its DWARF in a separate
// file (`objcopy --only-keep-debug`), both in `dir`.

import { execFileSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { basename, join } from 'node:path';

export interface SplitBinary {
  /** The unstripped original. */
  original: string;
  /** The binary without DWARF, with a .gnu_debuglink to `debug`. */
  stripped: string;
  /** The debug file, named `<stripped name>.debug`. */
  debug: string;
}

/** Splits `binary` into `dir` as `<name>` and `<name>.debug`. */
export function splitDebugInfo(binary: string, dir: string, name = basename(binary)): SplitBinary {
  const stripped = join(dir, name);
  const debug = `${stripped}.debug`;
  copyFileSync(binary, stripped);
  execFileSync('objcopy', ['--only-keep-debug', stripped, debug]);
  // objcopy finds the debug file by its path and records only its name.
  execFileSync('objcopy', ['--strip-debug', `--add-gnu-debuglink=${debug}`, stripped]);
  return { original: binary, stripped, debug };
}
