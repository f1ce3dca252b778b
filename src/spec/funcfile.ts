// The functions file: one function per line, with the types of what it is
// passed, Go syntax.
//
//   # comments (and // comments) and blank lines are allowed
//   main.handler(string, int)
//   github.com/acme/shop/cart.(*Cart).Add(string, int64)
//   main.sum(x int, xs ...int)
//   main.div(a, b int) (int, error)
//
// Methods: the receiver is the first parameter, as Go declares it, for
// pointer and value receivers alike:
//
//   main.(*Cart).Add(c *main.Cart, item string, qty int)
//   main.Point.String(p main.Point)            (or its struct type written out)
//
// A pointer-method line whose first parameter is not of the receiver's
// pointer type (`main.(*Cart).Add(item string, qty int)`, or no parameters)
// leaves the receiver out, the spelling weaver once asked for: the receiver
// is then added as `recv`. The line cannot be read the other way, since a
// receiver is always of its type; a line whose missing receiver happens to
// be followed by a *T parameter is caught by the check against the binary
// (src/spec/signaturecheck.ts).
//
// Unnamed parameters are called arg0, arg1, … (the receiver, `recv`, not
// counted); unnamed results ~r0, ~r1, …. A function name containing
// `[go.shape.` is a generic shape instantiation and gets hiddenDictionary.

import { placeDictionary } from '../binary/dwarf/index.js';
import { parseGoVersion } from '../binary/index.js';
import { packageOf, ParseError, type FunctionSpec, type Param, type SpecOrigin } from '../core/index.js';
import { Lexer, isNameChar } from './golex.js';
import { describe, parseParamList, parseTypeNode, resolveTypeNode, startsType, type ParamNode, type TypeNode, type TypeOptions } from './typeexpr.js';

export type FunctionsFileOptions = TypeOptions;

/** Parses a whole functions file; throws ParseError for the first bad line. */
export function parseFunctionsFile(text: string, file: string, options: FunctionsFileOptions = {}): FunctionSpec[] {
  const specs: FunctionSpec[] = [];
  const firstLine = new Map<string, number>();
  // A byte-order mark some editors write is not part of the first line.
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  lines.forEach((line, i) => {
    const lineNo = i + 1;
    const spec = parseFunctionLine(line, { file, line: lineNo }, options);
    if (!spec) return;
    const earlier = firstLine.get(spec.name);
    if (earlier !== undefined) {
      throw new ParseError(`function ${spec.name} is already listed on line ${earlier}`, file, lineNo, line.search(/\S/) + 1, line);
    }
    firstLine.set(spec.name, lineNo);
    specs.push(spec);
  });
  return specs;
}

/**
 * Where a generic shape function takes its dictionary depends on the
 * compiler that built the binary (first, or after a method's receiver from
 * Go 1.20; closures take none): the rule the DWARF reader applies, once the
 * binary's Go version is known.
 */
export function placeDictionaries(specs: FunctionSpec[], goVersion: string | null): void {
  const goMinor = goVersion === null ? null : (parseGoVersion(goVersion)?.minor ?? null);
  for (const spec of specs) {
    if (!spec.hiddenDictionary) continue;
    delete spec.hiddenDictionary;
    placeDictionary(spec, packageOf(spec.name) ?? '', goMinor);
  }
}

