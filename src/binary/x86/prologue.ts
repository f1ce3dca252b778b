// Where to attach a function's entry uprobe. Most Go functions start with a
// stack-bound check: `cmp rsp, [g+0x10]; jbe morestack`. The kernel
// single-steps most probed instructions out of line (two traps) but
// emulates relative jumps, calls, nops and pushes, so a probe on that `jbe`
// costs one trap. SP and the argument registers are still those of the
// entry there, so arguments are read exactly as at the entry.
//
// Functions without the check (leaf functions with a small frame, NOSPLIT
// ones) get the first instruction the kernel emulates when every
// instruction before it leaves alone what the record reads (argument
// registers, g, SP), touches no memory (a load could fault: a call that
// crashes there must still be seen) and does not branch, and no jump lands
// among them. Otherwise the entry, which costs two traps unless the kernel
// emulates the entry instruction itself (`push rbp` from Go 1.21).

import { decodeFunction, type X86Instruction } from './decode.js';
import { kernelEmulates } from './emulation.js';
import type { GoAbi } from '../../core/index.js';

/** EFLAGS bits as saved in pt_regs->flags. */
export const CF = 0x1;
export const ZF = 0x40;

/** Conditions Go uses for its stack-check jumps, and the flags that make each taken. */
const TAKEN_IF_ANY: Record<string, number> = { be: CF | ZF, b: CF, e: ZF };

export interface StackGuardCheck {
  /** Mnemonic of the probed jump to the morestack call: `jbe` in every form seen. */
  jump: string;
  /**
   * EFLAGS bits of which any set (in pt_regs->flags at the probe) means the
   * jump is taken: the check failed, the function will call morestack and
   * restart from its entry, so the probe fires again. The check passed iff
   * `(flags & failFlagsMask) === 0`. Exact for every prologue form,
   * because the probe is on the instruction that consumes these flags.
   */
  failFlagsMask: number;
  /**
   * The comparison that set the flags, when it is `cmp reg, [g+guardOffset]`
   * (all forms except Go ≤1.16's huge-frame one): the check passed iff
   * `reg > stackguard0` as unsigned 64-bit values. Register names are
   * pt_regs names (`sp`, `r12`, `ax`, `r14`, `cx`).
   */
  comparison?: {
    /** Register compared with stackguard0: `sp`, or `r12`/`ax` holding sp + spOffset. */
    register: string;
    /** `register` equals SP plus this (0 for SP, -framesize for the lea/sub forms). */
    spOffset: number;
    /** Register holding the current g at the probe: `r14` (register ABI) or the one loaded from TLS (`cx`). */
    gRegister: string;
    /** Offset of stackguard0 in g. */
    guardOffset: number;
  };
}

export type ProbeKind = 'after-stack-check' | 'first-emulated' | 'entry';

export interface ProbePoint {
  /** Virtual address to attach the entry probe at. */
  address: number;
  /** `address` minus the function's entry: `uprobe:BIN:main.f+offset`. */
  offset: number;
  /** after-stack-check: on the check's jump; first-emulated: on the first instruction the kernel emulates, in a function without the check. */
  kind: ProbeKind;
  /** Traps a call costs there: 1 when the kernel emulates the probed instruction, 2 when it single-steps it. */
  traps: 1 | 2;
  /** One sentence: why this address. */
  reason: string;
  /** Present for 'after-stack-check': how the BPF program tells the pass that runs the body. */
  stackGuardCheck?: StackGuardCheck;
}

/** Instructions looked at for the stack check; Go's longest form has 8. */
const PROLOGUE_LIMIT = 16;
/** Instructions followed from a jump target looking for `call morestack; jmp entry` (register spills included). */
const MORESTACK_BLOCK_LIMIT = 80;
/** Offset of stackguard0 in runtime.g (after stack.lo, stack.hi), the same in every Go version. */
const STACKGUARD0_OFFSET = 0x10;

const PT_REGS_NAMES: Record<string, string> = {
  rax: 'ax', rbx: 'bx', rcx: 'cx', rdx: 'dx', rsi: 'si', rdi: 'di', rbp: 'bp', rsp: 'sp',
};

function ptRegs(reg: string): string {
  return PT_REGS_NAMES[reg] ?? reg;
}

function hex(n: number): string {
  return '0x' + n.toString(16);
}

/**
 * True when the instructions from `target` call something (morestack) and
 * then jump back to the function entry: the slow path of a stack check.
 */
function isMorestackPath(insns: X86Instruction[], byAddress: Map<number, number>, target: number, entry: number): boolean {
  const start = byAddress.get(target);
  if (start === undefined) return false;
  let sawCall = false;
  for (let i = start; i < insns.length && i < start + MORESTACK_BLOCK_LIMIT; i++) {
    const insn = insns[i];
    if (insn.flow === 'call') sawCall = true;
    else if (insn.flow === 'jump') return sawCall && insn.target === entry;
    else if (insn.flow !== 'next') return false;
  }
  return false;
}

