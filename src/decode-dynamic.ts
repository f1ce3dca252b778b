// Plans for values whose type is known only when a record is decoded: the
// dynamic value of an interface. BPF copied `size` bytes behind the data
// word and the strings runtimetypes.ifaceRecipe named; this lays the
// dynamic type over those bytes so decodeValue can walk it like any plan.
// Nothing here is followed further: pointers, slices and maps inside show
// their addresses and headers.

import { sizeOf, type GoType } from './gotypes.js';
import type { Slot, ValuePlan } from './plan.js';
import { ifaceRecipe, isDirectIface, type IfaceRecipe } from './runtimetypes.js';

export interface DynamicLayout {
  recipe: IfaceRecipe;
  /** True when the data word is the value itself (pointer-shaped types). */
  direct: boolean;
  /**
   * The plan of what the copied bytes hold: the pointee for a direct
   * pointer, the value for an indirect type; null when nothing was copied.
   */
  block: ValuePlan | null;
}

/**
 * `blockAt` is the record offset of the copied bytes (after the slot
 * header), `strings` the slots BPF filled in recipe order.
 */
export function dynamicLayout(type: GoType, blockAt: number, blockCapacity: number, strings: Slot[]): DynamicLayout {
  const recipe = ifaceRecipe(type, blockCapacity);
  const direct = isDirectIface(type);
  const slotAt = new Map<number, Slot>();
  recipe.strings.forEach((off, i) => {
    const slot = strings[i];
    if (slot) slotAt.set(off, slot);
  });
  let shown: GoType | null = null;
  if (recipe.size > 0) shown = direct && type.kind === 'pointer' ? type.elem : type;
  return { recipe, direct, block: shown ? blockPlan(shown, blockAt, 0, recipe.size, slotAt) : null };
}

/** Plans `type` at record offset `at`, `rel` bytes into a block of which `limit` bytes were copied. */
export function blockPlan(type: GoType, at: number, rel: number, limit: number, strings: Map<number, Slot>): ValuePlan {
  const size = sizeOf(type);
  if (rel + size > limit && type.kind !== 'struct' && !(type.kind === 'array' && type.elem.kind !== 'uint8')) {
    return { kind: 'unavailable', type, reason: `beyond the ${limit} bytes weaver copies behind an interface` };
  }
  switch (type.kind) {
    case 'struct':
      return {
        kind: 'struct',
        type,
        offset: at,
        fields: type.fields.map((f) => ({ name: f.name, plan: blockPlan(f.type, at + f.offset, rel + f.offset, limit, strings) })),
      };
    case 'array': {
      if (type.elem.kind === 'uint8') return { kind: 'bytes', type, offset: at, data: null, shown: type.len };
      const elemSize = sizeOf(type.elem);
      const elems: ValuePlan[] = [];
      for (let i = 0; i < type.len && rel + i * elemSize < limit; i++) {
        elems.push(blockPlan(type.elem, at + i * elemSize, rel + i * elemSize, limit, strings));
      }
      return { kind: 'array', type, offset: at, elems };
    }
    case 'string': {
      const slot = strings.get(rel);
      if (!slot) return { kind: 'unavailable', type, reason: 'a string weaver does not follow behind an interface' };
      return { kind: 'string', type, offset: at, data: slot };
    }
    case 'pointer':
      return { kind: 'pointer', type, offset: at, target: null };
    case 'slice': case 'interface': case 'map': case 'chan': case 'func': case 'opaque':
      return { kind: 'words', type, offset: at };
    default:
      return { kind: 'scalar', type, offset: at };
  }
}
