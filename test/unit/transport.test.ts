import { describe, expect, it } from 'vitest';
import { perfPagesPerCpu, resolveAttachMode, resolveTransport } from '../../src/events/session.js';

describe('resolveTransport and resolveAttachMode', () => {
  it.each([
    ['auto', true, 'ring'],
    ['auto', false, 'perf'],
    ['perf', true, 'perf'],
    ['ring', false, 'ring'],
  ] as const)('--transport %s, kernel has the ring buffer: %s: %s', (choice, ringbuf, want) => {
    expect(resolveTransport(choice, { ringbuf })).toBe(want);
  });

  it.each([
    ['auto', true, 'multi'],
    ['auto', false, 'single'],
    ['single', true, 'single'],
    ['multi', false, 'multi'],
  ] as const)('--attach %s, kernel has uprobe_multi links: %s: %s', (choice, uprobe_multi, want) => {
    expect(resolveAttachMode(choice, { uprobe_multi })).toBe(want);
  });
});

describe('perfPagesPerCpu', () => {
  it.each([
    [8 << 20, 2, 1024],
    [8 << 20, 3, 512], // 682 pages rounded down to a power of two
    [8192, 2, 1],
    [4096, 4, 1], // never less than one page
    [1 << 30, 1, 262144],
  ])('%i bytes over %i CPUs: %i pages each', (size, cpus, pages) => {
    expect(perfPagesPerCpu(size, cpus)).toBe(pages);
  });
});
