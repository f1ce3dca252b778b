// C that the generator emits only when some plan needs it: the interface
// type table and the helpers that read an interface's dynamic value. Kept
// in the generated text (not in weaver.h) so that the compile cache, which
// keys on the text, sees every change to it.

import type { FunctionPlan, ValuePlan } from './plan.js';
import { IFACE_STRINGS, ifaceRecipe, type RuntimeTypes } from './runtimetypes.js';

/** Entries kept in the BPF type table at most (binary search: 14 steps). */
export const MAX_ITYPES = 16384;

const NO_STRING = 0xffff;

/** The runtime-type table every interface plan of these functions refers to, if any. */
export function interfaceTypesOf(plans: FunctionPlan[]): { types: RuntimeTypes; blockCapacity: number } | null {
  for (const plan of plans) {
    for (const arg of plan.args ?? []) {
      const found = findInterface(arg.value);
      if (found) return { types: found.types, blockCapacity: found.data.capacity };
    }
  }
  return null;
}

function findInterface(plan: ValuePlan): Extract<ValuePlan, { kind: 'interface' }> | null {
  switch (plan.kind) {
    case 'interface':
      return plan;
    case 'struct':
      for (const f of plan.fields) {
        const x = findInterface(f.plan);
        if (x) return x;
      }
      return null;
    case 'array': case 'slice':
      for (const e of plan.elems) {
        const x = findInterface(e);
        if (x) return x;
      }
      return null;
    case 'pointer':
      return plan.target ? findInterface(plan.target.plan) : null;
    default:
      return null;
  }
}

/**
 * The sorted table of dynamic types worth reading behind a data word, and
 * the helpers. Types whose recipe copies nothing (maps, funcs, …) need no
 * entry: BPF still records their address, which names them.
 */
export function interfaceHelpersC(types: RuntimeTypes, blockCapacity: number): string {
  const rows: string[] = [];
  for (const t of types.list()) {
    if (rows.length >= MAX_ITYPES) break;
    const r = ifaceRecipe(t.type, blockCapacity);
    if (r.size === 0) continue;
    const strs = Array.from({ length: IFACE_STRINGS }, (_, i) => r.strings[i] ?? NO_STRING);
    rows.push(`\t{ 0x${t.address.toString(16)}ULL, ${r.size}, { ${strs.join(', ')} } },`);
  }
  if (rows.length === 0) rows.push(`\t{ 0, 0, { ${Array(IFACE_STRINGS).fill(NO_STRING).join(', ')} } },`);
  const steps = Math.ceil(Math.log2(rows.length + 1)) + 1;
  const strArgs = Array.from({ length: IFACE_STRINGS }, (_, i) => `u8 *s${i}`).join(', ');
  const strCalls = Array.from(
    { length: IFACE_STRINGS },
    (_, i) => `\tweaver_iface_string(block, block_cap, it ? it->str[${i}] : ${NO_STRING}, s${i}, str_cap);`,
  ).join('\n');
  return `/* Dynamic types of interface values, by link-time descriptor address:
 * bytes to copy behind the data word (the pointee for pointer types, the
 * value otherwise) and offsets of string headers in them to follow
 * (${NO_STRING}: none). Sorted for a bounded binary search. */
struct weaver_itype {
	u64 addr;
	u32 size;
	u16 str[${IFACE_STRINGS}];
};
#define WEAVER_ITYPES ${rows.length}
#define WEAVER_ITYPE_STEPS ${steps}
static const struct weaver_itype weaver_itypes[WEAVER_ITYPES] = {
${rows.join('\n')}
};

static __always_inline const struct weaver_itype *weaver_itype_find(u64 addr)
{
	u32 lo = 0, hi = WEAVER_ITYPES;
	for (int i = 0; i < WEAVER_ITYPE_STEPS; i++) {
		if (lo >= hi)
			break;
		u32 mid = (lo + hi) / 2;
		if (mid >= WEAVER_ITYPES)
			break;
		u64 a = weaver_itypes[mid].addr;
		if (a == addr)
			return &weaver_itypes[mid];
		if (a < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* A string header at \`off\` in a copied block: its bytes into \`slot\`. */
static __always_inline void weaver_iface_string(u8 *block, u32 block_cap, u32 off, u8 *slot, u32 str_cap)
{
	u64 ptr = 0;
	s64 len = 0;
	if (block_cap >= 16 && off <= block_cap - 16 && off + 16 <= *(u32 *)block) {
		ptr = *(u64 *)(block + 8 + off);
		len = *(s64 *)(block + 16 + off);
	}
	weaver_read_slot(slot, str_cap, ptr, len);
}

/* An interface {tab or type, data} already in the record: its dynamic
 * type's link-time address into type_at, then what the table says to read.
 * An itab holds the type at offset 8 in every Go version. */
static __always_inline void weaver_read_iface(u8 *words, u8 *type_at, int empty, u8 *block, u32 block_cap,
					      ${strArgs}, u32 str_cap, u64 bias)
{
	u64 tab = *(u64 *)words;
	u64 data = *(u64 *)(words + 8);
	u64 typ = tab;
	const struct weaver_itype *it = 0;
	if (tab && !empty) {
		typ = 0;
		bpf_probe_read_user(&typ, sizeof(typ), (void *)(tab + 8));
	}
	*(u64 *)type_at = typ ? typ - bias : 0;
	if (typ)
		it = weaver_itype_find(typ - bias);
	weaver_read_slot(block, block_cap, data, it ? it->size : 0);
${strCalls}
}`;
}
