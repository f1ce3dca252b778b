// Hand-assembled code for the cases real builds rarely show: prefixed and
// immediate RETs, 0xc3 inside operands, tail jumps, undecodable bytes,
// kernel emulation of the probed instruction, and bad inputs.

import { describe, expect, it } from 'vitest';
import { findCallSites, findReturnSites, findTailJumps } from '../../src/binary/x86/returns.js';
import { chooseEntryProbe } from '../../src/binary/x86/prologue.js';
import { kernelEmulates } from '../../src/binary/x86/emulation.js';
import { decodeFunction } from '../../src/binary/x86/decode.js';
import { InputError, NotSupportedError } from '../../src/core/errors.js';

const BASE = 0x401000;

/** Concatenates instruction encodings; returns the code and each instruction's address. */
function asm(...insns: number[][]): { code: Uint8Array; at: number[] } {
  const at: number[] = [];
  let offset = 0;
  for (const insn of insns) {
    at.push(BASE + offset);
    offset += insn.length;
  }
  return { code: new Uint8Array(insns.flat()), at };
}

/** rel32 little-endian bytes for a jump/call at `from` (of `length` bytes) to `to`. */
function rel32(from: number, length: number, to: number): number[] {
  const d = to - (from + length);
  return [d & 0xff, (d >> 8) & 0xff, (d >> 16) & 0xff, (d >>> 24) & 0xff];
}

describe('findReturnSites', () => {
  it.each([
    ['plain ret', [[0xc3]], [0]],
    ['ret imm16', [[0xc2, 0x08, 0x00]], [0]],
    ['repz ret (AMD branch-predictor idiom)', [[0xf3, 0xc3]], [0]],
    ['operand-size prefixed ret', [[0x66, 0xc3]], [0]],
    ['0xc3 in an imm32: add rax, 0xc3', [[0x48, 0x05, 0xc3, 0x00, 0x00, 0x00], [0xc3]], [1]],
    ['0xc3 in an imm8: add eax, -0x3d', [[0x83, 0xc0, 0xc3], [0xc3]], [1]],
    ['0xc3 as a ModRM byte: add eax, ebx', [[0x01, 0xc3], [0xc3]], [1]],
    ['0xc3 in a displacement: mov rax, [rbx+0xc3]', [[0x48, 0x8b, 0x83, 0xc3, 0x00, 0x00, 0x00], [0xc3]], [1]],
    ['0xc3 in a rel32: jmp +0xc3', [[0xe9, 0xc3, 0x00, 0x00, 0x00], [0xc3]], [1]],
    ['far return is not a near return', [[0xcb], [0xc3]], [1]],
    ['two returns and int3 padding', [[0x31, 0xc0], [0xc3], [0x48, 0xff, 0xc0], [0xc3], [0xcc], [0xcc]], [1, 3]],
  ])('%s', (_name, insns, retIndexes) => {
    const { code, at } = asm(...insns);
    expect(findReturnSites(code, BASE)).toEqual(retIndexes.map((i) => at[i]));
  });

  it('reports no return for a function that only jumps away', () => {
    const { code } = asm([0xeb, 0xfe]);
    expect(findReturnSites(code, BASE)).toEqual([]);
  });
});

describe('findCallSites', () => {
  it('finds direct calls to the target only', () => {
    const target = 0x402000;
    const other = 0x403000;
    const insns: number[][] = [];
    const push = (bytes: (at: number) => number[]) => {
      const at = BASE + insns.flat().length;
      insns.push(bytes(at));
      return at;
    };
    const first = push((at) => [0xe8, ...rel32(at, 5, target)]);
    push((at) => [0xe8, ...rel32(at, 5, other)]);
    push(() => [0xff, 0xd0]); // call rax: indirect, target unknown
    const second = push((at) => [0xe8, ...rel32(at, 5, target)]);
    push(() => [0xc3]);
    expect(findCallSites(new Uint8Array(insns.flat()), BASE, target)).toEqual([first, second]);
  });

  it.each([[-1], [1.5], [Number.NaN]])('rejects call target %s', (target) => {
    expect(() => findCallSites(new Uint8Array([0xc3]), BASE, target)).toThrow(
      new InputError(`call target ${String(target)} is not a non-negative integer`),
    );
  });
});

describe('findTailJumps', () => {
  it('reports direct jumps that leave the function, not those inside it or back to the entry', () => {
    const outside = 0x500000;
    const j1 = [0xeb, 0x00]; // jmp to the next instruction: inside
    const j2 = [0xe9, ...rel32(BASE + 2, 5, BASE)]; // back to the entry: morestack restart
    const j3 = [0xe9, ...rel32(BASE + 7, 5, outside)]; // tail call
    const j4 = [0xff, 0xe0]; // jmp rax: cannot tell
    const { code, at } = asm(j1, j2, j3, j4);
    expect(findTailJumps(code, BASE)).toEqual([at[2]]);
  });
});

