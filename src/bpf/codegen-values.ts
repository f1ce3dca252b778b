// C that the generator emits only when some plan needs it: the interface
// type table and the helpers that read an interface's dynamic value. Kept
// in the generated text (not in weaver.h) so that the compile cache, which
// keys on the text, sees every change to it.

import type { FunctionPlan, ValuePlan } from '../spec/index.js';
import { IFACE_STRINGS, ifaceRecipe, type RuntimeTypes } from '../binary/index.js';

/** Entries kept in the BPF type table at most. */
export const MAX_ITYPES = 16384;

/**
 * The slot hash, the same in C and here: Fibonacci hashing of the address
 * over 8 (descriptors are 8-aligned), top bits of a 32-bit product, so that
 * dense runs and regular strides both spread.
 */
const HASH_C = '(((u32)(addr >> 3) * 2654435761U) >> WEAVER_ITYPE_SHIFT)';

export function typeSlotHash(address: number, mask: number): number {
  const bits = Math.log2(mask + 1);
  const low = Number(BigInt(address) >> 3n & 0xffffffffn);
  return bits === 0 ? 0 : Math.imul(low, 0x9e3779b1) >>> 0 >>> (32 - bits);
}

/** Longest probe sequence allowed; the table doubles until every key is this close to its slot. */
const MAX_PROBES = 8;

/**
 * Linear probing into a power-of-two table at most half full: `slots[i]` is
 * the index of the key stored there, or -1. `probes` is how many slots a
 * lookup must look at to find any key (or an empty slot).
 */
export function hashTable(keys: number[]): { slots: number[]; probes: number } {
  let size = 16;
  while (size < keys.length * 2) size *= 2;
  for (;;) {
    const slots = new Array<number>(size).fill(-1);
    let probes = 1;
    keys.forEach((key, i) => {
      let k = 0;
      while (slots[(typeSlotHash(key, size - 1) + k) & (size - 1)] !== -1) k++;
      slots[(typeSlotHash(key, size - 1) + k) & (size - 1)] = i;
      probes = Math.max(probes, k + 1);
    });
    // One more probe finds the empty slot that ends a miss's search.
    if (probes <= MAX_PROBES || size >= 4 * MAX_ITYPES) return { slots, probes: Math.min(probes + 1, size) };
    size *= 2;
  }
}

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
export function interfaceHelpersC(types: RuntimeTypes, blockCapacity: number, defineTable = true): string {
  const entries: { address: number; size: number; strs: number[] }[] = [];
  for (const t of types.list()) {
    if (entries.length >= MAX_ITYPES) break;
    const r = ifaceRecipe(t.type, blockCapacity);
    if (r.size === 0) continue;
    entries.push({ address: t.address, size: r.size, strs: Array.from({ length: IFACE_STRINGS }, (_, i) => r.strings[i] ?? NO_STRING) });
  }
  const table = hashTable(entries.map((e) => e.address));
  const empty = `\t{ 0, 0, { ${Array(IFACE_STRINGS).fill(NO_STRING).join(', ')} } },`;
  const rows = table.slots.map((i) => {
    if (i < 0) return empty;
    const e = entries[i]!;
    return `\t{ 0x${e.address.toString(16)}ULL, ${e.size}, { ${e.strs.join(', ')} } },`;
  });
  const strArgs = Array.from({ length: IFACE_STRINGS }, (_, i) => `u8 *s${i}`).join(', ');
  const strCalls = Array.from(
    { length: IFACE_STRINGS },
    (_, i) => `\tweaver_iface_string(block, block_cap, it ? it->str[${i}] : ${NO_STRING}, s${i}, str_cap);`,
  ).join('\n');
  return `/* Dynamic types of interface values, by link-time descriptor address:
 * bytes to copy behind the data word (the pointee for pointer types, the
 * value otherwise) and offsets of string headers in them to follow
 * (${NO_STRING}: none). An open-addressing hash table: the slot index comes
 * from the address, unknown to the verifier, so a lookup is a handful of
 * paths whatever the table's size (a binary search over constants made
 * the verifier walk every path of the search tree). ${entries.length} types. */
struct weaver_itype {
	u64 addr;
	u32 size;
	u16 str[${IFACE_STRINGS}];
};
#define WEAVER_ITYPE_MASK ${table.slots.length - 1}
#define WEAVER_ITYPE_SHIFT ${32 - Math.log2(table.slots.length)}
#define WEAVER_ITYPE_PROBES ${table.probes}
${
    defineTable
      ? `const struct weaver_itype weaver_itypes[${table.slots.length}] = {\n${rows.join('\n')}\n};`
      : `/* Defined in the first compile unit. */\nextern const struct weaver_itype weaver_itypes[${table.slots.length}];`
  }

static __always_inline const struct weaver_itype *weaver_itype_find(u64 addr)
{
	u32 h = ${HASH_C};
	for (int k = 0; k < WEAVER_ITYPE_PROBES; k++) {
		const struct weaver_itype *it = &weaver_itypes[(h + k) & WEAVER_ITYPE_MASK];
		if (it->addr == addr)
			return it;
		if (!it->addr)
			return 0;
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
 * An itab holds the type at offset 8 in every Go version. An empty
 * interface declared for a value that is really a non-empty one (\`any\`
 * written for a context.Context a stripped binary cannot name) holds an
 * itab where a type is expected: when the word is no known type, the word
 * at offset 8 is tried as the type. A type descriptor has its pointer-data
 * size there, a small number that is never a type's address. */
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
	if (typ)
		it = weaver_itype_find(typ - bias);
	if (tab && empty && !it) {
		u64 inner = 0;
		bpf_probe_read_user(&inner, sizeof(inner), (void *)(tab + 8));
		const struct weaver_itype *via = inner ? weaver_itype_find(inner - bias) : 0;
		if (via) {
			typ = inner;
			it = via;
		}
	}
	*(u64 *)type_at = typ ? typ - bias : 0;
	weaver_read_slot(block, block_cap, data, it ? it->size : 0);
${strCalls}
}`;
}
