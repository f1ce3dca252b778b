// Checks argumentLocations/resultLocations against what the Go compiler
// itself does. For each signature a caller passes package globals g<case>_<i>
// (never constants, so nothing is folded or merged) and stores the results
// into globals r<case>_<i>; `go tool compile -S` of the caller then shows
// which global bytes end up in which register or stack slot at the CALL, and
// which register or stack slot each result is read from after it. The
// expected locations therefore come from the compiler, not from our code.
//
// Toolchains: .cache/go/toolchains.json (scripts/toolchains.sh, run by npm
// run setup); without them the file fails, saying so.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { argumentLocations, resultLocations, stackArgsSize } from '../../src/spec/abi/index.js';
import type { GoType, Param } from '../../src/core/gotypes.js';
import type { GoAbi, Piece } from '../../src/core/model.js';
import { parseTypeExpr } from '../../src/spec/typeexpr.js';

interface Signature {
  title: string;
  args: string[];
  results: string[];
}

const SIGNATURES: Signature[] = [
  { title: 'the measured mix', args: ['int8', 'string', '[]int', 'interface{}', 'float64', 'complex128', '[1]int16', '[2]int', 'struct{A int8; B float32}'], results: ['int', 'float64'] },
  { title: 'int8,int16,int32', args: ['int8', 'int16', 'int32'], results: ['int8', 'int64'] },
  { title: 'int16,int32,int64', args: ['int16', 'int32', 'int64'], results: ['bool'] },
  { title: 'uint8,complex64', args: ['uint8', 'complex64'], results: ['complex64', 'uint8'] },
  { title: 'uint8,[2]uint32', args: ['uint8', '[2]uint32'], results: ['[2]uint32'] },
  { title: 'int8,struct{int8;int64},int8', args: ['int8', 'struct{A int8; B int64}', 'int8'], results: ['struct{A int8; B int64}'] },
  { title: 'int32,string,int32', args: ['int32', 'string', 'int32'], results: ['int32'] },
  { title: 'uint8,[3]uint8,uint16', args: ['uint8', '[3]uint8', 'uint16'], results: ['uint16'] },
  { title: 'bool,int64,bool,int32', args: ['bool', 'int64', 'bool', 'int32'], results: ['int32', 'bool'] },
  { title: 'pointer-shaped', args: ['*int', 'map[string]int', 'chan int', 'func()', 'error', 'uintptr'], results: ['uintptr'] },
  { title: '11 ints spill', args: [...Array(10).fill('int'), 'int8'], results: Array(11).fill('int') },
  { title: '16 floats spill', args: [...Array(16).fill('float64'), 'int'], results: ['complex128', 'float32'] },
  { title: 'complex128 spills, float64 after it does not', args: [...Array(14).fill('float32'), 'complex128', 'float64'], results: [...Array(14).fill('float64'), 'complex128', 'float32'] },
  { title: 'struct with floats', args: ['struct{A int8; B float32; C float64; D int64}', 'float32'], results: ['struct{A int8; B float32; C float64; D int64}'] },
  { title: 'nested structs', args: ['struct{P struct{X, Y int32}; Q [1]struct{S string}}', 'int16'], results: ['struct{P struct{X, Y int32}; Q [1]int64}'] },
  { title: 'zero-size fields', args: ['struct{A struct{}; B int16; C [0]int64; D [1]uint8}', 'uint8'], results: ['struct{A struct{}; B int16; C [0]int64; D [1]uint8}'] },
  { title: 'too big for the registers left', args: [...Array(7).fill('int'), '[]int', 'int8', 'string', 'int', 'int16'], results: ['int16'] },
  { title: 'no int register left for a mixed struct', args: [...Array(9).fill('int'), 'struct{A int8; B float32}', 'float64'], results: ['float64'] },
  { title: 'zero-size arguments', args: ['[2]int8', '[0]int64', '[2]int8', 'struct{}', 'int8'], results: ['int8'] },
  { title: 'arrays of 1 and 2', args: ['[1]string', '[2]int8', '[1]float64', '[2]float32'], results: ['[1]int32', '[2]int8'] },
];

