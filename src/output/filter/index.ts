// --filter: keep only the calls whose argument values match. Each filter
// names a function (`main.handler: code >= 500`) or, without a name,
// applies to every traced function (each must then have the arguments it
// names). An event must satisfy every filter that applies to its function;
// functions no filter applies to are not filtered. Evaluated in user space,
// on the decoded values.

import { closestNames, type CallEvent, type Param } from '../../core/index.js';
import { compileForFunction, type ArgsPredicate } from './compile.js';
import { FilterError } from './error.js';
import { parseFilter } from './parse.js';

export { FilterError } from './error.js';
export { parseFilter, type ParsedFilter, type Expr, type Operand } from './parse.js';

export interface FilterTarget {
  name: string;
  /** null when argument values are not captured (names-only tracing). */
  params: Param[] | null;
}

export interface EventFilter {
  /** True when at least one filter was given. */
  readonly active: boolean;
  /** Whether the event is shown. */
  test(ev: CallEvent): boolean;
}

export const NO_FILTER: EventFilter = { active: false, test: () => true };

/** Parses and type-checks every --filter against the traced functions; throws FilterError. */
export function compileFilters(texts: string[], targets: FilterTarget[]): EventFilter {
  if (texts.length === 0) return NO_FILTER;
  const byFunction = new Map<string, ArgsPredicate[]>();
  const add = (name: string, p: ArgsPredicate) => {
    const list = byFunction.get(name);
    if (list) list.push(p);
    else byFunction.set(name, [p]);
  };
  for (const text of texts) {
    const parsed = parseFilter(text);
    const applies = parsed.function === undefined ? targets : targets.filter((t) => t.name === parsed.function);
    if (parsed.function !== undefined && applies.length === 0) {
      const near = closestNames(parsed.function, targets.map((t) => t.name), 1);
      throw new FilterError(
        `${parsed.function} is not one of the traced functions${near.length ? `; did you mean ${near[0]}?` : ''}`,
        text,
        parsed.functionColumn,
      );
    }
    for (const t of applies) {
      if (t.params === null) {
        throw new FilterError(
          `the argument values of ${t.name} are not captured (no DWARF and no functions file), so they cannot be filtered`,
          text,
          parsed.functionColumn,
        );
      }
      add(t.name, compileForFunction(parsed, t.name, t.params));
    }
  }
  return {
    active: true,
    test(ev: CallEvent): boolean {
      const predicates = byFunction.get(ev.function);
      if (predicates === undefined) return true;
      if (ev.args === null) return false;
      for (const p of predicates) if (!p(ev.args)) return false;
      return true;
    },
  };
}