function writesRsp(insn: X86Instruction): boolean {
  if (insn.mnemonic === 'push' || insn.mnemonic === 'pop' || insn.mnemonic === 'enter' || insn.mnemonic === 'leave') return true;
  const dst = insn.operands[0];
  return dst !== undefined && dst.kind === 'reg' && dst.reg === 'rsp' && insn.mnemonic !== 'cmp' && insn.mnemonic !== 'test';
}

function writesRbp(insn: X86Instruction): boolean {
  const dst = insn.operands[0];
  return dst !== undefined && dst.kind === 'reg' && dst.reg === 'rbp' && insn.mnemonic !== 'cmp' && insn.mnemonic !== 'test';
}

/** Register values the prologue derives: g, and registers holding SP plus a constant. */
interface PrologueState {
  gRegister: string | null;
  spRelative: Map<string, number>;
}

/** Updates `state` for one non-branch prologue instruction. */
function track(state: PrologueState, insn: X86Instruction): void {
  const [dst, src] = insn.operands;
  if (dst?.kind !== 'reg') return;
  const reg = dst.reg;
  const wasSpRelative = state.spRelative.get(reg);
  if (insn.mnemonic === 'cmp' || insn.mnemonic === 'test') return;
  state.spRelative.delete(reg);
  if (state.gRegister === reg) state.gRegister = null;
  if (insn.mnemonic === 'mov' && src?.kind === 'mem' && src.segment === 'fs') {
    // Stack ABI: g is loaded from thread-local storage, either at a fixed
    // offset (`mov rcx, fs:[-8]`) or through a register (PIE/external link).
    state.gRegister = reg;
  } else if (insn.mnemonic === 'mov' && src?.kind === 'reg' && state.spRelative.has(src.reg)) {
    state.spRelative.set(reg, state.spRelative.get(src.reg)!);
  } else if (insn.mnemonic === 'lea' && src?.kind === 'mem' && src.segment === null && src.index === null && src.base !== null && state.spRelative.has(src.base)) {
    state.spRelative.set(reg, state.spRelative.get(src.base)! + src.displacement);
  } else if ((insn.mnemonic === 'sub' || insn.mnemonic === 'add') && src?.kind === 'imm' && wasSpRelative !== undefined) {
    const delta = Number(src.value);
    state.spRelative.set(reg, wasSpRelative + (insn.mnemonic === 'sub' ? -delta : delta));
  }
}

/** `cmp reg, [g+0x10]` with reg = SP + constant: the comparison a BPF program can redo. */
function guardComparison(state: PrologueState, insn: X86Instruction | undefined): StackGuardCheck['comparison'] {
  if (!insn || insn.mnemonic !== 'cmp' || state.gRegister === null) return undefined;
  const [a, b] = insn.operands;
  if (a?.kind !== 'reg' || b?.kind !== 'mem') return undefined;
  if (b.base !== state.gRegister || b.index !== null || b.segment !== null || b.displacement !== STACKGUARD0_OFFSET) return undefined;
  const spOffset = state.spRelative.get(a.reg);
  if (spOffset === undefined) return undefined;
  return { register: ptRegs(a.reg), spOffset, gRegister: ptRegs(state.gRegister), guardOffset: STACKGUARD0_OFFSET };
}

function entryPoint(entry: X86Instruction, reason: string): ProbePoint {
  const emulation = emulatedProbeSite(entry);
  if (emulation) return { address: entry.address, offset: 0, kind: 'entry', traps: 1, reason: `${reason}; the kernel emulates the entry instruction (${emulation})` };
  return { address: entry.address, offset: 0, kind: 'entry', traps: 2, reason: `${reason}; the kernel single-steps the entry instruction (${entry.mnemonic}): two traps a call` };
}

/**
 * Registers the entry record reads (src/spec/abi: the integer argument
 * registers; R14 holding g; SP for stack arguments and call pairing; RBP,
 * the caller's frame pointer, where --stack starts its walk) and RDX, the
 * closure context: an instruction that writes any of them ends the search
 * for a later probe.
 */
const ENTRY_STATE = new Set(['rax', 'rbx', 'rcx', 'rdx', 'rdi', 'rsi', 'r8', 'r9', 'r10', 'r11', 'r14', 'rsp', 'rbp']);

/** Instructions looked at for a later probe in a function without a stack check. */
const LEAF_LIMIT = 16;

/**
 * Why the kernel's emulation of `insn` is what the CPU would do (a short
 * phrase), or null. Only the plain forms count: a relative jump, call or
 * jcc, a nop that iced also calls a nop, a push of a register.
 */
function emulatedProbeSite(insn: X86Instruction): string | null {
  const emulation = kernelEmulates(insn.bytes);
  if (!emulation.emulated) return null;
  const directBranch = insn.target !== undefined && (insn.flow === 'jump' || insn.flow === 'conditional-jump' || insn.flow === 'call');
  const plain = directBranch || insn.mnemonic === 'nop' || (insn.mnemonic === 'push' && insn.operands[0]?.kind === 'reg');
  return plain ? emulation.why : null;
}

