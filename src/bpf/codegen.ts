// Generates the eBPF C for a set of function plans. Each traced function's
// record is written by its *shape*: a global BPF function that reserves a
// record of the plan's size, fills it from pt_regs and sp-relative stack
// reads exactly where the plan says, follows pointers through shared
// readers (src/bpf/codegen-readers.ts) and submits it. What differs between
// functions whose records are laid out alike (their id, stack check flags,
// address) comes from the probe's cookie (src/spec/sitecookie.ts), so such
// functions share one shape: what is compiled and verified grows with the
// number of distinct shapes and types, not of functions. Deterministic: the
// same plans give the same text (the compile cache keys on it). `--emit c`
// prints this output.

import type { GoAbi } from '../core/index.js';
import { COOKIE_CALL_C, cookieCDefinitions, HEADER_FLAG, headerCDeclaration, RECORD_KIND, siteCookie, stackTailCDeclaration, type ArgPlan, type FunctionPlan } from '../spec/index.js';
import {
  G_STACK_HI_OFFSET, PAIR_FLAG, PAIR_STAT, PAIR_STAT_COUNT, deferreturnProgramName, returnProgramName, type ReturnPlan,
} from '../spec/index.js';
import { interfaceHelpersC, interfaceTypesOf } from './codegen-values.js';
import { ReaderSet, commentSafe, readersCalledIn, recordAddr, takesBias } from './codegen-readers.js';
import { placeReaders } from './codegen-units.js';

export interface CodegenOptions {
  abi: GoAbi;
  /** Offset of `goid` in runtime.g; 0 when unknown (events then carry goid 0). */
  goidOffset: number;
  /** A line for the top comment, e.g. the binary and its Go version. */
  description?: string;
  /** How records reach user space: the BPF ring buffer (default) or per-CPU perf buffers (bpf/weaver.h). */
  transport?: 'ring' | 'perf';
  /**
   * Ring transport: records of up to 1 KiB go out in per-CPU batches
   * (default); false: every record is reserved in the ring buffer, for
   * kernels that cannot run the batch flush on a given CPU (src/bpf/features.ts
   * run_on_cpu).
   */
  ringBatches?: boolean;
  /**
   * The kernel gives uprobe programs bpf_get_current_task_btf (default);
   * false: bpf/weaver.h reads the task's fields by helper calls instead.
   */
  taskBtf?: boolean;
  /** Bytes at which a per-CPU batch is sent (RING_BATCH_BYTES, less for a small ring buffer: ringBatchBytesFor). */
  ringBatchBytes?: number;
  /**
   * A position-independent binary: type descriptor addresses seen at run
   * time are the link-time ones plus the load bias, which programs work out
   * from their probe's address (ProgramUnit.probeAddress).
   */
  pie?: boolean;
  /** With --returns: the return programs (one per function, plus deferreturn markers). */
  returns?: ReturnUnit[];
  /**
   * Programs attached at their probes through uprobe_multi links, each
   * calling the shape `calls[WEAVER_COOKIE_CALL(cookie)]`. Without it, one
   * program per function (and per return and deferreturn probe kind) calls
   * its shape with its cookie as a constant.
   */
  dispatch?: { program: string; calls: string[] }[];
}

/** A traced function's return side: its return record plan and its deferreturn call sites' frame sizes. */
export interface ReturnUnit {
  plan: ReturnPlan;
  deferreturnFrameSizes: number[];
  /** Link-time addresses of the RETs its return program is attached at: in PIE binaries they give the load bias. */
  retAddresses?: number[];
}

/** One uprobe program: a function's plan and where its probe sits. */
export interface ProgramUnit {
  plan: FunctionPlan;
  /**
   * Set when the probe sits on the jump of Go's stack check: EFLAGS bits of
   * which any set means the check failed. The function then calls
   * morestack and restarts from its entry, so that pass is not reported.
   */
  stackCheckFailFlags?: number;
  /** Link-time address of the probed instruction; needed in PIE binaries to find the load bias. */
  probeAddress?: number;
  /** With --returns: record offset where the entry program writes the stack depth, and stores the pending call. */
  pairDepthOffset?: number;
}