/** One line: a FunctionSpec, or null for a blank or comment line. */
export function parseFunctionLine(line: string, where: { file: string; line: number }, options: FunctionsFileOptions = {}): FunctionSpec | null {
  const start = line.search(/\S/);
  if (start < 0 || line.startsWith('#', start) || line.startsWith('//', start)) return null;
  const fail = (message: string, pos: number) => new ParseError(message, where.file, where.line, pos + 1, line);

  const nameEnd = scanFunctionName(line, start, fail);
  const name = line.slice(start, nameEnd);
  if (name === '') throw fail('missing function name', start);
  const shape = classifyName(name, start, fail);

  const lex = new Lexer(line, nameEnd, where);
  const open = lex.peek();
  if (open.kind !== 'punct' || open.text !== '(') {
    throw fail(`expected "(" after function name ${name}, found ${describe(open)}`, open.pos);
  }
  const paramNodes = parseParamList(lex, 0, 'parameter');
  const paramsEnd = lex.previous().pos + 1;
  let resultNodes: ParamNode[] | null = null;
  const after = lex.peek();
  if (after.kind === 'punct' && after.text === '(') resultNodes = parseParamList(lex, 0, 'result');
  else if (startsType(after)) resultNodes = [{ type: parseTypeNode(lex), variadic: false }];
  const rest = lex.peek();
  if (rest.kind !== 'eof') throw fail(`unexpected ${describe(rest)} after the function's signature`, rest.pos);

  const params: Param[] = [];
  const columns: number[] = [];
  let receiverWritten = shape.kind === 'valueMethod';
  if (shape.kind === 'pointerMethod') {
    receiverWritten = paramNodes.length > 0 && isReceiverType(paramNodes[0]!.type, shape.receiverType);
    if (!receiverWritten) {
      const elem = options.resolveType?.(shape.receiverType) ?? null;
      params.push({ name: 'recv', type: { kind: 'pointer', name: '*' + shape.receiverType, elem } });
      columns.push(start + 1);
    }
  } else if (shape.kind === 'valueMethod' && paramNodes.length === 0) {
    throw fail(`${name} is a method: write its receiver as the first parameter, e.g. ${name}(${receiverName(shape.receiverType)} ${shape.receiverType})`, nameEnd);
  }
  paramNodes.forEach((p, i) => {
    const type = resolveTypeNode(p.type, lex, options);
    const fullType = p.variadic ? { kind: 'slice' as const, name: '[]' + type.name, elem: type } : type;
    let paramName = p.name ?? `arg${i}`;
    if (!p.name && receiverWritten) paramName = i === 0 ? 'recv' : `arg${i - 1}`;
    params.push({ name: paramName, type: fullType });
    columns.push((p.namePos ?? p.type.pos) + 1);
  });
  const results = resultNodes?.map((r, i) => ({ name: r.name ?? `~r${i}`, type: resolveTypeNode(r.type, lex, options) })) ?? null;

  const origin: SpecOrigin = {
    file: where.file,
    line: where.line,
    text: line,
    columns: {
      name: start + 1,
      params: columns,
      paramsEnd,
      ...(resultNodes ? { results: resultNodes.map((r) => (r.namePos ?? r.type.pos) + 1) } : {}),
    },
  };
  return {
    name,
    params,
    results,
    ...(name.includes('[go.shape.') ? { hiddenDictionary: true } : {}),
    origin,
  };
}

/** Whether a written type is `*pkg.T` for receiver type `pkg.T` (type arguments aside: `*main.Box[int]` for `main.Box[go.shape.int]`). */
function isReceiverType(type: TypeNode, receiverType: string): boolean {
  if (type.k !== 'pointer' || type.elem.k !== 'name') return false;
  const generic = (n: string) => n.replace(/\[.*\]$/, '');
  return generic(type.elem.name) === generic(receiverType);
}

/** A receiver name as Go code would write it: `c` for main.Cart. */
export function receiverName(receiverType: string): string {
  const plain = receiverType.replace(/\[.*\]$/, '');
  const typeName = plain.slice(plain.lastIndexOf('.') + 1);
  const first = typeName.match(/^[\p{L}_]/u)?.[0];
  return first ? first.toLowerCase() : 'recv';
}

type NameShape =
  | { kind: 'function' }
  | { kind: 'pointerMethod'; receiverType: string }
  | { kind: 'valueMethod'; receiverType: string };

/**
 * End of the function name that starts at `start`. Names hold package paths
 * (`github.com/a-b/c.f`), receivers (`.(*T)`) and type arguments (`F[int]`);
 * the name ends at the "(" of the parameter list, a space or a comment.
 */
