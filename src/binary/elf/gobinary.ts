// Opens a Go program and lists its functions: what every later stage needs to
// know about the binary before DWARF is read.

import { NotSupportedError, type FunctionSymbol, type GoBinaryInfo } from '../../core/index.js';
import { abiForVersion, readGoVersion } from './buildinfo.js';
import { ElfFile, STT_FUNC } from './file.js';
import { findPclntab, FUNCFLAG_ASM, parsePclntab, PCLNTAB_GO12, type Pclntab, type PclnFunction } from './pclntab.js';

const ABI0_SUFFIX = '.abi0';
/** Text symbols that mark places rather than name functions. */
const NOT_FUNCTIONS = new Set(['', 'go:buildid', 'go.buildid', 'runtime.text', 'runtime.etext']);

/**
 * The Go name of a symbol, or null when the symbol is not a Go function one
 * would trace:
 * - `pkg.f.abi0` (an assembly function, or the ABI0 wrapper of a Go function
 *   called from assembly) → `pkg.f`; the caller flags it with `abi0`.
 * - names without a package qualifier (`pkg.name` after the last `/`) are C
 *   functions linked in by cgo (`x_cgo_init`, `_cgo_…`, `fatalf`) or
 *   package-less runtime assembly (`gogo`, `memeqbody`, `debugCall64`) → null.
 * - `pkg(.text)` / `pkg(.text.unlikely)` section markers of cgo objects, the
 *   `runtime.text` / `runtime.etext` bounds and the `go:buildid` note (data
 *   that sits in text) → null.
 * - `·` is read as `.` (Go ≤1.15 .gopclntab names such as `net.dialResult·1`).
 * Everything else is kept as written: methods `main.(*T).M`, `main.T.M`,
 * closures `main.main.func1`, instantiations `main.F[go.shape.int]`,
 * compiler-generated `type:.eq.main.T`, module paths `github.com/a/b.F`.
 */
export function goFunctionName(symbolName: string): string | null {
  // Go ≤1.15 wrote `·` (U+00B7) in some .gopclntab names where .symtab has `.`.
  let name = symbolName.replaceAll('\u00b7', '.');
  if (name.endsWith(ABI0_SUFFIX)) name = name.slice(0, -ABI0_SUFFIX.length);
  if (NOT_FUNCTIONS.has(name) || /\(\.text[^)]*\)$/.test(name)) return null;
  // Type arguments may contain `/` and `.`; only the part before them names the package.
  const bracket = name.indexOf('[');
  const head = bracket >= 0 ? name.slice(0, bracket) : name;
  const lastSlash = head.lastIndexOf('/');
  const dot = head.indexOf('.', lastSlash + 1);
  if (dot <= lastSlash + 1 || dot === head.length - 1) return null;
  return name;
}

/** Reads `path` and everything the ELF stage knows about it. */
export function openGoBinary(path: string): { info: GoBinaryInfo; elf: ElfFile } {
  const elf = ElfFile.read(path);
  return { info: goBinaryInfo(elf), elf };
}

/** What the ELF stage knows about a Go program already read (its path is `elf.path`). */
export function goBinaryInfo(elf: ElfFile): GoBinaryInfo {
  const path = elf.path;
  const pclntab = findPclntab(elf);
  const hasBuildInfo = elf.section('.go.buildinfo') !== undefined;
  if (!pclntab && !hasBuildInfo) {
    throw new NotSupportedError(`${path} is not a Go program: it has no .go.buildinfo or .gopclntab section`, {
      hint: 'weaver traces programs compiled by the Go toolchain',
    });
  }
  const goVersion = readGoVersion(elf);
  // Without a version, a Go 1.2–1.15 table layout still says "stack ABI".
  const abi = goVersion === null && pclntab?.magic === PCLNTAB_GO12 ? 'stack' : abiForVersion(goVersion);
  const symbols = elf.symbols();
  const info: GoBinaryInfo = {
    path,
    arch: 'amd64',
    goVersion,
    abi,
    pie: elf.isPie,
    stripped: symbols.length === 0,
    hasDwarf: elf.section('.debug_info') !== undefined || elf.section('.zdebug_info') !== undefined,
    functions: symbols.length > 0 ? functionsFromSymtab(elf, pclntab) : functionsFromPclntab(elf, pclntab),
  };
  return info;
}

/**
 * STT_FUNC symbols in .text that are Go functions. When the binary has a
 * pclntab, a symbol counts only if the pclntab has a function at its address,
 * which keeps out C code linked in by cgo whatever its name looks like.
 */
function functionsFromSymtab(elf: ElfFile, pclntab: Pclntab | undefined): Map<string, FunctionSymbol> {
  const text = elf.section('.text');
  const goEntries = pclntab ? new Set(parsePclntab(pclntab, elf.path).map((f) => f.entry)) : undefined;
  const out = new Map<string, FunctionSymbol>();
  for (const sym of elf.symbols()) {
    if (sym.type !== STT_FUNC) continue;
    if (text && (sym.value < text.addr || sym.value >= text.addr + text.size)) continue;
    const name = goFunctionName(sym.name);
    if (name === null || (goEntries && !goEntries.has(sym.value))) continue;
    const fn: FunctionSymbol = {
      name,
      address: sym.value,
      size: sym.size,
      fileOffset: elf.vaddrToFileOffset(sym.value),
    };
    if (name !== sym.name) fn.abi0 = true;
    // A Go function called from assembly has both `f` and its wrapper `f.abi0`: `f` wins.
    const seen = out.get(name);
    if (!seen || (seen.abi0 && !fn.abi0)) out.set(name, fn);
  }
  return out;
}

/**
 * Without .symtab, a Go function and its ABI wrapper share one name. The
 * one .symtab would list without `.abi0` is kept: not assembly, then an
 * ordinary function (funcID 0) over a wrapper, then the lower address. Go
 * 1.18–1.20 also shorten type arguments to `[...]`, so instantiations of one
 * generic function collide too; the first is kept.
 */
function functionsFromPclntab(elf: ElfFile, pclntab: Pclntab | undefined): Map<string, FunctionSymbol> {
  const best = new Map<string, PclnFunction>();
  if (!pclntab) return new Map();
  const rank = (f: PclnFunction) => (f.flag & FUNCFLAG_ASM ? 2 : 0) + (f.funcID !== 0 ? 1 : 0);
  for (const f of parsePclntab(pclntab, elf.path)) {
    const name = goFunctionName(f.name);
    if (name === null) continue;
    const seen = best.get(name);
    if (!seen || rank(f) < rank(seen)) best.set(name, f);
  }
  const out = new Map<string, FunctionSymbol>();
  for (const [name, f] of best) {
    out.set(name, { name, address: f.entry, size: f.size, fileOffset: elf.vaddrToFileOffset(f.entry) });
  }
  return out;
}