export function programName(plan: FunctionPlan): string {
  return `weaver_f${plan.id}`;
}

/**
 * Ring transport: records of at most this many bytes are written in a
 * per-CPU batch (bpf/weaver.h), larger ones straight into the ring buffer.
 * A batch is 8 KiB, so at least 7 records fill one before it is sent.
 */
export const RING_BATCH_MAX_RECORD = 1024;
/** A per-CPU batch is sent once the next record would take it past this (bpf/weaver.h WEAVER_BATCH_BYTES bounds it). */
export const RING_BATCH_BYTES = 8192;

/** The batch size for a ring buffer of `bufferSize` bytes: a quarter of it at most, so that several batches fit. */
export function ringBatchBytesFor(bufferSize: number): number {
  return Math.max(8, Math.min(RING_BATCH_BYTES, Math.floor(bufferSize / 4 / 8) * 8));
}

/** The largest record written in a per-CPU batch under these options; 0: none is. */
export function ringBatchMaxRecord(options: Pick<CodegenOptions, 'transport' | 'ringBatches'>): number {
  return options.transport !== 'perf' && options.ringBatches !== false ? RING_BATCH_MAX_RECORD : 0;
}

/**
 * The programs of a trace, shared by shape: every traced function's record
 * is written by a *shape*, a global BPF function whose text holds nothing
 * of one function (its id, its stack check's flags and its address come
 * from the probe's cookie, src/spec/sitecookie.ts), so functions whose records
 * are laid out alike share one, compiled and verified once. Values behind
 * pointers are read by readers shared the same way (src/bpf/codegen-readers.ts).
 */
export interface ShapeSet {
  /** C definitions of the shapes, in order; `usesBias`: it takes the types bias as a third argument. */
  shapes: { name: string; text: string; serves: string[]; usesBias: boolean }[];
  readers: ReaderSet;
  /** Each program name (programName, returnProgramName, deferreturnProgramName) to its shape. */
  shapeOf: Map<string, string>;
}

/** A shape's parameters, as generated; the bias goes where no reader uses it. */
const SHAPE_PARAMS = '(struct pt_regs *ctx, u64 cookie, u64 bias)';

/** The shape every deferreturn probe runs: its frame size comes in the cookie. */
export const DEFERRETURN_SHAPE = 'weaver_defer';

export function buildShapes(units: ProgramUnit[], options: Pick<CodegenOptions, 'transport' | 'ringBatches' | 'returns'>): ShapeSet {
  const readers = new ReaderSet();
  const byText = new Map<string, { name: string; text: string; serves: string[]; usesBias: boolean }>();
  const shapeOf = new Map<string, string>();
  const add = (program: string, label: string, prefix: string, body: (name: string) => string) => {
    // The name is not part of the text compared: a placeholder stands for it.
    const text = body('@NAME@');
    let shape = byText.get(text);
    if (!shape) {
      shape = { name: `${prefix}${byText.size}`, text, serves: [], usesBias: takesBias(text.slice(text.indexOf('{'))) };
      byText.set(text, shape);
    }
    shape.serves.push(label);
    shapeOf.set(program, shape.name);
  };
  for (const unit of units) {
    add(programName(unit.plan), unit.plan.name, 'weaver_s', (name) => entryShape(name, unit, warmsRecord(unit.plan.recordSize, options), readers));
  }
  for (const unit of options.returns ?? []) {
    const { plan } = unit;
    add(returnProgramName(plan.id), `${plan.name} (returns)`, 'weaver_s', (name) => returnShape(name, unit, warmsRecord(plan.recordSize, options), readers));
    for (const frame of new Set(unit.deferreturnFrameSizes)) shapeOf.set(deferreturnProgramName(plan.id, frame), DEFERRETURN_SHAPE);
  }
  const shapes = [...byText.values()].map((s) => ({
    ...s,
    // Only shapes that read interfaces take the bias: see takesBias.
    text: s.text.split('@NAME@').join(s.name).replace(SHAPE_PARAMS, s.usesBias ? SHAPE_PARAMS : '(struct pt_regs *ctx, u64 cookie)'),
  }));
  return { shapes, readers, shapeOf };
}

