// RET sites, deferreturn call sites and entry probe points of real Go
// builds, checked against `go tool objdump` of the same binary.

import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCallSites, findReturnSites } from '../../src/binary/x86/returns.js';
import { chooseEntryProbe, type ProbePoint } from '../../src/binary/x86/prologue.js';
import { kernelEmulates } from '../../src/binary/x86/emulation.js';
import type { GoAbi } from '../../src/core/model.js';
import { TinyElf, availableToolchains, buildFixture, gnuObjdumpReturns, objdump, type ObjdumpLine, type Toolchain } from './x86-fixture.js';

/** What Go's disassembler says about one function. */
interface Oracle {
  rets: number[];
  deferreturnCalls: number[];
  probe:
    | { kind: 'entry'; traps: 1 | 2 }
    | { kind: 'first-emulated'; address: number }
    | { kind: 'after-stack-check'; address: number; jump: string; comparison?: { register: string; spOffset: number; gRegister: string } };
}

/** Go's names of the registers the entry record reads (argument registers, RDX, g, SP, and BP, where --stack starts its walk). */
const ENTRY_STATE_REGS = new Set(['AX', 'BX', 'CX', 'DX', 'DI', 'SI', 'R8', 'R9', 'R10', 'R11', 'R14', 'SP', 'BP']);
/** Go mnemonics whose only effect is their last operand (and flags); anything else ends the search. */
const WRITES_LAST_OPERAND = /^(MOV|ADD|SUB|AND|OR|XOR|LEA|INC|DEC|NEG|NOT|SHL|SHR|SAR)[A-Z]*$/;

