// Linear decoding of one Go function's machine code into plain records.
// Go emits no data inside function bodies, so a linear sweep from the entry
// sees exactly the instructions the CPU can execute; the iced-x86 objects
// live in WASM memory and are freed here, never handed out.
//
// iced-x86 is a ~1 MB CommonJS bundle plus WASM: parsing and instantiating
// it costs ~70 ms of start-up. It is required on the first decode, so a run
// whose probe placement comes from the per-binary cache (src/binary/probecache.ts)
// never loads it.

import { createRequire } from 'node:module';
import type * as Iced from 'iced-x86';
import { InputError, NotSupportedError } from '../../core/index.js';

let iced: typeof Iced | undefined;

function loadIced(): typeof Iced {
  iced ??= createRequire(import.meta.url)('iced-x86') as typeof Iced;
  return iced;
}

/** True once iced-x86 has been loaded in this process (for tests of lazy loading). */
export function decoderLoaded(): boolean {
  return iced !== undefined;
}

export type Operand =
  | { kind: 'reg'; reg: string }
  | {
      kind: 'mem';
      /** Explicit segment prefix (`fs` for Go's TLS access), null when none. */
      segment: string | null;
      base: string | null;
      index: string | null;
      scale: number;
      /** Signed displacement; for RIP-relative operands the absolute address. */
      displacement: number;
    }
  | { kind: 'imm'; value: bigint }
  | { kind: 'branch'; target: number }
  | { kind: 'other' };

export type Flow =
  | 'next'
  | 'return'
  | 'jump'
  | 'conditional-jump'
  | 'call'
  | 'indirect-jump'
  | 'indirect-call'
  | 'interrupt'
  | 'other';

export interface X86Instruction {
  address: number;
  length: number;
  /** Lower-case mnemonic: `cmp`, `jbe`, `ret`. */
  mnemonic: string;
  flow: Flow;
  /** Direct branch/call target, when the instruction has one. */
  target?: number;
  /** Condition of a `jcc`/`setcc`/`cmovcc`: `be`, `b`, `e`…; absent otherwise. */
  condition?: string;
  operands: Operand[];
  /** The raw encoding (a view into the input). */
  bytes: Uint8Array;
  /** Present when asked for (decodeFunction's `accessUpTo`): what the instruction changes and touches. */
  access?: Access;
}

export interface Access {
  /**
   * Full 64-bit names (`rax`, `rsp`, `r14`; `zmm0` for any vector register)
   * of the registers it writes, implicit operands included (`mul` writes
   * rdx and rax). Flags are not listed.
   */
  writes: string[];
  /** Whether it reads or writes memory (`lea` does neither). A read can fault, a write changes what a pointer shows. */
  memory: 'none' | 'read' | 'write';
}

function isWrite(x86: typeof Iced, access: Iced.OpAccess): boolean {
  const { OpAccess } = x86;
  return access === OpAccess.Write || access === OpAccess.CondWrite || access === OpAccess.ReadWrite || access === OpAccess.ReadCondWrite;
}

/** What `insn` writes and whether it touches memory, from iced's instruction info. */
function accessOf(x86: typeof Iced, factory: Iced.InstructionInfoFactory, insn: Iced.Instruction): Access {
  const info = factory.info(insn);
  const writes = new Set<string>();
  let memory: Access['memory'] = 'none';
  try {
    for (const used of info.usedRegisters()) {
      if (isWrite(x86, used.access)) writes.add(registerName(x86, x86.RegisterExt.fullRegister(used.register)) ?? 'none');
      used.free();
    }
    for (const used of info.usedMemory()) {
      if (isWrite(x86, used.access)) memory = 'write';
      else if (used.access !== x86.OpAccess.NoMemAccess && used.access !== x86.OpAccess.None && memory === 'none') memory = 'read';
      used.free();
    }
  } finally {
    info.free();
  }
  return { writes: [...writes], memory };
}

let flowNames: Record<number, Flow> | undefined;

function flowOf(x86: typeof Iced, flowControl: Iced.FlowControl): Flow {
  const { FlowControl } = x86;
  flowNames ??= {
    [FlowControl.Next]: 'next',
    [FlowControl.Return]: 'return',
    [FlowControl.UnconditionalBranch]: 'jump',
    [FlowControl.ConditionalBranch]: 'conditional-jump',
    [FlowControl.Call]: 'call',
    [FlowControl.IndirectBranch]: 'indirect-jump',
    [FlowControl.IndirectCall]: 'indirect-call',
    [FlowControl.Interrupt]: 'interrupt',
  };
  return flowNames[flowControl] ?? 'other';
}

