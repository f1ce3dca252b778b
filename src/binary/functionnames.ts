// Code addresses → function names, for func values (src/spec/plan.ts): a func
// value points to a funcval whose first word is the function's code
// pointer; BPF copies that word, less a PIE's load bias, and the decoder
// names it here from the binary's function table (.symtab, or .gopclntab
// when stripped), as Delve does. Closures have their compiler names
// (main.main.func1).

import { lastStartingAtOrBefore, type FunctionSymbol } from '../core/index.js';

export interface FunctionNames {
  /** The function whose code holds link-time address `pc`, or null. */
  at(pc: bigint): string | null;
}

export function functionNames(functions: Iterable<FunctionSymbol>): FunctionNames {
  const sorted = [...functions].filter((f) => f.address > 0).sort((a, b) => a.address - b.address);
  return {
    at(pc: bigint): string | null {
      if (pc <= 0n || pc > BigInt(Number.MAX_SAFE_INTEGER)) return null;
      const address = Number(pc);
      const f = sorted[lastStartingAtOrBefore(sorted, (s) => s.address, address)];
      if (!f) return null;
      // A size of 0 is unknown: then only the entry itself is sure.
      const inside = f.size > 0 ? address < f.address + f.size : address === f.address;
      return inside ? f.name : null;
    },
  };
}

/** The table built on first use: package mode plans thousands of functions, few of which take a func. */
export function lazyFunctionNames(functions: Map<string, FunctionSymbol>): () => FunctionNames {
  let table: FunctionNames | null = null;
  return () => (table ??= functionNames(functions.values()));
}
