// Which probed instructions the x86 uprobe code emulates in the kernel
// (arch/x86/kernel/uprobes.c: branch_setup_xol_ops, push_setup_xol_ops)
// instead of copying them to an out-of-line slot and single-stepping them,
// which costs a second trap. Emulated: relative jmp (eb, e9), relative call
// (e8), jcc (70–7f, 0f 80–8f), nops, and push of a register (50–57, or
// 41 50–57 for r8–r15). A branch with an operand-size prefix (66) is refused
// outright: the probe cannot be attached there at all. Measured on Linux
// 6.18 by bench/emulation.mjs, which also shows the 5-byte nop costing less
// than one trap: the kernel turns a probe there into a call.

export interface Emulation {
  emulated: boolean;
  /** Short phrase: what the instruction is, for the probe point's reason. */
  why: string;
}

const LEGACY_PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]);

/** The kernel's x86_nops table (64-bit): only these multi-byte nops are emulated. */
const CANONICAL_NOPS: number[][] = [
  [0x90],
  [0x66, 0x90],
  [0x0f, 0x1f, 0x00],
  [0x0f, 0x1f, 0x40, 0x00],
  [0x0f, 0x1f, 0x44, 0x00, 0x00],
  [0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
  [0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00],
  [0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
];

/** Classifies one encoded x86-64 instruction (exactly its bytes). */
export function kernelEmulates(bytes: Uint8Array): Emulation {
  if (CANONICAL_NOPS.some((nop) => nop.length === bytes.length && nop.every((b, k) => b === bytes[k]))) {
    return { emulated: true, why: 'nop' };
  }
  let i = 0;
  let operandSize = false;
  while (i < bytes.length && LEGACY_PREFIXES.has(bytes[i])) {
    if (bytes[i] === 0x66) operandSize = true;
    i++;
  }
  const rexAt = i;
  while (i < bytes.length && bytes[i] >= 0x40 && bytes[i] <= 0x4f) i++;
  const op = bytes[i];
  const op2 = bytes[i + 1];
  let what: string | null = null;
  if (op === 0xeb || op === 0xe9) what = 'relative jmp';
  else if (op === 0xe8) what = 'relative call';
  else if (op === 0x90) return nopOf(bytes, rexAt, i);
  else if (op !== undefined && op >= 0x50 && op <= 0x57) return pushOf(bytes, i);
  else if (op !== undefined && op >= 0x70 && op <= 0x7f) what = 'short conditional jump';
  else if (op === 0x0f && op2 !== undefined && op2 >= 0x80 && op2 <= 0x8f) what = 'near conditional jump';
  if (what === null) return { emulated: false, why: 'not a relative jump, call or nop' };
  if (operandSize) return { emulated: false, why: `${what} with an operand-size prefix, which the kernel refuses to probe` };
  return { emulated: true, why: what };
}

/**
 * `push reg` at `opcodeAt`: the kernel emulates the one-byte form and the
 * two-byte one with REX prefix 41 (r8–r15), nothing longer.
 */
function pushOf(bytes: Uint8Array, opcodeAt: number): Emulation {
  const plain = opcodeAt === 0 && bytes.length === 1;
  const rexB = opcodeAt === 1 && bytes.length === 2 && bytes[0] === 0x41;
  if (plain || rexB) return { emulated: true, why: 'push of a register' };
  return { emulated: false, why: 'a push with prefixes other than 41' };
}

/**
 * Opcode 90 after prefixes. The kernel skips it as a nop whatever its REX
 * prefix, but with REX.B it is `xchg r8d, eax`: a probe there would lose
 * the exchange, so it does not count as emulated.
 */
function nopOf(bytes: Uint8Array, rexAt: number, opcodeAt: number): Emulation {
  for (let k = rexAt; k < opcodeAt; k++) {
    if (bytes[k] & 0x01) return { emulated: false, why: 'xchg with r8, which the kernel would skip as if it were a nop' };
  }
  return { emulated: true, why: 'nop' };
}