export function generateC(units: ProgramUnit[], options: CodegenOptions, shapes: ShapeSet = buildShapes(units, options)): string {
  return generateUnits(units, options, shapes).join('\n');
}

/**
 * The C in compile units: with dispatchers, a unit per dispatcher holding
 * its shapes, and each reader in one unit (src/bpf/codegen-units.ts), so
 * that clang compiles units side by side and each is cached on its own
 * (src/bpf/compile.ts joins them with libbpf's static linker); otherwise
 * one unit. clang's time grows faster than a unit's length (3128 functions
 * in one unit: 15.7 s of CPU; 480 shapes: 5.5 s), so small units also cost
 * less in all.
 */
export function generateUnits(units: ProgramUnit[], options: CodegenOptions, shapes: ShapeSet = buildShapes(units, options)): string[] {
  const pairing = options.returns !== undefined || units.some((u) => u.pairDepthOffset !== undefined);
  const ifaces = interfaceTypesOf([...units.map((u) => u.plan), ...(options.returns ?? []).map((r) => r.plan.results)]);
  const deferreturns = pairing && (options.returns ?? []).some((r) => r.deferreturnFrameSizes.length > 0);
  const biased = new Set(shapes.shapes.filter((s) => s.usesBias).map((s) => s.name));
  // --stack: one capacity for the whole trace; without it the text is unchanged.
  const stackFrames = units.find((u) => u.plan.stack)?.plan.stack?.frames;
  const summary = `${units.length} function(s) in ${shapes.shapes.length} shape(s), ${shapes.readers.count} reader(s), ${options.abi} ABI`;
  const preamble = (index: number, count: number): string[] => {
    const out: string[] = [];
    out.push('// SPDX-License-Identifier: GPL-2.0');
    out.push(`/* Generated by weaver${options.description ? ` for ${options.description}` : ''}: ${summary}.${count > 1 ? ` Compile unit ${index + 1} of ${count}.` : ''} */`);
    out.push('#include <linux/types.h>');
    out.push('');
    out.push(headerCDeclaration());
    out.push('');
    if (stackFrames !== undefined) out.push(stackTailCDeclaration(stackFrames), '');
    if (index > 0) out.push('#define WEAVER_SECONDARY_UNIT 1');
    if (options.transport === 'perf') out.push('#define WEAVER_TRANSPORT_PERF 1');
    if (options.taskBtf === false) out.push('#define WEAVER_TASK_BTF 0');
    out.push(`#define WEAVER_KIND_BATCH ${RECORD_KIND.batch}`);
    out.push(`#define WEAVER_BATCH_MAX_RECORD ${ringBatchMaxRecord(options)}`);
    out.push(`#define WEAVER_BATCH_SEND_AT ${options.ringBatchBytes ?? RING_BATCH_BYTES}`);
    out.push(`#define WEAVER_GOID_OFFSET ${options.goidOffset}`);
    out.push('#include "weaver.h"');
    out.push('');
    out.push(
      options.abi === 'register'
        ? '#define WEAVER_G(ctx) weaver_g_register_abi(ctx)'
        : '#define WEAVER_G(ctx) weaver_g_stack_abi()',
    );
    out.push('');
    out.push(cookieCDefinitions());
    if (pairing) out.push('', pairingPreamble());
    // The first unit holds the type table; the others refer to it.
    if (ifaces) out.push('', interfaceHelpersC(ifaces.types, ifaces.blockCapacity, index === 0));
    out.push('');
    return out;
  };
  const shapeText = (shape: ShapeSet['shapes'][number]) =>
    `\n/* ${shape.serves.length === 1 ? '' : `${shape.serves.length} functions: `}${commentSafe(servedList(shape.serves))} */\n${shape.text}`;

  if (options.dispatch) {
    const byName = new Map(shapes.shapes.map((sh) => [sh.name, sh]));
    const groups = options.dispatch.map((d) => {
      const own = d.calls.flatMap((c) => (byName.has(c) ? [byName.get(c)!] : []));
      const tail = [
        ...(deferreturns && d.calls.includes(DEFERRETURN_SHAPE) ? ['', deferreturnShape()] : []),
        '',
        `#define WEAVER_SITE_BIAS(ctx, cookie) ${options.pie ? '((((ctx)->ip >> 12) - WEAVER_COOKIE_LINK_PAGE(cookie)) << 12)' : '0'}`,
        dispatcherProgram(d.program, d.calls, biased),
      ];
      const called = new Set(own.flatMap((sh) => readersCalledIn(sh.text)));
      return { own, tail, called, length: own.reduce((n, sh) => n + sh.text.length, 0) + tail.join('\n').length };
    });
    const placed = placeReaders({
      dispatcherUnits: groups.map((g) => g.length),
      readers: shapes.readers.lengths(),
      subprograms: shapes.shapes.length + shapes.readers.count,
    });
    return placed.map((defined, index, all) => {
      const group = groups[index];
      const called = new Set([...(group?.called ?? []), ...shapes.readers.calledBy(defined)]);
      const declared = new Set([...called].filter((r) => !defined.has(r)));
      const out = preamble(index, all.length);
      out.push(shapes.readers.cDefinitions(defined, declared));
      for (const sh of group?.own ?? []) out.push(shapeText(sh));
      out.push(...(group?.tail ?? []));
      return out.join('\n');
    });
  }
  const out = preamble(0, 1);
  out.push(shapes.readers.cDefinitions());
  for (const shape of shapes.shapes) out.push(shapeText(shape));
  if (deferreturns) out.push('', deferreturnShape());
  out.push('');
  // One program per probe kind and function (kernels without uprobe_multi
  // links): each calls its shape with its cookie as a constant.
  for (const unit of units) {
    const program = programName(unit.plan);
    const shape = shapes.shapeOf.get(program)!;
    const cookie = siteCookie({ call: 0, func: unit.plan.id, failFlags: unit.stackCheckFailFlags ?? 0 });
    if (biased.has(shape)) out.push(typesBiasDefinition(unit, options.pie === true));
    out.push(singleProgram(program, shape, cookie, biased.has(shape)));
  }
  for (const unit of options.returns ?? []) {
    const program = returnProgramName(unit.plan.id);
    const shape = shapes.shapeOf.get(program)!;
    if (biased.has(shape)) out.push(returnTypesBiasDefinition(unit.retAddresses ?? [], options.pie === true));
    out.push(singleProgram(program, shape, siteCookie({ call: 0, func: unit.plan.id }), biased.has(shape)));
    for (const frame of [...new Set(unit.deferreturnFrameSizes)].sort((x, y) => x - y)) {
      const cookie = siteCookie({ call: 0, func: unit.plan.id, frame });
      out.push(singleProgram(deferreturnProgramName(unit.plan.id, frame), DEFERRETURN_SHAPE, cookie, false));
    }
  }
  return [out.join('\n')];
}

