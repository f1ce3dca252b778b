// Where a Go function gives control back to its caller. Return values are
// read by a uprobe at each of these sites instead of a uretprobe, which
// rewrites the return address on the goroutine stack and breaks Go's stack
// copying and tracebacks.

import { checkCodeInput, decodeFunction, type X86Instruction } from './decode.js';
import { InputError } from '../errors.js';

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
