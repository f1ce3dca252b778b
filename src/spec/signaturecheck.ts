// Functions-file signatures checked against what the binary knows, before
// anything is attached: a wrong type or a missing parameter would otherwise
// decode as believable garbage (a string's pointer shown as an int).
//
// - DWARF, where the binary has it: the parameter count, then each
//   parameter's size and where the ABI puts it (registers or stack slot);
//   results the same when the line lists them. Types may differ in name
//   (uintptr for *T) but never in size or place.
// - .gopclntab's `_func.args`, which every Go binary keeps: the size of the
//   argument frame the compiler reserved (src/spec/abi/index.ts
//   argumentFrameSize). DWARF is only trusted where its own signature gives
//   that size: Go leaves parameters without a name (`_`, unnamed receivers
//   of generated wrappers) out of DWARF in some versions.
//
// Without a result list, the stack ABI's frame also holds results of
// unknown size, so there the written parameters can only be checked not to
// exceed it.

import { argumentFrameSize, argumentLocations, resultLocations } from './abi/index.js';
import { readDwarfFunctions } from '../binary/dwarf/index.js';
import { findPclntab, parsePclntab, type ElfFile } from '../binary/index.js';
import { DICTIONARY_PARAM, packageOf, ParseError, sizeOf, type FunctionSpec, type GoAbi, type GoBinaryInfo, type Param, type ValueLocation } from '../core/index.js';
import { paramList, signatureLine } from './signatureline.js';

/** What the binary says about one function. */
export interface BinaryFacts {
  abi: GoAbi;
  /** The function as DWARF describes it, when it does. */
  dwarf?: FunctionSpec;
  /** `_func.args` from .gopclntab, when known. */
  frameSize?: number;
}

export interface SignatureProblem {
  message: string;
  /** 1-based column in the line. */
  column: number;
  /** The line to write instead, or what to check. */
  hint: string;
}

/** A signature that contradicts the binary. */
export class SignatureError extends ParseError {}

/** The frame a signature needs, or undefined when a type's layout is unknown (opaque DWARF types). */
export function frameSizeOf(spec: FunctionSpec, abi: GoAbi): number | undefined {
  try {
    return argumentFrameSize(spec.params, spec.results ?? [], abi, { hiddenDictionary: spec.hiddenDictionary });
  } catch {
    return undefined;
  }
}

/** Whether DWARF's signature accounts for the whole argument frame (or nothing says otherwise). */
export function dwarfMatchesFrame(dwarf: FunctionSpec, frameSize: number | undefined, abi: GoAbi): boolean {
  if (frameSize === undefined) return true;
  const size = frameSizeOf(dwarf, abi);
  return size === undefined || size === frameSize;
}

/** The first way `spec` contradicts the binary, or null. */
export function checkSignature(spec: FunctionSpec, facts: BinaryFacts): SignatureProblem | null {
  if (facts.dwarf && dwarfMatchesFrame(facts.dwarf, facts.frameSize, facts.abi)) return compareWithDwarf(spec, facts.dwarf, facts.abi);
  if (facts.frameSize !== undefined) return compareWithFrame(spec, facts.frameSize, facts.abi, facts.dwarf !== undefined);
  return null;
}

/**
 * Whether only part of the line could be checked: stack ABI, no DWARF to
 * trust and no result list, and a frame larger than the parameters as
 * written, whose rest may be results or a parameter the line leaves out.
 */
export function checkedInPart(spec: FunctionSpec, facts: BinaryFacts): boolean {
  if (facts.abi !== 'stack' || spec.results !== null || facts.frameSize === undefined) return false;
  if (facts.dwarf && dwarfMatchesFrame(facts.dwarf, facts.frameSize, facts.abi)) return false;
  const needed = frameSizeOf(spec, facts.abi);
  return needed !== undefined && needed < facts.frameSize;
}

