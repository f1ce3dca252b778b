// How a function's signature is written as a functions-file line: what
// `weaver list` prints and what the signature check offers as the line to
// write instead. The receiver of a method is its first parameter, named,
// for pointer and value receivers alike (see src/spec/funcfile.ts).

import { DICTIONARY_PARAM, isBasicKind, type FunctionSpec, type GoType, type Param } from '../core/index.js';

/** Generic shape types (go.shape.int64_0) are written as the basic type they stand for. */
export function writtenTypeName(t: GoType): string {
  if (t.name.startsWith('go.shape.') && (isBasicKind(t.kind) || t.kind === 'string')) return t.kind;
  return t.name;
}

const UNNAMED = /^~[a-z]\d+$/;

/**
 * `a int, b string`: parameters as a functions file writes them; the
 * dictionary of a generic function is implied by its name. DWARF calls a
 * parameter or result without a name (`_`, or none in Go's source) ~p0,
 * ~b0 or ~r0: it is written `_`.
 */
export function paramList(params: Param[]): string {
  return params
    .filter((p) => p.name !== DICTIONARY_PARAM)
    .map((p) => `${UNNAMED.test(p.name) ? '_' : p.name} ${writtenTypeName(p.type)}`)
    .join(', ');
}

/** One line of a functions file; unnamed results (`~r0`) are written as types alone. */
export function signatureLine(spec: FunctionSpec): string {
  let results = '';
  if (spec.results && spec.results.length) {
    const unnamed = spec.results.every((r) => r.name.startsWith('~'));
    results = ` (${unnamed ? spec.results.map((r) => writtenTypeName(r.type)).join(', ') : paramList(spec.results)})`;
  }
  return `${spec.name}(${paramList(spec.params)})${results}`;
}

/** A Go identifier: a letter (any script: ü, ñ) or _, then letters, digits and _ (src/spec/golex.ts reads the same). */
const GO_IDENTIFIER = /^[\p{L}_][\p{L}\p{N}_]*$/u;

/** Whether a function's DWARF signature can be written as a functions-file line. */
export function writable(spec: FunctionSpec): boolean {
  const all = [...spec.params.filter((p) => p.name !== DICTIONARY_PARAM), ...(spec.results ?? [])];
  return all.every((p) => (GO_IDENTIFIER.test(p.name) || UNNAMED.test(p.name)) && !writtenTypeName(p.type).startsWith('go.shape.') && p.type.kind !== 'opaque');
}
