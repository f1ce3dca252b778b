// Go type expressions as written in a functions file (`[]int`, `*main.Cart`,
// `struct{ID int64; Name string}`, `map[string]int`, …) → GoType.
//
// Parsing is two steps: the syntax is read into TypeNodes that remember where
// each type was written, then the nodes are resolved into GoTypes. Keeping
// the steps apart lets a parameter list decide whether `a` in `(a, b int)` is
// a name or a type before anything is looked up, and lets every error point
// at the column of the offending token.
//
// Rules for names:
// - Go's built-in names (`int`, `byte`, `string`, `any`, `error`, …) and
//   `unsafe.Pointer` are always known.
// - A named type (`main.Account`, `net/http.Header`) needs the optional
//   `resolveType` callback (DWARF). Without it, or when it does not know the
//   name, the type is an error, except behind a pointer: `*main.Cart` is then
//   a pointer whose pointee is unknown (shown as an address).
// - Types inside a `func(…)` or `interface{…}` type are only checked for
//   syntax: a func value or an interface is shown without looking into them.

import { basic, BASIC_TYPE_NAMES, closestNames, didYouMean, makeStruct, ParseError, sizeOf, type GoType } from '../core/index.js';
import { Lexer, type Token, type SourcePos } from './golex.js';

export type TypeNode =
  | { k: 'name'; name: string; pos: number }
  | { k: 'pointer'; elem: TypeNode; pos: number }
  | { k: 'slice'; elem: TypeNode; pos: number }
  | { k: 'array'; len: number; elem: TypeNode; pos: number }
  | { k: 'map'; key: TypeNode; elem: TypeNode; pos: number }
  | { k: 'chan'; dir: 'both' | 'send' | 'recv'; elem: TypeNode; pos: number }
  | { k: 'func'; params: ParamNode[]; results: ParamNode[]; pos: number }
  | { k: 'struct'; fields: FieldNode[]; pos: number }
  | { k: 'interface'; text: string; empty: boolean; pos: number };

export interface ParamNode {
  /** Undefined in an unnamed list. */
  name?: string;
  namePos?: number;
  type: TypeNode;
  variadic: boolean;
}

interface FieldNode {
  name: string;
  type: TypeNode;
  embedded: boolean;
  pos: number;
}

export type TypeResolver = (name: string) => GoType | undefined;

export interface TypeOptions {
  /** Looks up a named type (`main.Account`) in the binary's DWARF. */
  resolveType?: TypeResolver;
  /** Names offered in "did you mean" for unknown named types. */
  typeNames?: readonly string[];
  /**
   * The kind of a named type DWARF cannot give (a stripped binary), from
   * the runtime's type descriptors; asked only to word the error.
   */
  namedKind?: (name: string) => GoType['kind'] | undefined;
}

/** Deeper nesting than this is certainly a mistake, and would overflow the stack. */
const MAX_DEPTH = 64;
/** Arrays larger than this cannot be captured anyway; rejecting them keeps sizes exact. */
const MAX_ARRAY_LEN = 1 << 30;

const PREDECLARED = [...Object.keys(BASIC_TYPE_NAMES), 'string', 'any', 'error'];

/** Parses one type expression, e.g. the text of a `--type` option. */
export function parseTypeExpr(
  text: string,
  options: TypeOptions & { file?: string; line?: number } = {},
): GoType {
  const lex = new Lexer(text, 0, { file: options.file ?? '<type>', line: options.line ?? 1 });
  if (lex.peek().kind === 'eof') throw lex.error('missing type', lex.peek().pos);
  const node = parseTypeNode(lex);
  const after = lex.peek();
  if (after.kind !== 'eof') throw lex.error(`unexpected ${describe(after)} after type`, after.pos);
  return resolveTypeNode(node, lex, options);
}

export function describe(t: Token): string {
  return t.kind === 'eof' ? 'end of line' : `"${t.text}"`;
}

function expect(lex: Lexer, text: string, context: string): Token {
  const t = lex.peek();
  if (t.kind !== 'punct' || t.text !== text) {
    throw lex.error(`expected "${text}" ${context}, found ${describe(t)}`, t.pos);
  }
  return lex.next();
}

function isPunct(t: Token, text: string): boolean {
  return t.kind === 'punct' && t.text === text;
}

