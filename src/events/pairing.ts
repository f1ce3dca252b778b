// Pairs entry records with return records in user space (--returns): one
// CallEvent per call, emitted when the call returns, with the arguments of
// the entry and the results of the return.
//
// Matching key: (pid, goroutine, stack depth, function) — the same key the
// BPF side pairs on (see src/spec/returns.ts). When the goid offset is unknown
// (goid 0: no DWARF and an unknown Go version) goroutines cannot be told
// apart here: two goroutines in the same function at the same depth then
// look like one frame replacing the other. The return record also carries the
// entry's ktime; when both sides saw the entry the two must agree, which is
// checked. Entries wait in a bounded map (insertion-ordered, the oldest is
// evicted first), so calls that never return cannot make it grow; an entry
// leaves the map as a "not returned" event when
//   - a newer entry takes its key (the frame at that depth is gone: a panic
//     unwound it),
//   - its goroutine returns from a shallower frame (every deeper frame is
//     gone; only with a known goid, since goid 0 mixes goroutines),
//   - the map is full (evicted), or tracing ends (flush).
// A frame that goes without its return is not always a panic: on a system
// stack (goid 0: g0, where the scheduler starts afresh each time and never
// returns, or gsignal) and in functions that leave by a jump to another
// function (no RET to probe, or a JMP besides their RETs, as
// runtime.memequal's to memeqbody) it is the normal way out; those count as
// "untraced". So do the
// runtime's stack-switching functions (STACK_SWITCHING): they leave on
// another stack (or goroutine) than the one they were entered on, or never
// return.
// The "shallower frame" rule relies on the records of one goroutine coming
// in order, which the session makes sure of (src/events/reorder.ts puts per-CPU
// batches and perf buffers back in time order); `ordered: false` turns the
// rule off for a source that cannot.

import { MalformedRecordError, RecordDecoder, callIdentity, decodeArgs } from './decode.js';
import { HEADER_FLAG, HEADER_SIZE, PAIR_FLAG, readHeader, RECORD_KIND, type FunctionPlan, type RecordHeader, type ReturnPlan } from '../spec/index.js';
import type { CallEvent, DecodedArg } from '../core/index.js';

/** Why a paired event has no return: see PairedEvent.returned. */
export type NotReturnedReason = 'replaced' | 'unwound' | 'untraced' | 'evicted' | 'exit';

/** A CallEvent with what pairing adds. */
export interface PairedEvent extends CallEvent {
  /** false: no return was seen for this entry (the call panicked, is still running at exit, or was evicted). */
  returned?: false;
  notReturnedReason?: NotReturnedReason;
  /** The return went through runtime.deferreturn (with open-coded defers: a panic was recovered). */
  viaDeferreturn?: true;
  /**
   * With `nesting`: a number for this call, given at its entry, unique in
   * the session; the call it ran inside (the pending call of the same
   * goroutine at the nearest shallower depth), if any; and the outermost
   * such call (itself when it has no parent). OTLP export makes span and
   * trace ids of them (src/output/otlp/mapping.ts).
   */
  callId?: number;
  parentCallId?: number;
  rootCallId?: number;
}

export interface PairingStats {
  /** Calls emitted with their return. */
  paired: number;
  /** Returns whose entry was not pending here (dropped, evicted on the BPF side, or before tracing began). */
  returnsWithoutEntry: number;
  /** Entries emitted as not returned, by reason. */
  notReturned: Record<NotReturnedReason, number>;
}

export interface EntryDepth {
  /** Offset of the u64 depth slot in each function's entry record. */
  depthOffset(funcId: number): number | undefined;
}

interface Pending {
  key: string;
  goroutineKey: string;
  depth: bigint;
  ktime: bigint;
  funcId: number;
  event: CallEvent;
}

export const DEFAULT_MAX_PENDING = 65536;

/**
 * Runtime functions that switch stacks (assembly in runtime/asm_amd64.s),
 * or the thread's goroutine (runtime.settls, which a new thread calls with
 * its parent's TLS and returns on g0): a pending entry of theirs is no sign
 * of a panic.
 */
export const STACK_SWITCHING = new Set([
  'runtime.settls',
  'runtime.mcall',
  'runtime.gogo',
  'runtime.systemstack',
  'runtime.systemstack_switch',
  'runtime.morestack',
  'runtime.morestack_noctxt',
  'runtime.asmcgocall',
]);