function columns(spec: FunctionSpec) {
  return spec.origin?.columns ?? { name: 1, params: [], paramsEnd: 1 };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** `AX`, `BX, CX`, `X0`, `stack offset 8`: where a value is at entry (stack offsets from the first argument). */
function placeOf(loc: ValueLocation): string {
  if (loc.pieces.length === 0) return 'nowhere (no bytes)';
  const stack = loc.pieces.find((p) => p.location.kind === 'stack');
  if (stack && stack.location.kind === 'stack') return `on the stack at +${stack.location.offset}`;
  return 'in ' + loc.pieces.map((p) => (p.location.kind === 'reg' ? p.location.reg.toUpperCase() : p.location.kind === 'freg' ? `X${p.location.reg}` : '?')).join(', ');
}

function samePlace(a: ValueLocation, b: ValueLocation): boolean {
  return JSON.stringify(a.pieces) === JSON.stringify(b.pieces);
}

/** Locations of the shown parameters (the dictionary of a generic method dropped), or null when DWARF's layout is unknown. */
function visibleLocations(params: Param[], locate: (all: Param[]) => ValueLocation[]): ValueLocation[] | null {
  try {
    return locate(params).filter((l) => l.param.name !== DICTIONARY_PARAM);
  } catch {
    return null;
  }
}

function compareWithDwarf(spec: FunctionSpec, dwarf: FunctionSpec, abi: GoAbi): SignatureProblem | null {
  const col = columns(spec);
  const hint = `write instead: ${signatureLine(dwarf)}`;
  const written = spec.params.filter((p) => p.name !== DICTIONARY_PARAM);
  const actual = dwarf.params.filter((p) => p.name !== DICTIONARY_PARAM);
  if (written.length !== actual.length) {
    return {
      message: `${spec.name} takes ${plural(actual.length, 'parameter')} in the binary (${paramList(actual)}), not ${written.length}`,
      column: written.length > actual.length ? (col.params[actual.length] ?? col.paramsEnd) : col.paramsEnd,
      hint,
    };
  }
  const dictionary = { hiddenDictionary: spec.hiddenDictionary };
  const mine = visibleLocations(spec.params, (all) => argumentLocations(all, abi, dictionary));
  const theirs = visibleLocations(dwarf.params, (all) => argumentLocations(all, abi, { hiddenDictionary: dwarf.hiddenDictionary }));
  for (let i = 0; i < written.length; i++) {
    const problem = compareValue('parameter', spec.name, written[i]!, actual[i]!, mine?.[i], theirs?.[i]);
    if (problem) return { message: problem, column: col.params[i] ?? col.name, hint };
  }

  if (spec.results === null || dwarf.results === null) return null;
  const resultColumn = (i: number) => col.results?.[i] ?? col.results?.[0] ?? col.paramsEnd + 1;
  if (spec.results.length !== dwarf.results.length) {
    const types = dwarf.results.map((r) => r.type.name).join(', ');
    return {
      message: `${spec.name} returns ${plural(dwarf.results.length, 'result')} in the binary (${types}), not ${spec.results.length}`,
      column: resultColumn(Math.min(spec.results.length, dwarf.results.length)),
      hint,
    };
  }
  const myResults = visibleLocations(spec.results, (all) => resultLocations(spec.params, all, abi, dictionary));
  const theirResults = visibleLocations(dwarf.results, (all) => resultLocations(dwarf.params, all, abi, { hiddenDictionary: dwarf.hiddenDictionary }));
  for (let i = 0; i < spec.results.length; i++) {
    const problem = compareValue('result', spec.name, spec.results[i]!, dwarf.results[i]!, myResults?.[i], theirResults?.[i]);
    if (problem) return { message: problem, column: resultColumn(i), hint };
  }
  return null;
}

/** A parameter (or result) whose size or place differs, in one sentence; null when they agree. */
function compareValue(what: string, fn: string, mine: Param, theirs: Param, myLoc?: ValueLocation, theirLoc?: ValueLocation): string | null {
  const mySize = sizeOf(mine.type);
  const theirSize = sizeOf(theirs.type);
  const placesKnown = myLoc !== undefined && theirLoc !== undefined;
  if (mySize === theirSize && (!placesKnown || samePlace(myLoc, theirLoc))) return null;
  const describe = (p: Param, size: number, loc?: ValueLocation) => `${p.type.name} (${plural(size, 'byte')}${placesKnown ? `, ${placeOf(loc!)}` : ''})`;
  const label = /^(arg\d+|~r\d+|recv)$/.test(mine.name) ? theirs.name : mine.name;
  return `${what} ${label} of ${fn} is ${describe(theirs, theirSize, theirLoc)} in the binary, not ${describe(mine, mySize, myLoc)}`;
}

function compareWithFrame(spec: FunctionSpec, frameSize: number, abi: GoAbi, dwarfPresent: boolean): SignatureProblem | null {
  const needed = frameSizeOf(spec, abi);
  if (needed === undefined) return null;
  // Stack ABI without a result list: the rest of the frame may be results.
  const lowerBoundOnly = abi === 'stack' && spec.results === null;
  if (needed === frameSize || (lowerBoundOnly && needed < frameSize)) return null;
  const why = dwarfPresent ? 'its debug info leaves a parameter out, so only this size can be checked' : 'the binary has no debug information to say more';
  const results = spec.results === null && abi === 'register' ? '; if it returns values on the stack (an array, or more than 9 words), list its results' : '';
  return {
    message: `${spec.name}'s argument frame is ${plural(frameSize, 'byte')} in the binary (.gopclntab), but the line needs ${needed}`,
    column: columns(spec).name,
    hint: `check the number and types of its parameters (${why}): string and interface values take 16 bytes, slices 24, ints and pointers 8${results}`,
  };
}

/**
 * Checks every spec of a functions file; throws a SignatureError for the
 * first contradiction, or with `force` adds each as a warning to `notes`.
 */
export function checkSignatures(specs: FunctionSpec[], info: GoBinaryInfo, elf: ElfFile, options: { force?: boolean; notes: { push(text: string): void } }): void {
  const frames = argumentFrames(elf, info);
  let dwarf: ReturnType<typeof readDwarfFunctions> | null = null;
  if (info.hasDwarf) {
    const packages = [...new Set(['main', ...specs.map((s) => packageOf(s.name) ?? 'main')])];
    try {
      dwarf = readDwarfFunctions(elf, { packages });
    } catch {
      // Unreadable DWARF: the frame size still says something.
    }
  }
  const inPart: string[] = [];
  for (const spec of specs) {
    const symbol = info.functions.get(spec.name);
    const facts: BinaryFacts = { abi: info.abi, dwarf: dwarf?.get(spec.name)?.spec, frameSize: symbol ? frames.get(symbol.address) : undefined };
    const problem = checkSignature(spec, facts);
    if (!problem) {
      if (checkedInPart(spec, facts)) inPart.push(spec.name);
      continue;
    }
    const err = new SignatureError(problem.message, spec.origin?.file ?? '', spec.origin?.line ?? 0, problem.column, spec.origin?.text ?? spec.name, {
      hint: `${problem.hint} (or trace it anyway with --force)`,
    });
    if (!options.force) throw err;
    options.notes.push(`warning: ${err.file}:${err.line}:${err.column}: ${err.message}; tracing it anyway (--force): its values may be wrong`);
  }
  if (inPart.length) {
    const some = inPart.slice(0, 3).join(', ') + (inPart.length > 3 ? ', …' : '');
    options.notes.push(
      `${inPart.length} line${inPart.length === 1 ? '' : 's'} checked only in part (${some}): without DWARF, an argument frame larger than the parameters may hold results or a parameter left out; write the results (() for none) to have them checked exactly`,
    );
  }
}

/** Entry address → `_func.args`, for the functions whose frame size is known. */
export function argumentFrames(elf: ElfFile, info: GoBinaryInfo): Map<number, number> {
  const out = new Map<number, number>();
  const table = findPclntab(elf);
  if (!table) return out;
  try {
    for (const f of parsePclntab(table, info.path)) if (f.args >= 0) out.set(f.entry, f.args);
  } catch {
    // A table weaver cannot read: no sizes to check against.
  }
  return out;
}
