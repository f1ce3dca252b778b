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

import { NotSupportedError, sizeOf, type GoAbi, type Param, type Piece, type ValueLocation } from '../../core/index.js';
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

/**
 * The argument frame the compiler reserves for a function, as .gopclntab
 * records it (`_func.args`): stack ABI, the arguments laid out like a
 * struct, rounded to 8, then the results, rounded to 8; register ABI
 * (cmd/compile/internal/abi ArgWidth), the stack-assigned arguments,
 * rounded to 8, and stack-assigned results, rounded to 8, then a spill slot
 * for each register-assigned argument (at its alignment), rounded to 8.
 * Register-assigned results take no room.
 */
export function argumentFrameSize(params: Param[], results: Param[], abi: GoAbi, opts: AbiOptions = {}): number {
  const stack = new StackLayout();
  const spill = new StackLayout();
  const regs = new RegisterCursor();
  for (const param of withDictionary(params, opts)) {
    if (abi === 'register' && regs.take(param)) spill.place(param.type);
    else stack.place(param.type);
  }
  stack.roundToWord();
  const resultRegs = new RegisterCursor();
  for (const result of results) {
    if (!(abi === 'register' && resultRegs.take(result))) stack.place(result.type);
  }
  stack.roundToWord();
  spill.roundToWord();
  return stack.offset + spill.offset;
}
