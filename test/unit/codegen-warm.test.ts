// The loads that warm a record's cache lines right after it is reserved
// (bpf/weaver.h WEAVER_WARM): one in every 64 bytes of the first 512 and the
// record's last word, inside the record only, and only where the record is
// in ring-buffer memory (the perf transport builds it in a per-CPU scratch
// area that stays in cache).

import { describe, expect, it } from 'vitest';
import { argumentLocations } from '../../src/abi/index.js';
import { generateC, warmOffsets } from '../../src/codegen.js';
import { parseFunctionsFile } from '../../src/funcfile.js';
import { planFunction, DEFAULT_PLAN_OPTIONS } from '../../src/plan.js';
import { buildTraceSpec } from '../../src/tracespec.js';
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
  const program = (transport: 'ring' | 'perf') => generateC([{ plan }], { abi: 'register', goidOffset: 152, transport });

  it('warm every line of a ring-buffer record before writing it', () => {
    const text = program('ring');
    const warm = warmOffsets(plan.recordSize).map((off) => `\tWEAVER_WARM(rec, ${off});`).join('\n');
    expect(text).toContain(`\t}\n${warm}\n\tstruct weaver_header *h = (struct weaver_header *)rec;\n\tweaver_fill_header(`);
  });

  it('do not warm a perf-transport record', () => {
    expect(program('perf')).not.toContain('WEAVER_WARM');
  });

  it.each(['ring', 'perf'] as const)('with --returns over the %s transport, warm return records as entry records', (transport) => {
    const build = fixtureBuild({ fixture: 'returns', toolchain: '1.19', variant: 'normal' });
    const spec = buildTraceSpec({ binaryPath: build.path, functionsFile: build.funcs!, packages: [], plan: DEFAULT_PLAN_OPTIONS, returns: true, transport });
    const sizes = spec.targets.flatMap((t) => [t.plan.recordSize, t.returns!.plan.recordSize]);
    const warmed = spec.cSource.split('\n').filter((l) => l.startsWith('\tWEAVER_WARM(')).length;
    expect(warmed).toBe(transport === 'ring' ? sizes.reduce((n, size) => n + warmOffsets(size).length, 0) : 0);
  });
});