describe('decodeFunction errors', () => {
  it('rejects bytes that are not an x86-64 instruction with the address', () => {
    // 0x06 (push es) is invalid in 64-bit mode.
    expect(() => findReturnSites(new Uint8Array([0x90, 0x06, 0xc3]), BASE)).toThrow(
      new NotSupportedError('the instruction at 0x401001 (offset 1 in the function at 0x401000) cannot be decoded as x86-64'),
    );
  });

  it('rejects a truncated last instruction', () => {
    expect(() => findReturnSites(new Uint8Array([0xc3, 0x48, 0x05, 0xc3]), BASE)).toThrow(
      new NotSupportedError('the instruction at 0x401001 (offset 1 in the function at 0x401000) cannot be decoded as x86-64'),
    );
  });

  it.each([
    [new Uint8Array([]), BASE, 'the function at 0x401000 has no machine code to analyse'],
    [new Uint8Array([0xc3]), -4, 'entry address -4 is not a non-negative integer'],
    [new Uint8Array([0xc3]), 2 ** 60, `entry address ${2 ** 60} is not a non-negative integer`],
    [[0xc3] as unknown as Uint8Array, BASE, 'machine code must be given as a Uint8Array'],
  ])('rejects bad input %#', (code, entry, message) => {
    expect(() => decodeFunction(code, entry)).toThrow(new InputError(message));
    expect(() => chooseEntryProbe(code, entry, 'register')).toThrow(InputError);
  });

  it('gives plain records with operands', () => {
    const [cmp, jbe] = decodeFunction(new Uint8Array([0x49, 0x3b, 0x66, 0x10, 0x76, 0x02, 0xc3, 0xc3]), BASE);
    expect(cmp).toMatchObject({
      address: BASE,
      length: 4,
      mnemonic: 'cmp',
      flow: 'next',
      operands: [
        { kind: 'reg', reg: 'rsp' },
        { kind: 'mem', segment: null, base: 'r14', index: null, scale: 1, displacement: 0x10 },
      ],
    });
    expect(jbe).toMatchObject({ address: BASE + 4, mnemonic: 'jbe', flow: 'conditional-jump', condition: 'be', target: BASE + 8 });
  });
});

describe('kernelEmulates', () => {
  it.each([
    [[0x76, 0x10], true],
    [[0x0f, 0x86, 0x10, 0x00, 0x00, 0x00], true],
    [[0x72, 0x10], true],
    [[0xeb, 0xfe], true],
    [[0xe9, 0, 0, 0, 0], true],
    [[0xe8, 0, 0, 0, 0], true],
    [[0x90], true],
    [[0x66, 0x90], true],
    [[0x0f, 0x1f, 0x44, 0x00, 0x00], true],
    // A nop the kernel's table does not list is single-stepped.
    [[0x0f, 0x1f, 0x44, 0x00, 0x01], false],
    [[0x66, 0x0f, 0x86, 0x10, 0x00], false],
    [[0x0f, 0x1f, 0x00], true],
    [[0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00], true],
    // pause (f3 90): the kernel takes any prefixed 90 for a nop, harmlessly here.
    [[0xf3, 0x90], true],
    // xchg r8d, eax: the kernel would skip it as a nop, so it must not count.
    [[0x41, 0x90], false],
    [[0x49, 0x3b, 0x66, 0x10], false],
    // push rbp, push r12: emulated (bench/emulation.mjs measured both at one trap).
    [[0x55], true],
    [[0x41, 0x54], true],
    // push rbp with REX.W: the kernel emulates only the 41 prefix.
    [[0x48, 0x55], false],
    [[0xc3], false],
  ])('%j → %s', (bytes, emulated) => {
    expect(kernelEmulates(new Uint8Array(bytes)).emulated).toBe(emulated);
  });
});