/** True when t can begin a type: used to tell `func(int) error` from `func(int), x`. */
export function startsType(t: Token): boolean {
  if (t.kind === 'name') return true;
  return t.kind === 'punct' && ['*', '[', '(', '<-'].includes(t.text);
}

export function parseTypeNode(lex: Lexer, depth = 0): TypeNode {
  if (depth > MAX_DEPTH) throw lex.error('type is nested too deeply', lex.peek().pos);
  const t = lex.peek();
  const pos = t.pos;
  if (t.kind === 'punct') {
    switch (t.text) {
      case '*':
        lex.next();
        return { k: 'pointer', elem: parseTypeNode(lex, depth + 1), pos };
      case '(': {
        lex.next();
        const inner = parseTypeNode(lex, depth + 1);
        expect(lex, ')', 'after parenthesized type');
        return inner;
      }
      case '[':
        return parseArrayOrSlice(lex, depth);
      case '<-': {
        lex.next();
        const ch = lex.peek();
        if (ch.kind !== 'name' || ch.text !== 'chan') throw lex.error(`expected "chan" after "<-", found ${describe(ch)}`, ch.pos);
        lex.next();
        return { k: 'chan', dir: 'recv', elem: parseTypeNode(lex, depth + 1), pos };
      }
    }
  }
  if (t.kind !== 'name') throw lex.error(t.kind === 'eof' ? 'missing type' : `expected a type, found ${describe(t)}`, pos);
  switch (t.text) {
    case 'map': {
      lex.next();
      expect(lex, '[', 'after "map"');
      const key = parseTypeNode(lex, depth + 1);
      expect(lex, ']', 'after map key type');
      return { k: 'map', key, elem: parseTypeNode(lex, depth + 1), pos };
    }
    case 'chan': {
      lex.next();
      let dir: 'both' | 'send' = 'both';
      if (isPunct(lex.peek(), '<-')) {
        lex.next();
        dir = 'send';
      }
      return { k: 'chan', dir, elem: parseTypeNode(lex, depth + 1), pos };
    }
    case 'func': {
      lex.next();
      const sig = parseSignature(lex, depth + 1);
      return { k: 'func', ...sig, pos };
    }
    case 'struct':
      lex.next();
      return parseStruct(lex, pos, depth);
    case 'interface':
      lex.next();
      return parseInterface(lex, pos, depth);
  }
  lex.next();
  return { k: 'name', name: t.text, pos };
}

function parseArrayOrSlice(lex: Lexer, depth: number): TypeNode {
  const pos = lex.next().pos;
  const t = lex.peek();
  if (isPunct(t, ']')) {
    lex.next();
    return { k: 'slice', elem: parseTypeNode(lex, depth + 1), pos };
  }
  if (t.kind !== 'number') throw lex.error(`expected array length or "]", found ${describe(t)}`, t.pos);
  lex.next();
  const len = parseArrayLength(t.text);
  if (len === undefined || len > MAX_ARRAY_LEN) {
    throw lex.error(`array length ${t.text} is not a whole number up to ${MAX_ARRAY_LEN}`, t.pos);
  }
  expect(lex, ']', 'after array length');
  return { k: 'array', len, elem: parseTypeNode(lex, depth + 1), pos };
}

function parseArrayLength(text: string): number | undefined {
  const digits = text.replace(/_/g, '');
  let m: RegExpMatchArray | null;
  let value: number;
  if ((m = /^0[xX]([0-9a-fA-F]+)$/.exec(digits))) value = parseInt(m[1]!, 16);
  else if ((m = /^0[bB]([01]+)$/.exec(digits))) value = parseInt(m[1]!, 2);
  else if ((m = /^0[oO]?([0-7]+)$/.exec(digits))) value = parseInt(m[1]!, 8);
  else if (/^[0-9]+$/.test(digits)) value = parseInt(digits, 10);
  else return undefined;
  return Number.isSafeInteger(value) ? value : undefined;
}

/** `(params) results` of a func type; a single unparenthesized result is allowed. */
function parseSignature(lex: Lexer, depth: number): { params: ParamNode[]; results: ParamNode[] } {
  const params = parseParamList(lex, depth, 'parameter');
  let results: ParamNode[] = [];
  const t = lex.peek();
  if (isPunct(t, '(')) results = parseParamList(lex, depth, 'result');
  else if (startsType(t)) results = [{ type: parseTypeNode(lex, depth + 1), variadic: false }];
  return { params, results };
}

