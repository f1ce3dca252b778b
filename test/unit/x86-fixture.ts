// Test support for the x86 analysis tests: builds a small Go program with
// each available toolchain, reads function bytes from the ELF, and parses
// `go tool objdump` (the oracle) for the same functions.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const GO_SOURCE = `package main

import (
	"fmt"
	"os"
)

//go:noinline
func multiRet(x int) int {
	if x > 10 {
		return x * 3
	}
	if x < 0 {
		return -x
	}
	switch x {
	case 1:
		return 7
	case 2:
		return 9
	}
	return x + 1
}

//go:noinline
func withDefer(x int) (r int) {
	defer func() { r += len(os.Args) }()
	if x > 5 {
		fmt.Println("big")
		return x
	}
	return x * 2
}

//go:noinline
func leaf(a, b int) int {
	return a*b + 3
}

// No stack check, and an argument register changes before anything the kernel emulates.
//go:noinline
func leafSum(n int, s string) int { return n + len(s) }

// No stack check; under the register ABI it compares an argument and branches
// first (a string argument would be spilled to the stack before that).
//go:noinline
func leafBranch(n, m int) int {
	if n > 100 {
		return n * m
	}
	return m - n
}

//go:noinline
func medFrame(n int) int {
	var buf [1000]byte
	for i := range buf {
		buf[i] = byte(i * n)
	}
	s := 0
	for _, b := range buf {
		s += int(b)
	}
	return s
}

//go:noinline
func bigFrame(n int) int {
	var buf [20000]byte
	for i := range buf {
		buf[i] = byte(i * n)
	}
	s := 0
	for _, b := range buf {
		s += int(b)
	}
	return s
}

//go:noinline
func c3Imm(x int) int {
	x += 0xc3
	x ^= 0x12c3
	y := x * 0xc3c3c3
	fmt.Sprint(y)
	return y
}

//go:noinline
func manyArgs(a, b, c, d, e, f, g, h, i int, s string, x, y float64) (int, string) {
	fmt.Sprint(a, b, c, d, e, f, g, h, i, x, y)
	return a + i, s
}

