// `weaver list <binary>`: the traceable functions of some packages, one
// signature a line in functions-file syntax, so that
// `weaver list ./bin -p main > f.txt && weaver ./bin -f f.txt` works.

import type { ListFlags } from '../cli.js';
import { readDwarfFunctions } from '../dwarf/index.js';
import { openGoBinary } from '../elf/gobinary.js';
import { InputError } from '../errors.js';
import { inPackages } from '../gonames.js';
import { DICTIONARY_PARAM, isBasicKind, type FunctionSpec, type GoType, type Param } from '../gotypes.js';

/** Packages whose functions run so often that tracing all of them would hurt the program; only when asked for by name. */
const HOT_PACKAGES = ['runtime', 'internal/', 'sync/atomic', 'runtime/internal/'];

export function isHotPackageFunction(name: string): boolean {
  return HOT_PACKAGES.some((p) => (p.endsWith('/') ? name.startsWith(p) : name.startsWith(`${p}.`)));
}

/** Generic shape types (go.shape.int64_0) are written as the basic type they stand for. */
function typeName(t: GoType): string {
  if (t.name.startsWith('go.shape.') && (isBasicKind(t.kind) || t.kind === 'string')) return t.kind;
  return t.name;
}

function paramList(params: Param[]): string {
  return params.map((p) => `${p.name} ${typeName(p.type)}`).join(', ');
}

/**
 * One line of a functions file. A pointer receiver is implied by the name
 * (`pkg.(*T).M`) and not written; a value receiver is written as the first
 * parameter. Unnamed results (`~r0`) are written as types alone.
 */
export function signatureLine(spec: FunctionSpec): string {
  // The dictionary of a generic method is implied by its name too.
  const declared = spec.params.filter((p) => p.name !== DICTIONARY_PARAM);
  const params = /\.\(\*[^)]*\)\.[^.]+$/.test(spec.name) ? declared.slice(1) : declared;
  let results = '';
  if (spec.results && spec.results.length) {
    const unnamed = spec.results.every((r) => r.name.startsWith('~'));
    results = ` (${unnamed ? spec.results.map((r) => typeName(r.type)).join(', ') : paramList(spec.results)})`;
  }
  return `${spec.name}(${paramList(params)})${results}`;
}

/** Whether a function's DWARF signature can be written as a functions-file line. */
function writable(spec: FunctionSpec): boolean {
  const all = [...spec.params.filter((p) => p.name !== DICTIONARY_PARAM), ...(spec.results ?? [])];
  return all.every((p) => /^[A-Za-z_]\w*$|^~r\d+$/.test(p.name) && !typeName(p.type).startsWith('go.shape.') && p.type.kind !== 'opaque');
}

export async function runList(flags: ListFlags): Promise<void> {
  const { info, elf } = openGoBinary(flags.binary);
  const packages = flags.packages ?? ['main'];
  const wanted = new Set(packages);
  const askedForHot = packages.some((p) => isHotPackageFunction(`${p}.x`));
  const skipped: string[] = [];
  const symbols = [...info.functions.values()]
    .filter((f) => inPackages(f.name, wanted))
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

  const lines: string[] = [];
  for (const sym of symbols) {
    const fn = dwarf?.get(sym.name);
    if (fn && writable(fn.spec)) lines.push(signatureLine(fn.spec));
    else if (fn) lines.push(`# ${signatureLine(fn.spec)}   # a parameter cannot be written in a functions file`);
    else lines.push(`# ${sym.name}(?)`);
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