/**
 * A parenthesized parameter (or result) list, Go's rules: either every entry
 * has a name or none has; `a, b int` gives both names one type; `...T` only
 * last. The opening "(" is the next token.
 */
export function parseParamList(lex: Lexer, depth: number, what: 'parameter' | 'result'): ParamNode[] {
  expect(lex, '(', `to start the ${what} list`);
  const entries: { nameTok?: Token; type: TypeNode; variadic: boolean; variadicPos: number }[] = [];
  while (!isPunct(lex.peek(), ')')) {
    const first = lex.peek();
    if (first.kind === 'eof') throw lex.error(`expected ")" after ${what} list`, first.pos);
    let nameTok: Token | undefined;
    let variadic = false;
    let variadicPos = first.pos;
    let type: TypeNode;
    if (isPunct(first, '...')) {
      lex.next();
      variadic = true;
      type = parseTypeNode(lex, depth + 1);
    } else {
      type = parseTypeNode(lex, depth + 1);
      const next = lex.peek();
      if (startsType(next) || isPunct(next, '...')) {
        // The "type" just read was the parameter's name.
        if (type.k !== 'name' || type.name.includes('.') || type.name.includes('/')) {
          throw lex.error(`expected "," or ")" in ${what} list, found ${describe(next)}`, next.pos);
        }
        nameTok = first;
        if (isPunct(next, '...')) {
          variadicPos = lex.next().pos;
          variadic = true;
        }
        type = parseTypeNode(lex, depth + 1);
      }
    }
    entries.push({ nameTok, type, variadic, variadicPos });
    const sep = lex.peek();
    if (isPunct(sep, ',')) lex.next();
    else if (sep.kind === 'eof') throw lex.error(`expected ")" after ${what} list`, sep.pos);
    else if (!isPunct(sep, ')')) throw lex.error(`expected "," or ")" in ${what} list, found ${describe(sep)}`, sep.pos);
  }
  lex.next();

  entries.forEach((e, i) => {
    if (e.variadic && (what === 'result' || i !== entries.length - 1)) {
      throw lex.error(what === 'result' ? 'results cannot be variadic' : 'only the final parameter can be variadic ("...")', e.variadicPos);
    }
  });
  if (!entries.some((e) => e.nameTok)) {
    return entries.map((e) => ({ type: e.type, variadic: e.variadic }));
  }
  // Named form: a bare identifier is a name waiting for the type of the next named entry.
  const out: ParamNode[] = [];
  let pending: { name: string; pos: number }[] = [];
  for (const e of entries) {
    if (e.nameTok) {
      for (const p of pending) out.push({ name: p.name, namePos: p.pos, type: e.type, variadic: false });
      pending = [];
      out.push({ name: e.nameTok.text, namePos: e.nameTok.pos, type: e.type, variadic: e.variadic });
    } else if (e.type.k === 'name' && !e.type.name.includes('.') && !e.type.name.includes('/') && !e.variadic) {
      pending.push({ name: e.type.name, pos: e.type.pos });
    } else {
      throw lex.error(`mixed named and unnamed ${what}s`, e.type.pos);
    }
  }
  if (pending.length > 0) throw lex.error(`mixed named and unnamed ${what}s`, pending[0]!.pos);
  const seen = new Set<string>();
  for (const p of out) {
    if (p.name !== '_' && seen.has(p.name!)) throw lex.error(`duplicate ${what} name "${p.name}"`, p.namePos!);
    seen.add(p.name!);
  }
  return out;
}

