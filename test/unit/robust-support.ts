// Shared by the robustness tests and scripts/fuzz-binaries.sh: Go builds
// made for them (other architectures, uncompressed DWARF), a seeded
// byte-mutation fuzzer over the regions of a real Go binary, and one
// function that runs every stage that reads a binary and says how it ended.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readDwarfFunctions } from '../../src/binary/dwarf/index.js';
import { ElfFile } from '../../src/binary/elf/file.js';
import { openGoBinary } from '../../src/binary/elf/gobinary.js';
import { WeaverError } from '../../src/core/errors.js';
import { buildTraceSpec } from '../../src/bpf/tracespec.js';
import { fixtureGoEnv as goEnv, goCommand } from '../helpers/goprogram.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const GO = goCommand('1.19');
/** Built once per machine; the Go build cache makes a rebuild cheap anyway. */
export const ROBUST_BUILD_DIR = join(REPO_ROOT, '.cache', 'robust');

const HELLO = `package main

import "fmt"

//go:noinline
func greet(name string, times int) { fmt.Println(name, times) }

func main() { greet("hi", 1) }
`;

/** A tiny Go program built for `goarch` (386 is 32-bit, s390x big-endian, arm64 another machine). */
export function buildHello(goarch: string): string {
  const out = join(ROBUST_BUILD_DIR, `hello-${goarch}`);
  if (existsSync(out)) return out;
  const src = join(ROBUST_BUILD_DIR, 'hello');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'main.go'), HELLO);
  writeFileSync(join(src, 'go.mod'), 'module example.com/hello\n\ngo 1.18\n');
  execFileSync(GO, ['build', '-o', out, '.'], { cwd: src, env: goEnv({ GOARCH: goarch, GOOS: 'linux' }), stdio: 'pipe' });
  return out;
}

/**
 * The types fixture with its DWARF left uncompressed, so that flipped bytes
 * land in the DWARF the reader parses rather than in zlib's stream.
 */
export function buildTypesUncompressed(): { path: string; funcs: string } {
  const out = join(ROBUST_BUILD_DIR, 'types-dwarf-plain');
  // Built every time (Go's build cache makes that cheap), so it always matches
  // the fixture's sources and the functions file beside the fixture builds.
  mkdirSync(ROBUST_BUILD_DIR, { recursive: true });
  execFileSync(GO, ['build', '-ldflags=-compressdwarf=false', '-o', out, './types'], {
    cwd: join(REPO_ROOT, 'fixtures'),
    env: goEnv({}),
    stdio: 'pipe',
  });
  return { path: out, funcs: join(REPO_ROOT, 'fixtures', 'build', 'go1.19', 'types.funcs.txt') };
}

// ---- seeded randomness ----------------------------------------------------

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function below(random: () => number, n: number): number {
  return Math.floor(random() * n);
}

// ---- regions and mutations --------------------------------------------------

export interface Region {
  name: string;
  start: number;
  end: number;
}

const SECTIONS_OF_INTEREST = /^(\.gopclntab|\.data\.rel\.ro\.gopclntab|\.go\.buildinfo|\.z?debug_\w+|\.symtab|\.strtab|\.noptrdata|\.text)$/;

/** The parts of a Go binary the readers interpret: headers, tables, and the sections weaver parses. */
export function regionsOf(buf: Buffer, path: string): Region[] {
  const elf = ElfFile.parse(buf, path);
  const phoff = Number(buf.readBigUInt64LE(32));
  const shoff = Number(buf.readBigUInt64LE(40));
  const regions: Region[] = [
    { name: 'ELF header', start: 0, end: 64 },
    { name: 'program headers', start: phoff, end: phoff + buf.readUInt16LE(56) * 56 },
  ];
  if (shoff) regions.push({ name: 'section headers', start: shoff, end: shoff + buf.readUInt16LE(60) * 64 });
  for (const s of elf.sections) {
    if (!SECTIONS_OF_INTEREST.test(s.name) || s.data.length === 0) continue;
    // Only the start of .text: the functions the fixture traces and the prologues weaver decodes are there too,
    // but flipping code mostly tests the x86 decoder, which has tests of its own.
    const size = s.name === '.text' ? Math.min(s.size, 64 * 1024) : s.size;
    regions.push({ name: s.name, start: s.offset, end: s.offset + size });
  }
  return regions;
}

