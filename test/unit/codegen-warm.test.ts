// The loads that warm a record's cache lines right after it is reserved
// (bpf/weaver.h WEAVER_WARM): one in every 64 bytes of the first 512 and the
// record's last word, inside the record only, and only where the record is
// in ring-buffer memory: not in a per-CPU batch (records up to
// RING_BATCH_MAX_RECORD bytes) nor in the perf transport's per-CPU scratch
// area, which stay in cache.

import { describe, expect, it } from 'vitest';
import { argumentLocations } from '../../src/spec/abi/index.js';
import { RING_BATCH_MAX_RECORD, generateC, warmOffsets } from '../../src/bpf/codegen.js';
import { parseFunctionsFile } from '../../src/spec/funcfile.js';
import { planFunction, DEFAULT_PLAN_OPTIONS } from '../../src/spec/plan.js';
import { buildTraceSpec } from '../../src/bpf/tracespec.js';
import { fixtureBuild } from '../helpers/fixtures.js';

describe('warmOffsets', () => {
  it.each([
    [64, [0, 56]],
    [72, [0, 64]],
    [128, [0, 64, 120]],
    [160, [0, 64, 128, 152]],
    [512, [0, 64, 128, 192, 256, 320, 384, 448, 504]],
    // Past 512 bytes only the first lines: the rest are big slots.
    [520, [0, 64, 128, 192, 256, 320, 384, 448]],
    [16384, [0, 64, 128, 192, 256, 320, 384, 448]],
  ])('a %i-byte record: %j', (size, want) => {
    const offsets = warmOffsets(size);
    expect(offsets).toEqual(want);
    for (const off of offsets) expect(off + 8).toBeLessThanOrEqual(size);
  });
});

describe('generated programs', () => {
  const [spec] = parseFunctionsFile('main.f(n int, s string)', 'test.txt');
  const plan = planFunction(0, spec!, 'register', argumentLocations(spec!.params, 'register'), DEFAULT_PLAN_OPTIONS);
  const program = (transport: 'ring' | 'perf', ringBatches?: boolean) =>
    generateC([{ plan }], { abi: 'register', goidOffset: 152, transport, ringBatches });
  const [bigSpec] = parseFunctionsFile('main.g(s string)', 'test.txt');
  const bigPlan = planFunction(1, bigSpec!, 'register', argumentLocations(bigSpec!.params, 'register'), { ...DEFAULT_PLAN_OPTIONS, stringSize: 2000 });
  const warmLines = (size: number) => warmOffsets(size).map((off) => `\tWEAVER_WARM(rec, ${off});`).join('\n');

  it('warm every line of a record reserved in the ring buffer before writing it', () => {
    const text = program('ring', false);
    expect(text).toContain('#define WEAVER_BATCH_MAX_RECORD 0\n');
    expect(text).toContain(`\t}\n${warmLines(plan.recordSize)}\n\tstruct weaver_header *h = (struct weaver_header *)rec;\n\tweaver_fill_header(`);
  });

  it('do not warm a record written in a per-CPU batch, and do warm one too big for a batch', () => {
    expect(plan.recordSize).toBeLessThanOrEqual(RING_BATCH_MAX_RECORD);
    expect(bigPlan.recordSize).toBeGreaterThan(RING_BATCH_MAX_RECORD);
    const text = generateC([{ plan }, { plan: bigPlan }], { abi: 'register', goidOffset: 152, transport: 'ring' });
    expect(text).toContain(`#define WEAVER_BATCH_MAX_RECORD ${RING_BATCH_MAX_RECORD}\n`);
    const warmed = text.split('\n').filter((l) => l.startsWith('\tWEAVER_WARM(')).length;
    expect(warmed).toBe(warmOffsets(bigPlan.recordSize).length);
    expect(text).toContain(`\t}\n${warmLines(bigPlan.recordSize)}\n\tstruct weaver_header *h = (struct weaver_header *)rec;\n\tweaver_fill_header(h, 1, WEAVER_COOKIE_FUNC(cookie),`);
  });

  it('do not warm a perf-transport record', () => {
    expect(program('perf')).not.toContain('WEAVER_WARM');
    expect(program('perf')).toContain('#define WEAVER_BATCH_MAX_RECORD 0\n');
  });

  it.each([
    ['ring', true],
    ['ring', false],
    ['perf', undefined],
  ] as const)('with --returns over the %s transport (batches: %s), warm return records as entry records', (transport, ringBatches) => {
    const build = fixtureBuild({ fixture: 'returns', toolchain: '1.19', variant: 'normal' });
    const spec = buildTraceSpec({
      binaryPath: build.path,
      functionsFile: build.funcs!,
      packages: [],
      plan: DEFAULT_PLAN_OPTIONS,
      returns: true,
      transport,
      ringBatches,
    });
    expect(spec.ringBatches).toBe(transport === 'ring' && ringBatches);
    const sizes = spec.targets.flatMap((t) => [t.plan.recordSize, t.returns!.plan.recordSize]);
    const limit = spec.ringBatches ? RING_BATCH_MAX_RECORD : 0;
    // Every shape's reservation is followed by exactly the warming loads its size calls for.
    const reservations = spec.cSource.split('WEAVER_RESERVE(').slice(1);
    expect(reservations.length).toBeGreaterThan(0);
    for (const r of reservations) {
      const size = Number(/^(\d+)\)/.exec(r)![1]);
      expect(sizes).toContain(size);
      const after = r.slice(r.indexOf('\t}\n') + 3, r.indexOf('\tstruct weaver_header *h'));
      expect(after).toBe(transport === 'ring' && size > limit ? `${warmLines(size)}\n` : '');
    }
    if (spec.ringBatches) expect(sizes.some((size) => size <= limit)).toBe(true);
  });
});