func main() {
	fmt.Println(multiRet(len(os.Args)), withDefer(len(os.Args)), leaf(2, 3), medFrame(2), bigFrame(3), c3Imm(1), leafSum(1, "a"), leafBranch(2, 3))
	fmt.Println(manyArgs(1, 2, 3, 4, 5, 6, 7, 8, 9, "s", 1.5, 2.5))
}
`;

export interface Toolchain {
  version: string;
  goBinary: string;
}

const ROOT = resolve(import.meta.dirname, '../..');

/** The project's toolchains (scripts/toolchains.sh, run by npm run setup). */
export function availableToolchains(): Toolchain[] {
  const found = new Map<string, string>();
  const manifest = join(ROOT, '.cache/go/toolchains.json');
  if (existsSync(manifest)) {
    const parsed = JSON.parse(readFileSync(manifest, 'utf8')) as { toolchains: { toolchain: string; goroot: string }[] };
    for (const t of parsed.toolchains) found.set(t.toolchain, join(t.goroot, 'bin/go'));
  }
  if (found.size === 0) throw new Error('no Go toolchains in .cache/go/toolchains.json: run npm run setup');
  return [...found]
    .filter(([, bin]) => existsSync(bin))
    .map(([version, goBinary]) => ({ version, goBinary }))
    .sort((a, b) => Number(a.version.split('.')[1]) - Number(b.version.split('.')[1]));
}

/** Builds GO_SOURCE with one toolchain into a fresh temp dir; returns the binary path. */
export function buildFixture(tc: Toolchain, buildArgs: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), `weaver-x86-${tc.version}-`));
  writeFileSync(join(dir, 'main.go'), GO_SOURCE);
  writeFileSync(join(dir, 'go.mod'), 'module example.com/x86fixture\n\ngo 1.15\n');
  const out = join(dir, 'prog');
  execFileSync(tc.goBinary, ['build', ...buildArgs, '-o', out, '.'], {
    cwd: dir,
    env: { ...process.env, GOFLAGS: '-mod=mod', GOCACHE: join(tmpdir(), `weaver-x86-gocache-${tc.version}`), HOME: tmpdir(), GO111MODULE: 'on', GOTOOLCHAIN: 'local' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return out;
}

export interface ElfSymbolBytes {
  address: number;
  code: Uint8Array;
}

/** Minimal ELF64 reader: function symbols from .symtab and their bytes from the section holding them. */
export class TinyElf {
  private readonly buf: Buffer;
  private readonly sections: { name: string; type: number; addr: number; offset: number; size: number; link: number }[] = [];
  readonly symbols = new Map<string, { address: number; size: number }>();

  constructor(path: string) {
    this.buf = readFileSync(path);
    const b = this.buf;
    const shoff = Number(b.readBigUInt64LE(0x28));
    const shentsize = b.readUInt16LE(0x3a);
    const shnum = b.readUInt16LE(0x3c);
    const shstrndx = b.readUInt16LE(0x3e);
    const raw = [];
    for (let i = 0; i < shnum; i++) {
      const o = shoff + i * shentsize;
      raw.push({
        nameOff: b.readUInt32LE(o),
        type: b.readUInt32LE(o + 4),
        addr: Number(b.readBigUInt64LE(o + 0x10)),
        offset: Number(b.readBigUInt64LE(o + 0x18)),
        size: Number(b.readBigUInt64LE(o + 0x20)),
        link: b.readUInt32LE(o + 0x28),
      });
    }
    const strtab = raw[shstrndx];
    for (const s of raw) this.sections.push({ ...s, name: this.cstr(strtab.offset + s.nameOff) });
    const symtab = this.sections.find((s) => s.type === 2);
    if (!symtab) throw new Error(`${path} has no .symtab`);
    const names = this.sections[symtab.link];
    for (let o = symtab.offset; o < symtab.offset + symtab.size; o += 24) {
      const name = this.cstr(names.offset + b.readUInt32LE(o));
      const info = b[o + 4];
      if ((info & 0xf) !== 2) continue; // STT_FUNC
      this.symbols.set(name, { address: Number(b.readBigUInt64LE(o + 8)), size: Number(b.readBigUInt64LE(o + 16)) });
    }
  }

  private cstr(at: number): string {
    const end = this.buf.indexOf(0, at);
    return this.buf.toString('latin1', at, end);
  }

  /** The bytes of function `name` (its .symtab size). */
  function(name: string): ElfSymbolBytes {
    const sym = this.symbols.get(name);
    if (!sym) throw new Error(`no symbol ${name}`);
    const sec = this.sections.find((s) => s.type === 1 && sym.address >= s.addr && sym.address < s.addr + s.size);
    if (!sec) throw new Error(`no section holds ${name}`);
    const start = sec.offset + (sym.address - sec.addr);
    return { address: sym.address, code: new Uint8Array(this.buf.subarray(start, start + sym.size)) };
  }

  address(name: string): number {
    const sym = this.symbols.get(name);
    if (!sym) throw new Error(`no symbol ${name}`);
    return sym.address;
  }
}

export interface ObjdumpLine {
  address: number;
  bytes: string;
  /** Go assembler syntax, as printed: `CMPQ 0x10(R14), SP`. */
  text: string;
}

/**
 * `go tool objdump` of the whole binary (or the functions matching
 * `pattern`), by function name.
 */
export function objdump(tc: Toolchain, binary: string, pattern?: string): Map<string, ObjdumpLine[]> {
  const args = ['tool', 'objdump', ...(pattern ? ['-s', pattern] : []), binary];
  const out = execFileSync(tc.goBinary, args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  const byName = new Map<string, ObjdumpLine[]>();
  let current: ObjdumpLine[] | null = null;
  for (const line of out.split('\n')) {
    const head = /^TEXT (.+?)\(SB\)/.exec(line);
    if (head) {
      current = [];
      byName.set(head[1], current);
      continue;
    }
    const m = /^\s+\S+\t+0x([0-9a-f]+)\t+([0-9a-f]+)\t+(.*?)\s*$/.exec(line);
    if (m && current) current.push({ address: parseInt(m[1], 16), bytes: m[2], text: m[3] });
  }
  return byName;
}

/**
 * RET addresses per symbol from GNU objdump (binutils), or null when it is
 * not installed. Used for hand-written assembly, where Go's own
 * disassembler misreads some VEX instructions (it takes `c5 f8 77 c3`,
 * vzeroupper; ret, as one 4-byte instruction).
 */
export function gnuObjdumpReturns(binary: string): Map<string, number[]> | null {
  let out: string;
  try {
    out = execFileSync('objdump', ['-d', '--no-show-raw-insn', '-M', 'intel', binary], { encoding: 'utf8', maxBuffer: 1 << 30 });
  } catch {
    return null;
  }
  const byName = new Map<string, number[]>();
  let current: number[] | null = null;
  for (const line of out.split('\n')) {
    const head = /^[0-9a-f]+ <(.+)>:$/.exec(line);
    if (head) {
      current = [];
      byName.set(head[1], current);
      continue;
    }
    const m = /^\s+([0-9a-f]+):\t(.*)$/.exec(line);
    if (m && current && /^(?:(?:rep[nz]*|bnd|notrack|data16|[cdefgs]s)\s+)*ret[qw]?\b/.test(m[2])) current.push(parseInt(m[1], 16));
  }
  return byName;
}
