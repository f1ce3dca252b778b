// ReturnPairer (src/events/pairing.ts) on hand-built records: entries and returns
// of one function `main.f(x int) int` (register ABI) from several
// goroutines and stack depths, as the BPF programs write them.

import { describe, expect, it } from 'vitest';
import { ReturnPairer } from '../../src/events/pairing.js';
import { planFunction, DEFAULT_PLAN_OPTIONS } from '../../src/spec/plan.js';
import { argumentLocations } from '../../src/spec/abi/index.js';
import { HEADER_FIELDS, RECORD_KIND } from '../../src/spec/record.js';
import { PAIR_FLAG, planReturn, withDepthSlot } from '../../src/spec/returns.js';
import { MalformedRecordError } from '../../src/events/decode.js';
import type { FunctionSpec, GoType } from '../../src/core/gotypes.js';

const int: GoType = { kind: 'int', name: 'int' };
const SPEC: FunctionSpec = { name: 'main.f', params: [{ name: 'x', type: int }], results: [{ name: '~r0', type: int }] };
const ID = 7;
const CLOCK = 1_000_000_000n;

const entryBase = planFunction(ID, SPEC, 'register', argumentLocations(SPEC.params, 'register'), DEFAULT_PLAN_OPTIONS);
const { plan: entryPlan, depthOffset } = withDepthSlot(entryBase);
const returnPlan = planReturn(ID, SPEC, 'register', DEFAULT_PLAN_OPTIONS);
const ARG_OFFSET = entryPlan.args![0]!.registerWrites[0]!.recordOffset;
const RESULT_OFFSET = returnPlan.results.args![0]!.registerWrites[0]!.recordOffset;
const OFF = Object.fromEntries(HEADER_FIELDS.map((f) => [f.name, f.offset])) as Record<string, number>;

interface Common {
  goid: bigint;
  depth: bigint;
  ktime: bigint;
  pid?: number;
  funcId?: number;
}

function header(view: DataView, kind: number, c: Common): void {
  view.setUint32(OFF.kind!, kind, true);
  view.setUint32(OFF.func_id!, c.funcId ?? ID, true);
  view.setBigUint64(OFF.ktime_ns!, c.ktime, true);
  view.setUint32(OFF.pid!, c.pid ?? 100, true);
  view.setUint32(OFF.tid!, 101, true);
  view.setBigUint64(OFF.goid!, c.goid, true);
}

function entry(c: Common & { x: bigint }): DataView {
  const view = new DataView(new ArrayBuffer(entryPlan.recordSize));
  header(view, RECORD_KIND.call, c);
  view.setBigInt64(ARG_OFFSET, c.x, true);
  view.setBigUint64(depthOffset, c.depth, true);
  return view;
}

function ret(c: Common & { result: bigint; entryKtime: bigint; flags?: number }): DataView {
  const view = new DataView(new ArrayBuffer(returnPlan.recordSize));
  header(view, RECORD_KIND.return, c);
  view.setBigInt64(RESULT_OFFSET, c.result, true);
  const at = returnPlan.pairOffset;
  view.setBigUint64(at, c.entryKtime, true);
  view.setBigUint64(at + 8, c.entryKtime ? c.ktime - c.entryKtime : 0n, true);
  view.setBigUint64(at + 16, c.depth, true);
  view.setUint32(at + 24, c.flags ?? (c.entryKtime ? 0 : PAIR_FLAG.unpaired), true);
  return view;
}

function pairer(options: { maxPending?: number; ordered?: boolean; untracedExits?: Set<number> } = {}) {
  return new ReturnPairer([entryPlan], [returnPlan], new Map([[ID, depthOffset]]), CLOCK, options);
}

function push(p: ReturnPairer, view: DataView) {
  return p.push(view, 0, view.byteLength);
}

