// GoType graphs to JSON and back, for the per-binary cache
// (src/binary/probecache.ts). A GoType read from DWARF can be cyclic (a linked
// list's node points at itself) and shares subtrees (every `*T` field
// points at the one T), so types are stored as a table of nodes whose
// references are indices: cycles survive and each type is written once.
// Encoding refuses anything it does not know field by field (a property
// added to GoType since this was written), so what it writes decodes to a
// deep-equal graph, or nothing is cached.

import { isBasicKind, type GoType, type StructField } from '../core/index.js';

/** [kind, name, ...kind-specific parts]; references are indices into the node table. */
export type EncodedType = [string, string, ...unknown[]];
/** [name, type index, offset] or [name, type index, offset, embedded]. */
type EncodedField = [string, number, number] | [string, number, number, boolean];

/** Thrown by the encoder for a type it cannot store exactly. */
export class NotStorableError extends Error {}

/** The keys each kind's object has, besides `kind` and `name`. */
const KEYS: Record<string, readonly string[]> = {
  string: [], func: [], interface: ['empty'], pointer: ['elem'], array: ['len', 'elem'], slice: ['elem'], chan: ['elem'],
  map: ['key', 'elem'], struct: ['fields', 'size', 'align'], opaque: ['size', 'align'],
};
const FIELD_KEYS = new Set(['name', 'type', 'offset', 'embedded']);

function keysOf(kind: string): readonly string[] | undefined {
  return isBasicKind(kind) ? [] : KEYS[kind];
}

/** Adds types to one node table; the same object is always the same index. */
export class TypeEncoder {
  readonly nodes: EncodedType[] = [];
  private readonly index = new Map<GoType, number>();

  /** The index of `t` in `nodes`; throws NotStorableError for a type it cannot store exactly. */
  encode(t: GoType): number {
    const known = this.index.get(t);
    if (known !== undefined) return known;
    if (typeof t !== 'object' || t === null || typeof t.name !== 'string') throw new NotStorableError('not a type');
    const extra = keysOf(t.kind);
    if (!extra) throw new NotStorableError(`unknown kind ${String(t.kind)}`);
    const keys = Object.keys(t);
    if (keys.length !== extra.length + 2 || !extra.every((k) => k in t)) throw new NotStorableError(`unexpected fields in ${t.name}`);
    const at = this.nodes.length;
    const node: EncodedType = [t.kind, t.name];
    // Indexed before its parts so a cycle back to it finds it.
    this.nodes.push(node);
    this.index.set(t, at);
    switch (t.kind) {
      case 'interface':
        node.push(boolean(t.empty));
        break;
      case 'pointer':
        node.push(t.elem === null ? null : this.encode(t.elem));
        break;
      case 'array':
        node.push(number(t.len), this.encode(t.elem));
        break;
      case 'slice': case 'chan':
        node.push(this.encode(t.elem));
        break;
      case 'map':
        node.push(this.encode(t.key), this.encode(t.elem));
        break;
      case 'struct':
        node.push(number(t.size), number(t.align), t.fields.map((f) => this.field(f)));
        break;
      case 'opaque':
        node.push(number(t.size), number(t.align));
        break;
      default:
        break;
    }
    return at;
  }

  private field(f: StructField): EncodedField {
    const keys = Object.keys(f);
    if (!keys.every((k) => FIELD_KEYS.has(k)) || typeof f.name !== 'string') throw new NotStorableError('unexpected struct field');
    const encoded: EncodedField = [f.name, this.encode(f.type), number(f.offset)];
    // Absent and false are different objects to a deep comparison: both are kept as they are.
    return 'embedded' in f ? [...encoded, boolean(f.embedded)] : encoded;
  }
}

function number(v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new NotStorableError('not a finite number');
  return v;
}

function boolean(v: unknown): boolean {
  if (typeof v !== 'boolean') throw new NotStorableError('not a boolean');
  return v;
}

/** The types of a node table, by index; null when anything in it is malformed (a corrupt cache). */
export function decodeTypes(nodes: unknown): GoType[] | null {
  if (!Array.isArray(nodes)) return null;
  const n = nodes.length;
  const isRef = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) < n;
  const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  // First every object, then the references between them: a node may point forward or at itself.
  const out: Record<string, unknown>[] = [];
  for (const node of nodes) {
    if (!Array.isArray(node) || typeof node[0] !== 'string' || typeof node[1] !== 'string') return null;
    const extra = keysOf(node[0]);
    if (!extra) return null;
    out.push({ kind: node[0], name: node[1] });
  }
  for (let i = 0; i < n; i++) {
    const node = nodes[i] as unknown[];
    const t = out[i]!;
    const parts = node.slice(2);
    const ok = ((): boolean => {
      switch (node[0]) {
        case 'interface':
          return parts.length === 1 && typeof parts[0] === 'boolean' && ((t.empty = parts[0]), true);
        case 'pointer':
          return parts.length === 1 && (parts[0] === null || isRef(parts[0])) && ((t.elem = parts[0] === null ? null : out[parts[0]]), true);
        case 'array':
          return parts.length === 2 && isNum(parts[0]) && isRef(parts[1]) && ((t.len = parts[0]), (t.elem = out[parts[1]]), true);
        case 'slice': case 'chan':
          return parts.length === 1 && isRef(parts[0]) && ((t.elem = out[parts[0]]), true);
        case 'map':
          return parts.length === 2 && isRef(parts[0]) && isRef(parts[1]) && ((t.key = out[parts[0]]), (t.elem = out[parts[1]]), true);
        case 'struct': {
          if (parts.length !== 3 || !isNum(parts[0]) || !isNum(parts[1]) || !Array.isArray(parts[2])) return false;
          const fields: StructField[] = [];
          for (const f of parts[2] as unknown[]) {
            if (!Array.isArray(f) || (f.length !== 3 && f.length !== 4) || typeof f[0] !== 'string' || !isRef(f[1]) || !isNum(f[2])) return false;
            if (f.length === 4 && typeof f[3] !== 'boolean') return false;
            const field: StructField = { name: f[0], type: out[f[1]] as GoType, offset: f[2] };
            if (f.length === 4) field.embedded = f[3] as boolean;
            fields.push(field);
          }
          t.fields = fields;
          t.size = parts[0];
          t.align = parts[1];
          return true;
        }
        case 'opaque':
          return parts.length === 2 && isNum(parts[0]) && isNum(parts[1]) && ((t.size = parts[0]), (t.align = parts[1]), true);
        default:
          return parts.length === 0;
      }
    })();
    if (!ok) return null;
  }
  return out as unknown as GoType[];
}