/** At most a few names in a shape's comment. */
function servedList(names: string[]): string {
  const shown = names.slice(0, 4).join(', ');
  return names.length > 4 ? `${shown} and ${names.length - 4} more` : shown;
}

function singleProgram(program: string, shape: string, cookie: bigint, bias: boolean): string {
  return [
    PROGRAM_SECTION,
    `int ${program}(struct pt_regs *ctx)`,
    '{',
    `\treturn ${shape}(ctx, 0x${cookie.toString(16)}ULL${bias ? ', WEAVER_TYPES_BIAS(ctx)' : ''});`,
    '}',
    '',
  ].join('\n');
}

/** How every program is marked for libbpf: a uprobe attached at a file offset. */
const PROGRAM_SECTION = 'SEC("uprobe")';

function dispatcherProgram(name: string, calls: string[], biased: Set<string>): string {
  const b = [
    '/* Attached at its probes through one uprobe_multi link; the cookie of the',
    ' * probe that fired says which shape runs, and for which function. */',
    PROGRAM_SECTION,
    `int ${name}(struct pt_regs *ctx)`,
    '{',
    '\tu64 cookie = bpf_get_attach_cookie(ctx);',
  ];
  if (calls.some((c) => biased.has(c))) b.push('\tu64 bias = WEAVER_SITE_BIAS(ctx, cookie);');
  b.push(`\tswitch (${COOKIE_CALL_C}) {`);
  calls.forEach((call, index) => b.push(`\tcase ${index}: return ${call}(ctx, cookie${biased.has(call) ? ', bias' : ''});`));
  b.push('\t}', '\treturn 0;', '}', '');
  return b.join('\n');
}