/** The parts of events a test looks at. */
function brief(events: ReturnType<ReturnPairer['push']>) {
  return events.map((e) => ({
    x: e.args ? (e.args[0]!.value as { value: bigint }).value : null,
    result: e.returns ? (e.returns[0]!.value as { value: bigint }).value : undefined,
    durationNs: e.durationNs,
    ...(e.returned === false ? { returned: false, why: e.notReturnedReason } : {}),
    ...(e.viaDeferreturn ? { viaDeferreturn: true } : {}),
  }));
}

describe('ReturnPairer', () => {
  it('emits nothing at an entry and one event with args, results and duration at its return', () => {
    const p = pairer();
    expect(push(p, entry({ goid: 1n, depth: 512n, ktime: 5000n, x: 42n }))).toEqual([]);
    const out = push(p, ret({ goid: 1n, depth: 512n, ktime: 5750n, entryKtime: 5000n, result: 84n }));
    expect(brief(out)).toEqual([{ x: 42n, result: 84n, durationNs: 750n }]);
    expect(out[0]!.ts).toBe(5000n + CLOCK);
    expect(p.pendingCount).toBe(0);
    expect(p.stats.paired).toBe(1);
  });

  it('pairs nested and recursive calls by stack depth, and goroutines apart', () => {
    const p = pairer();
    const seq = [
      entry({ goid: 1n, depth: 100n, ktime: 1n, x: 1n }),
      entry({ goid: 2n, depth: 100n, ktime: 2n, x: 10n }),
      entry({ goid: 1n, depth: 300n, ktime: 3n, x: 2n }),
      ret({ goid: 2n, depth: 100n, ktime: 4n, entryKtime: 2n, result: 20n }),
      ret({ goid: 1n, depth: 300n, ktime: 6n, entryKtime: 3n, result: 4n }),
      ret({ goid: 1n, depth: 100n, ktime: 9n, entryKtime: 1n, result: 2n }),
    ];
    expect(brief(seq.flatMap((v) => push(p, v)))).toEqual([
      { x: 10n, result: 20n, durationNs: 2n },
      { x: 2n, result: 4n, durationNs: 3n },
      { x: 1n, result: 2n, durationNs: 8n },
    ]);
  });

  it('flags a call whose frame a panic unwound when a shallower frame of its goroutine returns', () => {
    const p = pairer();
    push(p, entry({ goid: 1n, depth: 100n, ktime: 1n, x: 1n }));
    push(p, entry({ goid: 1n, depth: 300n, ktime: 2n, x: 2n })); // panics
    push(p, entry({ goid: 5n, depth: 900n, ktime: 3n, x: 3n })); // another goroutine: untouched
    const out = push(p, ret({ goid: 1n, depth: 100n, ktime: 9n, entryKtime: 1n, result: 5n, flags: PAIR_FLAG.deferreturn }));
    expect(brief(out)).toEqual([
      { x: 2n, durationNs: undefined, returned: false, why: 'unwound' },
      { x: 1n, result: 5n, durationNs: 8n, viaDeferreturn: true },
    ]);
    expect(p.pendingCount).toBe(1);
  });

  it('does not apply the shallower-frame rule to perf buffers, whose records may arrive out of order', () => {
    const p = pairer({ ordered: false });
    push(p, entry({ goid: 1n, depth: 100n, ktime: 1n, x: 1n }));
    push(p, entry({ goid: 1n, depth: 300n, ktime: 2n, x: 2n }));
    expect(brief(push(p, ret({ goid: 1n, depth: 100n, ktime: 9n, entryKtime: 1n, result: 5n })))).toEqual([{ x: 1n, result: 5n, durationNs: 8n }]);
    expect(p.pendingCount).toBe(1);
  });

  it('flags the older call when a newer one takes the same goroutine, depth and function', () => {
    const p = pairer();
    push(p, entry({ goid: 1n, depth: 100n, ktime: 1n, x: 1n }));
    expect(brief(push(p, entry({ goid: 1n, depth: 100n, ktime: 5n, x: 2n })))).toEqual([
      { x: 1n, durationNs: undefined, returned: false, why: 'replaced' },
    ]);
    expect(brief(push(p, ret({ goid: 1n, depth: 100n, ktime: 7n, entryKtime: 5n, result: 3n })))).toEqual([{ x: 2n, result: 3n, durationNs: 2n }]);
  });

  it.each([
    ['on a system stack (goid 0), where the scheduler abandons frames', 0n, new Set<number>()],
    ['in a function with no RET to probe (it leaves by a jump)', 1n, new Set([ID])],
  ])('a frame left %s is not counted as a panic', (_what, goid, untracedExits) => {
    const p = pairer({ untracedExits });
    push(p, entry({ goid, depth: 100n, ktime: 1n, x: 1n }));
    expect(brief(push(p, entry({ goid, depth: 100n, ktime: 5n, x: 2n })))).toEqual([{ x: 1n, durationNs: undefined, returned: false, why: 'untraced' }]);
    expect(p.stats.notReturned).toEqual({ replaced: 0, unwound: 0, untraced: 1, evicted: 0, exit: 0 });
  });

  it('keeps at most maxPending calls, evicting the oldest as not returned', () => {
    const p = pairer({ maxPending: 2 });
    push(p, entry({ goid: 1n, depth: 100n, ktime: 1n, x: 1n }));
    push(p, entry({ goid: 2n, depth: 100n, ktime: 2n, x: 2n }));
    expect(brief(push(p, entry({ goid: 3n, depth: 100n, ktime: 3n, x: 3n })))).toEqual([
      { x: 1n, durationNs: undefined, returned: false, why: 'evicted' },
    ]);
    expect(p.pendingCount).toBe(2);
    // The evicted call's return still shows, without its arguments but with the kernel's duration.
    expect(brief(push(p, ret({ goid: 1n, depth: 100n, ktime: 10n, entryKtime: 1n, result: 9n })))).toEqual([
      { x: null, result: 9n, durationNs: 9n },
    ]);
    expect(p.stats.returnsWithoutEntry).toBe(1);
    expect(p.stats.notReturned.evicted).toBe(1);
  });

  it('shows a return the kernel could not pair (entry evicted there) with the user-space entry it matches', () => {
    const p = pairer();
    push(p, entry({ goid: 1n, depth: 100n, ktime: 1n, x: 1n }));
    expect(brief(push(p, ret({ goid: 1n, depth: 100n, ktime: 4n, entryKtime: 0n, result: 2n })))).toEqual([{ x: 1n, result: 2n, durationNs: 3n }]);
  });

  it('flushes every pending call at exit as not returned, and is empty after', () => {
    const p = pairer();
    push(p, entry({ goid: 1n, depth: 100n, ktime: 1n, x: 1n }));
    push(p, entry({ goid: 2n, depth: 100n, ktime: 2n, x: 2n }));
    expect(brief(p.flush())).toEqual([
      { x: 1n, durationNs: undefined, returned: false, why: 'exit' },
      { x: 2n, durationNs: undefined, returned: false, why: 'exit' },
    ]);
    expect(p.flush()).toEqual([]);
    expect(p.stats.notReturned.exit).toBe(2);
  });

  it.each([
    ['a short record', () => new DataView(new ArrayBuffer(10)), /shorter than its 64-byte header/],
    ['an unknown kind', () => { const v = ret({ goid: 1n, depth: 1n, ktime: 1n, entryKtime: 0n, result: 0n }); v.setUint32(0, 9, true); return v; }, /unknown kind 9/],
    ['an untraced function', () => ret({ goid: 1n, depth: 1n, ktime: 1n, entryKtime: 0n, result: 0n, funcId: 3 }), /function #3, which is not traced/],
    ['a truncated return record', () => new DataView(ret({ goid: 1n, depth: 1n, ktime: 1n, entryKtime: 0n, result: 0n }).buffer.slice(0, 80)), /has 80 bytes, expected/],
  ])('rejects %s with a MalformedRecordError', (_name, make, message) => {
    const p = pairer();
    const view = make();
    expect(() => push(p, view)).toThrow(MalformedRecordError);
    expect(() => push(p, view)).toThrow(message);
  });
});

describe('nesting (OTLP spans): calls numbered at entry, linked to the pending call they run inside', () => {
  const nesting = () => new ReturnPairer([entryPlan], [returnPlan], new Map([[ID, depthOffset]]), CLOCK, { nesting: true });
  const ids = (events: ReturnType<ReturnPairer['push']>) =>
    events.map((e) => ({ x: (e.args![0]!.value as { value: bigint }).value, callId: e.callId, parentCallId: e.parentCallId, rootCallId: e.rootCallId }));

  it('a call inside another on the same goroutine is its child; a sibling after a return links to the same parent', () => {
    const p = nesting();
    const out = [
      push(p, entry({ goid: 1n, depth: 100n, ktime: 10n, x: 1n })),
      push(p, entry({ goid: 1n, depth: 200n, ktime: 20n, x: 2n })),
      push(p, entry({ goid: 1n, depth: 300n, ktime: 30n, x: 3n })),
      // Another goroutine at a shallower depth is nobody's parent here.
      push(p, entry({ goid: 2n, depth: 150n, ktime: 35n, x: 9n })),
      push(p, ret({ goid: 1n, depth: 300n, ktime: 40n, entryKtime: 30n, result: 0n })),
      push(p, ret({ goid: 1n, depth: 200n, ktime: 50n, entryKtime: 20n, result: 0n })),
      push(p, entry({ goid: 1n, depth: 200n, ktime: 60n, x: 4n })),
      push(p, ret({ goid: 1n, depth: 200n, ktime: 70n, entryKtime: 60n, result: 0n })),
      push(p, ret({ goid: 1n, depth: 100n, ktime: 80n, entryKtime: 10n, result: 0n })),
      push(p, ret({ goid: 2n, depth: 150n, ktime: 90n, entryKtime: 35n, result: 0n })),
    ].flat();
    expect(ids(out)).toEqual([
      { x: 3n, callId: 3, parentCallId: 2, rootCallId: 1 },
      { x: 2n, callId: 2, parentCallId: 1, rootCallId: 1 },
      { x: 4n, callId: 5, parentCallId: 1, rootCallId: 1 },
      { x: 1n, callId: 1, parentCallId: undefined, rootCallId: 1 },
      { x: 9n, callId: 4, parentCallId: undefined, rootCallId: 4 },
    ]);
  });

  it('goid 0 mixes goroutines: no parent; a return without its entry still gets a number of its own', () => {
    const p = nesting();
    const out = [
      push(p, entry({ goid: 0n, depth: 100n, ktime: 10n, x: 1n })),
      push(p, entry({ goid: 0n, depth: 200n, ktime: 20n, x: 2n })),
      push(p, ret({ goid: 0n, depth: 200n, ktime: 30n, entryKtime: 20n, result: 0n })),
    ].flat();
    expect(ids(out)).toEqual([{ x: 2n, callId: 2, parentCallId: undefined, rootCallId: 2 }]);
    const orphan = push(p, ret({ goid: 5n, depth: 100n, ktime: 40n, entryKtime: 0n, result: 7n }));
    expect(orphan.map((e) => [e.callId, e.rootCallId, e.parentCallId])).toEqual([[3, 3, undefined]]);
  });

  it('without the option, events carry no ids', () => {
    const p = pairer();
    const out = [push(p, entry({ goid: 1n, depth: 100n, ktime: 10n, x: 1n })), push(p, ret({ goid: 1n, depth: 100n, ktime: 20n, entryKtime: 10n, result: 0n }))].flat();
    expect(out.map((e) => e.callId)).toEqual([undefined]);
  });
});