const CONDITION_NAMES = ['', 'o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];

function registerName(x86: typeof Iced, reg: Iced.Register): string | null {
  return reg === x86.Register.None ? null : x86.Register[reg].toLowerCase();
}

function toNumber(value: bigint): number {
  return Number(BigInt.asIntN(64, value));
}

function operandOf(x86: typeof Iced, insn: Iced.Instruction, index: number): Operand {
  const { OpKind } = x86;
  const kind = insn.opKind(index);
  switch (kind) {
    case OpKind.Register:
      return { kind: 'reg', reg: registerName(x86, insn.opRegister(index)) ?? 'none' };
    case OpKind.Memory:
      return {
        kind: 'mem',
        segment: registerName(x86, insn.segmentPrefix),
        base: registerName(x86, insn.memoryBase),
        index: registerName(x86, insn.memoryIndex),
        scale: insn.memoryIndexScale,
        displacement: toNumber(insn.memoryDisplacement),
      };
    case OpKind.NearBranch16:
    case OpKind.NearBranch32:
    case OpKind.NearBranch64:
      return { kind: 'branch', target: toNumber(insn.nearBranchTarget) };
    case OpKind.Immediate8:
    case OpKind.Immediate16:
    case OpKind.Immediate32:
    case OpKind.Immediate64:
    case OpKind.Immediate8to16:
    case OpKind.Immediate8to32:
    case OpKind.Immediate8to64:
    case OpKind.Immediate32to64:
      return { kind: 'imm', value: BigInt.asIntN(64, insn.immediate(index)) };
    default:
      return { kind: 'other' };
  }
}

function hex(n: number): string {
  return '0x' + n.toString(16);
}

/** Checks what every analysis entry point receives; one sentence per problem. */
export function checkCodeInput(code: Uint8Array, entryAddress: number): void {
  if (!(code instanceof Uint8Array)) {
    throw new InputError('machine code must be given as a Uint8Array');
  }
  if (!Number.isSafeInteger(entryAddress) || entryAddress < 0) {
    throw new InputError(`entry address ${String(entryAddress)} is not a non-negative integer`);
  }
  if (code.length === 0) {
    throw new InputError(`the function at ${hex(entryAddress)} has no machine code to analyse`);
  }
}

/**
 * Decodes every instruction of `code`, which starts at `entryAddress`.
 * Inter-function padding (int3) decodes like any other instruction. An
 * undecodable or truncated instruction is an error: a partial listing would
 * silently miss return sites. The first `accessUpTo` instructions also get
 * `access` (what they write and touch), which costs more than decoding.
 */
export function decodeFunction(code: Uint8Array, entryAddress: number, { accessUpTo = 0 }: { accessUpTo?: number } = {}): X86Instruction[] {
  checkCodeInput(code, entryAddress);
  const x86 = loadIced();
  const decoder = new x86.Decoder(64, code, x86.DecoderOptions.None);
  const insn = new x86.Instruction();
  const factory = accessUpTo > 0 ? new x86.InstructionInfoFactory() : null;
  const out: X86Instruction[] = [];
  try {
    decoder.ip = BigInt(entryAddress);
    while (decoder.canDecode) {
      const offset = decoder.position;
      decoder.decodeOut(insn);
      const address = entryAddress + offset;
      if (insn.isInvalid) {
        throw new NotSupportedError(
          `the instruction at ${hex(address)} (offset ${offset} in the function at ${hex(entryAddress)}) cannot be decoded as x86-64`,
        );
      }
      const operands: Operand[] = [];
      for (let i = 0; i < insn.opCount; i++) operands.push(operandOf(x86, insn, i));
      const branch = operands.find((op) => op.kind === 'branch');
      const condition = CONDITION_NAMES[insn.conditionCode];
      out.push({
        address,
        length: insn.length,
        mnemonic: x86.Mnemonic[insn.mnemonic].toLowerCase(),
        flow: flowOf(x86, insn.flowControl),
        ...(branch && branch.kind === 'branch' ? { target: branch.target } : {}),
        ...(condition ? { condition } : {}),
        operands,
        bytes: code.subarray(offset, offset + insn.length),
        ...(factory && out.length < accessUpTo ? { access: accessOf(x86, factory, insn) } : {}),
      });
    }
  } finally {
    factory?.free();
    insn.free();
    decoder.free();
  }
  return out;
}
