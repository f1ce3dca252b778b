// C that follows the pointers inside a value whose image is already in the
// record: string bytes, pointees, slice elements, interface values, map
// entries. A value with more to follow than one copy (a pointee with
// pointers, a slice whose elements hold strings, an interface, a map) gets
// a *reader*: a global BPF function of its own, which the verifier checks
// once however many functions, arguments or elements use it, and which
// clang compiles once. Readers are named by what they do, so two functions
// whose arguments share a type share its reader.
//
// A reader takes two areas of the record: `img`, the value's own image,
// and `sub`, the slots the planner took while planning it (src/spec/plan.ts
// takes them one after the other, so they form one range). Every offset in
// its body is relative to one of the two, so the same type planned at
// other offsets gives the same text. The areas are pointers to structs of
// the exact size, which is what lets the verifier check the body once: it
// checks each caller's pointer against that size instead.

import { MAP_WALK_STEPS, SLOT_HEADER, type ValuePlan } from '../spec/index.js';

/** A C expression for a pointer to record offset `offset`. */
export type Addr = (offset: number) => string;

/** The top level: offsets from the record's start. */
export const recordAddr: Addr = (offset) => `rec + ${offset}`;

/**
 * Readers nest at most this deep (a reader calling a reader…); deeper
 * values are followed inline. BPF allows 8 frames: the dispatcher, the
 * shape, these, the map walk's bpf_loop callback and the batch send.
 */
const MAX_READER_NESTING = 3;

export class ReaderSet {
  /** Reader definitions in order of definition (callees first), keyed by body. */
  private readonly byBody = new Map<string, string>();
  private readonly definitions: string[] = [];
  /** Each reader's parameter list, by index. */
  private readonly signatures: string[] = [];
  private readonly areaSizes = new Set<number>();
  /** Each reader's callees. */
  private readonly callees = new Map<string, string[]>();

  /**
   * Every area struct and every reader (or those in `only`), callees before
   * callers; readers in `declared` only as `extern` prototypes, for a unit
   * that calls readers another unit defines (src/bpf/codegen-units.ts).
   */
  cDefinitions(only?: Set<string>, declared: Set<string> = new Set()): string {
    const areas = [...this.areaSizes].sort((a, b) => a - b).map((n) => `struct weaver_area_${n} { u8 b[${n}]; };`);
    const definitions = only ? this.definitions.filter((_, i) => only.has(`weaver_v${i}`)) : this.definitions;
    const prototypes = this.signatures.flatMap((signature, i) => (declared.has(`weaver_v${i}`) ? [`extern int weaver_v${i}${signature};`] : []));
    return [...areas, '', ...(prototypes.length ? [...prototypes, ''] : []), ...definitions].join('\n');
  }

  /** Each reader's name and the length of its definition, in order of definition. */
  lengths(): { name: string; length: number }[] {
    return this.definitions.map((d, i) => ({ name: `weaver_v${i}`, length: d.length }));
  }

  /** The readers that `names`' definitions call. */
  calledBy(names: Iterable<string>): Set<string> {
    const called = new Set<string>();
    for (const name of names) for (const callee of this.callees.get(name) ?? []) called.add(callee);
    return called;
  }

  /** Every reader that C text `text` (a shape) runs, directly or through other readers. */
  reachedFrom(text: string): Set<string> {
    const all = new Set<string>();
    const visit = (name: string) => {
      if (all.has(name)) return;
      all.add(name);
      for (const callee of this.callees.get(name) ?? []) visit(callee);
    };
    for (const name of readersCalledIn(text)) visit(name);
    return all;
  }

  get count(): number {
    return this.definitions.length;
  }

  /**
   * Code that follows the pointers inside `plan`, whose image (and slots)
   * `addr` locates; `level` readers are already on the call chain.
   */
  follow(plan: ValuePlan, addr: Addr, indent: string, level = 0): string[] {
    if (readerWanted(plan, level)) return [`${indent}${callAt(this.reader(plan, level), plan, addr)};`];
    return this.inline(plan, addr, indent, level);
  }

