// Checks a parsed --filter against the traced functions' parameter types
// (so `code >= "x"` or a misspelt argument fails before anything is
// loaded) and compiles it into a predicate on decoded argument lists.
//
// At run time a comparison whose value was not captured (unavailable, a
// pointer that was not followed, an element past --max-elements) is false.

import { closestNames, isIntKind, type DecodedArg, type GoType, type Param, type Value } from '../../core/index.js';
import { FilterError } from './error.js';
import type { CompareOp, Expr, Operand, ParsedFilter, PathOperand } from './parse.js';

export type ArgsPredicate = (args: DecodedArg[]) => boolean;

/** What an operand holds, for type checks: its category and how Go would name it. */
type Category = 'int' | 'float' | 'string' | 'bool' | 'nil' | 'nilable' | 'other';

interface Typed {
  category: Category;
  /** The Go type name (or the literal's kind), for messages. */
  typeName: string;
  get: (args: DecodedArg[]) => Value | LiteralValue | undefined;
}

type LiteralValue = { kind: 'literal'; value: bigint | number | string | boolean | null };

const NILABLE = new Set(['pointer', 'slice', 'map', 'chan', 'func', 'interface']);

function categoryOf(t: GoType): Category {
  if (isIntKind(t.kind)) return 'int';
  if (t.kind === 'float32' || t.kind === 'float64') return 'float';
  if (t.kind === 'string') return 'string';
  if (t.kind === 'bool') return 'bool';
  if (NILABLE.has(t.kind)) return 'nilable';
  return 'other';
}

const decoder = new TextDecoder('utf-8');

/** Follows pointers the decoder followed; undefined when it did not. */
function deref(v: Value | undefined): Value | undefined {
  while (v?.kind === 'pointer') {
    if (v.target === undefined) return undefined;
    v = v.target;
  }
  return v;
}

class Checker {
  constructor(
    private readonly filter: ParsedFilter,
    private readonly functionName: string,
    private readonly params: Param[],
  ) {}

  private fail(message: string, column: number): never {
    throw new FilterError(message, this.filter.source, column);
  }

  compile(expr: Expr): ArgsPredicate {
    switch (expr.kind) {
      case 'or': {
        const l = this.compile(expr.left);
        const r = this.compile(expr.right);
        return (a) => l(a) || r(a);
      }
      case 'and': {
        const l = this.compile(expr.left);
        const r = this.compile(expr.right);
        return (a) => l(a) && r(a);
      }
      case 'not': {
        const inner = this.compile(expr.operand);
        return (a) => !inner(a);
      }
      case 'truth': {
        const t = this.operand(expr.operand);
        if (t.category !== 'bool') {
          this.fail(`${expr.operand.text} is ${article(t.typeName)}, not a bool; compare it with something, such as ${expr.operand.text} == …`, expr.operand.column);
        }
        return (a) => {
          const v = t.get(a);
          return v?.kind === 'bool' ? v.value : v?.kind === 'literal' ? v.value === true : false;
        };
      }
      case 'compare':
        return this.comparison(expr.op, expr.left, expr.right, expr.column);
    }
  }

