// Where each argument (and result) of a Go function is when the function is
// entered (or returns): registers and stack slots, per the binary's ABI.
// Pure: the planner turns the pieces into eBPF reads.
//
// Register ABI: the receiver and arguments are assigned in order; a value
// whose base values do not all fit in the registers that are left goes to
// the stack whole, uses none, and a later smaller one can still take
// registers. Results restart at RAX/X0; stack-assigned results follow the
// stack-assigned arguments, rounded up to 8.
//
// Hidden dictionary (generic shape instantiations): a pointer passed before
// the first parameter. It takes RAX (stack ABI: the first 8 bytes) and is
// not returned as a ValueLocation: DWARF does not list it and there is
// nothing in it to show.

import { NotSupportedError } from '../errors.js';
import { sizeOf, type Param } from '../gotypes.js';
import type { GoAbi, Piece, ValueLocation } from '../model.js';
import { FLOAT_ARG_REG_COUNT, INT_ARG_REGS, baseValues } from './register.js';
import { StackLayout } from './stack.js';

export interface AbiOptions {
  hiddenDictionary?: boolean;
}

const DICTIONARY: Param = { name: '.dict', type: { kind: 'pointer', name: 'unsafe.Pointer', elem: null } };

class RegisterCursor {
  ints = 0;
  floats = 0;

  /** The register pieces of a value, or null (nothing used) when it does not fit. */
  take(param: Param): Piece[] | null {
    if (sizeOf(param.type) === 0) return null;
    const values = baseValues(param.type);
    if (values === null) return null;
    const ints = values.filter((v) => v.cls === 'int').length;
    const floats = values.length - ints;
    if (this.ints + ints > INT_ARG_REGS.length || this.floats + floats > FLOAT_ARG_REG_COUNT) return null;
    return values.map((v) => ({
      offset: v.offset,
      size: v.size,
      location: v.cls === 'int' ? { kind: 'reg', reg: INT_ARG_REGS[this.ints++]! } : { kind: 'freg', reg: this.floats++ },
    }));
  }
}

function assign(params: Param[], abi: GoAbi, stack: StackLayout): ValueLocation[] {
  if (abi !== 'stack' && abi !== 'register') throw new NotSupportedError(`unknown Go ABI "${String(abi)}"`);
  const regs = new RegisterCursor();
  return params.map((param) => {
    const inRegs = abi === 'register' ? regs.take(param) : null;
    return { param, pieces: inRegs ?? stack.place(param.type) };
  });
}

function withDictionary(params: Param[], opts: AbiOptions): Param[] {
  return opts.hiddenDictionary ? [DICTIONARY, ...params] : params;
}

/** Where each parameter is at function entry, in order (receiver first). */
export function argumentLocations(params: Param[], abi: GoAbi, opts: AbiOptions = {}): ValueLocation[] {
  const all = assign(withDictionary(params, opts), abi, new StackLayout());
  return opts.hiddenDictionary ? all.slice(1) : all;
}

/** Bytes of stack-assigned arguments from sp+8, rounded up to 8: where stack results start. */
export function stackArgsSize(params: Param[], abi: GoAbi, opts: AbiOptions = {}): number {
  const stack = new StackLayout();
  assign(withDictionary(params, opts), abi, stack);
  stack.roundToWord();
  return stack.offset;
}

/** Where each result is at a RET of the function. */
export function resultLocations(params: Param[], results: Param[], abi: GoAbi, opts: AbiOptions = {}): ValueLocation[] {
  return assign(results, abi, new StackLayout(stackArgsSize(params, abi, opts)));
}