/** Values that make counts, offsets and sizes misbehave. */
const INTERESTING_U32 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

export interface Mutation {
  region: string;
  offset: number;
  kind: 'bit' | 'byte' | 'u32' | 'u64';
  value: number | bigint;
}

/** Up to four mutations inside one region, applied to a copy of `original`. */
export function mutate(original: Buffer, regions: Region[], random: () => number): { bytes: Buffer; mutations: Mutation[] } {
  const bytes = Buffer.from(original);
  const region = regions[below(random, regions.length)]!;
  const mutations: Mutation[] = [];
  const count = 1 + below(random, 4);
  for (let i = 0; i < count; i++) {
    const span = region.end - region.start;
    // Headers of tables come first: bias half the mutations into the first 256 bytes.
    const offset = region.start + (random() < 0.5 ? below(random, Math.min(span, 256)) : below(random, span));
    const pick = below(random, 4);
    if (pick === 0) {
      const bit = below(random, 8);
      bytes[offset] = bytes[offset]! ^ (1 << bit);
      mutations.push({ region: region.name, offset, kind: 'bit', value: bit });
    } else if (pick === 1) {
      const value = below(random, 256);
      bytes[offset] = value;
      mutations.push({ region: region.name, offset, kind: 'byte', value });
    } else if (pick === 2 && offset + 4 <= bytes.length) {
      const value = INTERESTING_U32[below(random, INTERESTING_U32.length)]!;
      bytes.writeUInt32LE(value, offset);
      mutations.push({ region: region.name, offset, kind: 'u32', value });
    } else if (offset + 8 <= bytes.length) {
      const value = BigInt(INTERESTING_U32[below(random, INTERESTING_U32.length)]!) << BigInt(below(random, 33));
      bytes.writeBigUInt64LE(value & 0xffffffffffffffffn, offset);
      mutations.push({ region: region.name, offset, kind: 'u64', value });
    }
  }
  return { bytes, mutations };
}

export function describeMutations(mutations: Mutation[]): string {
  return mutations.map((m) => `${m.kind} ${String(m.value)} at 0x${m.offset.toString(16)} (${m.region})`).join('; ');
}

// ---- running the readers ------------------------------------------------------

export interface Outcome {
  /** ok: every stage accepted the file; error: a WeaverError stopped it. */
  result: 'ok' | 'error';
  message?: string;
  errorName?: string;
  ms: number;
}

/**
 * Every stage that reads a binary, as `weaver list` and `weaver -f … --emit c`
 * run them: the ELF stage, the DWARF reader for package main, and the whole
 * trace spec (functions file, ABI, plans, probe placement, C). Anything other
 * than a WeaverError is rethrown, since that would be a crash for the user.
 */
export function readBinaryEverywhere(path: string, funcs: string | null): Outcome {
  const started = performance.now();
  try {
    const { info, elf } = openGoBinary(path);
    if (info.hasDwarf) readDwarfFunctions(elf, { packages: ['main'] });
    if (funcs) {
      buildTraceSpec({
        binaryPath: path,
        functionsFile: funcs,
        packages: ['main'],
        plan: { stringSize: 64, maxElements: 16, maxRecordSize: 16384 },
      });
    }
    return { result: 'ok', ms: performance.now() - started };
  } catch (err) {
    if (!(err instanceof WeaverError)) throw err;
    return { result: 'error', message: err.message, errorName: err.name, ms: performance.now() - started };
  }
}

/** What every error sentence must look like: one line, no leaked JavaScript values. */
export function sentenceProblems(message: string): string[] {
  const problems: string[] = [];
  if (message.includes('\n')) problems.push('spans several lines');
  if (/\bundefined\b|\bNaN\b|\[object |Infinity/.test(message)) problems.push('shows a JavaScript value');
  if (/\bat .*\(.*:\d+:\d+\)/.test(message)) problems.push('contains a stack frame');
  if (message.length > 400) problems.push(`is ${message.length} characters long`);
  return problems;
}