interface Toolchain {
  version: string;
  goroot: string;
  abi: GoAbi;
}

function findToolchains(): Toolchain[] {
  const found = new Map<string, string>();
  const listed = join(process.cwd(), '.cache/go/toolchains.json');
  if (existsSync(listed)) {
    for (const t of JSON.parse(readFileSync(listed, 'utf8')).toolchains as { toolchain: string; goroot: string }[]) {
      found.set(t.toolchain, t.goroot);
    }
  }
  return [...found]
    .filter(([, goroot]) => existsSync(join(goroot, 'bin/go')))
    .map(([version, goroot]) => ({ version, goroot, abi: Number(version.split('.')[1]) < 17 ? 'stack' : 'register' }));
}

function params(types: string[]): Param[] {
  return types.map((t, i) => ({ name: `p${i}`, type: parseTypeExpr(t) }));
}

function hasPointers(t: GoType): boolean {
  switch (t.kind) {
    case 'string': case 'slice': case 'interface': case 'pointer': case 'map': case 'chan': case 'func': case 'opaque': return true;
    case 'array': return t.len > 0 && hasPointers(t.elem);
    case 'struct': return t.fields.some((f) => hasPointers(f.type));
    default: return false;
  }
}

/** The Go program: globals for every argument and result, one callee and one caller per signature. */
function goSource(): string {
  const out = ['package main', ''];
  SIGNATURES.forEach((sig, c) => {
    const args = params(sig.args);
    const results = params(sig.results);
    args.forEach((p, i) => out.push(`var g${c}_${i} ${p.type.name}`));
    results.forEach((p, i) => out.push(`var r${c}_${i} ${p.type.name}`));
    out.push('//go:noinline');
    out.push(`func f${c}(${args.map((p, i) => `p${i} ${p.type.name}`).join(', ')}) (${results.map((p, i) => `o${i} ${p.type.name}`).join(', ')}) { return }`);
    const xs = results.map((_, i) => `x${i}`);
    const call = `f${c}(${args.map((_, i) => `g${c}_${i}`).join(', ')})`;
    out.push(`func c${c}() {`);
    out.push(xs.length ? `\t${xs.join(', ')} := ${call}` : `\t${call}`);
    xs.forEach((x, i) => out.push(`\tr${c}_${i} = ${x}`));
    out.push('}', '');
  });
  out.push(`func main() {\n${SIGNATURES.map((_, c) => `\tc${c}()`).join('\n')}\n}`);
  return out.join('\n') + '\n';
}

// ---- reading `go tool compile -S` output ----

/** What a register or stack byte holds: a byte of a global, of a result register, or of a stack slot. */
type Source = { from: 'global'; sym: string; off: number } | { from: 'reg'; reg: string; off: number } | { from: 'stack'; off: number };
type RegValue = { base: Source; width: number };

const BYTE_REGS: Record<string, string> = { AL: 'AX', BL: 'BX', CL: 'CX', DL: 'DX', SIB: 'SI', DIB: 'DI', BPB: 'BP' };

function regName(op: string): string | null {
  if (BYTE_REGS[op]) return BYTE_REGS[op]!;
  let m = /^(R\d+)[BWL]?$/.exec(op);
  if (m) return m[1]!;
  m = /^(AX|BX|CX|DX|SI|DI|BP|X\d+)$/.exec(op);
  return m ? m[1]! : null;
}

function globalOperand(op: string): { sym: string; off: number } | null {
  const m = /^(?:""|main)\.(\w+)(?:\+(\d+))?\(SB\)$/.exec(op);
  return m ? { sym: m[1]!, off: Number(m[2] ?? 0) } : null;
}