  private comparison(op: CompareOp, leftOp: Operand, rightOp: Operand, column: number): ArgsPredicate {
    if (isLiteral(leftOp) && isLiteral(rightOp)) {
      this.fail(`${leftOp.text} ${op} ${rightOp.text} compares two constants; one side must be an argument`, leftOp.column);
    }
    const left = this.operand(leftOp);
    const right = this.operand(rightOp);
    const numeric = (c: Category) => c === 'int' || c === 'float';
    const mismatch = () =>
      this.fail(`${leftOp.text} (${left.typeName}) cannot be compared with ${rightOp.text} (${right.typeName}) using ${op}`, isLiteral(rightOp) ? rightOp.column : column);

    if (op === 'contains' || op === '~' || op === '!~') {
      if (left.category !== 'string') this.fail(`${op} needs a string on its left, and ${leftOp.text} is ${article(left.typeName)}`, leftOp.column);
      if (right.category !== 'string') this.fail(`${op} needs a string on its right, and ${rightOp.text} is ${article(right.typeName)}`, rightOp.column);
      if (op === 'contains') {
        return (a) => {
          const l = stringOf(left.get(a));
          const r = stringOf(right.get(a));
          return l !== undefined && r !== undefined && l.includes(r);
        };
      }
      if (rightOp.kind !== 'string') this.fail(`${op} needs a regular expression written as a string literal`, rightOp.column);
      let re: RegExp;
      try {
        re = new RegExp(rightOp.value, 'u');
      } catch (err) {
        this.fail(`${rightOp.text} is not a valid regular expression (${(err as Error).message.replace(/^Invalid regular expression: /, '')})`, rightOp.column);
      }
      const want = op === '~';
      return (a) => {
        const l = stringOf(left.get(a));
        return l !== undefined && re.test(l) === want;
      };
    }

    const equality = op === '==' || op === '!=';
    let compare: (l: Value | LiteralValue, r: Value | LiteralValue) => number | undefined;
    if (numeric(left.category) && numeric(right.category)) compare = compareNumbers;
    else if (left.category === 'string' && right.category === 'string') compare = compareStrings;
    else if (equality && left.category === 'bool' && right.category === 'bool') compare = compareBools;
    else if (equality && ((left.category === 'nilable' && right.category === 'nil') || (left.category === 'nil' && right.category === 'nilable'))) {
      compare = compareNil;
    } else if (!equality && (left.category === 'bool' || left.category === 'nilable' || left.category === 'nil')) {
      this.fail(`${op} needs numbers or strings, and ${leftOp.text} is ${article(left.typeName)}`, column);
    } else {
      mismatch();
    }
    const test = RELATIONS[op as keyof typeof RELATIONS];
    return (a) => {
      const l = left.get(a);
      const r = right.get(a);
      if (l === undefined || r === undefined) return false;
      const c = compare(l, r);
      return c !== undefined && test(c);
    };
  }

  private operand(op: Operand): Typed {
    switch (op.kind) {
      case 'int':
        return literal('int', 'an integer constant', op.value);
      case 'float':
        return literal('float', 'a float constant', op.value);
      case 'string':
        return literal('string', 'a string constant', op.value);
      case 'bool':
        return literal('bool', 'a bool constant', op.value);
      case 'nil':
        return literal('nil', 'nil', null);
      case 'path':
        return this.path(op);
      case 'len': {
        const inner = this.path(op.path);
        const kind = this.pathType(op.path).kind;
        if (!['string', 'slice', 'array', 'map', 'chan'].includes(kind)) {
          this.fail(`len needs a string, slice, array, map or channel, and ${op.path.text} is ${article(inner.typeName)}`, op.path.column);
        }
        return {
          category: 'int',
          typeName: 'int',
          get: (a) => {
            const v = deref(inner.get(a) as Value | undefined);
            const n = lengthOf(v);
            return n === undefined ? undefined : { kind: 'int', value: n };
          },
        };
      }
    }
  }

  private paramIndex(p: PathOperand): number {
    const index = this.params.findIndex((x) => x.name === p.root);
    if (index < 0) {
      const names = this.params.map((x) => x.name);
      const near = closestNames(p.root, names, 1);
      this.fail(
        `${this.functionName} has no argument ${p.root}` +
          (near.length ? `; did you mean ${near[0]}?` : names.length ? `; its arguments are ${names.join(', ')}` : '; it takes no arguments'),
        p.column,
      );
    }
    return index;
  }

  /** The static type a path ends at, checking every step. */
  private pathType(p: PathOperand): GoType {
    let t = this.params[this.paramIndex(p)]!.type;
    let sofar = p.root;
    for (const step of p.steps) {
      while (t.kind === 'pointer') {
        if (t.elem === null) this.fail(`${sofar} is ${t.name}, whose target type weaver does not know`, p.column);
        t = t.elem;
      }
      if ('field' in step) {
        if (t.kind !== 'struct') this.fail(`${sofar} is ${article(t.name)}, which has no fields`, p.column);
        const field = t.fields.find((f) => f.name === step.field);
        if (!field) {
          const near = closestNames(step.field, t.fields.map((f) => f.name), 1);
          this.fail(`${sofar} (${t.name}) has no field ${step.field}${near.length ? `; did you mean ${near[0]}?` : ''}`, p.column);
        }
        t = field.type;
        sofar += `.${step.field}`;
      } else {
        if (t.kind !== 'array' && t.kind !== 'slice') this.fail(`${sofar} is ${article(t.name)}, which cannot be indexed`, p.column);
        if (t.kind === 'array' && step.index >= t.len) this.fail(`${sofar} has ${t.len} elements, so [${step.index}] is out of range`, p.column);
        t = t.elem;
        sofar += `[${step.index}]`;
      }
    }
    return t;
  }