/** The instruction as the kernel would take it (kernelEmulates on its bytes), if its Go text is a plain direct branch, nop or register push. */
function emulatedInGo(l: ObjdumpLine): boolean {
  // Direct branches print their target as an address or a symbol; Go 1.15 prints a 64-bit push as PUSHL.
  const plain = /^((J[A-Z]+|CALL) (0x[0-9a-f]+|[^(]*\(SB\))|NOP[A-Z]*\b.*|PUSH[LQ] [A-Z0-9]+)$/.test(l.text);
  return plain && kernelEmulates(Buffer.from(l.bytes, 'hex')).emulated;
}

/** True when the Go text shows an instruction that touches no memory and writes none of ENTRY_STATE_REGS. */
function harmlessInGo(l: ObjdumpLine): boolean {
  const [op, ...rest] = l.text.split(' ');
  const operands = rest.join(' ').split(', ');
  if (/^(CMP|TEST|BT)[A-Z]*$/.test(op)) return !l.text.includes('(');
  const dst = operands[operands.length - 1];
  // Vector registers: the float arguments in X0–X14 are not read at a uprobe (pt_regs has none).
  if (/^X\d+$/.test(dst)) return !l.text.includes('(');
  if (!WRITES_LAST_OPERAND.test(op)) return false;
  // LEA computes an address without touching memory; every other memory operand is an access.
  const touches = op.startsWith('LEA') ? dst.includes('(') : l.text.includes('(');
  return !touches && /^[A-Z][A-Z0-9]*$/.test(dst) && !ENTRY_STATE_REGS.has(dst);
}

/** No stack check: the first emulated instruction reached through harmless ones with no jump landing among them, else the entry. */
function leafOracle(lines: ObjdumpLine[]): Oracle['probe'] {
  const targets = new Set(lines.flatMap((l) => /^J[A-Z]+ 0x([0-9a-f]+)$/.exec(l.text)?.slice(1).map((t) => parseInt(t, 16)) ?? []));
  const entry: Oracle['probe'] = { kind: 'entry', traps: lines.length > 0 && emulatedInGo(lines[0]) ? 1 : 2 };
  for (let i = 0; i < lines.length && i < 16; i++) {
    if (i > 0 && targets.has(lines[i].address)) return entry;
    if (emulatedInGo(lines[i])) return i === 0 ? entry : { kind: 'first-emulated', address: lines[i].address };
    if (!harmlessInGo(lines[i])) return entry;
  }
  return entry;
}

/** x86 semantics of the jumps Go uses: flags of which any set makes the jump taken. */
const TAKEN_IF_ANY: Record<string, number> = { JBE: 0x41, JLS: 0x41, JB: 0x01, JCS: 0x01, JE: 0x40, JEQ: 0x40 };

const GO_REGS: Record<string, string> = { SP: 'sp', AX: 'ax', CX: 'cx', R12: 'r12', R14: 'r14', SI: 'si' };

/** objdump prints `-0x60` or, in some versions, the 32-bit two's complement `0xffffffa0`. */
function int32(text: string): number {
  return text.startsWith('-') ? -parseInt(text.slice(1), 16) : parseInt(text, 16) | 0;
}

function oracleOf(lines: ObjdumpLine[], entry: number): Oracle {
  const rets = lines.filter((l) => /^RET\b/.test(l.text)).map((l) => l.address);
  const deferreturnCalls = lines.filter((l) => /^CALL runtime\.deferreturn(\.abi0)?\(SB\)$/.test(l.text)).map((l) => l.address);
  const morestack = lines.findIndex((l) => /^CALL runtime\.morestack(_noctxt|c)?(\.abi0)?\(SB\)$/.test(l.text));
  if (morestack < 0) return { rets, deferreturnCalls, probe: leafOracle(lines) };
  // The slow path is the call, after register spills (MOV*) and alignment
  // padding (NOP*); the stack check jumps somewhere into that run.
  const slowPath = new Set([lines[morestack].address]);
  for (let i = morestack - 1; i >= 0 && /^(MOV|NOP)/.test(lines[i].text); i--) slowPath.add(lines[i].address);
  const checkIndex = lines.findLastIndex((l) => {
    const m = /^(J(?!MP)[A-Z]+) 0x([0-9a-f]+)$/.exec(l.text);
    return m !== null && slowPath.has(parseInt(m[2], 16));
  });
  if (checkIndex < 0) throw new Error(`no jump to the morestack call at 0x${lines[morestack].address.toString(16)}`);
  const jumpText = lines[checkIndex].text.split(' ')[0];
  const probe: Oracle['probe'] = { kind: 'after-stack-check', address: lines[checkIndex].address, jump: jumpText };
  // Go syntax: CMPQ 0x10(R14), SP (≤1.21) or CMPQ SP, 0x10(R14) (1.22+).
  const cmp = /^CMPQ (\S+), (\S+)$/.exec(lines[checkIndex - 1].text);
  if (cmp) {
    const ops = [cmp[1], cmp[2]];
    const guard = ops.map((o) => /^0x10\((\w+)\)$/.exec(o)).find((m) => m !== null);
    const reg = ops.find((o) => /^[A-Z][A-Z0-9]*$/.test(o));
    if (guard && reg) {
      let spOffset = 0;
      if (reg !== 'SP') {
        // Follow how the prologue derived the compared register from SP.
        for (const l of lines.slice(0, checkIndex - 1)) {
          const lea = new RegExp(`^LEAQ (-?0x[0-9a-f]+)?\\(SP\\), ${reg}$`).exec(l.text);
          const mov = new RegExp(`^MOVQ SP, ${reg}$`).exec(l.text);
          const sub = new RegExp(`^SUBQ \\$0x([0-9a-f]+), ${reg}$`).exec(l.text);
          if (lea) spOffset = lea[1] ? int32(lea[1].replace('0x', '')) : 0;
          else if (mov) spOffset = 0;
          else if (sub) spOffset -= parseInt(sub[1], 16);
        }
      }
      probe.comparison = { register: GO_REGS[reg], spOffset, gRegister: GO_REGS[guard[1]] };
    }
  }
  return { rets, deferreturnCalls, probe };
}

function expectProbeMatches(actual: ProbePoint, oracle: Oracle['probe'], entry: number): void {
  if (oracle.kind === 'entry') {
    expect(actual).toMatchObject({ kind: 'entry', address: entry, offset: 0, traps: oracle.traps });
    return;
  }
  if (oracle.kind === 'first-emulated') {
    expect(actual).toMatchObject({ kind: 'first-emulated', address: oracle.address, offset: oracle.address - entry, traps: 1 });
    return;
  }
  expect(actual.kind).toBe('after-stack-check');
  expect(actual.address).toBe(oracle.address);
  expect(actual.offset).toBe(oracle.address - entry);
  expect(actual.stackGuardCheck?.failFlagsMask).toBe(TAKEN_IF_ANY[oracle.jump]);
  if (oracle.comparison) {
    expect(actual.stackGuardCheck?.comparison).toEqual({ ...oracle.comparison, guardOffset: 0x10 });
  } else {
    expect(actual.stackGuardCheck?.comparison).toBeUndefined();
  }
}

/** The prologue form Go emits for each fixture function; for a function without a stack check, where its probe goes. */
type Form = { register: string; spOffsetSign: 'zero' | 'negative' } | 'flags-only' | { leaf: 'entry' | 'first-emulated' };
/** Stack-ABI leaves load their arguments from the stack first: a memory read, which keeps the probe at the entry. */
const compareFirst = (abi: GoAbi): Form => ({ leaf: abi === 'register' ? 'first-emulated' : 'entry' });
const FORMS: Record<string, (abi: GoAbi) => Form> = {
  'main.multiRet': compareFirst,
  'main.leafBranch': compareFirst,
  'main.leaf': () => ({ leaf: 'entry' }),
  'main.leafSum': () => ({ leaf: 'entry' }),
  'main.withDefer': () => ({ register: 'sp', spOffsetSign: 'zero' }),
  'main.c3Imm': () => ({ register: 'sp', spOffsetSign: 'zero' }),
  // Frames over 128 bytes: lea reg, [rsp-(frame-128)]; cmp reg, [g+0x10].
  'main.manyArgs': (abi) => ({ register: abi === 'register' ? 'r12' : 'ax', spOffsetSign: 'negative' }),
  'main.medFrame': (abi) => ({ register: abi === 'register' ? 'r12' : 'ax', spOffsetSign: 'negative' }),
  // Frames over 4 KiB: mov r12, rsp; sub r12, N; jb; cmp r12, [r14+0x10] (register ABI);
  // Go ≤1.16 compares sp - stackguard0 with a constant instead.
  'main.bigFrame': (abi) => (abi === 'register' ? { register: 'r12', spOffsetSign: 'negative' } : 'flags-only'),
};

const toolchains = availableToolchains();
/**
 * Default builds with every toolchain, plus a PIE build with the stack ABI,
 * where g is loaded from TLS through a register (`mov rcx, -8; mov rcx, fs:[rcx]`).
 */
const builds = [
  ...toolchains.map((tc) => ({ ...tc, label: 'default', buildArgs: [] as string[] })),
  ...toolchains.filter((tc) => tc.version === '1.15').map((tc) => ({ ...tc, label: 'PIE', buildArgs: ['-buildmode=pie'] })),
];

describe.each(builds)('Go $version $label build', (tc: Toolchain & { buildArgs: string[] }) => {
  const abi: GoAbi = Number(tc.version.split('.')[1]) >= 17 ? 'register' : 'stack';
  let elf: TinyElf;
  let dump: Map<string, ObjdumpLine[]>;

  let gnuReturns: Map<string, number[]> | null;
  let bin = '';

  beforeAll(() => {
    bin = buildFixture(tc, tc.buildArgs);
    elf = new TinyElf(bin);
    dump = objdump(tc, bin);
    gnuReturns = gnuObjdumpReturns(bin);
  });
  afterAll(() => {
    if (bin) rmSync(dirname(bin), { recursive: true, force: true });
  });

  it.each(Object.keys(FORMS))('%s: RETs, deferreturn calls and probe point match objdump', (name) => {
    const { address, code } = elf.function(name);
    const oracle = oracleOf(dump.get(name)!, address);
    expect(findReturnSites(code, address)).toEqual(oracle.rets);
    expect(findCallSites(code, address, elf.address('runtime.deferreturn'))).toEqual(oracle.deferreturnCalls);
    const probe = chooseEntryProbe(code, address, abi);
    expectProbeMatches(probe, oracle.probe, address);

    // The fixture must exercise the form it is meant to, or the match above proves little.
    const form = FORMS[name](abi);
    if (typeof form === 'object' && 'leaf' in form) {
      expect(probe.kind).toBe(form.leaf);
      if (form.leaf === 'entry') expect(probe.traps).toBe(2);
    } else if (form === 'flags-only') {
      expect(probe.stackGuardCheck).toEqual({ jump: 'jbe', failFlagsMask: 0x41 });
    } else {
      const cmp = probe.stackGuardCheck?.comparison;
      expect(cmp?.register).toBe(form.register);
      expect(cmp?.gRegister).toBe(abi === 'register' ? 'r14' : 'cx');
      if (form.spOffsetSign === 'zero') expect(cmp?.spOffset).toBe(0);
      else expect(cmp?.spOffset).toBeLessThan(0);
    }
  });

  it('main.multiRet has several RETs and main.withDefer calls deferreturn', () => {
    const multi = elf.function('main.multiRet');
    expect(findReturnSites(multi.code, multi.address).length).toBe(5);
    const withDefer = elf.function('main.withDefer');
    expect(findCallSites(withDefer.code, withDefer.address, elf.address('runtime.deferreturn'))).toHaveLength(1);
  });

  it('main.c3Imm holds 0xc3 bytes that are not RETs, and none is reported', () => {
    const { address, code } = elf.function('main.c3Imm');
    const c3Bytes = [...code].filter((b) => b === 0xc3).length;
    const rets = findReturnSites(code, address);
    expect(c3Bytes).toBeGreaterThan(rets.length);
    expect(rets).toEqual(oracleOf(dump.get('main.c3Imm')!, address).rets);
  });

  it('every function in the binary: RET sites match GNU objdump, probe points match go tool objdump', () => {
    if (gnuReturns === null) throw new Error('GNU objdump (binutils) is needed as the RET oracle for assembly functions');
    let compared = 0;
    let probedAfterCheck = 0;
    let probedFirstEmulated = 0;
    const mismatches: string[] = [];
    for (const [name, lines] of dump) {
      const sym = elf.symbols.get(name);
      if (!sym || sym.size === 0 || lines.length === 0) continue;
      const { address, code } = elf.function(name);
      const oracle = oracleOf(lines, address);
      const rets = findReturnSites(code, address);
      const expectedRets = gnuReturns.get(name);
      if (expectedRets === undefined) mismatches.push(`${name}: not in GNU objdump's listing`);
      else if (JSON.stringify(rets) !== JSON.stringify(expectedRets)) mismatches.push(`${name}: RETs ${rets} vs ${expectedRets}`);
      // Assembly (ABI0) functions in register-ABI binaries load g from TLS: their stack ABI applies.
      const probe = chooseEntryProbe(code, address, name.endsWith('.abi0') ? 'stack' : abi);
      const o = oracle.probe;
      const same =
        o.kind === 'entry'
          ? probe.kind === 'entry' && probe.traps === o.traps
          : o.kind === 'first-emulated'
            ? probe.kind === 'first-emulated' && probe.address === o.address
            : probe.kind === 'after-stack-check' && probe.address === o.address && probe.stackGuardCheck?.failFlagsMask === TAKEN_IF_ANY[o.jump];
      if (!same) mismatches.push(`${name}: probe ${JSON.stringify(probe)} vs ${JSON.stringify(o)}`);
      if (probe.kind === 'after-stack-check') probedAfterCheck++;
      if (probe.kind === 'first-emulated') probedFirstEmulated++;
      compared++;
    }
    if (process.env.X86_DEBUG) console.log(mismatches.join('\n'));
    expect(mismatches).toEqual([]);
    expect(compared).toBeGreaterThan(1000);
    expect(probedAfterCheck).toBeGreaterThan(compared / 3);
    // The runtime has leaf functions that compare, then branch (Go 1.17+: arguments in registers; Go 1.15 loads them from the stack first).
    if (abi === 'register') expect(probedFirstEmulated).toBeGreaterThan(5);
  });
});

describe('toolchains', () => {
  it('at least Debian 12 Go 1.19 is available to build the fixtures', () => {
    expect(toolchains.map((t) => t.version)).toContain('1.19');
  });
});
