// -c/--summary statistics (src/output/callstats.ts) and the output of paired
// events (src/output/returnformat.ts).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CallStats, DurationHistogram, DurationStats, EXACT_LIMIT, bucketOf, bucketStart, callStatsJson, callStatsText } from '../../src/output/callstats.js';
import { createFormatter } from '../../src/output/format/index.js';
import type { CallEvent, DecodedArg } from '../../src/core/model.js';
import type { PairedEvent } from '../../src/events/pairing.js';
import { describePairing, pairedFormatter } from '../../src/output/returnformat.js';

/** Nearest-rank quantile of sorted values, the definition the histogram approximates. */
function exactQuantile(sorted: bigint[], q: number): bigint {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

describe('DurationHistogram', () => {
  it('buckets are contiguous and bucketStart inverts bucketOf', () => {
    for (let i = 0; i < 64 * 40; i++) {
      expect(bucketOf(bucketStart(i))).toBe(i);
      expect(bucketOf(bucketStart(i + 1) - 1n)).toBe(i);
    }
  });

  it('quantiles are within 1/64 of the exact nearest-rank quantile, and count/total/max are exact', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 10n ** 12n }), { minLength: 1, maxLength: 300 }), (values) => {
        const h = new DurationHistogram();
        for (const v of values) h.add(v);
        const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        expect(h.count).toBe(values.length);
        expect(h.total).toBe(values.reduce((a, b) => a + b, 0n));
        expect(h.max).toBe(sorted[sorted.length - 1]);
        for (const q of [0.5, 0.99]) {
          const exact = exactQuantile(sorted, q);
          const got = h.quantile(q);
          const err = got > exact ? got - exact : exact - got;
          expect(err * 64n <= exact || err <= 1n).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('gives exact quantiles for small durations (below 64 ns every value has its bucket)', () => {
    const h = new DurationHistogram();
    for (let i = 1n; i <= 50n; i++) h.add(i);
    expect([h.quantile(0.5), h.quantile(0.99), h.quantile(1)]).toEqual([25n, 50n, 50n]);
  });
});

const intArg = (value: bigint): DecodedArg => ({ name: 'x', type: 'int', value: { kind: 'int', value } });
const errArg = (nonNil: boolean): DecodedArg => ({
  name: 'err',
  type: 'error',
  value: { kind: 'interface', typeAddress: nonNil ? 0x4cd678n : 0n, dataAddress: nonNil ? 0xc000010000n : 0n },
});

function event(fn: string, extra: Partial<PairedEvent>): PairedEvent {
  return { ts: 1n, function: fn, pid: 1, tid: 1, ppid: 0, comm: 'shop', goid: 1n, args: [intArg(1n)], ...extra };
}

describe('DurationStats', () => {
  it('is exact up to EXACT_LIMIT durations, then within the histogram\'s 1/64', () => {
    const d = new DurationStats();
    // 1000, 1001, …: the exact median of the first EXACT_LIMIT is 1000 + EXACT_LIMIT/2 - 1.
    for (let i = 0; i < EXACT_LIMIT; i++) d.add(BigInt(1000 + i));
    expect(d.quantile(0.5)).toBe(BigInt(1000 + EXACT_LIMIT / 2 - 1));
    for (let i = EXACT_LIMIT; i < 3 * EXACT_LIMIT; i++) d.add(BigInt(1000 + i));
    const exact = BigInt(1000 + Math.ceil(1.5 * EXACT_LIMIT) - 1);
    const got = d.quantile(0.5);
    expect(got).not.toBe(exact);
    expect((got > exact ? got - exact : exact - got) * 64n <= exact).toBe(true);
  });
});

describe('CallStats', () => {
  const stats = new CallStats();
  for (const [d, err] of [[1000n, false], [3000n, true], [2000n, false]] as const) {
    stats.add(event('main.div', { returns: [intArg(0n), errArg(err)], durationNs: d }));
  }
  stats.add(event('main.slow', { returns: [], durationNs: 1_000_000n }));
  stats.add(event('main.slow', { returned: false, notReturnedReason: 'unwound' }));

  it('counts calls, durations, errors returned and calls that never returned, by total time', () => {
    expect(stats.rows()).toEqual([
      { function: 'main.slow', calls: 1, totalNs: 1_000_000n, meanNs: 1_000_000n, p50Ns: 1_000_000n, p99Ns: 1_000_000n, maxNs: 1_000_000n, errors: 0, notReturned: 1 },
      { function: 'main.div', calls: 3, totalNs: 6000n, meanNs: 2000n, p50Ns: 2000n, p99Ns: 3000n, maxNs: 3000n, errors: 1, notReturned: 0 },
    ]);
  });

  it('prints a strace -c style table', () => {
    expect(callStatsText(stats.rows()).split('\n')).toEqual([
      '% time  calls    total  mean  p50  p99  max  errors  unreturned  function',
      '------  -----  -------  ----  ---  ---  ---  ------  ----------  ---------',
      ' 99.40      1      1ms   1ms  1ms  1ms  1ms       0           1  main.slow',
      '  0.60      3      6µs   2µs  2µs  3µs  3µs       1           0  main.div',
      '------  -----  -------  ----  ---  ---  ---  ------  ----------  ---------',
      '100.00      4  1.006ms                            1           1  total',
    ]);
  });

  it('prints one JSON object with integer nanoseconds', () => {
    expect(JSON.parse(callStatsJson(stats.rows()))).toEqual({
      summary: [
        { function: 'main.slow', calls: 1, total_ns: 1000000, mean_ns: 1000000, p50_ns: 1000000, p99_ns: 1000000, max_ns: 1000000, errors: 0, not_returned: 1 },
        { function: 'main.div', calls: 3, total_ns: 6000, mean_ns: 2000, p50_ns: 2000, p99_ns: 3000, max_ns: 3000, errors: 1, not_returned: 0 },
      ],
    });
  });

  it('prints an empty table when nothing was called', () => {
    expect(callStatsText([]).split('\n').at(-1)).toBe('  0.00      0    0ns                            0           0  total');
    expect(callStatsJson([])).toBe('{"summary":[]}');
  });
});

describe('pairedFormatter', () => {
  const returnedCall: CallEvent = event('main.div', { returns: [intArg(3n), errArg(false)], durationNs: 1200n });
  const cases: [string, PairedEvent, string | RegExp][] = [
    ['a returned call: as the base formatter', returnedCall, /"returns":\[.*\],"duration_ns":1200\}$/],
    ['a panicked call', event('main.f', { returned: false, notReturnedReason: 'unwound' }), /"args":\[.*\],"returned":false,"why":"unwound"\}$/],
    ['a call still running at exit', event('main.f', { returned: false, notReturnedReason: 'exit' }), /,"returned":false,"why":"exit"\}$/],
    ['a return through deferreturn', event('main.f', { returns: [], durationNs: 5n, viaDeferreturn: true }), /"duration_ns":5,"via_deferreturn":true\}$/],
  ];
  const json = pairedFormatter(createFormatter({ format: 'json', color: false, timestamps: 'none' }), 'json');
  it.each(cases)('JSON: %s', (_name, ev, want) => {
    const line = json.format(ev);
    expect(line).toMatch(want);
    expect(() => JSON.parse(line)).not.toThrow();
  });

  const text = pairedFormatter(createFormatter({ format: 'text', color: false, timestamps: 'none' }), 'text');
  it.each([
    [returnedCall, 'shop[1] g1 main.div(x=1) = 3, <nil>  [1.2µs]'],
    [event('main.f', { returned: false, notReturnedReason: 'replaced' }), 'shop[1] g1 main.f(x=1)  (no return: its frame was unwound (panic))'],
    [event('main.f', { returned: false, notReturnedReason: 'evicted' }), 'shop[1] g1 main.f(x=1)  (no return seen: evicted, too many calls pending)'],
    [event('main.f', { returns: [intArg(2n)], durationNs: 5n, viaDeferreturn: true }), 'shop[1] g1 main.f(x=1) = 2  [5ns]  (via runtime.deferreturn)'],
  ])('text: %#', (ev, want) => {
    expect(text.format(ev)).toBe(want);
  });
});

describe('describePairing', () => {
  it('says nothing without --returns, and each count that is not zero', () => {
    expect(describePairing(undefined)).toBe('');
    expect(
      describePairing({
        paired: 5,
        returnsWithoutEntry: 1,
        notReturned: { replaced: 1, unwound: 2, untraced: 0, evicted: 3, exit: 4 },
        kernel: { replaced: 1n, unmatched: 2n, insertFailed: 0n },
      }),
    ).toBe(
      'weaver: returns: 5 calls paired with their return, 3 unwound by a panic, 4 still running at exit, ' +
        '3 evicted from the pending-call table (too many pending), 1 return without an entry, ' +
        "2 returns whose entry the kernel's bounded pairing map had evicted or never stored",
    );
  });
});
