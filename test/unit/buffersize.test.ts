// The default kernel buffer grows with what the traced functions can write,
// and a summary with kernel losses names the --buffer-size that would hold
// them (src/bpf/buffersize.ts, src/output/summary.ts).

import { describe, expect, it } from 'vitest';
import { BURST_RECORDS, defaultBufferSize, formatBufferSize, suggestedBufferSize } from '../../src/bpf/buffersize.js';
import { formatSummary } from '../../src/output/summary.js';

const target = (entry: number, ret?: number) => ({ plan: { recordSize: entry }, ...(ret ? { returns: { plan: { recordSize: ret } } } : {}) }) as never;

describe('defaultBufferSize', () => {
  it.each([
    ['one small function: the 8 MiB floor', [target(160)], 8 << 20],
    ['300 functions of 2 KiB records', Array.from({ length: 300 }, () => target(2048)), 16 << 20],
    ['1270 functions of 2 KiB records and returns of 512 bytes', Array.from({ length: 1270 }, () => target(2048, 512)), 32 << 20],
    ['3000 functions of 4 KiB: the 32 MiB ceiling', Array.from({ length: 3000 }, () => target(4096)), 32 << 20],
  ])('%s', (_what, targets, want) => {
    expect(defaultBufferSize(targets)).toBe(want);
  });

  it('holds BURST_RECORDS records of each function between the floor and the ceiling', () => {
    const targets = Array.from({ length: 100 }, () => target(4096));
    expect(defaultBufferSize(targets)).toBeGreaterThanOrEqual(100 * 4096 * BURST_RECORDS);
  });
});

describe('suggestedBufferSize', () => {
  it.each([
    [8 << 20, 100n, 10_000n, 16 << 20, 'a few lost: twice the size'],
    [8 << 20, 15_500n, 4_900n, 64 << 20, '76% lost: room for all of them'],
    [512 << 20, 1_000_000n, 1n, 1 << 30, 'never past 1G'],
    [1 << 30, 5n, 5n, null, 'nothing larger to suggest'],
  ] as const)('%i bytes, %i lost of %i read: %s (%s)', (size, lost, read, want) => {
    expect(suggestedBufferSize(size, lost, read)).toBe(want);
  });

  it.each([
    [4096, '4K'],
    [8 << 20, '8M'],
    [1 << 30, '1G'],
  ])('writes %i as %s', (bytes, text) => expect(formatBufferSize(bytes)).toBe(text));
});

describe('the summary after a kernel loss', () => {
  const facts = { shown: 4900, filteredOut: 0, droppedInKernel: 15_500n, droppedAtOutput: 0, malformed: 0, elapsedMs: 12_000, transport: 'ring' as const };
  it('names the --buffer-size that would hold what was lost', () => {
    expect(formatSummary({ ...facts, bufferSize: 8 << 20 })).toBe(
      'weaver: 4900 events in 12s, 15500 lost (15500 in the kernel ring buffer of 8M: --buffer-size 64M would hold more); 20400 calls seen',
    );
  });
  it('at the largest size, says what else helps', () => {
    expect(formatSummary({ ...facts, bufferSize: 1 << 30 })).toBe(
      'weaver: 4900 events in 12s, 15500 lost (15500 in the kernel ring buffer of 1G, the largest: trace fewer functions or lower --depth); 20400 calls seen',
    );
  });
});