/** `16(SP)`: an outgoing argument slot; `main..autotmp_6+136(SP)`: a local of the caller (named). */
function stackOperand(op: string): { off: number; local: boolean } | null {
  const m = /^(?:([^()]*?)\+)?(\d*)\(SP\)$/.exec(op);
  if (!m) return null;
  return { off: Number(m[2] || 0), local: m[1] !== undefined };
}

function moveWidth(opcode: string): number | null {
  if (/^MOV(B|BLZX|BLSX|BQZX|BQSX)$/.test(opcode)) return 1;
  if (/^MOV(W|WLZX|WLSX|WQZX|WQSX)$/.test(opcode)) return 2;
  if (/^(MOVL|MOVLQZX|MOVLQSX|MOVSS)$/.test(opcode)) return 4;
  if (/^(MOVQ|MOVSD)$/.test(opcode)) return 8;
  if (/^(MOVUPS|MOVOU)$/.test(opcode)) return 16;
  return null;
}

function shift(s: Source, by: number): Source {
  return { ...s, off: s.off + by };
}

interface CallSite {
  /** Per register at the CALL: what it holds. */
  regs: Map<string, RegValue>;
  /** Per byte of the outgoing argument area (caller's SP = callee's sp+8). */
  stack: Map<number, Source>;
  /** Per result global byte: where it was read from after the CALL. */
  results: Map<string, Map<number, Source>>;
  /** The callee's `args=` size from its STEXT header. */
  calleeArgs: number;
}

function functionText(asm: string, name: string): string[] {
  const lines = asm.split('\n');
  const start = lines.findIndex((l) => new RegExp(`^(?:""|main)\\.${name} STEXT`).test(l));
  if (start < 0) throw new Error(`no ${name} in the compiler output`);
  const out: string[] = [lines[start]!];
  for (let i = start + 1; i < lines.length && lines[i]!.startsWith('\t'); i++) out.push(lines[i]!);
  return out;
}

function readCallSite(asm: string, c: number): CallSite {
  const calleeHeader = functionText(asm, `f${c}`)[0]!;
  const calleeArgs = parseInt(/args=0x([0-9a-f]+)/.exec(calleeHeader)![1]!, 16);
  const regs = new Map<string, RegValue>();
  // Every byte below SP written so far (argument slots and the caller's own temporaries).
  let stack = new Map<number, Source>();
  let outgoing = new Set<number>();
  let atCall: Map<string, RegValue> | null = null;
  let argStack: Map<number, Source> | null = null;
  const results = new Map<string, Map<number, Source>>();
  for (const line of functionText(asm, `c${c}`)) {
    const m = /\(\S+:\d+\)\t(\S+)(?:\t(.*))?$/.exec(line);
    if (!m) continue;
    const opcode = m[1]!;
    const ops = (m[2] ?? '').split(', ').map((s) => s.trim());
    if (opcode === 'CALL' && ops[0] === `${asm.includes('"".') ? '""' : 'main'}.f${c}(SB)`) {
      atCall = new Map(regs);
      argStack = new Map([...stack].filter(([at]) => outgoing.has(at)));
      // After the call every register holds a result register's bytes; stack bytes are read on demand.
      regs.clear();
      for (const r of ['AX', 'BX', 'CX', 'DI', 'SI', 'R8', 'R9', 'R10', 'R11', ...Array.from({ length: 15 }, (_, i) => `X${i}`)]) {
        regs.set(r, { base: { from: 'reg', reg: r, off: 0 }, width: 16 });
      }
      stack = new Map();
      outgoing = new Set();
      continue;
    }
    const width = moveWidth(opcode);
    const [src, dst] = ops;
    if (width === null || ops.length !== 2) {
      const r = regName(ops[ops.length - 1] ?? '');
      if (r) regs.delete(r);
      continue;
    }
    const dstReg = regName(dst!);
    const srcReg = regName(src!);
    const srcGlobal = globalOperand(src!);
    const srcStack = stackOperand(src!);
    if (dstReg) {
      if (srcGlobal) regs.set(dstReg, { base: { from: 'global', ...srcGlobal }, width });
      else if (srcStack !== null && stack.has(srcStack.off)) regs.set(dstReg, { base: stack.get(srcStack.off)!, width });
      else if (srcStack !== null && atCall && !srcStack.local) regs.set(dstReg, { base: { from: 'stack', off: srcStack.off }, width });
      else if (srcReg && regs.has(srcReg)) regs.set(dstReg, { base: regs.get(srcReg)!.base, width: Math.min(width, regs.get(srcReg)!.width) });
      else regs.delete(dstReg);
      continue;
    }
    const value = srcReg ? regs.get(srcReg) : undefined;
    const dstStack = stackOperand(dst!);
    const dstGlobal = globalOperand(dst!);
    if (dstStack !== null && value) {
      for (let b = 0; b < Math.min(width, value.width); b++) {
        stack.set(dstStack.off + b, shift(value.base, b));
        if (!dstStack.local) outgoing.add(dstStack.off + b);
      }
    } else if (dstGlobal && atCall && value) {
      const bytes = results.get(dstGlobal.sym) ?? new Map<number, Source>();
      for (let b = 0; b < Math.min(width, value.width); b++) bytes.set(dstGlobal.off + b, shift(value.base, b));
      results.set(dstGlobal.sym, bytes);
    }
  }
  if (!atCall || !argStack) throw new Error(`no call of f${c} in c${c}`);
  return { regs: atCall, stack: argStack, results, calleeArgs };
}