/**
 * WEAVER_TYPES_BIAS(ctx): what to subtract from a type descriptor address
 * seen at run time to get its link-time address. At a uprobe, ctx->ip is
 * the probed instruction's address.
 */
function typesBiasDefinition(unit: ProgramUnit, pie: boolean): string {
  const bias = pie && unit.probeAddress !== undefined ? `((ctx)->ip - 0x${unit.probeAddress.toString(16)}ULL)` : '0';
  return `#undef WEAVER_TYPES_BIAS\n#define WEAVER_TYPES_BIAS(ctx) ${bias}`;
}

/**
 * The same for a return program, which one program serves at every RET of
 * its function: the kernel loads a PIE at a page-aligned bias, so ip and the
 * RET it sits on agree in their low 12 bits. When all RETs lie within one
 * page's span of the first, masking those bits off ip − first gives the
 * bias; otherwise the low bits pick the RET. RETs that share their low bits
 * with another cannot be told apart: their bias is left unknown (0), so
 * their interfaces show addresses rather than a wrong type.
 */
export function returnTypesBiasDefinition(retAddresses: number[], pie: boolean): string {
  const define = (bias: string) => `#undef WEAVER_TYPES_BIAS\n#define WEAVER_TYPES_BIAS(ctx) ${bias}`;
  if (!pie || retAddresses.length === 0) return define('0');
  const sorted = [...new Set(retAddresses)].sort((a, b) => a - b);
  const first = sorted[0]!;
  const hex = (n: number) => `0x${n.toString(16)}`;
  if (sorted[sorted.length - 1]! - first < PAGE_SIZE) return define(`(((ctx)->ip - ${hex(first)}ULL) & ~${hex(PAGE_SIZE - 1)}ULL)`);
  const byLowBits = new Map<number, number[]>();
  for (const a of sorted) byLowBits.set(a % PAGE_SIZE, [...(byLowBits.get(a % PAGE_SIZE) ?? []), a]);
  const cases = sorted
    .filter((a) => byLowBits.get(a % PAGE_SIZE)!.length === 1)
    .map((a) => `((ctx)->ip & ${hex(PAGE_SIZE - 1)}) == ${hex(a % PAGE_SIZE)} ? (ctx)->ip - ${hex(a)}ULL : `);
  return define(`(${cases.join('')}0)`);
}

/** x86-64 pages: a PIE's load bias is a multiple of this. */
const PAGE_SIZE = 0x1000;

/**
 * Whether a program loads its new record's cache lines first (WEAVER_WARM):
 * only a record reserved in the ring buffer, whose memory is new to the
 * cache. A per-CPU batch or the perf transport's scratch area stays cached.
 */
function warmsRecord(recordSize: number, options: Pick<CodegenOptions, 'transport' | 'ringBatches'>): boolean {
  return options.transport !== 'perf' && recordSize > ringBatchMaxRecord(options);
}

/** Lines of a record warmed by WEAVER_WARM: past these, only big slots, which bpf_probe_read_user fills in bulk. */
const WARM_MAX_BYTES = 512;

