// Where return probes go (src/spec/returns.ts): RETs and runtime.deferreturn
// calls from hand-assembled epilogues of each Go frame style, the frame
// size subtracted at a deferreturn call, and the return record plans.

import { describe, expect, it } from 'vitest';
import { planReturn, withDepthSlot, PAIR_BLOCK_SIZE } from '../../src/spec/returns.js';
import { findReturnProbes, frameSizeBeforeReturn } from '../../src/binary/x86/returns.js';
import { decodeFunction } from '../../src/binary/x86/decode.js';
import { planFunction, DEFAULT_PLAN_OPTIONS } from '../../src/spec/plan.js';
import { HEADER_SIZE } from '../../src/spec/record.js';
import type { FunctionSpec, GoType } from '../../src/core/gotypes.js';

const BASE = 0x401000;
const DEFERRETURN = 0x430000;

function asm(...insns: number[][]): { code: Uint8Array; at: number[] } {
  const at: number[] = [];
  let offset = 0;
  for (const insn of insns) {
    at.push(offset);
    offset += insn.length;
  }
  return { code: new Uint8Array(insns.flat()), at };
}

/** `call rel32` at offset `from` to absolute `to`. */
function call(from: number, to: number): number[] {
  const d = to - (BASE + from + 5);
  return [0xe8, d & 0xff, (d >> 8) & 0xff, (d >> 16) & 0xff, (d >>> 24) & 0xff];
}

const MOV_BP_FROM_FRAME = [0x48, 0x8b, 0x6c, 0x24, 0x40]; // mov rbp, [rsp+0x40]
const ADD_RSP_48 = [0x48, 0x83, 0xc4, 0x48]; // add rsp, 0x48
const ADD_RSP_40 = [0x48, 0x83, 0xc4, 0x40]; // add rsp, 0x40
const ADD_RSP_200 = [0x48, 0x81, 0xc4, 0x00, 0x02, 0x00, 0x00]; // add rsp, 0x200
const POP_RBP = [0x5d];
const RET = [0xc3];
const NOP = [0x90];
const MOV_RAX_FROM_FRAME = [0x48, 0x8b, 0x44, 0x24, 0x08]; // mov rax, [rsp+8]

/** Builds code whose deferreturn call sits at instruction index `callIndex`. */
function withCall(before: number[][], after: number[][]): { code: Uint8Array; callOffset: number } {
  const offset = before.reduce((n, i) => n + i.length, 0);
  const { code } = asm(...before, call(offset, DEFERRETURN), ...after);
  return { code, callOffset: offset };
}

describe('findReturnProbes', () => {
  it.each([
    // Go ≤ 1.20: BP saved inside the frame, restored with a MOV.
    ['frame with BP inside (Go 1.15-1.20)', [MOV_RAX_FROM_FRAME, MOV_BP_FROM_FRAME, ADD_RSP_48, RET], 0x48],
    // Go 1.21+: PUSH BP in the prologue, POP BP in the epilogue.
    ['frame with pushed BP (Go 1.21+)', [MOV_RAX_FROM_FRAME, ADD_RSP_40, POP_RBP, RET], 0x48],
    ['large frame, imm32', [ADD_RSP_200, POP_RBP, RET], 0x208],
    ['no frame at all', [RET], 0],
  ])('a deferreturn call followed by %s: frame size %i', (_name, after, frame) => {
    const { code, callOffset } = withCall([NOP, RET, NOP], after);
    const found = findReturnProbes(code, BASE, DEFERRETURN);
    const lastRet = code.length - 1;
    expect(found.sites).toEqual([
      { kind: 'ret', offset: 1, frameSize: 0 },
      { kind: 'deferreturn', offset: callOffset, frameSize: frame },
      { kind: 'ret', offset: lastRet, frameSize: 0 },
    ]);
    expect(found.skippedDeferreturns).toEqual([]);
  });

  it.each([
    ['a branch before the RET', [[0x74, 0x00], RET]],
    ['a second add to rsp', [ADD_RSP_40, ADD_RSP_40, RET]],
    ['a sub from rsp', [[0x48, 0x83, 0xec, 0x08], RET]],
    ['a push', [[0x55], RET]],
    ['another call', [call(100, 0x500000), RET]],
  ])('skips a deferreturn call whose way to the RET has %s', (_name, after) => {
    const { code, callOffset } = withCall([], after as number[][]);
    const found = findReturnProbes(code, BASE, DEFERRETURN);
    expect(found.sites.filter((s) => s.kind === 'deferreturn')).toEqual([]);
    expect(found.skippedDeferreturns).toEqual([callOffset]);
  });

  it('does not take a call to another function for a deferreturn call', () => {
    const { code } = asm(call(0, 0x500000), RET);
    expect(findReturnProbes(code, BASE, DEFERRETURN).sites).toEqual([{ kind: 'ret', offset: 5, frameSize: 0 }]);
    expect(findReturnProbes(code, BASE, null).sites).toEqual([{ kind: 'ret', offset: 5, frameSize: 0 }]);
  });

  it('never takes a 0xc3 inside an instruction for a RET, and reports tail jumps', () => {
    const jmpOut = [0xe9, 0x00, 0x10, 0x00, 0x00]; // jmp +0x1000: outside
    const { code } = asm([0x48, 0x05, 0xc3, 0x00, 0x00, 0x00], RET, jmpOut);
    const found = findReturnProbes(code, BASE, DEFERRETURN);
    expect(found.sites).toEqual([{ kind: 'ret', offset: 6, frameSize: 0 }]);
    expect(found.tailJumps).toEqual([7]);
  });
});