function parseStruct(lex: Lexer, pos: number, depth: number): TypeNode {
  expect(lex, '{', 'after "struct"');
  const fields: FieldNode[] = [];
  while (!isPunct(lex.peek(), '}')) {
    const first = lex.peek();
    if (first.kind === 'eof') throw lex.error('expected "}" to end the struct', first.pos);
    if (isPunct(first, '*')) {
      // Embedded pointer: *T
      const type = parseTypeNode(lex, depth + 1);
      fields.push({ name: embeddedName(type), type, embedded: true, pos: first.pos });
    } else if (first.kind === 'name') {
      lex.next();
      const after = lex.peek();
      if (isPunct(after, ';') || isPunct(after, '}') || after.kind === 'string') {
        const type: TypeNode = { k: 'name', name: first.text, pos: first.pos };
        fields.push({ name: embeddedName(type), type, embedded: true, pos: first.pos });
      } else {
        if (first.text.includes('.') || first.text.includes('/')) {
          throw lex.error(`expected ";" or "}" after embedded field ${first.text}, found ${describe(after)}`, after.pos);
        }
        const names = [first];
        while (isPunct(lex.peek(), ',')) {
          lex.next();
          const n = lex.peek();
          if (n.kind !== 'name' || n.text.includes('.')) throw lex.error(`expected a field name, found ${describe(n)}`, n.pos);
          names.push(lex.next());
        }
        const type = parseTypeNode(lex, depth + 1);
        for (const n of names) fields.push({ name: n.text, type, embedded: false, pos: n.pos });
      }
    } else {
      throw lex.error(`expected a field name, found ${describe(first)}`, first.pos);
    }
    if (lex.peek().kind === 'string') lex.next(); // a field tag changes nothing in the layout
    const sep = lex.peek();
    if (isPunct(sep, ';')) lex.next();
    else if (!isPunct(sep, '}')) throw lex.error(`expected ";" or "}" after struct field, found ${describe(sep)}`, sep.pos);
  }
  lex.next();
  const seen = new Set<string>();
  for (const f of fields) {
    if (f.name !== '_' && seen.has(f.name)) throw lex.error(`duplicate field name "${f.name}"`, f.pos);
    seen.add(f.name);
  }
  return { k: 'struct', fields, pos };
}

/** The field name of an embedded field: the type name without package or "*". */
function embeddedName(type: TypeNode): string {
  const named = type.k === 'pointer' ? type.elem : type;
  if (named.k !== 'name') return '?';
  return named.name.slice(named.name.lastIndexOf('.') + 1);
}

/** Interfaces are shown as (type, data) words, so their methods are only skipped over. */
function parseInterface(lex: Lexer, pos: number, depth: number): TypeNode {
  expect(lex, '{', 'after "interface"');
  const parts: string[] = [];
  while (!isPunct(lex.peek(), '}')) {
    const t = lex.peek();
    if (t.kind !== 'name') throw lex.error(`expected a method or embedded interface, found ${describe(t)}`, t.pos);
    lex.next();
    if (isPunct(lex.peek(), '(')) {
      const sig = parseSignature(lex, depth + 1);
      parts.push(t.text + signatureText(sig.params, sig.results));
    } else {
      parts.push(t.text);
    }
    const sep = lex.peek();
    if (isPunct(sep, ';')) lex.next();
    else if (!isPunct(sep, '}')) throw lex.error(`expected ";" or "}" in interface, found ${describe(sep)}`, sep.pos);
  }
  lex.next();
  const text = parts.length === 0 ? 'interface {}' : `interface { ${parts.join('; ')} }`;
  return { k: 'interface', text, empty: parts.length === 0, pos };
}

/** How a type node is written in Go, for type names. */
export function typeText(n: TypeNode): string {
  switch (n.k) {
    case 'name': return n.name;
    case 'pointer': return '*' + typeText(n.elem);
    case 'slice': return '[]' + typeText(n.elem);
    case 'array': return `[${n.len}]` + typeText(n.elem);
    case 'map': return `map[${typeText(n.key)}]${typeText(n.elem)}`;
    case 'chan': return (n.dir === 'recv' ? '<-chan ' : n.dir === 'send' ? 'chan<- ' : 'chan ') + typeText(n.elem);
    case 'func': return 'func' + signatureText(n.params, n.results);
    case 'struct':
      return `struct{${n.fields.map((f) => (f.embedded ? typeText(f.type) : `${f.name} ${typeText(f.type)}`)).join('; ')}}`;
    case 'interface': return n.text;
  }
}

function signatureText(params: ParamNode[], results: ParamNode[]): string {
  const list = (ps: ParamNode[]) => ps.map((p) => (p.variadic ? '...' : '') + typeText(p.type)).join(', ');
  const res = results.length === 0 ? '' : results.length === 1 && !results[0]!.name ? ' ' + list(results) : ` (${list(results)})`;
  return `(${list(params)})${res}`;
}

