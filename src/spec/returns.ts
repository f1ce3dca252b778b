// Return values and call latency without uretprobes (issue 5): where a
// traced function's return probes go, and the record plans of its return
// and entry programs. Pure and privilege-free, like the rest of tracespec.
//
// A uretprobe replaces the return address on the goroutine stack, which Go's
// stack copying and unwinding cannot cope with, so weaver never uses one.
// Instead:
//   - a uprobe on every near RET of the function, found by decoding its code
//     (src/binary/x86/returns.ts). At a RET the frame is popped: sp is what it was at
//     entry (pointing at the return address), so stack-assigned results are at
//     sp+8+offset exactly as computed by resultLocations, and register results
//     are in RAX… (counters restarted);
//   - a uprobe on each `CALL runtime.deferreturn`. Results are not read there
//     (deferred calls may still change named results; the RET after it reads
//     the final ones). It only marks the pending call as having run its
//     deferred calls through runtime.deferreturn: with open-coded defers
//     (Go 1.14+) the compiler reaches that call only when a panic was
//     recovered in the frame. Under Go < 1.18 runtime.jmpdefer makes the call
//     execute once per deferred call, so the mark is idempotent.
//
// Pairing an entry with its return, per goroutine, uses the key
// (goid, stack depth, function id, tgid), stack depth = g.stack.hi − sp. The
// goroutine's stack may be copied to a larger one between entry and return
// (stack growth): hi and sp then move by the same amount, so the depth stays.
// At the entry probe sp is the entry sp (the probe sits at the entry or on
// the stack check's jump, before the frame is allocated); at a RET it is the
// same again; at a deferreturn call the frame is still allocated, so the
// frame size (the `add rsp, N` before the following RET) is subtracted.

import { planFunction, type FunctionPlan, type PlanOptions } from './plan.js';
import { resultLocations, type AbiOptions } from './abi/index.js';
import type { FunctionSpec, FunctionSymbol, GoAbi, Param } from '../core/index.js';
import type { ReturnSite, ReturnSiteKind } from '../binary/index.js';

/** runtime.g begins with `stack stack` = {lo, hi uintptr} in every Go release: hi is at 8. */
export const G_STACK_HI_OFFSET = 8;

/** Bytes the pairing block adds after a return record's results: see ReturnPlan. */
export const PAIR_BLOCK_SIZE = 32;

/** Bits of the pairing block's `flags`. */
export const PAIR_FLAG = {
  /** The call's deferred calls ran through runtime.deferreturn (with open-coded defers: a recovered panic). */
  deferreturn: 1,
  /** No entry was pending for this return (its entry was evicted, dropped, or attached after the call began). */
  unpaired: 2,
} as const;

/** Counters of the pairing map, keys of the per-CPU array weaver_pair_stats. */
export const PAIR_STAT = {
  /** Entries stored. */
  entered: 0,
  /** Entries that found a stale one under their key (a frame at that depth never returned: a panic unwound it). */
  replaced: 1,
  /** Returns that found their entry. */
  matched: 2,
  /** Returns that found no entry: it was evicted from the bounded map (or never stored). */
  unmatched: 3,
  /** Entries the map refused to store. */
  insertFailed: 4,
} as const;
export const PAIR_STAT_COUNT = 5;

/**
 * A return program's record: the header, the results laid out by the same
 * planner as arguments (`results`, a FunctionPlan whose "args" are the
 * results), then the pairing block at `pairOffset`:
 *   u64 entry_ktime_ns  the entry's ktime (0 when unpaired)
 *   u64 duration_ns     return ktime − entry ktime (0 when unpaired)
 *   u64 depth           g.stack.hi − sp
 *   u32 flags           PAIR_FLAG bits
 *   u32 reserved
 */
export interface ReturnPlan {
  id: number;
  name: string;
  /** False when the result types are unknown: the record has no results, only the pairing block. */
  resultsKnown: boolean;
  results: FunctionPlan;
  pairOffset: number;
  recordSize: number;
}

/** Plans the return record of function `id`; its results come from `spec.results`. */
export function planReturn(id: number, spec: FunctionSpec, abi: GoAbi, options: PlanOptions, abiOptions: AbiOptions = {}): ReturnPlan {
  const results: Param[] = spec.results ?? [];
  const locations = resultLocations(spec.params, results, abi, abiOptions);
  const plan = planFunction(id, { ...spec, params: results }, abi, locations, options);
  const pairOffset = plan.recordSize;
  return { id, name: spec.name, resultsKnown: spec.results !== null, results: plan, pairOffset, recordSize: pairOffset + PAIR_BLOCK_SIZE };
}

/**
 * The entry record with pairing: the same plan with 8 more bytes at the
 * end, where the entry program writes the stack depth the decoder pairs on.
 */
export function withDepthSlot(plan: FunctionPlan): { plan: FunctionPlan; depthOffset: number } {
  return { plan: { ...plan, recordSize: plan.recordSize + 8 }, depthOffset: plan.recordSize };
}

export function returnProgramName(id: number): string {
  return `weaver_r${id}`;
}

/** One program per frame size: it is a constant in the program's key computation. */
export function deferreturnProgramName(id: number, frameSize: number): string {
  return `weaver_d${id}_${frameSize}`;
}

/** Where one return probe goes, for session attach and -v. */
export interface ReturnProbe {
  program: string;
  kind: ReturnSiteKind;
  /** Offset in the function. */
  offset: number;
  /** File offset the uprobe is attached at. */
  attachOffset: number;
  frameSize: number;
}

export function returnProbesFor(id: number, symbol: FunctionSymbol, sites: ReturnSite[]): ReturnProbe[] {
  return sites.map((s) => ({
    program: s.kind === 'ret' ? returnProgramName(id) : deferreturnProgramName(id, s.frameSize),
    kind: s.kind,
    offset: s.offset,
    attachOffset: symbol.fileOffset + s.offset,
    frameSize: s.frameSize,
  }));
}