describe('chooseEntryProbe on hand-assembled prologues', () => {
  /** cmp rsp,[r14+0x10]; jbe slow; <body: ret>; slow: call X; jmp entry */
  function registerAbiPrologue(jbe: number[]): Uint8Array {
    const cmp = [0x49, 0x3b, 0x66, 0x10];
    const body = [0xc3];
    const slowAt = BASE + cmp.length + jbe.length + body.length;
    const call = [0xe8, ...rel32(slowAt, 5, 0x400000)];
    const back = [0xe9, ...rel32(slowAt + 5, 5, BASE)];
    return new Uint8Array([...cmp, ...jbe, ...body, ...call, ...back]);
  }

  it('probes the short jbe and describes the comparison', () => {
    expect(chooseEntryProbe(registerAbiPrologue([0x76, 0x01]), BASE, 'register')).toEqual({
      address: BASE + 4,
      offset: 4,
      kind: 'after-stack-check',
      traps: 1,
      reason: 'jbe at 0x401004 ends the stack check; the kernel emulates it (short conditional jump)',
      stackGuardCheck: {
        jump: 'jbe',
        failFlagsMask: 0x41,
        comparison: { register: 'sp', spOffset: 0, gRegister: 'r14', guardOffset: 0x10 },
      },
    });
  });

  it('falls back to the entry when the jbe carries an operand-size prefix the kernel refuses', () => {
    // iced, like Intel CPUs, ignores 66 on a 64-bit jcc: a rel32 still follows.
    const probe = chooseEntryProbe(registerAbiPrologue([0x66, 0x0f, 0x86, 0x01, 0x00, 0x00, 0x00]), BASE, 'register');
    expect(probe).toEqual({
      address: BASE,
      offset: 0,
      kind: 'entry',
      traps: 2,
      reason:
        'the stack check jump at 0x401004 would be single-stepped by the kernel: near conditional jump with an operand-size prefix, which the kernel refuses to probe; the kernel single-steps the entry instruction (cmp): two traps a call',
    });
  });

  it('does not take r14 for g in a stack-ABI function', () => {
    const probe = chooseEntryProbe(registerAbiPrologue([0x76, 0x01]), BASE, 'stack');
    // The jump still leads to the call-and-restart path, so it is the check; only the comparison is unknown.
    expect(probe.kind).toBe('after-stack-check');
    expect(probe.stackGuardCheck).toEqual({ jump: 'jbe', failFlagsMask: 0x41 });
  });

  it('does not mistake an ordinary conditional jump for the stack check', () => {
    // cmp rax, 0xa; jg +1; ret; ret — the jump target returns instead of calling and restarting.
    const code = new Uint8Array([0x48, 0x83, 0xf8, 0x0a, 0x7f, 0x01, 0xc3, 0xc3]);
    expect(chooseEntryProbe(code, BASE, 'register')).toEqual({
      address: BASE + 4,
      offset: 4,
      kind: 'first-emulated',
      traps: 1,
      reason:
        'no stack check in the prologue (a leaf function with a small frame, or a NOSPLIT function); jg at 0x401004 is the first instruction the kernel emulates (short conditional jump), and those before it change no argument register, g, SP or memory',
    });
  });

  it('stops looking once the frame is set up', () => {
    // sub rsp, 8; cmp rsp,[r14+0x10]; jbe slow; ret; slow: call; jmp entry — a check after SP moved is not a prologue check.
    const sub = [0x48, 0x83, 0xec, 0x08];
    const tail = registerAbiPrologue([0x76, 0x01]);
    const code = new Uint8Array([...sub, ...tail]);
    // Re-point the slow path's jump back at the real entry (BASE), 4 bytes earlier than assembled.
    const back = code.length - 4;
    new DataView(code.buffer).setInt32(back, new DataView(code.buffer).getInt32(back, true) - 4, true);
    expect(chooseEntryProbe(code, BASE, 'register').kind).toBe('entry');
  });
});

