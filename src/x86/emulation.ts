// Which probed instructions the x86 uprobe code emulates in the kernel
// (arch/x86/kernel/uprobes.c, branch_setup_xol_ops) instead of copying them
// to an out-of-line slot and single-stepping them, which costs a second
// trap. Emulated: relative jmp (eb, e9), relative call (e8), jcc (70–7f,
// 0f 80–8f) and nops. A branch with an operand-size prefix (66) is refused
// outright: the probe cannot be attached there at all.

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
  while (i < bytes.length && bytes[i] >= 0x40 && bytes[i] <= 0x4f) i++;
  const op = bytes[i];
  const op2 = bytes[i + 1];
  let what: string | null = null;
  if (op === 0xeb || op === 0xe9) what = 'relative jmp';
  else if (op === 0xe8) what = 'relative call';
  else if (op === 0x90) return { emulated: true, why: 'nop' };
  else if (op !== undefined && op >= 0x70 && op <= 0x7f) what = 'short conditional jump';
  else if (op === 0x0f && op2 !== undefined && op2 >= 0x80 && op2 <= 0x8f) what = 'near conditional jump';
  if (what === null) return { emulated: false, why: 'not a relative jump, call or nop' };
  if (operandSize) return { emulated: false, why: `${what} with an operand-size prefix, which the kernel refuses to probe` };
  return { emulated: true, why: what };
}