export class ReturnPairer {
  private readonly entries: RecordDecoder;
  private readonly returnPlans: Map<number, ReturnPlan>;
  private readonly depthOffsets: Map<number, number>;
  /** Insertion order = age: the first key is the oldest entry. */
  private readonly pending = new Map<string, Pending>();
  /** Pending keys per goroutine, for the "shallower frame returned" rule. */
  private readonly byGoroutine = new Map<string, Set<string>>();
  private readonly maxPending: number;
  /** Records of one goroutine arrive in order (the session sorts them: src/events/reorder.ts). */
  private readonly ordered: boolean;
  /** Functions that can leave by a jump to another function, where no probe sees them go. */
  private readonly untracedExits: Set<number>;
  /** Give each call the ids of PairedEvent.callId (only when asked: it costs a look at the goroutine's pending calls). */
  private readonly nesting: boolean;
  private nextCallId = 1;
  readonly stats: PairingStats = {
    paired: 0,
    returnsWithoutEntry: 0,
    notReturned: { replaced: 0, unwound: 0, untraced: 0, evicted: 0, exit: 0 },
  };

  constructor(
    entryPlans: FunctionPlan[],
    returnPlans: ReturnPlan[],
    depthOffsets: Map<number, number>,
    private readonly clockOffsetNs: bigint,
    options: { maxPending?: number; ordered?: boolean; untracedExits?: Set<number>; nesting?: boolean } = {},
  ) {
    this.nesting = options.nesting ?? false;
    this.untracedExits = new Set([...(options.untracedExits ?? []), ...entryPlans.filter((p) => STACK_SWITCHING.has(p.name)).map((p) => p.id)]);
    const maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
    this.maxPending = maxPending;
    this.ordered = options.ordered ?? true;
    if (!Number.isSafeInteger(maxPending) || maxPending < 1) throw new RangeError(`maxPending must be a positive integer, not ${maxPending}`);
    this.entries = new RecordDecoder(entryPlans, clockOffsetNs);
    this.returnPlans = new Map(returnPlans.map((p) => [p.id, p]));
    this.depthOffsets = depthOffsets;
  }

  /** Decodes one record; returns the events it completes (none for an entry that waits for its return). */
  push(view: DataView, base: number, length: number): PairedEvent[] {
    if (length < HEADER_SIZE || base + length > view.byteLength) {
      throw new MalformedRecordError(`record of ${length} bytes is shorter than its ${HEADER_SIZE}-byte header`);
    }
    const kind = view.getUint32(base, true);
    if (kind === RECORD_KIND.return) return this.onReturn(view, base, length);
    if (kind !== RECORD_KIND.call) throw new MalformedRecordError(`record of unknown kind ${kind}`);
    const event = this.entries.decode(view, base, length);
    const h = readHeader(view, base);
    const depthOffset = this.depthOffsets.get(h.funcId);
    if (depthOffset === undefined) return [event];
    const depth = view.getBigUint64(base + depthOffset, true);
    return this.addEntry(h, depth, event);
  }