/** Turns a parsed type into a GoType, looking named types up with the resolver. */
export function resolveTypeNode(node: TypeNode, at: SourcePos, options: TypeOptions, behindPointer = false): GoType {
  switch (node.k) {
    case 'name':
      return resolveName(node, at, options, behindPointer);
    case 'pointer': {
      const elem = resolveTypeNode(node.elem, at, options, true);
      return { kind: 'pointer', name: '*' + (elem?.name ?? typeText(node.elem)), elem: elem.kind === 'opaque' && elem.size < 0 ? null : elem };
    }
    case 'slice': {
      const elem = resolveTypeNode(node.elem, at, options);
      return { kind: 'slice', name: '[]' + elem.name, elem };
    }
    case 'array': {
      const elem = resolveTypeNode(node.elem, at, options);
      if (node.len * sizeOf(elem) > MAX_ARRAY_LEN) throw at.error(`array type [${node.len}]${elem.name} is too large`, node.pos);
      return { kind: 'array', name: `[${node.len}]${elem.name}`, len: node.len, elem };
    }
    case 'map': {
      const key = resolveTypeNode(node.key, at, options);
      if (key.kind === 'slice' || key.kind === 'map' || key.kind === 'func') {
        throw at.error(`invalid map key type ${key.name}`, node.key.pos);
      }
      const elem = resolveTypeNode(node.elem, at, options);
      return { kind: 'map', name: `map[${key.name}]${elem.name}`, key, elem };
    }
    case 'chan': {
      const elem = resolveTypeNode(node.elem, at, options);
      const prefix = node.dir === 'recv' ? '<-chan ' : node.dir === 'send' ? 'chan<- ' : 'chan ';
      return { kind: 'chan', name: prefix + elem.name, elem };
    }
    case 'func':
      return { kind: 'func', name: typeText(node) };
    case 'interface':
      return { kind: 'interface', name: node.text, empty: node.empty };
    case 'struct': {
      const fields = node.fields.map((f) => ({
        name: f.name,
        type: resolveTypeNode(f.type, at, options),
        ...(f.embedded ? { embedded: true } : {}),
      }));
      const t = makeStruct('', fields);
      if (sizeOf(t) > MAX_ARRAY_LEN) throw at.error(`struct type is too large`, node.pos);
      return t;
    }
  }
}

/** Marker for a pointee we know nothing of; resolveTypeNode turns it into elem: null. */
function unknownPointee(name: string): GoType {
  return { kind: 'opaque', name, size: -1, align: 1 };
}

function resolveName(node: { name: string; pos: number }, at: SourcePos, options: TypeOptions, behindPointer: boolean): GoType {
  const name = node.name;
  const basicKind = BASIC_TYPE_NAMES[name];
  if (basicKind) return basic(basicKind, name);
  switch (name) {
    case 'string': return { kind: 'string', name };
    case 'any': return { kind: 'interface', name, empty: true };
    case 'error': return { kind: 'interface', name, empty: false };
    case 'unsafe.Pointer': return { kind: 'pointer', name, elem: null };
  }
  const qualified = name.includes('.');
  if (qualified) {
    const found = options.resolveType?.(name);
    if (found) return found;
    if (behindPointer) return unknownPointee(name);
    const fix = `write *${name} to capture its address, or spell out its struct type`;
    if (!options.resolveType) {
      const kind = options.namedKind?.(name);
      if (kind === 'interface') {
        throw at.error(`${name} is an interface, unknown by name without debug info (DWARF); write any, error or interface{ M() } for it: values show their dynamic type`, node.pos);
      }
      const either = kind === undefined ? `if it is an interface, write any, error or interface{ M() }; otherwise ${fix}` : fix;
      throw at.error(`named type ${name} is unknown without debug info (DWARF); ${either}`, node.pos);
    }
    const suggestions = closestNames(name, options.typeNames ?? [], 3);
    const hint = suggestions.length ? didYouMean(suggestions).slice(2) : fix;
    throw at.error(`named type ${name} is not in the binary's debug info; ${hint}`, node.pos);
  }
  const suggestions = closestNames(name, [...PREDECLARED, ...(options.typeNames ?? [])], 3);
  if (suggestions.length === 0 && /^[\p{L}_][\p{L}\p{N}_]*$/u.test(name)) {
    throw at.error(`unknown type "${name}"; a named type is written with its package, e.g. main.${name}`, node.pos);
  }
  throw at.error(`unknown type "${name}"${didYouMean(suggestions)}`, node.pos);
}

export { ParseError };