  private inline(plan: ValuePlan, addr: Addr, indent: string, level: number): string[] {
    const at = (offset: number) => `(${addr(offset)})`;
    switch (plan.kind) {
      case 'string':
      case 'bytes':
        if (!plan.data) return [];
        return [
          `${indent}weaver_read_slot(${addr(plan.data.offset)}, ${plan.data.capacity}, *(u64 *)${at(plan.offset)}, *(s64 *)${at(plan.offset + 8)});`,
        ];
      case 'header':
        // A func value's code pointer is named by its link-time address: the bias comes off in BPF.
        if (plan.code) return [`${indent}weaver_read_code(${addr(plan.data.offset)}, *(u64 *)${at(plan.offset)}, bias);`];
        return [`${indent}weaver_read_slot(${addr(plan.data.offset)}, ${plan.data.capacity}, *(u64 *)${at(plan.offset)}, ${plan.data.capacity});`];
      case 'slice': {
        const lines = [
          `${indent}weaver_read_elems(${addr(plan.data.offset)}, ${plan.elems.length}, ${plan.elemSize}, *(u64 *)${at(plan.offset)}, *(s64 *)${at(plan.offset + 8)});`,
        ];
        const like = this.alike(plan.elems, addr, indent + '\t', level);
        plan.elems.forEach((elem, i) => {
          const inner = like(elem);
          if (inner.length === 0) return;
          lines.push(`${indent}if (*(u32 *)${at(plan.data.offset)} >= ${(i + 1) * plan.elemSize}) {`, ...inner, `${indent}}`);
        });
        return lines;
      }
      case 'pointer': {
        if (!plan.target) return [];
        const { data } = plan.target;
        const lines = [`${indent}weaver_read_slot(${addr(data.offset)}, ${data.capacity}, *(u64 *)${at(plan.offset)}, ${data.capacity});`];
        const inner = this.follow(plan.target.plan, addr, indent + '\t', level);
        if (inner.length) {
          // Pointers inside a pointee that could not be read are zeros: follow them only after a full copy.
          lines.push(`${indent}if (*(u32 *)${at(data.offset)} == ${data.capacity}) {`, ...inner, `${indent}}`);
        }
        return lines;
      }
      case 'interface': {
        const strs = plan.strings.map((s) => addr(s.offset)).join(', ');
        const strCap = plan.strings[0]?.capacity ?? 0;
        return [
          `${indent}weaver_read_iface(${addr(plan.offset)}, ${addr(plan.typeAt)}, ${plan.empty ? 1 : 0}, ${addr(plan.data.offset)}, ${plan.data.capacity},`,
          `${indent}\t\t  ${strs}, ${strCap}, bias);`,
        ];
      }
      case 'map':
        return this.mapCode(plan, addr, indent, level);
      case 'array':
        return plan.elems.flatMap((e) => this.follow(e, addr, indent, level));
      case 'struct':
        return plan.fields.flatMap((f) => this.follow(f.plan, addr, indent, level));
      default:
        return [];
    }
  }

  /**
   * follow() for values planned alike (a slice's elements, a map's keys):
   * when the first needs a reader, the others call the same one at their
   * own offsets, without generating its text again for each.
   */
  private alike(plans: ValuePlan[], addr: Addr, indent: string, level: number): (plan: ValuePlan) => string[] {
    const first = plans[0];
    if (!first || !readerWanted(first, level)) return (plan) => this.follow(plan, addr, indent, level);
    const reader = this.reader(first, level);
    return (plan) => (plan.kind === 'unavailable' ? [] : [`${indent}${callAt(reader, plan, addr)};`]);
  }

