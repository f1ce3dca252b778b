// Shared by the ELF-stage tests: the fixture builds, and what independent
// tools (readelf, `go tool nm`, `go version`) say about them. Expected values
// always come from these tools, never from src/binary/elf.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { fixtureBuilds, type FixtureBuild } from '../helpers/fixtures.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export { fixtureBuilds, functionsInFile, type FixtureBuild } from '../helpers/fixtures.js';

/** The unstripped build a stripped one was made from (same toolchain and fixture). */
export function normalBuildOf(b: FixtureBuild): FixtureBuild {
  const [normal] = fixtureBuilds({ toolchain: b.toolchain, fixture: b.fixture, variant: 'normal' });
  return normal;
}

export function nmPathOf(b: FixtureBuild): string {
  return b.nm ?? `${b.path}.nm.txt`;
}

export interface NmSymbol {
  address: number;
  size: number;
  kind: string;
  name: string;
}

/** `go tool nm -size -sort address` output: "addr size kind name" (names may contain spaces). */
export function readNm(nmPath: string): NmSymbol[] {
  const out: NmSymbol[] = [];
  for (const line of readFileSync(nmPath, 'utf8').split('\n')) {
    const m = /^\s*([0-9a-f]*)\s+(\d+)\s+(\S)\s+(.*)$/.exec(line);
    if (m) out.push({ address: m[1] ? parseInt(m[1], 16) : 0, size: Number(m[2]), kind: m[3], name: m[4] });
  }
  return out;
}

/** Text symbols (nm kinds T and t). */
export function nmTextSymbols(nmPath: string): NmSymbol[] {
  return readNm(nmPath).filter((s) => s.kind === 'T' || s.kind === 't');
}

/** `go version <binary>` with the toolchain that built it: "go1.19.8". */
export function goVersionOf(b: FixtureBuild): string {
  const out = execFileSync(join(b.goroot, 'bin/go'), ['version', b.path], {
    env: { ...process.env, GOROOT: b.goroot, GOTOOLCHAIN: 'local' },
    encoding: 'utf8',
  });
  const m = /: (\S+)/.exec(out);
  if (!m) throw new Error(`unexpected go version output: ${out}`);
  return m[1];
}

export interface ReadelfSection {
  index: number;
  name: string;
  type: string;
  addr: number;
  offset: number;
  size: number;
  flags: string;
}

/** `readelf -SW`, without the null section 0. */
export function readelfSections(path: string): ReadelfSection[] {
  const text = execFileSync('readelf', ['-SW', path], { encoding: 'utf8' });
  const out: ReadelfSection[] = [];
  for (const line of text.split('\n')) {
    const m =
      /^\s*\[\s*(\d+)\]\s+(\S+)\s+(\S+)\s+([0-9a-f]{16})\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([A-Za-z]*)\s+\d+\s+\d+\s+\d+\s*$/.exec(line);
    if (m && m[1] !== '0') {
      out.push({
        index: Number(m[1]),
        name: m[2],
        type: m[3],
        addr: parseInt(m[4], 16),
        offset: parseInt(m[5], 16),
        size: parseInt(m[6], 16),
        flags: m[7],
      });
    }
  }
  return out;
}

export interface ReadelfSegment {
  type: string;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  flags: string;
}

/** `readelf -lW` program headers. */
export function readelfSegments(path: string): ReadelfSegment[] {
  const text = execFileSync('readelf', ['-lW', path], { encoding: 'utf8' });
  const out: ReadelfSegment[] = [];
  for (const line of text.split('\n')) {
    const m =
      /^\s+(\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+([RWE ]*?)\s+0x[0-9a-f]+\s*$/.exec(line);
    if (m) {
      out.push({
        type: m[1],
        offset: parseInt(m[2], 16),
        vaddr: parseInt(m[3], 16),
        filesz: parseInt(m[4], 16),
        memsz: parseInt(m[5], 16),
        flags: m[6].replace(/\s/g, ''),
      });
    }
  }
  return out;
}

/**
 * Go 1.18–1.20 write generic and array names into .gopclntab with the
 * bracketed parts shortened to `[...]` (`main.F[...]`, `type..eq.[...]T`).
 */
export function elideBrackets(name: string): string {
  let out = '';
  let depth = 0;
  for (const ch of name) {
    if (ch === '[') {
      if (depth === 0) out += '[...]';
      depth++;
    } else if (ch === ']') {
      depth--;
    } else if (depth === 0) {
      out += ch;
    }
  }
  return out;
}

const HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n';
const HELLO_CGO = 'package main\n\n// int twice(int x) { return 2 * x; }\nimport "C"\n\nimport "fmt"\n\nfunc main() { fmt.Println(C.twice(21)) }\n';

/**
 * Builds a small program outside the fixtures (other architectures, cgo),
 * caching the result under .cache/elf-tests/ by toolchain and settings.
 */
export function buildExtra(goroot: string, name: string, env: Record<string, string>, cgo = false, flags: string[] = []): string {
  const dir = join(REPO_ROOT, '.cache/elf-tests');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, name);
  if (existsSync(out)) return out;
  const src = mkdtempSync(join(tmpdir(), 'weaver-elf-'));
  writeFileSync(join(src, 'go.mod'), 'module hello\n\ngo 1.15\n');
  writeFileSync(join(src, 'main.go'), cgo ? HELLO_CGO : HELLO);
  execFileSync(join(goroot, 'bin/go'), ['build', ...flags, '-o', out, '.'], {
    cwd: src,
    env: {
      ...process.env,
      GOROOT: goroot,
      GOTOOLCHAIN: 'local',
      GOFLAGS: '-mod=mod',
      GOPROXY: 'off',
      GOCACHE: join(REPO_ROOT, '.cache/gocache'),
      GOPATH: join(REPO_ROOT, '.cache/gopath'),
      CGO_ENABLED: cgo ? '1' : '0',
      ...env,
    },
    stdio: 'pipe',
  });
  return out;
}

/** `go tool nm -size -sort address` of a binary, written beside it. */
export function runNm(goroot: string, path: string): string {
  const nmPath = `${path}.nm.txt`;
  if (existsSync(nmPath)) return nmPath;
  const text = execFileSync(join(goroot, 'bin/go'), ['tool', 'nm', '-size', '-sort', 'address', path], {
    env: { ...process.env, GOROOT: goroot, GOTOOLCHAIN: 'local' },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  writeFileSync(nmPath, text);
  return nmPath;
}
