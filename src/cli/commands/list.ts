// `weaver list <binary>`: the traceable functions of some packages, one
// signature a line in functions-file syntax, so that
// `weaver list ./bin -p main > f.txt && weaver ./bin -f f.txt` works.

import type { ListFlags } from '../flags.js';
import { dwarfTypeByName, readDwarfFunctions } from '../../binary/dwarf/index.js';
import { openWithDebugInfo } from '../../binary/debuginfo/index.js';
import { findPclntab, goBinaryInfo, goFunctionName, openGoBinary, parsePclntab } from '../../binary/index.js';
import { InputError, type FunctionSpec, type GoBinaryInfo, type GoType } from '../../core/index.js';
import { argumentFrames, checkSignature, countPackages, functionPackage, parseFunctionLine, placeDictionaries, selectPackages, signatureLine, writable } from '../../spec/index.js';

/** Packages whose functions run so often that tracing all of them would hurt the program; only when asked for by name. */
const HOT_PACKAGES = ['runtime', 'internal/', 'sync/atomic', 'runtime/internal/'];

export function isHotPackageFunction(name: string): boolean {
  return HOT_PACKAGES.some((p) => (p.endsWith('/') ? name.startsWith(p) : name.startsWith(`${p}.`)));
}

export async function runList(flags: ListFlags): Promise<void> {
  if (flags.listPackages) return listPackages(flags);
  const elf = await openWithDebugInfo(flags.binary, { debugFile: flags.debugFile, say: (l) => process.stderr.write(`weaver: ${l}\n`), verbose: flags.verbose });
  const info = goBinaryInfo(elf);
  const available = new Set<string>();
  for (const name of info.functions.keys()) {
    const pkg = functionPackage(name);
    if (pkg !== null) available.add(pkg);
  }
  const packages = selectPackages(flags.packages ?? ['main'], available, info.path);
  const wanted = new Set(packages);
  const askedForHot = packages.some((p) => isHotPackageFunction(`${p}.x`));
  const skipped: string[] = [];
  const symbols = [...info.functions.values()]
    .filter((f) => wanted.has(functionPackage(f.name) ?? ''))
    .filter((f) => {
      const why = f.abi0 === true ? 'assembly or an ABI0 wrapper' : !askedForHot && isHotPackageFunction(f.name) ? 'a hot runtime function' : null;
      if (why) skipped.push(`${f.name} (${why})`);
      return why === null;
    })
    .sort((a, b) => a.name.localeCompare(b.name));
  if (symbols.length === 0 && skipped.length === 0) {
    throw new InputError(`no functions of package${packages.length > 1 ? 's' : ''} ${packages.join(', ')} are in ${info.path}`);
  }

  let dwarf: ReturnType<typeof readDwarfFunctions> | null = null;
  if (info.hasDwarf) {
    try {
      dwarf = readDwarfFunctions(elf, { packages });
    } catch (err) {
      process.stderr.write(`weaver: ${(err as Error).message}; listing names only\n`);
    }
  } else {
    process.stderr.write(
      `weaver: ${info.path} has no DWARF debug information: names only, commented out; write each function's parameter types to trace its arguments\n`,
    );
  }

  const frames = dwarf ? argumentFrames(elf, info) : new Map<number, number>();
  const resolveType = (name: string) => dwarfTypeByName(elf, name) ?? undefined;

  const lines: string[] = [];
  for (const sym of symbols) {
    const fn = dwarf?.get(sym.name);
    if (!fn) {
      lines.push(`# ${sym.name}(?)`);
      continue;
    }
    const line = signatureLine(fn.spec);
    if (!writable(fn.spec)) {
      lines.push(`# ${line}   # a parameter cannot be written in a functions file`);
      continue;
    }
    const reread = rereadLine(line, frames.get(sym.address), info, resolveType);
    lines.push(reread.problem ? `# ${line}   # ${reread.problem}` : reread.line);
  }
  process.stdout.write(lines.join('\n') + (lines.length ? '\n' : ''));
  if (skipped.length) {
    const n = skipped.length;
    process.stderr.write(
      `weaver: left out ${n} function${n === 1 ? '' : 's'} that cannot be traced safely (assembly ABI0 wrappers, hot runtime functions; name runtime packages with -p to list theirs${flags.verbose ? '' : '; -v lists each'})\n`,
    );
    if (flags.verbose) process.stderr.write(skipped.sort().map((line) => `weaver:   ${line}\n`).join(''));
  }
}

/**
 * `weaver list --packages`: each package path with its number of functions,
 * sorted by path. Counted from .gopclntab, which stripped binaries keep, so
 * a stripped build lists what its unstripped twin does.
 */
function listPackages(flags: ListFlags): void {
  const { info, elf } = openGoBinary(flags.binary);
  const table = findPclntab(elf);
  // One per function: an ABI wrapper shares its function's name and is not
  // counted again, but instantiations Go 1.18–1.20 shorten to `F[...]` are
  // different functions with one name, so those count by address.
  const functions = new Map<string, string>();
  if (table) {
    for (const f of parsePclntab(table, info.path)) {
      const name = goFunctionName(f.name);
      if (name !== null) functions.set(name.includes('[...]') ? `${name}@${f.entry}` : name, name);
    }
  } else {
    for (const name of info.functions.keys()) functions.set(name, name);
  }
  const { counts, generated } = countPackages(functions.values());
  const shown = flags.packages ? selectPackages(flags.packages, counts.keys(), info.path) : [...counts.keys()].sort();
  const width = Math.max(0, ...shown.map((p) => p.length));
  process.stdout.write(shown.map((p) => `${p.padEnd(width)}  ${String(counts.get(p)).padStart(5)}\n`).join(''));
  if (flags.verbose && generated > 0) {
    process.stderr.write(`weaver: ${generated} more function${generated === 1 ? '' : 's'} the compiler generated (type equality and hash functions, methods of anonymous structs) belong to no package\n`);
  }
}

/**
 * A line `weaver list` writes, read back as `-f` reads it and checked
 * against the argument frame, since DWARF leaves parameters without a name
 * out in some Go versions (`_`, receivers of generated wrappers). A pointer
 * receiver DWARF leaves out is written as `recv`, as the parser adds it.
 */
function rereadLine(line: string, frameSize: number | undefined, info: GoBinaryInfo, resolveType: (name: string) => GoType | undefined): { line: string; problem?: string } {
  let spec: FunctionSpec | null;
  try {
    spec = parseFunctionLine(line, { file: 'list', line: 1 }, { resolveType });
  } catch (err) {
    return { line, problem: `cannot be read back: ${(err as Error).message}` };
  }
  if (!spec) return { line };
  placeDictionaries([spec], info.goVersion);
  const problem = frameSize === undefined ? null : checkSignature(spec, { abi: info.abi, frameSize });
  if (problem) return { line, problem: `the debug info leaves a parameter out: ${problem.message}` };
  const impliedReceiver = spec.params[0]?.name === 'recv' && !line.includes('(recv ');
  return { line: impliedReceiver ? signatureLine(spec) : line };
}