/**
 * Offsets that WEAVER_WARM loads (bpf/weaver.h): one in every 64 bytes of the
 * record's first WARM_MAX_BYTES, and its last word, as a record in the ring
 * buffer is only 8-aligned.
 */
export function warmOffsets(recordSize: number): number[] {
  const end = Math.min(recordSize, WARM_MAX_BYTES);
  const offsets: number[] = [];
  for (let off = 0; off + 8 <= end; off += 64) offsets.push(off);
  const last = recordSize - 8;
  if (recordSize <= WARM_MAX_BYTES && last > offsets[offsets.length - 1]!) offsets.push(last);
  return offsets;
}

/**
 * Takes a record (`rec`, with its header `h`): `onDrop` runs when there is
 * no room, before the program returns; then the warming loads, if any.
 */
function recordStart(recordSize: number, onDrop: string[], warm: boolean): string[] {
  return [
    `\tu8 *rec = WEAVER_RESERVE(${recordSize});`,
    '\tif (!rec) {',
    ...onDrop,
    '\t\treturn 0;',
    '\t}',
    ...(warm ? warmOffsets(recordSize).map((off) => `\tWEAVER_WARM(rec, ${off});`) : []),
    '\tstruct weaver_header *h = (struct weaver_header *)rec;',
  ];
}

/** Copies the stack-assigned values (the stack ABI's arguments, or results) at sp+8, flagging the header when that fails. */
function stackAreaRead(area: { offset: number; size: number } | null | undefined): string[] {
  if (!area) return [];
  return [
    `\tint stack_ok = bpf_probe_read_user(rec + ${area.offset}, ${area.size}, (void *)(ctx->sp + 8)) == 0;`,
    '\tif (!stack_ok)',
    `\t\th->flags |= ${HEADER_FLAG.stackReadFailed};`,
  ];
}

/** The entry shape: the record of every function laid out as `unit`'s. */
function entryShape(name: string, unit: ProgramUnit, warm: boolean, readers: ReaderSet): string {
  const { plan } = unit;
  const b: string[] = [];
  b.push(`__attribute__((noinline)) int ${name}${SHAPE_PARAMS}`);
  b.push('{');
  b.push('\t/* On the stack check\'s jump (the cookie holds its failing flags): when it is taken,');
  b.push('\t * morestack runs and the function restarts from its entry, so only the pass that runs the body counts. */');
  b.push('\tif (ctx->flags & WEAVER_COOKIE_FAIL_FLAGS(cookie))');
  b.push('\t\treturn 0;');
  b.push(...recordStart(plan.recordSize, ['\t\tweaver_count_drop();'], warm));
  b.push(`\tweaver_fill_header(h, ${RECORD_KIND.call}, WEAVER_COOKIE_FUNC(cookie), ctx, WEAVER_G(ctx));`);
  b.push(...stackAreaRead(plan.stackArea));
  for (const arg of plan.args ?? []) b.push(...argumentCode(arg, readers));
  if (plan.stack) b.push(`\tweaver_stack_walk((struct weaver_stack_tail *)(rec + ${plan.stack.offset}), ctx);`);
  if (unit.pairDepthOffset !== undefined) {
    b.push(`\t*(u64 *)(rec + ${unit.pairDepthOffset}) = weaver_pair_enter(ctx, WEAVER_G(ctx), WEAVER_COOKIE_FUNC(cookie), h->ktime_ns);`);
  }
  b.push(`\tWEAVER_SUBMIT(ctx, rec, ${plan.recordSize});`);
  b.push('\treturn 0;');
  b.push('}');
  return b.join('\n');
}

const C_INT: Record<number, string> = { 1: 'u8', 2: 'u16', 4: 'u32', 8: 'u64' };

