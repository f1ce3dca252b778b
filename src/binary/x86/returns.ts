// Where a Go function gives control back to its caller. Return values are
// read by a uprobe at each of these sites instead of a uretprobe, which
// rewrites the return address on the goroutine stack and breaks Go's stack
// copying and tracebacks.

import { checkCodeInput, decodeFunction, type X86Instruction } from './decode.js';
import { InputError } from '../../core/index.js';

/**
 * Virtual addresses of every near RET (`c3`, `c2 imm16`, with any prefix)
 * in the function, in address order. Found by decoding instruction by
 * instruction: the byte 0xc3 also occurs inside immediates and
 * displacements (`add rax, 0xc3`), which a byte search would report.
 */
export function findReturnSites(code: Uint8Array, entryAddress: number): number[] {
  return decodeFunction(code, entryAddress)
    .filter(isNearReturn)
    .map((insn) => insn.address);
}

/**
 * Virtual addresses of the direct calls to `target` (e.g.
 * `runtime.deferreturn`) in the function, in address order: the address of
 * the CALL instruction itself.
 */
export function findCallSites(code: Uint8Array, entryAddress: number, target: number): number[] {
  if (!Number.isSafeInteger(target) || target < 0) {
    throw new InputError(`call target ${String(target)} is not a non-negative integer`);
  }
  return decodeFunction(code, entryAddress)
    .filter((insn) => insn.flow === 'call' && insn.target === target)
    .map((insn) => insn.address);
}

/**
 * Virtual addresses of direct unconditional jumps that leave the function
 * (target outside `[entryAddress, entryAddress + code.length)`): tail calls,
 * as in compiler-generated method wrappers. Results of the function are
 * then returned by the jump's target, so a return probe at this function's
 * RETs never fires for that path. Indirect jumps (`jmp rax`, Go's switch
 * jump tables) cannot be classified and are not reported. The restart jump
 * after `runtime.morestack` targets the entry, so it is not reported.
 */
export function findTailJumps(code: Uint8Array, entryAddress: number): number[] {
  checkCodeInput(code, entryAddress);
  const end = entryAddress + code.length;
  return decodeFunction(code, entryAddress)
    .filter((insn) => insn.flow === 'jump' && insn.target !== undefined && (insn.target < entryAddress || insn.target >= end))
    .map((insn) => insn.address);
}

function isNearReturn(insn: X86Instruction): boolean {
  // iced names far returns `retf`, interrupt returns `iretq`: only `ret` is
  // the near return a Go function executes.
  return insn.flow === 'return' && insn.mnemonic === 'ret';
}

export type ReturnSiteKind = 'ret' | 'deferreturn';

export interface ReturnSite {
  kind: ReturnSiteKind;
  /** Offset of the instruction from the function's entry. */
  offset: number;
  /** Bytes between sp at this instruction and sp at entry (0 at a RET). */
  frameSize: number;
}

export interface ReturnSites {
  sites: ReturnSite[];
  /** Offsets of jumps that leave the function (tail calls): calls that return through them are not seen. */
  tailJumps: number[];
  /** deferreturn calls whose frame size could not be found, so they carry no probe. */
  skippedDeferreturns: number[];
}

/**
 * Every place the function gives control back (RETs) and every
 * `CALL runtime.deferreturn`, from one linear decode of its code.
 * `deferreturnAddress` is runtime.deferreturn's entry, or null when the
 * binary has none (its call sites are then not looked for).
 */
export function findReturnProbes(code: Uint8Array, entryAddress: number, deferreturnAddress: number | null): ReturnSites {
  const insns = decodeFunction(code, entryAddress);
  const end = entryAddress + code.length;
  const sites: ReturnSite[] = [];
  const tailJumps: number[] = [];
  const skippedDeferreturns: number[] = [];
  insns.forEach((insn, i) => {
    const offset = insn.address - entryAddress;
    if (insn.flow === 'return' && insn.mnemonic === 'ret') {
      sites.push({ kind: 'ret', offset, frameSize: 0 });
    } else if (insn.flow === 'call' && deferreturnAddress !== null && insn.target === deferreturnAddress) {
      const frameSize = frameSizeBeforeReturn(insns, i + 1);
      if (frameSize === null) skippedDeferreturns.push(offset);
      else sites.push({ kind: 'deferreturn', offset, frameSize });
    } else if (insn.flow === 'jump' && insn.target !== undefined && (insn.target < entryAddress || insn.target >= end)) {
      tailJumps.push(offset);
    }
  });
  return { sites, tailJumps, skippedDeferreturns };
}

/**
 * The bytes Go's epilogue pops on the way from instruction `from` to the
 * next RET: `add rsp, N`, plus 8 for `pop rbp` (Go 1.21+ pushes BP in the
 * prologue; older releases save it inside the frame and restore it with a
 * MOV). Null when the path is not that straight line: a branch, another
 * call, or any other write to rsp before the RET.
 */
export function frameSizeBeforeReturn(insns: X86Instruction[], from: number): number | null {
  let size = 0;
  let sawAdd = false;
  for (let i = from; i < insns.length && i < from + 16; i++) {
    const insn = insns[i]!;
    if (insn.flow === 'return') return insn.mnemonic === 'ret' ? size : null;
    if (insn.flow !== 'next') return null;
    if (insn.mnemonic === 'pop') {
      size += 8;
      continue;
    }
    if (insn.mnemonic === 'push') return null;
    const dst = insn.operands[0];
    if (dst?.kind !== 'reg' || dst.reg !== 'rsp') continue;
    const src = insn.operands[1];
    if (insn.mnemonic === 'add' && src?.kind === 'imm' && !sawAdd) {
      size += Number(src.value);
      sawAdd = true;
    } else return null;
  }
  return null;
}