// ---- comparing ----

const GO_REG: Record<string, string> = { ax: 'AX', bx: 'BX', cx: 'CX', di: 'DI', si: 'SI', r8: 'R8', r9: 'R9', r10: 'R10', r11: 'R11' };

function pieceRegister(p: Piece): string | null {
  if (p.location.kind === 'reg') return GO_REG[p.location.reg]!;
  if (p.location.kind === 'freg') return `X${p.location.reg}`;
  return null;
}

function describeSource(s: Source | undefined): string {
  if (!s) return 'nothing';
  if (s.from === 'global') return `${s.sym}+${s.off}`;
  if (s.from === 'reg') return `${s.reg}+${s.off}`;
  return `stack+${s.off}`;
}

/** Mismatches between our argument pieces and the call site, as readable lines. */
function argumentMismatches(site: CallSite, c: number, args: Param[], abi: GoAbi): string[] {
  const problems: string[] = [];
  const predictedStack = new Set<number>();
  argumentLocations(args, abi).forEach((loc, i) => {
    const sym = `g${c}_${i}`;
    for (const p of loc.pieces) {
      const reg = pieceRegister(p);
      if (reg) {
        const held = site.regs.get(reg);
        const ok = held && held.base.from === 'global' && held.base.sym === sym && held.base.off === p.offset && held.width >= p.size;
        if (!ok) problems.push(`p${i} bytes ${p.offset}..${p.offset + p.size}: we say ${reg}, it holds ${describeSource(held?.base)}`);
        continue;
      }
      if (p.location.kind !== 'stack') continue;
      let stored = 0;
      for (let b = 0; b < p.size; b++) {
        const at = p.location.offset + b;
        predictedStack.add(at);
        const s = site.stack.get(at);
        if (!s) continue;
        stored++;
        if (s.from !== 'global' || s.sym !== sym || s.off !== p.offset + b) {
          problems.push(`p${i} byte ${p.offset + b}: we say stack ${at}, it holds ${describeSource(s)}`);
        }
      }
      if (stored === 0) problems.push(`p${i}: we say stack ${p.location.offset}..${p.location.offset + p.size}, the caller stores nothing there`);
    }
  });
  const argsSize = stackArgsSize(args, abi);
  for (const [at, s] of site.stack) {
    if (at < argsSize && !predictedStack.has(at) && s.from === 'global') problems.push(`stack byte ${at} holds ${describeSource(s)}, which we put elsewhere`);
    if (at >= argsSize && s.from === 'global' && /^g\d+_/.test(s.sym)) problems.push(`stack byte ${at} (past our ${argsSize}-byte argument area) holds ${describeSource(s)}`);
  }
  return problems;
}

