// Plans for values whose type is known only when a record is decoded: the
// dynamic value of an interface. BPF copied `size` bytes behind the data
// word and the strings runtimetypes.ifaceRecipe named; this lays the
// dynamic type over those bytes so decodeValue can walk it like any plan.
// Nothing here is followed further: pointers, slices and maps inside show
// their addresses and headers, interfaces inside their dynamic type's name
// (nameNestedInterfaces) and data address.

import { sizeOf, type GoType, type Value } from '../core/index.js';
import type { Slot, ValuePlan } from '../spec/index.js';
import { ifaceRecipe, isDirectIface, type IfaceRecipe, type RuntimeTypes } from '../binary/index.js';

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

/** x86-64 pages: a PIE's load bias is a multiple of this. */
const PAGE = 4096n;

/**
 * What to subtract from addresses seen in the process to get link-time
 * ones, learnt from an interface whose dynamic type is known: its type
 * word minus the descriptor's address (interface{}), or its itab word minus
 * a compile-time itab of that type whose distance is a whole number of
 * pages (other interfaces). Null when the itab was made at run time.
 */
export function loadBias(typeWord: bigint, linkType: number, empty: boolean, types: RuntimeTypes): bigint | null {
  if (empty) return typeWord - BigInt(linkType);
  for (const itab of types.itabsOf?.(linkType) ?? []) {
    const bias = typeWord - BigInt(itab);
    if (bias >= 0n && bias % PAGE === 0n) return bias;
  }
  return null;
}

/**
 * Names the interfaces inside a decoded dynamic value (`err` of a
 * *fmt.wrapError): BPF copied their two words but followed neither, so
 * they show their dynamic type's name and data address. A nested
 * interface{} names its descriptor directly; another interface names it
 * through its itab, which only compile-time itabs (in the binary) say.
 * Without a known bias (an itab made at run time), addresses are taken as
 * link-time ones: right for non-PIE binaries, and no match in a PIE.
 */
export function nameNestedInterfaces(value: Value, type: GoType, types: RuntimeTypes, bias: bigint | null): Value {
  const shift = bias ?? 0n;
  const walk = (v: Value, t: GoType, depth: number): Value => {
    if (depth > MAX_NESTING) return v;
    switch (v.kind) {
      case 'interface': {
        if (t.kind !== 'interface' || v.typeName !== undefined || v.typeAddress === 0n) return v;
        const link = Number(v.typeAddress - shift);
        const descriptor = t.empty ? link : types.itabType?.(link);
        const rt = descriptor === undefined ? undefined : types.lookup(descriptor);
        return rt ? { ...v, typeName: rt.name } : v;
      }
      case 'struct': {
        // blockPlan lays out every field of the type, in order.
        if (t.kind !== 'struct' || t.fields.length !== v.fields.length) return v;
        return { ...v, fields: v.fields.map((f, i) => ({ name: f.name, value: walk(f.value, t.fields[i]!.type, depth + 1) })) };
      }
      case 'pointer':
        if (!v.target || t.kind !== 'pointer' || !t.elem) return v;
        return { ...v, target: walk(v.target, t.elem, depth + 1) };
      case 'array':
        if (t.kind !== 'array') return v;
        return { ...v, elems: v.elems.map((e) => walk(e, t.elem, depth + 1)) };
      default:
        return v;
    }
  };
  return walk(value, type, 0);
}

/** Values copied behind an interface nest no deeper than its block; a bound all the same. */
const MAX_NESTING = 32;

/**
 * The decoded block of an interface whose dynamic type is `dynamicType`
 * (what dynamicLayout laid over it), with the interfaces inside named.
 * `typeWord` is the interface's first word as the process had it,
 * `linkType` the descriptor address BPF resolved it to.
 */
export function withNestedNames(
  value: Value,
  dynamicType: GoType,
  iface: { empty: boolean; types: RuntimeTypes },
  typeWord: bigint,
  linkType: bigint,
): Value {
  const shown = isDirectIface(dynamicType) && dynamicType.kind === 'pointer' ? dynamicType.elem : dynamicType;
  if (!shown) return value;
  return nameNestedInterfaces(value, shown, iface.types, loadBias(typeWord, Number(linkType), iface.empty, iface.types));
}
