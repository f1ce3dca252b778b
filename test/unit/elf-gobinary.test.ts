// openGoBinary on every fixture build, against `go version`, readelf and
// `go tool nm`; goFunctionName's naming rules; cgo builds, whose .symtab
// also lists C functions.

import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError, NotSupportedError } from '../../src/core/errors.js';
import { goFunctionName, openGoBinary } from '../../src/binary/elf/gobinary.js';
import {
  buildExtra,
  elideBrackets,
  fixtureBuilds,
  functionsInFile,
  goVersionOf,
  nmPathOf,
  nmTextSymbols,
  normalBuildOf,
  readelfSections,
  readNm,
  runNm,
  type FixtureBuild,
  type NmSymbol,
} from './elf-support.js';

const builds = fixtureBuilds();
const label = (b: FixtureBuild) => `go${b.toolchain} ${b.fixture} ${b.variant}`;

describe('goFunctionName', () => {
  it.each([
    ['main.main', 'main.main'],
    ['main.(*Cart).Add', 'main.(*Cart).Add'],
    ['main.Total.String', 'main.Total.String'],
    ['main.main.func1', 'main.main.func1'],
    ['main.callClosure.func1.1', 'main.callClosure.func1.1'],
    ['main.Max[go.shape.int64]', 'main.Max[go.shape.int64]'],
    ['main.Max[go.shape.int64_0]', 'main.Max[go.shape.int64_0]'],
    ['main.F[...]', 'main.F[...]'],
    ['main.G[go.shape.*github.com/acme/shop/cart.Cart]', 'main.G[go.shape.*github.com/acme/shop/cart.Cart]'],
    ['github.com/acme/shop/cart.(*Cart).Add', 'github.com/acme/shop/cart.(*Cart).Add'],
    ['net/http.Error', 'net/http.Error'],
    ['gopkg.in/yaml.v3.Marshal', 'gopkg.in/yaml.v3.Marshal'],
    ['type:.eq.main.T', 'type:.eq.main.T'],
    ['type..eq.[2]runtime.Frame', 'type..eq.[2]runtime.Frame'],
    ['go.(*struct { a int }).m', 'go.(*struct { a int }).m'],
    // Assembly and ABI0 wrappers keep the Go name; openGoBinary flags them.
    ['internal/bytealg.IndexByte.abi0', 'internal/bytealg.IndexByte'],
    ['runtime.osinit.abi0', 'runtime.osinit'],
    // Go ≤1.15 .gopclntab spelling.
    ['net.(*dialResult·1).Close', 'net.(*dialResult.1).Close'],
    // Not Go functions: cgo's C code, section markers, package-less assembly, bounds.
    ['x_cgo_init', null],
    ['_cgo_26061493d47f_Cfunc_getaddrinfo', null],
    ['fatalf', null],
    // GCC's split-off parts look like Go names; openGoBinary drops them because
    // .gopclntab has no function at their address.
    ['threadentry.cold', 'threadentry.cold'],
    ['runtime/cgo(.text)', null],
    ['runtime/cgo(.text.unlikely)', null],
    ['net(.text)', null],
    ['gogo', null],
    ['memeqbody', null],
    ['debugCall1024', null],
    ['runtime.text', null],
    ['runtime.etext', null],
    ['go:buildid', null],
    ['go.buildid', null],
    ['main.', null],
    ['', null],
  ] as const)('%s → %s', (symbol, want) => {
    expect(goFunctionName(symbol)).toBe(want);
  });
});

/** nm text symbols of the unstripped build, by Go name (`.abi0` removed). */
function nmByGoName(b: FixtureBuild): Map<string, NmSymbol[]> {
  const out = new Map<string, NmSymbol[]>();
  for (const s of nmTextSymbols(nmPathOf(b.variant === 'stripped' ? normalBuildOf(b) : b))) {
    if (s.size === 0) continue; // runtime.text/etext: bounds, not functions
    const name = s.name.replace(/\.abi0$/, '');
    out.set(name, [...(out.get(name) ?? []), s]);
  }
  return out;
}