describe('chooseEntryProbe without a stack check', () => {
  const CMP_RAX_100 = [0x48, 0x83, 0xf8, 0x64];
  const TEST_RAX = [0x48, 0x85, 0xc0];
  const JLE_1 = [0x7e, 0x01];
  const RET = [0xc3];
  /** Both ABIs read the same registers, so each case holds for both. */
  it.each([
    // [name, instructions, index of the probed one or 'entry', traps]
    ['cmp then jle: the jle', [CMP_RAX_100, JLE_1, RET, RET], 1, 1],
    ['test then a near je', [TEST_RAX, [0x0f, 0x84, 0x01, 0x00, 0x00, 0x00], RET, RET], 1, 1],
    ['a scratch register written first (mov r12, rsp; cmp r12, rax)', [[0x49, 0x89, 0xe4], [0x4c, 0x39, 0xe0], JLE_1, RET, RET], 2, 1],
    ['a vector register written first (movq xmm0, rax)', [[0x66, 0x48, 0x0f, 0x6e, 0xc0], CMP_RAX_100, JLE_1, RET, RET], 2, 1],
    ['a push after flags-only work', [CMP_RAX_100, [0x55], [0x5d], RET], 1, 1],
    ['a call after a compare', [CMP_RAX_100, [0xe8, 0, 0, 0, 0], RET], 1, 1],
    ['a nop (0f 1f 00) after a test', [TEST_RAX, [0x0f, 0x1f, 0x00], RET], 1, 1],
    ['push rbp at the entry (Go 1.21+ frames)', [[0x55], [0x48, 0x89, 0xe5], [0x5d], RET], 'entry', 1],
    ['a jmp at the entry', [[0xeb, 0x00], RET], 'entry', 1],
    ['the issue\'s f(n, s): a spill store, then add', [[0x48, 0x89, 0x5c, 0x24, 0x10], [0x48, 0x01, 0xc8], RET], 'entry', 2],
    ['an argument register loaded from memory (mov rcx, [rax])', [[0x48, 0x8b, 0x08], JLE_1, RET, RET], 'entry', 2],
    ['a load into a scratch register: it could fault', [[0x4c, 0x8b, 0x20], JLE_1, RET, RET], 'entry', 2],
    ['xor eax, eax', [[0x31, 0xc0], JLE_1, RET, RET], 'entry', 2],
    ['sub rsp: SP moves', [[0x48, 0x83, 0xec, 0x08], JLE_1, RET, RET], 'entry', 2],
    ['r14 (g) written', [[0x4d, 0x89, 0xe6], JLE_1, RET, RET], 'entry', 2],
    ['rdx (closure context) written', [[0x48, 0x89, 0xc2], JLE_1, RET, RET], 'entry', 2],
    ['mul: rdx and rax written implicitly', [[0x48, 0xf7, 0xe1], JLE_1, RET, RET], 'entry', 2],
    ['xchg r8d, eax, which the kernel would skip as a nop', [[0x41, 0x90], RET], 'entry', 2],
    ['push rbp with REX.W after a compare', [CMP_RAX_100, [0x48, 0x55], [0x5d], RET], 'entry', 2],
    ['a jcc with an operand-size prefix the kernel refuses', [CMP_RAX_100, [0x66, 0x0f, 0x8e, 0x01, 0x00, 0x00, 0x00], RET, RET], 'entry', 2],
    ['a ret before anything emulated', [CMP_RAX_100, RET], 'entry', 2],
    ['an indirect jump (jmp rcx) before anything emulated', [CMP_RAX_100, [0xff, 0xe1]], 'entry', 2],
  ] as [string, number[][], number | 'entry', 1 | 2][])('%s', (_name, insns, probed, traps) => {
    const { code, at } = asm(...insns);
    for (const abi of ['register', 'stack'] as const) {
      const probe = chooseEntryProbe(code, BASE, abi);
      const address = probed === 'entry' ? BASE : at[probed];
      expect({ kind: probe.kind, address: probe.address, offset: probe.offset, traps: probe.traps }).toEqual({
        kind: probed === 'entry' ? 'entry' : 'first-emulated',
        address,
        offset: address - BASE,
        traps,
      });
    }
  });

  it('keeps the entry when a jump lands between the entry and the emulated instruction', () => {
    // cmp rax, 100; L: test rax, rax; jle +2; jmp L; ret; ret
    const { code, at } = asm(CMP_RAX_100, TEST_RAX, [0x7e, 0x02], [0xeb, 0x00], RET, RET);
    code[at[3] - BASE + 1] = (at[1] - (at[3] + 2)) & 0xff;
    expect(chooseEntryProbe(code, BASE, 'register')).toEqual({
      address: BASE,
      offset: 0,
      kind: 'entry',
      traps: 2,
      reason:
        'no stack check in the prologue (a leaf function with a small frame, or a NOSPLIT function); a jump lands at 0x401004, before any instruction the kernel emulates; the kernel single-steps the entry instruction (cmp): two traps a call',
    });
  });

  it('says which instruction keeps the probe at the entry, and that it costs two traps', () => {
    const { code } = asm([0x48, 0x89, 0x5c, 0x24, 0x10], [0x48, 0x01, 0xc8], RET);
    expect(chooseEntryProbe(code, BASE, 'register').reason).toBe(
      'no stack check in the prologue (a leaf function with a small frame, or a NOSPLIT function); the instruction at 0x401000 writes memory (mov) before any the kernel emulates; the kernel single-steps the entry instruction (mov): two traps a call',
    );
  });

  it('looks at no more than 16 instructions', () => {
    const cmps = Array.from({ length: 16 }, () => CMP_RAX_100);
    const { code } = asm(...cmps, JLE_1, RET, RET);
    const probe = chooseEntryProbe(code, BASE, 'register');
    expect(probe).toMatchObject({ kind: 'entry', traps: 2 });
    expect(probe.reason).toContain('no instruction the kernel emulates in the first 16');
  });
});