  private path(p: PathOperand): Typed {
    const t = this.pathType(p);
    const index = this.paramIndex(p);
    const steps = p.steps;
    return {
      category: categoryOf(t),
      typeName: t.name,
      get: (args) => {
        let v: Value | undefined = args[index]?.value;
        for (const step of steps) {
          v = deref(v);
          if (v === undefined) return undefined;
          if ('field' in step) {
            if (v.kind !== 'struct') return undefined;
            v = v.fields.find((f) => f.name === step.field)?.value;
          } else {
            if (v.kind !== 'array' && v.kind !== 'slice') return undefined;
            v = v.elems[step.index];
          }
        }
        return v?.kind === 'unavailable' || v?.kind === 'opaque' ? undefined : v;
      },
    };
  }
}

function article(typeName: string): string {
  if (/^(an? |nil$)/.test(typeName)) return typeName;
  return /^[aeiou]/i.test(typeName) ? `an ${typeName}` : `a ${typeName}`;
}

function isLiteral(op: Operand): boolean {
  return op.kind !== 'path' && op.kind !== 'len';
}

function literal(category: Category, typeName: string, value: LiteralValue['value']): Typed {
  const v: LiteralValue = { kind: 'literal', value };
  return { category, typeName, get: () => v };
}

function lengthOf(v: Value | undefined): bigint | undefined {
  switch (v?.kind) {
    case 'string':
      return BigInt(v.len);
    case 'slice':
      return v.len;
    case 'array':
      return BigInt(v.elems.length);
    case 'map':
    case 'chan':
      return v.address === 0n ? 0n : v.len;
    default:
      return undefined;
  }
}

function stringOf(v: Value | LiteralValue | undefined): string | undefined {
  if (v?.kind === 'string') return decoder.decode(v.bytes);
  if (v?.kind === 'literal' && typeof v.value === 'string') return v.value;
  return undefined;
}

function numberOf(v: Value | LiteralValue): bigint | number | undefined {
  if (v.kind === 'int') return v.value;
  if (v.kind === 'float') return v.value;
  if (v.kind === 'literal' && (typeof v.value === 'bigint' || typeof v.value === 'number')) return v.value;
  return undefined;
}

function compareNumbers(l: Value | LiteralValue, r: Value | LiteralValue): number | undefined {
  const a = numberOf(l);
  const b = numberOf(r);
  if (a === undefined || b === undefined) return undefined;
  // Integers compare exactly (uint64 and int64 extremes included).
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  const x = Number(a);
  const y = Number(b);
  // NaN is unordered: every relation but != is false, as in Go.
  if (Number.isNaN(x) || Number.isNaN(y)) return NaN;
  return x < y ? -1 : x > y ? 1 : 0;
}

function compareStrings(l: Value | LiteralValue, r: Value | LiteralValue): number | undefined {
  const a = stringOf(l);
  const b = stringOf(r);
  if (a === undefined || b === undefined) return undefined;
  return a < b ? -1 : a > b ? 1 : 0;
}

function boolOf(v: Value | LiteralValue): boolean | undefined {
  if (v.kind === 'bool') return v.value;
  if (v.kind === 'literal' && typeof v.value === 'boolean') return v.value;
  return undefined;
}

function compareBools(l: Value | LiteralValue, r: Value | LiteralValue): number | undefined {
  const a = boolOf(l);
  const b = boolOf(r);
  if (a === undefined || b === undefined) return undefined;
  return a === b ? 0 : 1;
}

function isNil(v: Value | LiteralValue): boolean | undefined {
  switch (v.kind) {
    case 'literal':
      return v.value === null ? true : undefined;
    case 'pointer':
    case 'map':
    case 'chan':
    case 'func':
      return v.address === 0n;
    case 'slice':
      return v.address === 0n;
    case 'interface':
      return v.typeAddress === 0n;
    default:
      return undefined;
  }
}

function compareNil(l: Value | LiteralValue, r: Value | LiteralValue): number | undefined {
  const a = isNil(l);
  const b = isNil(r);
  if (a === undefined || b === undefined) return undefined;
  return a === b ? 0 : 1;
}

const RELATIONS = {
  '==': (c: number) => c === 0,
  '!=': (c: number) => c !== 0,
  '<': (c: number) => c < 0,
  '<=': (c: number) => c <= 0,
  '>': (c: number) => c > 0,
  '>=': (c: number) => c >= 0,
};

/** Checks `filter` against one function's parameters and compiles it. */
export function compileForFunction(filter: ParsedFilter, functionName: string, params: Param[]): ArgsPredicate {
  return new Checker(filter, functionName, params).compile(filter.expr);
}