describe('openGoBinary on fixture builds', () => {
  it.each(builds.map((b) => [label(b), b] as const))('%s: version, ABI, PIE, stripped, DWARF', (_, b) => {
    const { info } = openGoBinary(b.path);
    const sections = readelfSections(b.path).map((s) => s.name);
    expect({ ...info, functions: undefined }).toEqual({
      path: b.path,
      arch: 'amd64',
      goVersion: goVersionOf(b),
      abi: b.abi,
      pie: b.variant === 'pie',
      stripped: !sections.includes('.symtab'),
      hasDwarf: sections.includes('.debug_info') || sections.includes('.zdebug_info'),
      functions: undefined,
    });
    expect(info.stripped).toBe(b.variant === 'stripped');
  });

  it.each(builds.filter((b) => b.variant !== 'stripped').map((b) => [label(b), b] as const))(
    '%s: functions are the nm text symbols with a package, with nm sizes, ABI0 ones flagged',
    (_, b) => {
      const { info } = openGoBinary(b.path);
      const nm = nmByGoName(b);
      const text = readelfSections(b.path).find((s) => s.name === '.text')!;
      // What is left out has no package qualifier: package-less runtime
      // assembly, and go: markers (go:textfipsstart) that bound code.
      const left = [...nm.keys()].filter((n) => !info.functions.has(n));
      for (const n of left) expect(n).toMatch(/^(go:)?[A-Za-z_][A-Za-z0-9_]*$/);
      expect(left.length).toBeLessThan(40);
      for (const [name, fn] of info.functions) {
        const syms = nm.get(name);
        expect(syms, name).toBeDefined();
        // With both `f` and `f.abi0`, `f` (the Go-callable one) is the function.
        const plain = syms!.find((s) => s.name === name);
        const want = plain ?? syms![0];
        expect({ address: fn.address, size: fn.size, abi0: fn.abi0 }, name).toEqual({
          address: want.address,
          size: want.size,
          abi0: plain ? undefined : true,
        });
        expect(fn.fileOffset).toBe(fn.address - text.addr + text.offset);
      }
      expect(info.functions.get('main.main')).toBeDefined();
    },
  );

  it.each(builds.filter((b) => b.variant === 'stripped').map((b) => [label(b), b] as const))(
    '%s: functions from .gopclntab are those of the unstripped build, at the same entries',
    (_, b) => {
      const stripped = openGoBinary(b.path).info.functions;
      const normal = openGoBinary(normalBuildOf(b).path).info.functions;
      const shortened = [...stripped.keys()].some((n) => n.includes('[...]'));
      // Name → entries in the unstripped build, with Go 1.18–1.20's `[...]` names when the table uses them.
      const expected = new Map<string, number[]>();
      for (const [name, fn] of normal) {
        const key = shortened ? elideBrackets(name) : name;
        expected.set(key, [...(expected.get(key) ?? []), fn.address]);
      }
      expect([...stripped.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [name, fn] of stripped) {
        const entries = expected.get(name)!;
        // Instantiations that share a shortened name: the first is kept.
        expect(fn.address, name).toBe(Math.min(...entries));
        expect(fn.abi0).toBeUndefined();
      }
    },
  );

  it.each(builds.filter((b) => b.funcs).map((b) => [label(b), b] as const))('%s: every function of the fixture\'s functions file is there', (_, b) => {
    const names = new Set(openGoBinary(b.path).info.functions.keys());
    const shortened = [...names].some((n) => n.includes('[...]'));
    const wanted = functionsInFile(b.funcs!);
    expect(wanted.length).toBeGreaterThan(0);
    for (const name of wanted) expect(names.has(shortened ? elideBrackets(name) : name), name).toBe(true);
  });

  it('method, closure and generic names are kept as Go writes them', () => {
    for (const b of fixtureBuilds({ fixture: 'types', variant: 'normal' })) {
      const names = [...openGoBinary(b.path).info.functions.keys()];
      expect(names, `go${b.toolchain}`).toContain('github.com/acme/shop/cart.(*Cart).Add');
      expect(names, `go${b.toolchain}`).toContain('github.com/acme/shop/cart.Cart.Describe');
      expect(names, `go${b.toolchain}`).toContain('main.main.func1');
      if (Number(b.toolchain.split('.')[1]) >= 18) {
        expect(names.some((n) => /^main\.Max\[go\.shape\./.test(n)), `go${b.toolchain} generics`).toBe(true);
      }
    }
  });
});

describe('openGoBinary errors', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'weaver-gobinary-'));
  it.each([
    ['/bin/ls', (): string => '/bin/ls', NotSupportedError, (p: string) => `${p} is not a Go program: it has no .go.buildinfo or .gopclntab section`],
    ['a missing file', (): string => join(tmp, 'missing'), InputError, (p: string) => `${p} does not exist`],
    ['a text file', (): string => (writeFileSync(join(tmp, 'x.txt'), 'hi\n'), join(tmp, 'x.txt')), NotSupportedError, (p: string) => `${p} is not an ELF executable`],
  ] as const)('%s', (_, make, type, message) => {
    const p = make();
    let err: unknown;
    try {
      openGoBinary(p);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(type);
    expect((err as Error).message).toBe(message(p));
  });
});

