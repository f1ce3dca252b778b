// The functions file: one function per line, with the types of what it is
// passed, Go syntax.
//
//   # comments (and // comments) and blank lines are allowed
//   main.handler(string, int)
//   github.com/acme/shop/cart.(*Cart).Add(string, int64)
//   main.sum(x int, xs ...int)
//   main.div(a, b int) (int, error)
//
// Receivers:
// - Pointer receiver, `pkg.(*T).M(args)`: the receiver is added as the first
//   parameter, `recv *pkg.T` (an address; its pointee comes from the type
//   resolver when it knows pkg.T). Do not write it in the list.
// - Value receiver, `pkg.T.M(...)`: the symbol does not say how big T is, so
//   the receiver must be written as the first parameter (`main.Point.String(p
//   main.Point)` or its struct type); unnamed, it is called `recv`.
//
// Unnamed parameters are called arg0, arg1, … (the receiver not counted);
// unnamed results ~r0, ~r1, …. A function name containing `[go.shape.` is a
// generic shape instantiation and gets hiddenDictionary.

import { ParseError } from './errors.js';
import type { FunctionSpec, Param } from './gotypes.js';
import { Lexer, isNameChar } from './golex.js';
import { describe, parseParamList, parseTypeNode, resolveTypeNode, startsType, type ParamNode, type TypeOptions } from './typeexpr.js';

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
  let resultNodes: ParamNode[] | null = null;
  const after = lex.peek();
  if (after.kind === 'punct' && after.text === '(') resultNodes = parseParamList(lex, 0, 'result');
  else if (startsType(after)) resultNodes = [{ type: parseTypeNode(lex), variadic: false }];
  const rest = lex.peek();
  if (rest.kind !== 'eof') throw fail(`unexpected ${describe(rest)} after the function's signature`, rest.pos);

  const params: Param[] = [];
  if (shape.kind === 'pointerMethod') {
    const elem = options.resolveType?.(shape.receiverType) ?? null;
    params.push({ name: 'recv', type: { kind: 'pointer', name: '*' + shape.receiverType, elem } });
  } else if (shape.kind === 'valueMethod' && paramNodes.length === 0) {
    throw fail(`${name} is a method with a value receiver: write the receiver's type as the first parameter, e.g. ${name}(${shape.receiverType})`, nameEnd);
  }
  paramNodes.forEach((p, i) => {
    const type = resolveTypeNode(p.type, lex, options);
    const fullType = p.variadic ? { kind: 'slice' as const, name: '[]' + type.name, elem: type } : type;
    let paramName = p.name ?? `arg${i}`;
    if (!p.name && shape.kind === 'valueMethod') paramName = i === 0 ? 'recv' : `arg${i - 1}`;
    params.push({ name: paramName, type: fullType });
  });
  const results = resultNodes?.map((r, i) => ({ name: r.name ?? `~r${i}`, type: resolveTypeNode(r.type, lex, options) })) ?? null;

  return {
    name,
    params,
    results,
    ...(name.includes('[go.shape.') ? { hiddenDictionary: true } : {}),
    origin: { file: where.file, line: where.line },
  };
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
    return { kind: 'pointerMethod', receiverType: `${pkgPath}.${typeName}` };
  }
  if (rest.includes('(')) throw fail('a receiver is written as .(*T) right after the package name', start + dot + 1 + rest.indexOf('('));
  const parts = splitOutsideBrackets(rest);
  if (parts.some((p) => p === '')) throw fail(`empty name part in ${name}`, start);
  if (parts.length === 2 && !CLOSURE_PART.test(parts[1]!)) {
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