  /** Every entry still waiting, as not-returned events (at exit); the map is empty afterwards. */
  flush(): PairedEvent[] {
    const out: PairedEvent[] = [];
    for (const p of [...this.pending.values()]) out.push(this.drop(p, 'exit'));
    return out;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  private addEntry(h: RecordHeader, depth: bigint, event: CallEvent): PairedEvent[] {
    const goroutineKey = `${h.pid}:${h.goid}`;
    const key = `${goroutineKey}:${depth}:${h.funcId}`;
    const out: PairedEvent[] = [];
    const stale = this.pending.get(key);
    if (stale) out.push(this.drop(stale, 'replaced'));
    if (this.pending.size >= this.maxPending) {
      const oldest = this.pending.values().next().value as Pending;
      out.push(this.drop(oldest, 'evicted'));
    }
    if (this.nesting) this.nest(event as PairedEvent, goroutineKey, depth, h.goid);
    this.pending.set(key, { key, goroutineKey, depth, ktime: h.ktimeNs, funcId: h.funcId, event });
    let set = this.byGoroutine.get(goroutineKey);
    if (!set) this.byGoroutine.set(goroutineKey, (set = new Set()));
    set.add(key);
    return out;
  }

  private onReturn(view: DataView, base: number, length: number): PairedEvent[] {
    const h = readHeader(view, base);
    const plan = this.returnPlans.get(h.funcId);
    if (!plan) throw new MalformedRecordError(`return record names function #${h.funcId}, which is not traced`);
    if (length < plan.recordSize) {
      throw new MalformedRecordError(`return record for ${plan.name} has ${length} bytes, expected ${plan.recordSize}`);
    }
    const at = base + plan.pairOffset;
    const entryKtime = view.getBigUint64(at, true);
    const durationNs = view.getBigUint64(at + 8, true);
    const depth = view.getBigUint64(at + 16, true);
    const flags = view.getUint32(at + 24, true);
    const returns = plan.resultsKnown ? decodeResults(view, base, plan, h) : undefined;

    const goroutineKey = `${h.pid}:${h.goid}`;
    const out = h.goid !== 0n && this.ordered ? this.unwindDeeper(goroutineKey, depth) : [];
    const key = `${goroutineKey}:${depth}:${h.funcId}`;
    const entry = this.pending.get(key);
    // The BPF side says which entry it paired with; an entry here with
    // another ktime is a different call (its own return was lost).
    const sameCall = entry && (entryKtime === 0n || entry.ktime === entryKtime);
    if (entry && !sameCall) out.push(this.drop(entry, 'replaced'));
    if (entry && sameCall) this.forget(entry);
    else this.stats.returnsWithoutEntry++;

    const paired = (flags & PAIR_FLAG.unpaired) === 0;
    const startKtime = paired ? entryKtime : sameCall ? entry!.ktime : 0n;
    const event: PairedEvent = sameCall
      ? { ...entry!.event }
      : { ...callIdentity(h, (startKtime || h.ktimeNs) + this.clockOffsetNs, plan.name), args: null };
    if (this.nesting && !sameCall) event.callId = event.rootCallId = this.nextCallId++;
    if (returns !== undefined) event.returns = returns;
    if (paired) event.durationNs = durationNs;
    else if (startKtime !== 0n && h.ktimeNs >= startKtime) event.durationNs = h.ktimeNs - startKtime;
    if (flags & PAIR_FLAG.deferreturn) event.viaDeferreturn = true;
    if (sameCall) this.stats.paired++;
    out.push(event);
    return out;
  }

  /**
   * Numbers a call at its entry and links it to the call it runs inside:
   * the pending call of its goroutine at the nearest shallower depth (depth
   * is g.stack.hi − sp, so a caller's is smaller). goid 0 mixes goroutines,
   * so such a call has no parent.
   */
  private nest(event: PairedEvent, goroutineKey: string, depth: bigint, goid: bigint): void {
    event.callId = this.nextCallId++;
    let parent: Pending | undefined;
    const set = goid !== 0n ? this.byGoroutine.get(goroutineKey) : undefined;
    if (set) {
      for (const key of set) {
        const p = this.pending.get(key)!;
        if (p.depth < depth && (!parent || p.depth > parent.depth)) parent = p;
      }
    }
    const pe = parent?.event as PairedEvent | undefined;
    if (pe?.callId !== undefined) {
      event.parentCallId = pe.callId;
      event.rootCallId = pe.rootCallId ?? pe.callId;
    } else {
      event.rootCallId = event.callId;
    }
  }

  /** A frame of this goroutine at `depth` returned: every deeper pending frame is gone. */
  private unwindDeeper(goroutineKey: string, depth: bigint): PairedEvent[] {
    const set = this.byGoroutine.get(goroutineKey);
    if (!set || set.size === 0) return [];
    const out: PairedEvent[] = [];
    for (const key of [...set]) {
      const p = this.pending.get(key)!;
      if (p.depth > depth) out.push(this.drop(p, 'unwound'));
    }
    return out;
  }

  private forget(p: Pending): void {
    this.pending.delete(p.key);
    const set = this.byGoroutine.get(p.goroutineKey);
    set?.delete(p.key);
    if (set && set.size === 0) this.byGoroutine.delete(p.goroutineKey);
  }

  private drop(p: Pending, reason: NotReturnedReason): PairedEvent {
    this.forget(p);
    if ((reason === 'replaced' || reason === 'unwound') && (p.event.goid === 0n || this.untracedExits.has(p.funcId))) reason = 'untraced';
    this.stats.notReturned[reason]++;
    return { ...p.event, returned: false, notReturnedReason: reason };
  }
}

function decodeResults(view: DataView, base: number, plan: ReturnPlan, h: RecordHeader): DecodedArg[] {
  return decodeArgs(view, base, plan.results.args ?? [], h.flags, 'the stack at the return could not be read');
}