function argumentCode(arg: ArgPlan, readers: ReaderSet): string[] {
  // No comment naming the argument: functions whose arguments are named
  // differently share the shape (its header comment names the functions).
  const lines: string[] = [];
  for (const w of arg.registerWrites) {
    const t = C_INT[w.size];
    if (!t) throw new Error(`internal: register piece of ${w.size} bytes`);
    lines.push(`\t*(${t} *)(rec + ${w.recordOffset}) = (${t})ctx->${w.reg};`);
  }
  const deref = readers.follow(arg.value, recordAddr, '\t');
  if (deref.length === 0) return lines;
  if (arg.onStack) {
    // Pointers inside a stack copy that failed are garbage: follow none.
    lines.push('\tif (stack_ok) {');
    lines.push(...deref.map((l) => '\t' + l));
    lines.push('\t}');
  } else {
    lines.push(...deref);
  }
  return lines;
}

/*
 * Return programs (--returns, issue 5; see src/spec/returns.ts for the design).
 * The pairing map holds one pending call per (goroutine, stack depth,
 * function, process): an LRU hash, so calls that never return (a panic
 * unwound them, the goroutine is blocked forever) are evicted instead of
 * filling it. Stale entries at the same key are replaced and counted.
 */
export const PAIRS_MAP = 'weaver_pairs';
export const PAIR_STATS_MAP = 'weaver_pair_stats';
/** Default capacity of the pairing map (the loader may resize it before load). */
export const DEFAULT_PAIRS_CAPACITY = 16384;

export function pairingPreamble(): string {
  return `/* Pending calls for --returns: key (goroutine, stack depth, function, tgid). */
struct weaver_pair_key {
	u64 goroutine;
	u64 depth;
	u32 func_id;
	u32 tgid;
};

struct weaver_pair_value {
	u64 ktime_ns;
	u32 flags;
	u32 reserved;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ${DEFAULT_PAIRS_CAPACITY});
	__type(key, struct weaver_pair_key);
	__type(value, struct weaver_pair_value);
} ${PAIRS_MAP} SEC(".maps") WEAVER_SHARED;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ${PAIR_STAT_COUNT});
	__type(key, u32);
	__type(value, u64);
} ${PAIR_STATS_MAP} SEC(".maps") WEAVER_SHARED;

/* Lookup sites out of line, one per program (bpf/weaver.h, WEAVER_LOOKUP_SITE). */
WEAVER_LOOKUP_SITE void weaver_pair_count(u32 which)
{
	u64 *n = bpf_map_lookup_elem(&${PAIR_STATS_MAP}, &which);
	if (n)
		__sync_fetch_and_add(n, 1);
}

WEAVER_LOOKUP_SITE struct weaver_pair_value *weaver_pair_find(struct weaver_pair_key *key)
{
	return bpf_map_lookup_elem(&${PAIRS_MAP}, key);
}

/* The goroutine is its goid when its offset is known, else the g pointer
 * (unique while the goroutine lives). The depth is g.stack.hi - sp: stack
 * growth copies the stack, moving hi and sp by the same amount. \`frame\` is
 * what the function's frame adds to sp where the probe sits (0 at entry and
 * at a RET). Returns the depth. */
static __always_inline u64 weaver_pair_key_of(struct weaver_pair_key *key, struct pt_regs *ctx, u64 g, u32 func_id, u64 frame)
{
	u64 hi = 0;
	u64 sp = ctx->sp + frame;
	if (g)
		bpf_probe_read_user(&hi, sizeof(hi), (void *)(g + ${G_STACK_HI_OFFSET}));
	key->goroutine = WEAVER_GOID_OFFSET ? weaver_goid(g, WEAVER_GOID_OFFSET) : g;
	key->depth = hi ? hi - sp : sp;
	key->func_id = func_id;
	key->tgid = bpf_get_current_pid_tgid() >> 32;
	return key->depth;
}

/* At a traced function's entry: remember when the call began. */
static __always_inline u64 weaver_pair_enter(struct pt_regs *ctx, u64 g, u32 func_id, u64 ktime_ns)
{
	struct weaver_pair_key key = {};
	struct weaver_pair_value value = { .ktime_ns = ktime_ns };
	u64 depth = weaver_pair_key_of(&key, ctx, g, func_id, 0);
	long err = bpf_map_update_elem(&${PAIRS_MAP}, &key, &value, BPF_NOEXIST);
	if (err == -17 /* EEXIST: a frame at this depth never returned */) {
		weaver_pair_count(${PAIR_STAT.replaced});
		err = bpf_map_update_elem(&${PAIRS_MAP}, &key, &value, BPF_ANY);
	}
	weaver_pair_count(err ? ${PAIR_STAT.insertFailed} : ${PAIR_STAT.entered});
	return depth;
}

/* At a RET: take the pending call out of the map; fills the pairing block. */
static __always_inline void weaver_pair_return(struct pt_regs *ctx, u64 g, u32 func_id, u64 now, u8 *block)
{
	struct weaver_pair_key key = {};
	u64 depth = weaver_pair_key_of(&key, ctx, g, func_id, 0);
	u64 start = 0;
	u32 flags = ${PAIR_FLAG.unpaired};
	struct weaver_pair_value *v = weaver_pair_find(&key);
	if (v) {
		start = v->ktime_ns;
		flags = v->flags;
		bpf_map_delete_elem(&${PAIRS_MAP}, &key);
		weaver_pair_count(${PAIR_STAT.matched});
	} else {
		weaver_pair_count(${PAIR_STAT.unmatched});
	}
	*(u64 *)block = start;
	*(u64 *)(block + 8) = start ? now - start : 0;
	*(u64 *)(block + 16) = depth;
	*(u32 *)(block + 24) = flags;
	*(u32 *)(block + 28) = 0;
}`;
}