// cgo puts C functions into .text and .symtab, and makes Go link externally:
// .text then starts with crt code (_start) before runtime.text, and in PIE
// builds the linker merges .gopclntab into .data.rel.ro. None of the C code
// is a Go function; stripped builds must still find every Go entry.
describe('cgo builds', () => {
  const normals = fixtureBuilds({ fixture: 'types', variant: 'normal' });
  const newest = normals[normals.length - 1];
  const withHeaderText = normals.find((b) => Number(b.toolchain.split('.')[1]) >= 20 && Number(b.toolchain.split('.')[1]) < 26);
  const cases = [
    { b: normals[0], kind: 'exe', flags: [] as string[] },
    { b: newest, kind: 'exe', flags: [] as string[] },
    { b: newest, kind: 'pie', flags: ['-buildmode=pie'] },
    ...(withHeaderText ? [{ b: withHeaderText, kind: 'pie', flags: ['-buildmode=pie'] }] : []),
  ];
  const built: { label: string; b: FixtureBuild; path: string; stripped: string; nm: NmSymbol[] }[] = [];
  beforeAll(() => {
    for (const { b, kind, flags } of cases) {
      const name = `hello-cgo-go${b.toolchain}-${kind}`;
      const path = buildExtra(b.goroot, name, {}, true, flags);
      const stripped = buildExtra(b.goroot, `${name}-stripped`, {}, true, [...flags, '-ldflags=-s -w']);
      built.push({ label: `go${b.toolchain} ${kind}`, b, path, stripped, nm: readNm(runNm(b.goroot, path)) });
    }
  }, 600_000);

  it('C functions are left out; Go ones are at nm addresses, stripped or not', () => {
    expect(built.length).toBe(cases.length);
    for (const { label, b, path, stripped, nm } of built) {
      const { info } = openGoBinary(path);
      expect(info.goVersion, label).toBe(b.goVersion);
      const text = nm.filter((s) => s.kind === 'T' || s.kind === 't');
      const cFunctions = text.filter((s) => /^(x_cgo_|_cgo_)/.test(s.name) || ['twice', '_start', 'x_cgo_munmap.cold'].includes(s.name));
      expect(cFunctions.length, `${label}: nm lists C functions`).toBeGreaterThan(3);
      for (const c of cFunctions) expect(info.functions.has(c.name), `${label} ${c.name}`).toBe(false);
      const byName = new Map(text.map((s) => [s.name, s]));
      for (const [name, fn] of info.functions) {
        expect(fn.address, `${label} ${name}`).toBe((byName.get(name) ?? byName.get(`${name}.abi0`))!.address);
      }
      for (const name of ['main.main', 'main._Cfunc_twice', 'runtime.cgocall']) expect(info.functions.has(name), `${label} ${name}`).toBe(true);

      const fromPclntab = openGoBinary(stripped).info;
      expect(fromPclntab.stripped).toBe(true);
      expect(fromPclntab.goVersion).toBe(b.goVersion);
      expect([...fromPclntab.functions.keys()].sort(), label).toEqual([...info.functions.keys()].sort());
      for (const [name, fn] of fromPclntab.functions) expect(fn.address, `${label} stripped ${name}`).toBe(info.functions.get(name)!.address);
    }
  });
});
