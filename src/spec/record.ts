// The one description of the record header every BPF program writes. The
// code generator emits the C struct from HEADER_FIELDS (with static asserts
// on each offset), and the decoder reads records with the same offsets, so
// the two sides cannot disagree.

export type CFieldType = 'u32' | 's32' | 'u64' | 'char16';

export interface RecordField {
  name: string;
  type: CFieldType;
  offset: number;
}

const FIELD_SIZES: Record<CFieldType, number> = { u32: 4, s32: 4, u64: 8, char16: 16 };

/**
 * Record kinds, the first word of every record. A ring-buffer sample of
 * kind `batch` holds several records (bpf/weaver.h: a per-CPU batch); the
 * native reader splits it, so the decoder never sees one.
 */
export const RECORD_KIND = { call: 1, return: 2, batch: 3 } as const;

/** Header flags. */
export const HEADER_FLAG = {
  /** The stack area with stack-assigned arguments could not be read. */
  stackReadFailed: 1,
} as const;

export const HEADER_FIELDS: readonly RecordField[] = layout([
  ['kind', 'u32'],
  ['func_id', 'u32'],
  ['ktime_ns', 'u64'],
  ['pid', 'u32'],
  ['tid', 'u32'],
  ['ppid', 'u32'],
  ['flags', 'u32'],
  ['goid', 'u64'],
  ['sp', 'u64'],
  ['comm', 'char16'],
]);

export const HEADER_SIZE = 64;

function layout(fields: [string, CFieldType][]): RecordField[] {
  let offset = 0;
  return fields.map(([name, type]) => {
    const f = { name, type, offset };
    offset += FIELD_SIZES[type];
    return f;
  });
}

const C_TYPES: Record<CFieldType, (name: string) => string> = {
  u32: (n) => `__u32 ${n};`,
  s32: (n) => `__s32 ${n};`,
  u64: (n) => `__u64 ${n};`,
  char16: (n) => `char ${n}[16];`,
};

/** The C declaration of the header, with compile-time checks of every offset. */
export function headerCDeclaration(): string {
  const lines = ['struct weaver_header {'];
  for (const f of HEADER_FIELDS) lines.push(`\t${C_TYPES[f.type](f.name)}`);
  lines.push('};');
  for (const f of HEADER_FIELDS) {
    lines.push(`_Static_assert(__builtin_offsetof(struct weaver_header, ${f.name}) == ${f.offset}, "header field ${f.name}");`);
  }
  lines.push(`_Static_assert(sizeof(struct weaver_header) == ${HEADER_SIZE}, "header size");`);
  return lines.join('\n');
}

export interface RecordHeader {
  kind: number;
  funcId: number;
  ktimeNs: bigint;
  pid: number;
  tid: number;
  ppid: number;
  flags: number;
  goid: bigint;
  sp: bigint;
  comm: string;
}

const OFF = Object.fromEntries(HEADER_FIELDS.map((f) => [f.name, f.offset])) as Record<string, number>;
const utf8 = new TextDecoder('utf-8');

// Consecutive records nearly always come from the same process: decoding
// its name once instead of per record saves a fifth of the header's cost.
const lastCommWords = new Int32Array(4);
let lastComm: string | null = null;

function readComm(view: DataView, at: number): string {
  const w0 = view.getInt32(at, true);
  const w1 = view.getInt32(at + 4, true);
  const w2 = view.getInt32(at + 8, true);
  const w3 = view.getInt32(at + 12, true);
  if (lastComm !== null && w0 === lastCommWords[0] && w1 === lastCommWords[1] && w2 === lastCommWords[2] && w3 === lastCommWords[3]) {
    return lastComm;
  }
  const commBytes = new Uint8Array(view.buffer, view.byteOffset + at, 16);
  let end = commBytes.indexOf(0);
  if (end < 0) end = 16;
  lastComm = utf8.decode(commBytes.subarray(0, end));
  lastCommWords[0] = w0;
  lastCommWords[1] = w1;
  lastCommWords[2] = w2;
  lastCommWords[3] = w3;
  return lastComm;
}

/** Reads the header of the record at `base`; the caller has checked that HEADER_SIZE bytes are there. */
export function readHeader(view: DataView, base: number): RecordHeader {
  return {
    kind: view.getUint32(base + OFF.kind, true),
    funcId: view.getUint32(base + OFF.func_id, true),
    ktimeNs: view.getBigUint64(base + OFF.ktime_ns, true),
    pid: view.getUint32(base + OFF.pid, true),
    tid: view.getUint32(base + OFF.tid, true),
    ppid: view.getUint32(base + OFF.ppid, true),
    flags: view.getUint32(base + OFF.flags, true),
    goid: view.getBigUint64(base + OFF.goid, true),
    sp: view.getBigUint64(base + OFF.sp, true),
    comm: readComm(view, base + OFF.comm),
  };
}

/*
 * --stack: the call stack tail, appended to an entry record. Its capacity is
 * fixed per trace (--stack=N frames), `count` says how many are filled:
 *   u32 count        return addresses the walk found (at most N)
 *   u32 reserved
 *   u64 ip           the probed instruction's run-time address (gives a PIE's load bias)
 *   u64 pcs[N]       return addresses, innermost (the traced function's caller) first
 * bpf/weaver.h walks frame pointers into it (weaver_stack_walk); the C struct
 * and the reader below both come from these offsets.
 */
export const STACK_TAIL = { count: 0, ip: 8, pcs: 16 } as const;
export const STACK_DEFAULT_FRAMES = 16;
export const STACK_MAX_FRAMES = 64;

export function stackTailSize(frames: number): number {
  return STACK_TAIL.pcs + 8 * frames;
}

/** The C struct of a tail of `frames` return addresses, with checks of its offsets, and the macro that compiles the walk in. */
export function stackTailCDeclaration(frames: number): string {
  return [
    `#define WEAVER_STACK_DEPTH ${frames}`,
    'struct weaver_stack_tail {',
    '\t__u32 count;',
    '\t__u32 reserved;',
    '\t__u64 ip;',
    '\t__u64 pcs[WEAVER_STACK_DEPTH];',
    '};',
    `_Static_assert(__builtin_offsetof(struct weaver_stack_tail, ip) == ${STACK_TAIL.ip}, "stack tail ip");`,
    `_Static_assert(__builtin_offsetof(struct weaver_stack_tail, pcs) == ${STACK_TAIL.pcs}, "stack tail pcs");`,
    `_Static_assert(sizeof(struct weaver_stack_tail) == ${stackTailSize(frames)}, "stack tail size");`,
  ].join('\n');
}

export interface StackTail {
  /** Run-time address of the probe. */
  ip: bigint;
  /** Return addresses, caller first. */
  pcs: bigint[];
}

/**
 * Reads the tail at `base + offset` holding at most `frames` addresses;
 * null when the record is too short or its count is larger than the tail
 * (the caller reports the record as malformed).
 */
export function readStackTail(view: DataView, base: number, length: number, offset: number, frames: number): StackTail | null {
  if (offset + stackTailSize(frames) > length) return null;
  const count = view.getUint32(base + offset + STACK_TAIL.count, true);
  if (count > frames) return null;
  const pcs: bigint[] = [];
  for (let i = 0; i < count; i++) pcs.push(view.getBigUint64(base + offset + STACK_TAIL.pcs + 8 * i, true));
  return { ip: view.getBigUint64(base + offset + STACK_TAIL.ip, true), pcs };
}
