// Go's register ABI (ABIInternal, amd64, Go 1.17+): how a value is split into
// register-sized base values. Follows the assignment rules of
// cmd/compile/abi-internal.md; only the parts that decide *where* a value is.

import { NotSupportedError, sizeOf, type GoType, type IntRegister } from '../../core/index.js';

/** Integer argument registers in assignment order (pt_regs names). */
export const INT_ARG_REGS: readonly IntRegister[] = ['ax', 'bx', 'cx', 'di', 'si', 'r8', 'r9', 'r10', 'r11'];
/** X0–X14; X15 is the fixed zero register. */
export const FLOAT_ARG_REG_COUNT = 15;

/** One register's worth of a value: `size` bytes at `offset` in the value's memory image. */
export interface BaseValue {
  offset: number;
  size: number;
  cls: 'int' | 'float';
}

/**
 * The base values of t in order, or null when t can never go in registers
 * (it holds an array longer than 1). Zero-size parts contribute nothing.
 */
export function baseValues(t: GoType, offset = 0, out: BaseValue[] = []): BaseValue[] | null {
  switch (t.kind) {
    case 'float32': case 'float64':
      out.push({ offset, size: sizeOf(t), cls: 'float' });
      return out;
    case 'complex64': case 'complex128': {
      const half = sizeOf(t) / 2;
      out.push({ offset, size: half, cls: 'float' }, { offset: offset + half, size: half, cls: 'float' });
      return out;
    }
    case 'string': case 'interface':
      out.push({ offset, size: 8, cls: 'int' }, { offset: offset + 8, size: 8, cls: 'int' });
      return out;
    case 'slice':
      out.push({ offset, size: 8, cls: 'int' }, { offset: offset + 8, size: 8, cls: 'int' }, { offset: offset + 16, size: 8, cls: 'int' });
      return out;
    case 'pointer': case 'map': case 'chan': case 'func':
      out.push({ offset, size: 8, cls: 'int' });
      return out;
    case 'array':
      if (t.len === 0) return out;
      if (t.len > 1) return null;
      return baseValues(t.elem, offset, out);
    case 'struct':
      for (const f of t.fields) {
        if (baseValues(f.type, offset + f.offset, out) === null) return null;
      }
      return out;
    case 'opaque':
      throw new NotSupportedError(`cannot tell where a value of type ${t.name} is passed: its layout is unknown`);
    default:
      // bool and integers: one integer register each, never packed together.
      out.push({ offset, size: sizeOf(t), cls: 'int' });
      return out;
  }
}
