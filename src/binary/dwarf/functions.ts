// DW_TAG_subprogram → FunctionSpec. Go lists parameters and results as
// DW_TAG_formal_parameter children, results marked DW_AT_variable_parameter.
// Out-of-line copies of inlinable functions carry DW_AT_abstract_origin and
// take their name and parameter list from the abstract entry.

import { DICTIONARY_PARAM, withoutTypeArguments, type FunctionSpec, type GoType, type Param } from '../../core/index.js';
import { AT, TAG } from './constants.js';
import type { Die, DwarfInfo, Unit } from './info.js';
import type { TypeBuilder } from './types.js';

export interface DwarfFunction {
  spec: FunctionSpec;
  /** Entry address (DW_AT_low_pc). */
  lowPc: number;
  /** Address just past the function's code (DW_AT_high_pc). */
  highPc: number;
}

/** The Go minor version that produced a unit (`Go cmd/compile go1.22.12; regabi` → 22), or null. */
export function producerMinor(producer: string | undefined): number | null {
  const m = producer ? /go1\.(\d+)/.exec(producer) : null;
  return m ? Number(m[1]) : null;
}

/** Adds the functions defined in `unit` to `out` (first definition of a name wins). */
export function collectUnitFunctions(dw: DwarfInfo, types: TypeBuilder, unit: Unit, out: Map<string, DwarfFunction>): void {
  const root = dw.root(unit);
  const pkg = dw.str(root, AT.name) ?? '';
  const goMinor = producerMinor(dw.str(root, AT.producer));
  for (const die of dw.childrenWithTag(root, TAG.subprogram)) {
    const fn = readSubprogram(dw, types, die, pkg, goMinor);
    if (fn && !out.has(fn.spec.name)) out.set(fn.spec.name, fn);
  }
}

function readSubprogram(dw: DwarfInfo, types: TypeBuilder, die: Die, pkg: string, goMinor: number | null): DwarfFunction | null {
  const lowPc = dw.addr(die, AT.low_pc);
  // Abstract entries (DW_AT_inline) and declarations have no code of their own.
  if (lowPc === undefined) return null;
  const originRef = dw.ref(die, AT.abstract_origin) ?? dw.ref(die, AT.specification);
  const origin = originRef === undefined ? null : dw.die(originRef);
  const name = dw.str(die, AT.name) ?? (origin ? dw.str(origin, AT.name) : undefined);
  if (!name) return null;
  const paramSource = origin ?? die;
  const params: Param[] = [];
  const results: Param[] = [];
  for (const p of dw.childrenWithTag(paramSource, TAG.formal_parameter)) {
    const isResult = dw.flag(p, AT.variable_parameter);
    const typeRef = dw.ref(p, AT.type);
    const type: GoType = typeRef === undefined ? { kind: 'opaque', name: '?', size: 0, align: 1 } : types.typeAt(typeRef);
    const list = isResult ? results : params;
    const declared = dw.str(p, AT.name);
    // Go 1.19–1.24 list results of some functions with a defer twice
    // (~r0, ~r0, ~r1, ~r1; n, n, err); a result name is never declared twice otherwise.
    if (isResult && declared && declared !== '_' && results.some((r) => r.name === declared)) continue;
    const pname = declared || (isResult ? `~r${list.length}` : `arg${list.length}`);
    list.push({ name: pname, type });
  }
  const spec: FunctionSpec = { name, params, results };
  placeDictionary(spec, pkg, goMinor);
  return { spec, lowPc, highPc: dw.highPc(die, lowPc) ?? lowPc };
}

const DICT = DICTIONARY_PARAM;
const DICT_TYPE: GoType = { kind: 'pointer', name: 'unsafe.Pointer', elem: null };

/**
 * Shape instantiations (`main.F[go.shape.int]`) take a dictionary pointer.
 * Where it goes depends on the compiler: Go 1.18/1.19 put it before
 * everything (receiver included); the unified IR of Go 1.20+ puts it
 * after the receiver of a method (noder/reader.go: "receiver (if any),
 * then runtime dictionary, and finally normal parameters"). Go 1.25+
 * lists it in DWARF as `.dict`; earlier versions do not. A dictionary in
 * first position is `hiddenDictionary`; anywhere else it is an explicit
 * `.dict` parameter so the ABI stage sees every register in order.
 * Closures inside generic functions reach the dictionary through their
 * closure context and take none.
 */
export function placeDictionary(spec: FunctionSpec, pkg: string, goMinor: number | null): void {
  const listed = spec.params.findIndex((p) => p.name === DICT);
  if (listed === 0) {
    spec.params.shift();
    spec.hiddenDictionary = true;
    return;
  }
  if (listed > 0) return;
  const shape = classifyShapeFunction(spec.name, pkg);
  if (!shape.isShape || shape.isClosure) return;
  const unified = goMinor === null || goMinor >= 20;
  if (shape.isMethod && unified && spec.params.length > 0) {
    spec.params.splice(1, 0, { name: DICT, type: DICT_TYPE });
  } else {
    spec.hiddenDictionary = true;
  }
}

/** What a function's name says about it: a shape instantiation? a method? a closure? */
export function classifyShapeFunction(name: string, pkg: string): { isShape: boolean; isMethod: boolean; isClosure: boolean } {
  const isShape = name.includes('[go.shape.');
  // Type arguments may contain dots and slashes (`go.shape.struct { net/url.x int }`): drop them first.
  const bare = withoutTypeArguments(name);
  let rest: string;
  if (pkg && bare.startsWith(pkg + '.')) {
    rest = bare.slice(pkg.length + 1);
  } else {
    const dot = bare.indexOf('.', bare.lastIndexOf('/') + 1);
    rest = dot < 0 ? bare : bare.slice(dot + 1);
  }
  const parts = rest.split('.');
  const isClosure = parts.slice(1).some((p) => /^(func|gowrap|deferwrap)\d+$/.test(p) || /^\d+$/.test(p));
  return { isShape, isMethod: !isClosure && parts.length === 2, isClosure };
}