  /** Defines (once) the reader of `plan`, a value planned at `level` readers deep. */
  private reader(plan: Exclude<ValuePlan, { kind: 'unavailable' }>, level: number): Reader {
    const image = { start: plan.offset, size: imageSize(plan) };
    const slots = slotRange(plan);
    const local: Addr = (offset) => {
      if (offset >= image.start && offset < image.start + image.size) return `img->b + ${offset - image.start}`;
      if (offset >= slots.start && offset < slots.end) return `sub->b + ${offset - slots.start}`;
      throw new Error(`internal: record offset ${offset} is outside the value at ${image.start}`);
    };
    const slotBytes = slots.end - slots.start;
    const body = this.inline(plan, local, '\t', level + 1);
    // A BPF caller leaves an argument its callee never reads unset, which the
    // verifier refuses: only readers that use the types bias take it.
    const usesBias = takesBias(body.join('\n'));
    const signature = `(struct weaver_area_${image.size} *img, struct weaver_area_${slotBytes} *sub${usesBias ? ', u64 bias' : ''})`;
    const text = [signature, '{', '\tif (!img || !sub)', '\t\treturn 0;', ...body, '\treturn 0;', '}'].join('\n');
    let name = this.byBody.get(text);
    if (!name) {
      name = `weaver_v${this.definitions.length}`;
      this.byBody.set(text, name);
      this.areaSizes.add(image.size);
      this.areaSizes.add(slotBytes);
      this.definitions.push(`/* ${commentSafe(plan.type.name)} */\nWEAVER_SHARED __attribute__((noinline)) int ${name}${text}\n`);
      this.signatures.push(signature);
      this.callees.set(name, readersCalledIn(text));
    }
    return { name, usesBias };
  }

  /**
   * Reads a map's header, walks its buckets or groups for full slots
   * (weaver_map_walk in bpf/weaver.h), copies the key and elem of each slot
   * found into its entry image, then follows what is inside the entries
   * copied. Every image is copied before anything in them is followed: a
   * map inside an entry walks again, reusing the scratch array of references.
   */
  private mapCode(plan: Extract<ValuePlan, { kind: 'map' }>, addr: Addr, indent: string, level: number): string[] {
    const h = plan.header.offset;
    const g = plan.group;
    const i2 = indent + '\t';
    const shown = `*(u32 *)(${addr(plan.walk)})`;
    const lines = [
      `${indent}{`,
      `${i2}u32 found = 0, status = 0;`,
      `${i2}u64 seq = 0;`,
      `${i2}weaver_read_slot(${addr(h)}, ${plan.header.capacity}, *(u64 *)(${addr(plan.offset)}), ${plan.header.capacity});`,
      `${i2}/* ${plan.layout === 'swiss' ? 'Swiss groups' : 'buckets'} of ${g.groupSize} bytes; up to ${plan.keys.length} entries in ${MAP_WALK_STEPS} steps */`,
      `${i2}if (*(u32 *)(${addr(h)}) == ${plan.header.capacity})`,
      `${i2}\tfound = weaver_map_walk(${addr(h + SLOT_HEADER)}, ${plan.layout === 'swiss' ? 1 : 0}, ${g.groupSize}, ${plan.keys.length}, ${MAP_WALK_STEPS}, &status, &seq);`,
    ];
    const e = plan.entry;
    const strings = loopStrings(plan);
    const fields = [
      `.images = ${addr(e.images)}, .max = ${plan.keys.length}, .entry_size = ${e.size}, .elem_at = ${e.elemAt},`,
      `.key_size = ${e.keySize}, .elem_size = ${e.elemSize}, .keys_off = ${g.keysOff}, .key_stride = ${g.keyStride},`,
      `.elems_off = ${g.elemsOff}, .elem_stride = ${g.elemStride},`,
    ];
    if (strings) {
      const list = (f: (x: LoopString) => number) => `{ ${strings.list.map(f).join(', ')} }`;
      fields.push(
        `.strings = ${strings.list.length}, .slots = ${addr(strings.slots)}, .slot_stride = ${strings.stride},`,
        `.str_at = ${list((x) => x.at)}, .str_slot = ${list((x) => x.slot)}, .str_cap = ${list((x) => x.capacity)},`,
      );
    }
    lines.push(
      `${i2}/* entry k's image at images + k * entry_size; slot i of a ${plan.layout === 'swiss' ? 'group' : 'bucket'} holds its key at keys_off + i * key_stride */`,
      `${i2}struct weaver_map_copy copy = {`,
      ...fields.map((f) => `${i2}\t${f}`),
      `${i2}};`,
      `${i2}${shown} = weaver_map_copy(&copy, found, seq, &status);`,
      `${i2}*(u32 *)(${addr(plan.walk + 4)}) = status;`,
      `${indent}}`,
    );
    if (strings) return lines;
    const keyLike = this.alike(plan.keys, addr, indent + '\t', level);
    const elemLike = this.alike(plan.elems, addr, indent + '\t', level);
    plan.keys.forEach((key, k) => {
      const inner = [...keyLike(key), ...elemLike(plan.elems[k]!)];
      if (inner.length === 0) return;
      lines.push(`${indent}if (${shown} > ${k}) {`, ...inner, `${indent}}`);
    });
    return lines;
  }
}