/** The return shape: at each RET, where the frame is popped and sp is the entry sp again. */
function returnShape(name: string, unit: ReturnUnit, warm: boolean, readers: ReaderSet): string {
  const { plan } = unit;
  const results = plan.results;
  const b: string[] = [];
  b.push(`__attribute__((noinline)) int ${name}${SHAPE_PARAMS}`);
  b.push('{');
  b.push('\tu64 g = WEAVER_G(ctx);');
  b.push('\tu32 func = WEAVER_COOKIE_FUNC(cookie);');
  const onDrop = [
    '\t\t/* The pending call is still taken out, so the map does not keep it. */',
    '\t\tu8 scratch[32];',
    '\t\tweaver_pair_return(ctx, g, func, bpf_ktime_get_ns(), scratch);',
    '\t\tweaver_count_drop();',
  ];
  b.push(...recordStart(plan.recordSize, onDrop, warm));
  b.push(`\tweaver_fill_header(h, ${RECORD_KIND.return}, func, ctx, g);`);
  b.push(`\tweaver_pair_return(ctx, g, func, h->ktime_ns, rec + ${plan.pairOffset});`);
  b.push(...stackAreaRead(results.stackArea));
  for (const result of results.args ?? []) b.push(...argumentCode(result, readers));
  b.push(`\tWEAVER_SUBMIT(ctx, rec, ${plan.recordSize});`);
  b.push('\treturn 0;');
  b.push('}');
  return b.join('\n');
}

/** At a CALL runtime.deferreturn, inside a frame whose size the cookie holds: marks the pending call. */
function deferreturnShape(): string {
  return [
    `__attribute__((noinline)) int ${DEFERRETURN_SHAPE}(struct pt_regs *ctx, u64 cookie)`,
    '{',
    '\tstruct weaver_pair_key key = {};',
    '\tweaver_pair_key_of(&key, ctx, WEAVER_G(ctx), WEAVER_COOKIE_FUNC(cookie), WEAVER_COOKIE_FRAME(cookie));',
    '\tstruct weaver_pair_value *v = weaver_pair_find(&key);',
    '\tif (v)',
    `\t\tv->flags |= ${PAIR_FLAG.deferreturn}; /* only this goroutine uses this key */`,
    '\treturn 0;',
    '}',
  ].join('\n');
}