describe('frameSizeBeforeReturn', () => {
  it('gives null when no RET follows within the window', () => {
    const { code } = asm(...Array.from({ length: 20 }, () => NOP), RET);
    expect(frameSizeBeforeReturn(decodeFunction(code, BASE), 0)).toBeNull();
  });
});

const int64: GoType = { kind: 'int64', name: 'int64' };
const int: GoType = { kind: 'int', name: 'int' };
const str: GoType = { kind: 'string', name: 'string' };
const float64: GoType = { kind: 'float64', name: 'float64' };
const errorType: GoType = { kind: 'interface', name: 'error', empty: false };

function spec(params: GoType[], results: GoType[] | null): FunctionSpec {
  return {
    name: 'main.f',
    params: params.map((type, i) => ({ name: `a${i}`, type })),
    results: results && results.map((type, i) => ({ name: `~r${i}`, type })),
  };
}

describe('planReturn', () => {
  it('register ABI: results restart at RAX; the pairing block follows the results', () => {
    const plan = planReturn(3, spec([int, int, int], [int, errorType]), 'register', DEFAULT_PLAN_OPTIONS);
    const writes = plan.results.args!.map((a) => a.registerWrites.map((w) => [w.reg, w.recordOffset]));
    expect(writes).toEqual([[['ax', HEADER_SIZE]], [['bx', HEADER_SIZE + 8], ['cx', HEADER_SIZE + 16]]]);
    expect(plan.results.stackArea).toBeNull();
    expect(plan.pairOffset).toBe(HEADER_SIZE + 24);
    expect(plan.recordSize).toBe(plan.pairOffset + PAIR_BLOCK_SIZE);
    expect(plan.resultsKnown).toBe(true);
  });

  it('stack ABI: results follow the arguments on the stack, read from sp+8 at the RET', () => {
    // (a int64, s string) take 24 bytes: the results start at offset 24.
    const plan = planReturn(0, spec([int64, str], [int64, float64]), 'stack', DEFAULT_PLAN_OPTIONS);
    const [r0, r1] = plan.results.args!;
    expect(plan.results.stackArea).toEqual({ offset: HEADER_SIZE, size: 40 });
    expect([r0!.onStack, r1!.onStack]).toEqual([true, true]);
    expect([r0!.value, r1!.value].map((v) => (v as { offset: number }).offset)).toEqual([HEADER_SIZE + 24, HEADER_SIZE + 32]);
  });

  it('register ABI: a float result in X0 is unavailable, as for arguments', () => {
    const plan = planReturn(0, spec([int], [float64]), 'register', DEFAULT_PLAN_OPTIONS);
    expect(plan.results.args![0]!.value).toEqual({ kind: 'unavailable', type: float64, reason: 'passed in register X0, which eBPF cannot read' });
  });

  it('unknown results: only the header and the pairing block', () => {
    const plan = planReturn(0, spec([int], null), 'register', DEFAULT_PLAN_OPTIONS);
    expect(plan.resultsKnown).toBe(false);
    expect(plan.results.args).toEqual([]);
    expect(plan.recordSize).toBe(HEADER_SIZE + PAIR_BLOCK_SIZE);
  });
});

describe('withDepthSlot', () => {
  it('adds 8 bytes at the end of the entry record for the stack depth', () => {
    const entry = planFunction(0, spec([int], null), 'register', null);
    const { plan, depthOffset } = withDepthSlot(entry);
    expect(depthOffset).toBe(HEADER_SIZE);
    expect(plan.recordSize).toBe(HEADER_SIZE + 8);
    expect(entry.recordSize).toBe(HEADER_SIZE);
  });
});