function resultMismatches(site: CallSite, c: number, args: Param[], results: Param[], abi: GoAbi): string[] {
  const problems: string[] = [];
  resultLocations(args, results, abi).forEach((loc, i) => {
    if (hasPointers(loc.param.type)) return; // stored through write barriers: not traced here
    const bytes = site.results.get(`r${c}_${i}`) ?? new Map<number, Source>();
    for (const p of loc.pieces) {
      const reg = pieceRegister(p);
      let seen = 0;
      for (let b = 0; b < p.size; b++) {
        const s = bytes.get(p.offset + b);
        if (!s) continue;
        seen++;
        const ok = reg
          ? s.from === 'reg' && s.reg === reg && s.off === b
          : s.from === 'stack' && p.location.kind === 'stack' && s.off === p.location.offset + b;
        if (!ok) problems.push(`result ${i} byte ${p.offset + b}: we say ${reg ?? `stack ${(p.location as { offset: number }).offset + b}`}, it was read from ${describeSource(s)}`);
      }
      if (seen === 0) problems.push(`result ${i} bytes ${p.offset}..${p.offset + p.size}: nothing was stored from there`);
    }
  });
  return problems;
}

// ---- the tests ----

const toolchains = findToolchains();
if (!toolchains.some((t) => t.abi === 'stack') || !toolchains.some((t) => t.abi === 'register')) {
  throw new Error('the ABI check needs the project toolchains of both ABIs (.cache/go/toolchains.json): run npm run setup');
}
const workDir = mkdtempSync(join(tmpdir(), 'weaver-abi-'));
// WEAVER_KEEP_ABI_DIR=1 keeps the Go source and the compiler output for a look.
afterAll(() => {
  if (!process.env.WEAVER_KEEP_ABI_DIR) rmSync(workDir, { recursive: true, force: true });
});

const asmCache = new Map<string, string>();
function compilerOutput(tc: Toolchain): string {
  let asm = asmCache.get(tc.version);
  if (asm === undefined) {
    const src = join(workDir, 'abi.go');
    writeFileSync(src, goSource());
    asm = execFileSync(join(tc.goroot, 'bin/go'), ['tool', 'compile', '-p', 'main', '-S', '-o', join(workDir, `abi-${tc.version}.o`), src], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      env: { ...process.env, GOROOT: tc.goroot },
    });
    writeFileSync(join(workDir, `abi-${tc.version}.s`), asm);
    asmCache.set(tc.version, asm);
  }
  return asm;
}

test('at least the stack-ABI and a register-ABI toolchain are here', () => {
  expect(toolchains.map((t) => t.abi)).toEqual(expect.arrayContaining(['stack', 'register']));
});

describe.each(toolchains)('Go $version ($abi ABI): the compiler agrees', (tc) => {
  test.each(SIGNATURES.map((s, c) => [s.title, c] as const))('%s', (_, c) => {
    const sig = SIGNATURES[c]!;
    const args = params(sig.args);
    const results = params(sig.results);
    const site = readCallSite(compilerOutput(tc), c);
    expect([...argumentMismatches(site, c, args, tc.abi), ...resultMismatches(site, c, args, results, tc.abi)]).toEqual([]);
    if (tc.abi === 'stack') {
      // ABI0: the callee's argument size covers arguments and results.
      const end = Math.max(stackArgsSize(args, 'stack'), ...resultLocations(args, results, 'stack').map((l) => {
        const p = l.pieces[0];
        return p && p.location.kind === 'stack' ? p.location.offset + p.size : 0;
      }));
      expect(site.calleeArgs).toBe(Math.ceil(end / 8) * 8);
    }
  });
});