function scanFunctionName(line: string, start: number, fail: (m: string, pos: number) => ParseError): number {
  let i = start;
  while (i < line.length) {
    const c = line[i]!;
    if (isNameChar(c) || c === '.' || c === '/' || c === '-' || c === '~' || c === '%') {
      if (c === '/' && line[i + 1] === '/') break; // a comment
      i++;
    } else if (c === '[' || (c === '(' && line[i - 1] === '.')) {
      const close = c === '[' ? ']' : ')';
      let depth = 0;
      let j = i;
      for (; j < line.length; j++) {
        if (line[j] === c) depth++;
        else if (line[j] === close && --depth === 0) break;
      }
      if (j >= line.length) throw fail(`expected "${close}" to match "${c}" in function name`, i);
      // `pkg.(int)`: no "." after the group, so it is the parameter list of a nameless function.
      if (c === '(' && line[j + 1] !== '.') break;
      i = j + 1;
    } else {
      break;
    }
  }
  return i;
}

const CLOSURE_PART = /^(func|gowrap|deferwrap)\d+$|^\d+$/;

/**
 * Generated functions named after a method take no receiver of their own:
 * method values (`M-fm`) and range-over-func bodies (`M-range1`) reach it
 * through their closure context.
 */
function isClosurePart(part: string): boolean {
  return CLOSURE_PART.test(part) || /-(fm|range\d+)$/.test(part);
}

/** Checks `pkg.f` form and finds a method's receiver type. */
function classifyName(name: string, start: number, fail: (m: string, pos: number) => ParseError): NameShape {
  // The package path ends at the last "/" outside brackets; its last element is followed by ".".
  let depth = 0;
  let lastSlash = -1;
  for (let i = 0; i < name.length; i++) {
    const c = name[i];
    if (c === '[' || c === '(') depth++;
    else if (c === ']' || c === ')') depth--;
    else if (c === '/' && depth === 0) lastSlash = i;
  }
  const dot = name.indexOf('.', lastSlash + 1);
  if (dot < 0) {
    throw fail(`function name ${name} has no package; write it with its package, e.g. main.${name.slice(lastSlash + 1) || 'f'}`, start);
  }
  if (dot === lastSlash + 1) throw fail(`missing package name before "." in ${name}`, start + dot);
  const pkgPath = name.slice(0, dot);
  const rest = name.slice(dot + 1);
  if (rest === '' || rest.endsWith('.')) throw fail('missing function name', start + name.length);

  const method = /^\((\*?)([^()]*)\)\.(.*)$/.exec(rest);
  if (method) {
    const [, star, typeName, methodName] = method;
    const typePos = start + dot + 2 + star!.length;
    if (!star) throw fail(`a method with a value receiver is written without parentheses: ${pkgPath}.${typeName}.${methodName}`, start + dot + 1);
    if (!typeName || !isNameChar(typeName[0]!)) throw fail('missing receiver type name', typePos);
    if (!methodName || methodName.includes('(')) throw fail('missing method name after the receiver', start + name.length);
    // A closure inside the method (`(*T).M.func1`) is a function of its own.
    const nested = splitOutsideBrackets(methodName);
    if (nested.length > 1 || isClosurePart(methodName)) return { kind: 'function' };
    return { kind: 'pointerMethod', receiverType: `${pkgPath}.${typeName}` };
  }
  if (rest.includes('(')) throw fail('a receiver is written as .(*T) right after the package name', start + dot + 1 + rest.indexOf('('));
  const parts = splitOutsideBrackets(rest);
  if (parts.some((p) => p === '')) throw fail(`empty name part in ${name}`, start);
  if (parts.length === 2 && !isClosurePart(parts[1]!)) {
    return { kind: 'valueMethod', receiverType: `${pkgPath}.${parts[0]}` };
  }
  return { kind: 'function' };
}

/** Splits on "." except inside type arguments: `List[go.shape.int].Len` is two parts. */
function splitOutsideBrackets(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '[') depth++;
    else if (c === ']') depth--;
    else if (c === '.' && depth === 0) {
      parts.push(text.slice(from, i));
      from = i + 1;
    }
  }
  parts.push(text.slice(from));
  return parts;
}