/** Why `insn` may change what the entry record reads, or null when it leaves it all alone. */
function changesEntryState(insn: X86Instruction): string | null {
  if (insn.flow !== 'next') return `branches (${insn.mnemonic})`;
  const access = insn.access;
  if (!access) return 'was not analysed';
  if (access.memory === 'write') return `writes memory (${insn.mnemonic})`;
  if (access.memory === 'read') return `reads memory, which can fault (${insn.mnemonic})`;
  const written = access.writes.filter((r) => ENTRY_STATE.has(r));
  if (written.length > 0) return `writes ${written.join(', ')} (${insn.mnemonic})`;
  return null;
}

/**
 * A function without a stack check: the first instruction the kernel
 * emulates that every call reaches with the entry's registers, SP and
 * memory, else the entry.
 */
function leafProbe(code: Uint8Array, insns: X86Instruction[], entryAddress: number, why: string): ProbePoint {
  // A jump into the stretch before the probe would make it fire again.
  const targets = new Set(insns.flatMap((insn) => (insn.target === undefined ? [] : [insn.target])));
  // What each instruction writes costs more to find than decoding: only for these few.
  const last = insns[Math.min(insns.length, LEAF_LIMIT) - 1];
  const head = decodeFunction(code.subarray(0, last.address + last.length - entryAddress), entryAddress, { accessUpTo: LEAF_LIMIT });
  for (let i = 0; i < head.length; i++) {
    const insn = head[i];
    if (i > 0 && targets.has(insn.address)) {
      return entryPoint(head[0], `${why}; a jump lands at ${hex(insn.address)}, before any instruction the kernel emulates`);
    }
    const emulation = emulatedProbeSite(insn);
    if (emulation && i === 0) return entryPoint(insn, why);
    if (emulation) {
      return {
        address: insn.address,
        offset: insn.address - entryAddress,
        kind: 'first-emulated',
        traps: 1,
        reason: `${why}; ${insn.mnemonic} at ${hex(insn.address)} is the first instruction the kernel emulates (${emulation}), and those before it change no argument register, g, SP or memory`,
      };
    }
    const change = changesEntryState(insn);
    if (change) return entryPoint(head[0], `${why}; the instruction at ${hex(insn.address)} ${change} before any the kernel emulates`);
  }
  return entryPoint(head[0], `${why}; no instruction the kernel emulates in the first ${LEAF_LIMIT}`);
}

/**
 * The address for a function's entry probe: the last conditional jump of
 * the stack check to the morestack path when the kernel emulates it; in a
 * function without the check, the first instruction the kernel emulates
 * (leafProbe); else the entry. A jump counts as the stack check when its
 * target calls something and then jumps back to the entry, so no symbol is
 * needed.
 */
export function chooseEntryProbe(code: Uint8Array, entryAddress: number, abi: GoAbi): ProbePoint {
  const insns = decodeFunction(code, entryAddress);
  const byAddress = new Map(insns.map((insn, i) => [insn.address, i]));
  const state: PrologueState = {
    // Register ABI: R14 holds g at entry. Stack ABI: loaded from TLS.
    gRegister: abi === 'register' ? 'r14' : null,
    spRelative: new Map([['rsp', 0]]),
  };

  let check: { index: number; comparison: StackGuardCheck['comparison'] } | null = null;
  for (let i = 0; i < insns.length && i < PROLOGUE_LIMIT; i++) {
    const insn = insns[i];
    if (insn.flow === 'conditional-jump') {
      if (insn.target === undefined || !isMorestackPath(insns, byAddress, insn.target, entryAddress)) break;
      check = { index: i, comparison: guardComparison(state, insns[i - 1]) };
      continue;
    }
    // --stack walks from RBP at the probe: it must still be the caller's frame pointer.
    if (insn.flow !== 'next' || writesRsp(insn) || writesRbp(insn)) break;
    track(state, insn);
  }

  if (check === null) {
    return leafProbe(code, insns, entryAddress, 'no stack check in the prologue (a leaf function with a small frame, or a NOSPLIT function)');
  }
  const jump = insns[check.index];
  const failFlagsMask = jump.condition === undefined ? undefined : TAKEN_IF_ANY[jump.condition];
  if (failFlagsMask === undefined) {
    return entryPoint(
      insns[0],
      `the stack check jump at ${hex(jump.address)} (${jump.mnemonic}) tests a condition the probe cannot evaluate from CF and ZF`,
    );
  }
  const emulation = kernelEmulates(jump.bytes);
  if (!emulation.emulated) {
    return entryPoint(insns[0], `the stack check jump at ${hex(jump.address)} would be single-stepped by the kernel: ${emulation.why}`);
  }
  return {
    address: jump.address,
    offset: jump.address - entryAddress,
    kind: 'after-stack-check',
    traps: 1,
    reason: `${jump.mnemonic} at ${hex(jump.address)} ends the stack check; the kernel emulates it (${emulation.why})`,
    stackGuardCheck: {
      jump: jump.mnemonic,
      failFlagsMask,
      ...(check.comparison ? { comparison: check.comparison } : {}),
    },
  };
}
