// Return probes of the returns fixture as every toolchain built it, checked
// against `go tool objdump` of the same binary: a probe on exactly each RET
// and each CALL runtime.deferreturn, and at a deferreturn call the frame
// size the prologue allocated (SUBQ $N, SP, plus 8 when it pushes BP) —
// found by another route than ours, which reads the epilogue.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openGoBinary } from '../../src/binary/elf/gobinary.js';
import { G_STACK_HI_OFFSET } from '../../src/spec/returns.js';
import { findReturnProbes } from '../../src/binary/x86/returns.js';
import { dwarfTypeByName } from '../../src/binary/dwarf/index.js';
import { fixtureBuilds, functionsInFile, type FixtureName } from '../helpers/fixtures.js';
import { objdump, type ObjdumpLine } from './x86-fixture.js';

/** Frame size from the prologue: the SUBQ $N, SP after the stack check, plus a PUSHQ BP before it. */
function prologueFrame(lines: ObjdumpLine[]): number {
  const sub = lines.findIndex((l) => /^SUBQ \$0x[0-9a-f]+, SP$/.test(l.text));
  if (sub < 0) throw new Error(`no SUBQ $N, SP in ${lines[0]?.text}`);
  const n = parseInt(/\$0x([0-9a-f]+)/.exec(lines[sub]!.text)![1]!, 16);
  // Go 1.21+: PUSHQ BP; MOVQ SP, BP; SUBQ $N, SP.
  return n + (lines.slice(0, sub).some((l) => l.text === 'PUSHQ BP') ? 8 : 0);
}

const builds = fixtureBuilds({ fixture: 'returns' as FixtureName }).filter((b) => b.variant !== 'stripped');

describe('return probes on real Go builds', () => {
  it('has builds of the returns fixture', () => {
    expect(builds.length, 'run npm run setup').toBeGreaterThanOrEqual(4);
  });

  for (const build of builds) {
    it(`Go ${build.toolchain} ${build.variant}: every RET and deferreturn call, with its frame size`, () => {
      const { info, elf } = openGoBinary(build.path);
      const dump = objdump({ version: build.toolchain, goBinary: join(build.goroot, 'bin/go') }, build.path, '^main\\.');
      const deferreturn = info.functions.get('runtime.deferreturn')!.address;
      let deferreturnSites = 0;
      for (const name of functionsInFile(build.funcs!)) {
        const sym = info.functions.get(name)!;
        const lines = dump.get(name)!;
        const found = findReturnProbes(elf.readVirtual(sym.address, sym.size), sym.address, deferreturn);
        const rets = lines.filter((l) => /^RET\b/.test(l.text)).map((l) => l.address - sym.address);
        const calls = lines.filter((l) => /^CALL runtime\.deferreturn(\.abi0)?\(SB\)$/.test(l.text)).map((l) => l.address - sym.address);
        const frame = calls.length ? prologueFrame(lines) : 0;
        expect(found.sites, name).toEqual(
          [
            ...rets.map((offset) => ({ kind: 'ret', offset, frameSize: 0 })),
            ...calls.map((offset) => ({ kind: 'deferreturn', offset, frameSize: frame })),
          ].sort((a, b) => a.offset - b.offset),
        );
        expect(found.skippedDeferreturns, name).toEqual([]);
        deferreturnSites += calls.length;
      }
      // safeDiv and tryMust recover panics: the fixture must exercise deferreturn.
      expect(deferreturnSites).toBeGreaterThanOrEqual(2);
      // classify has a RET on each of its four paths.
      const classify = info.functions.get('main.classify')!;
      expect(findReturnProbes(elf.readVirtual(classify.address, classify.size), classify.address, deferreturn).sites.length).toBe(4);
    }, 60000);
  }
});

describe('runtime.g layout the pairing key relies on', () => {
  for (const build of builds.filter((b) => b.variant === 'normal')) {
    it(`Go ${build.toolchain}: g.stack.hi is at G_STACK_HI_OFFSET`, () => {
      const { elf } = openGoBinary(build.path);
      const g = dwarfTypeByName(elf, 'runtime.g');
      const stack = g?.kind === 'struct' ? g.fields.find((f) => f.name === 'stack') : undefined;
      const hi = stack?.type.kind === 'struct' ? stack.type.fields.find((f) => f.name === 'hi') : undefined;
      expect(stack && hi ? stack.offset + hi.offset : null).toBe(G_STACK_HI_OFFSET);
    });
  }
});
