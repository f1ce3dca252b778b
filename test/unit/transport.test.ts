import { describe, expect, it } from 'vitest';
import { perfPagesPerCpu, resolveTransport } from '../../src/session.js';

describe('resolveTransport', () => {
  it.each([
    ['auto', '6.18.44-fc-v769', 'ring'],
    ['auto', '5.8.0', 'ring'],
    ['auto', '5.10.0-28-amd64', 'ring'],
    ['auto', '5.7.19', 'perf'],
    ['auto', '4.19.0-25-amd64', 'perf'],
    ['auto', '3.10.0-1160.el7.x86_64', 'perf'],
    ['auto', 'weird', 'ring'],
    ['perf', '6.18.0', 'perf'],
    ['ring', '4.19.0', 'ring'],
  ] as const)('%s on Linux %s is %s', (choice, release, want) => {
    expect(resolveTransport(choice, release)).toBe(want);
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