/** Whether C code passes on or uses the types bias (a reader's or shape's parameter). */
export function takesBias(code: string): boolean {
  // Comments name arguments, which may be called bias.
  return /\bbias\b/.test(code.replace(/\/\*[\s\S]*?\*\//g, ''));
}

interface Reader {
  name: string;
  /** It takes the types bias as its third argument (see takesBias). */
  usesBias: boolean;
}

/** Whether `plan`, `level` readers deep, gets a reader of its own rather than inline code. */
function readerWanted(plan: ValuePlan, level: number): plan is Exclude<ValuePlan, { kind: 'unavailable' }> {
  return level < MAX_READER_NESTING && plan.kind !== 'unavailable' && wantsReader(plan);
}

/** The call running `reader` on `plan`'s image and slots, which `addr` locates. */
function callAt(reader: Reader, plan: Exclude<ValuePlan, { kind: 'unavailable' }>, addr: Addr): string {
  return `${reader.name}((void *)(${addr(plan.offset)}), (void *)(${addr(slotRange(plan).start)})${reader.usesBias ? ', bias' : ''})`;
}

export function readersCalledIn(text: string): string[] {
  return [...new Set(text.match(/\bweaver_v\d+(?=\()/g) ?? [])];
}

/**
 * Values worth a reader of their own: those with more to follow than a
 * single copy. A string, a pointee without pointers or a slice of scalars
 * is one weaver_read_slot, cheaper inline than called.
 */
function wantsReader(plan: ValuePlan): boolean {
  switch (plan.kind) {
    case 'interface':
    case 'map':
      return true;
    case 'pointer':
      return plan.target !== null && hasSomethingToFollow(plan.target.plan);
    case 'slice':
      return plan.elems.some(hasSomethingToFollow);
    default:
      return false;
  }
}

function hasSomethingToFollow(plan: ValuePlan): boolean {
  switch (plan.kind) {
    case 'string': case 'bytes':
      return plan.data !== null;
    case 'header': case 'interface': case 'map':
      return true;
    case 'pointer':
      return plan.target !== null;
    case 'slice':
      return true;
    case 'array':
      return plan.elems.some(hasSomethingToFollow);
    case 'struct':
      return plan.fields.some((f) => hasSomethingToFollow(f.plan));
    default:
      return false;
  }
}

/** Bytes of a value's image in the record (what its reader's `img` covers). */
function imageSize(plan: ValuePlan): number {
  switch (plan.kind) {
    case 'string': case 'interface':
      return 16;
    case 'slice':
      return 24;
    default:
      return 8;
  }
}

/** The record range of every slot taken while planning `plan` (src/spec/plan.ts takes them in one run). */
export function slotRange(plan: ValuePlan): { start: number; end: number } {
  let start = Infinity;
  let end = -Infinity;
  const take = (offset: number, size: number) => {
    start = Math.min(start, offset);
    end = Math.max(end, offset + size);
  };
  const slot = (s: { offset: number; capacity: number }) => take(s.offset, SLOT_HEADER + s.capacity);
  const walk = (p: ValuePlan): void => {
    switch (p.kind) {
      case 'string':
        slot(p.data);
        return;
      case 'bytes':
        if (p.data) slot(p.data);
        return;
      case 'header':
        slot(p.data);
        return;
      case 'slice':
        slot(p.data);
        p.elems.forEach(walk);
        return;
      case 'pointer':
        if (p.target) {
          slot(p.target.data);
          walk(p.target.plan);
        }
        return;
      case 'interface':
        take(p.typeAt, 8);
        slot(p.data);
        p.strings.forEach(slot);
        return;
      case 'map':
        slot(p.header);
        take(p.walk, 8);
        take(p.entry.images, p.keys.length * p.entry.size);
        p.keys.forEach(walk);
        p.elems.forEach(walk);
        return;
      case 'array':
        p.elems.forEach(walk);
        return;
      case 'struct':
        p.fields.forEach((f) => walk(f.plan));
        return;
      default:
        return;
    }
  };
  walk(plan);
  return start === Infinity ? { start: 0, end: 0 } : { start, end };
}

/** Strings in a map entry weaver_map_copy reads itself (bpf/weaver.h WEAVER_MAP_STRINGS). */
const MAP_LOOP_STRINGS = 2;

/** A string or []byte in entry k: header at images + k * entry size + at, slot at slots + k * stride + slot. */
interface LoopString {
  at: number;
  slot: number;
  capacity: number;
}

/**
 * When everything to follow in a map's entries is strings or []byte (at
 * most MAP_LOOP_STRINGS an entry), laid out alike in every entry: where,
 * so that the copy loop reads them instead of code unrolled per entry.
 * Null otherwise (pointers, slices, nested maps…: unrolled).
 */
function loopStrings(plan: Extract<ValuePlan, { kind: 'map' }>): { slots: number; stride: number; list: LoopString[] } | null {
  const perEntry = plan.keys.map((key, k) => {
    const found: { header: number; slot: number; capacity: number }[] = [];
    const ok = collectStrings(key, found) && collectStrings(plan.elems[k]!, found);
    return ok ? found : null;
  });
  const first = perEntry[0];
  if (!first || first.length === 0 || first.length > MAP_LOOP_STRINGS) return null;
  const slots = first[0]!.slot;
  const stride = perEntry.length > 1 && perEntry[1] ? perEntry[1][0]!.slot - slots : 0;
  const list = first.map((x) => ({ at: x.header - plan.entry.images, slot: x.slot - slots, capacity: x.capacity }));
  // Every entry must be entry 0 shifted by k entries and k strides; the plan lays them out so, this checks it.
  const alike = perEntry.every((xs, k) => xs !== null && xs.length === list.length && xs.every((x, j) =>
    x.header === plan.entry.images + k * plan.entry.size + list[j]!.at && x.slot === slots + k * stride + list[j]!.slot &&
    x.capacity === list[j]!.capacity));
  return alike ? { slots, stride, list } : null;
}

/** Adds the strings inside `plan` to `found`; false when something else in it needs following. */
function collectStrings(plan: ValuePlan, found: { header: number; slot: number; capacity: number }[]): boolean {
  switch (plan.kind) {
    case 'string':
      found.push({ header: plan.offset, slot: plan.data.offset, capacity: plan.data.capacity });
      return true;
    case 'bytes':
      if (plan.data) found.push({ header: plan.offset, slot: plan.data.offset, capacity: plan.data.capacity });
      return true;
    case 'struct':
      return plan.fields.every((f) => collectStrings(f.plan, found));
    case 'array':
      return plan.elems.every((x) => collectStrings(x, found));
    default:
      return !hasSomethingToFollow(plan);
  }
}

/** Names come from the binary or the user: keep them from closing a C comment. */
export function commentSafe(text: string): string {
  return text.replace(/\*\//g, '*\\/').replace(/[\r\n]/g, ' ');
}
