// The Go fixtures that end-to-end tests trace: the manifest covers every
// toolchain and variant, the binaries are what their variant says, the
// functions files name symbols that exist, and the EXPECT lines the fixtures
// print parse into exact values.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  fixtureBuild, fixtureBuilds, functionsInFile, newestToolchain, parseExpectLines,
  type FixtureBuild, type FixtureName, type FixtureVariant,
} from '../helpers/fixtures.js';
import { parseLosslessJson } from '../helpers/losslessJson.js';

const FIXTURES: FixtureName[] = ['types', 'goroutines', 'httpserver', 'composites', 'returns', 'soak', 'hostile'];
const VARIANTS: FixtureVariant[] = ['normal', 'stripped', 'pie'];
const ET_EXEC = 2;
const ET_DYN = 3;

function minor(toolchain: string): number {
  return Number(toolchain.split('.')[1]);
}

function runFixture(build: FixtureBuild, args: string[]): string {
  return execFileSync(build.path, args, { encoding: 'utf8', timeout: 30_000 });
}

/** Function symbols (text) of a `go tool nm` listing: "addr size T name". */
function textSymbols(nmPath: string): Set<string> {
  const names = new Set<string>();
  for (const line of readFileSync(nmPath, 'utf8').split('\n')) {
    const m = /^\s*[0-9a-f]+\s+\d+\s+[Tt]\s+(.+)$/.exec(line);
    if (m) names.add(m[1]!);
  }
  return names;
}

describe('manifest', () => {
  const toolchains = [...new Set(fixtureBuilds().map((b) => b.toolchain))];

  it('has Go 1.15, 1.19, 1.22, 1.24 and a newer toolchain from sid', () => {
    expect(toolchains.slice(0, 4)).toEqual(['1.15', '1.19', '1.22', '1.24']);
    expect(toolchains).toHaveLength(5);
    expect(minor(newestToolchain())).toBeGreaterThan(24);
  });

  it('has every fixture in every variant for every toolchain, once', () => {
    for (const toolchain of toolchains) {
      for (const fixture of FIXTURES) {
        for (const variant of VARIANTS) {
          expect(fixtureBuilds({ toolchain, fixture, variant }), `${fixture} ${variant} go${toolchain}`).toHaveLength(1);
        }
      }
    }
    expect(fixtureBuilds()).toHaveLength(toolchains.length * FIXTURES.length * VARIANTS.length);
  });

  it.each([
    ['1.15', 'stack'],
    ['1.19', 'register'],
    ['1.22', 'register'],
    ['1.24', 'register'],
  ])('go%s builds use the %s ABI and report their release', (toolchain, abi) => {
    for (const b of fixtureBuilds({ toolchain })) {
      expect(b.abi).toBe(abi);
      expect(b.goVersion).toMatch(new RegExp(`^go${toolchain.replace('.', '\\.')}(\\.\\d+)?$`));
    }
  });

  it('filters by ABI', () => {
    expect(fixtureBuilds({ abi: 'stack' }).map((b) => b.toolchain)).toEqual(Array(FIXTURES.length * 3).fill('1.15'));
  });
});

describe('binaries', () => {
  it.each(fixtureBuilds().map((b) => [`go${b.toolchain} ${b.fixture} ${b.variant}`, b] as const))('%s is what its variant says', (_, b) => {
    expect(existsSync(b.path)).toBe(true);
    expect(statSync(b.path).mode & 0o111).not.toBe(0);
    const bytes = readFileSync(b.path);
    expect(bytes.subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
    expect(bytes.readUInt16LE(16)).toBe(b.variant === 'pie' ? ET_DYN : ET_EXEC);
    // The section-name table of an unstripped binary names .symtab.
    expect(bytes.includes('.symtab')).toBe(b.variant !== 'stripped');
    expect(b.nm === null).toBe(b.variant === 'stripped');
  });

  it.each(fixtureBuilds().filter((b) => b.nm !== null).map((b) => [`go${b.toolchain} ${b.fixture} ${b.variant}`, b] as const))(
    '%s has every function its functions file names',
    (_, b) => {
      const symbols = textSymbols(b.nm!);
      const listed = functionsInFile(b.funcs!);
      expect(listed.length).toBeGreaterThan(0);
      expect(listed.filter((f) => !symbols.has(f))).toEqual([]);
    },
  );

  it('functions files hold generics only from Go 1.18, under each release\'s shape names', () => {
    const generics = (toolchain: string) =>
      functionsInFile(fixtureBuild({ fixture: 'types', toolchain }).funcs!).filter((f) => f.includes('['));
    expect(generics('1.15')).toEqual([]);
    expect(generics('1.19')).toEqual([
      'main.Max[go.shape.int64_0]', 'main.Max[go.shape.string_0]',
      'main.(*Box[go.shape.int64_0]).Put', 'main.(*Box[go.shape.string_0]).Put',
    ]);
    for (const toolchain of ['1.22', '1.24']) {
      expect(generics(toolchain), toolchain).toEqual([
        'main.Max[go.shape.int64]', 'main.Max[go.shape.string]',
        'main.(*Box[go.shape.int64]).Put', 'main.(*Box[go.shape.string]).Put',
      ]);
    }
  });
});

describe('types fixture EXPECT lines', () => {
  it('go1.19: one line per function of funcs.txt per round, in its order', () => {
    const b = fixtureBuild({ fixture: 'types', toolchain: '1.19' });
    const funcs = functionsInFile(b.funcs!);
    const stdout = runFixture(b, ['-n', '3']);
    const calls = parseExpectLines(stdout);
    expect(calls).toHaveLength(funcs.length * 3);
    expect(calls.map((c) => c.function)).toEqual([...funcs, ...funcs, ...funcs]);
    expect(stdout.trimEnd().split('\n').at(-1)).toBe('DONE');
  });

  it.each(fixtureBuilds({ fixture: 'types' }).map((b) => [`go${b.toolchain} ${b.variant}`, b] as const))(
    '%s calls exactly the functions of its functions file',
    (_, b) => {
      expect(parseExpectLines(runFixture(b, [])).map((c) => c.function)).toEqual(functionsInFile(b.funcs!));
    },
  );

  it('keeps 64-bit integers, float specials, -0 and odd strings exact', () => {
    const calls = parseExpectLines(runFixture(fixtureBuild({ fixture: 'types', toolchain: '1.19' }), []));
    const args = (fn: string) => calls.find((c) => c.function === fn)!.args;
    expect(args('main.int64s')).toEqual([-9223372036854775808n, 9223372036854775807n, -1n]);
    expect(args('main.uint64s')).toEqual([0n, 18446744073709551615n, 9223372036854775808n]);
    expect(args('main.runes')).toEqual([65n, 233n, 128512n]);
    const f64 = args('main.float64s');
    expect(f64).toEqual([0.1, -0, 'NaN', '+Inf', '-Inf', 1.7976931348623157e308, 5e-324, 1e21]);
    expect(Object.is(f64[1], -0)).toBe(true);
    expect(args('main.float32s')).toEqual([0.1, -0, 'NaN', '+Inf', '-Inf', 3.4028235e38, 1e-45]);
    expect(args('main.strControl')).toEqual(['tab\there\nnul\x00 \x1b[31mred\x1b[0m del\x7f "q" \\']);
    expect(args('main.strUTF8')).toEqual(['héllo wörld ✓ 日本語 😀']);
    expect(args('main.strInvalid')).toEqual([{ hex: '6f6bfffec328' }]);
    expect(args('main.strLong')).toEqual(['0123456789'.repeat(10)]);
    expect(args('main.intSlices')).toEqual([
      { len: 0n, cap: 0n, elems: [] },
      { len: 0n, cap: 4n, elems: [] },
      { len: 3n, cap: 3n, elems: [1n, -2n, 3n] },
    ]);
    expect(args('main.abiUint8Complex64')).toEqual([200n, { real: 1.5, imag: 2.5 }]);
    expect(args('main.abiInt8StructInt8')).toEqual([-1n, { A: -2n, B: -3n }, 4n]);
    const [cartAddr, item, qty] = args('github.com/acme/shop/cart.(*Cart).Add');
    expect(cartAddr).toMatch(/^0x[0-9a-f]+$/);
    expect([item, qty]).toEqual(['apple', 3n]);
    expect(args('main.pointers')[1]).toBe(cartAddr);
    expect(args('main.pointers')[2]).toBeNull();
  });

  it('-wait prints WAITING and makes no call until a line arrives on stdin', async () => {
    const b = fixtureBuild({ fixture: 'types', toolchain: '1.22' });
    const child = spawn(b.path, ['-wait'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => stdout.includes('WAITING\n') && (clearInterval(poll), resolve()), 10);
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(stdout).toBe('WAITING\n');
    child.stdin.end('go\n');
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(parseExpectLines(stdout)).toHaveLength(functionsInFile(b.funcs!).length);
  });
});

describe('goroutines and httpserver fixtures', () => {
  it('goroutines: every (id, iter) pair once, with its tag', () => {
    const b = fixtureBuild({ fixture: 'goroutines', toolchain: newestToolchain() });
    const calls = parseExpectLines(runFixture(b, ['-g', '3', '-i', '4']));
    const seen = calls.map((c) => c.args.map(String).join(' ')).sort();
    const want: string[] = [];
    for (let id = 0; id < 3; id++) for (let iter = 0; iter < 4; iter++) want.push(`${id} ${iter} g${id}-i${iter}`);
    expect(seen).toEqual(want.sort());
    expect(new Set(calls.map((c) => c.function))).toEqual(new Set(['main.work']));
  });

  it('-quiet makes the calls without EXPECT lines', () => {
    const b = fixtureBuild({ fixture: 'goroutines', toolchain: '1.15' });
    expect(runFixture(b, ['-quiet', '-g', '2', '-i', '3'])).toBe('DONE\n');
  });

  it('httpserver: one line per request with method, path, status, query and user-agent length', async () => {
    const b = fixtureBuild({ fixture: 'httpserver', toolchain: '1.15' });
    const child = spawn(b.path, ['-exit-after', '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const closed = new Promise((resolve) => child.on('close', resolve));
    try {
      const addr = await new Promise<string>((resolve) => {
        const poll = setInterval(() => {
          const m = /^LISTENING (\S+)$/m.exec(stdout);
          if (m) {
            clearInterval(poll);
            resolve(m[1]!);
          }
        }, 10);
      });
      const ua = 'weaver-test/1.0';
      expect((await fetch(`http://${addr}/items/apple?q=red`, { headers: { 'user-agent': ua } })).status).toBe(200);
      expect((await fetch(`http://${addr}/nope`, { headers: { 'user-agent': ua } })).status).toBe(404);
      expect(await closed).toBe(0);
      expect(parseExpectLines(stdout)).toEqual([
        { function: 'main.handleRequest', args: ['GET', '/items/apple', 200n, 'red', BigInt(ua.length)] },
        { function: 'main.handleRequest', args: ['GET', '/nope', 404n, '', BigInt(ua.length)] },
      ]);
    } finally {
      child.kill();
    }
  });
});

describe('parseLosslessJson', () => {
  it.each([
    ['18446744073709551615', 18446744073709551615n],
    ['-9223372036854775808', -9223372036854775808n],
    ['7', 7n],
    ['0.1', 0.1],
    ['1e+21', 1e21],
    ['-2.5E-3', -0.0025],
    ['"a\\u0009b\\"\\\\ é"', 'a\tb"\\ é'],
    ['[]', []],
    [' { "a" : [ 1 , { "b" : null } ] , "c" : true } ', { a: [1n, { b: null }], c: true }],
  ] as const)('%s', (text, value) => {
    expect(parseLosslessJson(text)).toEqual(value);
  });

  it('reads -0 as the number -0', () => {
    expect(Object.is(parseLosslessJson('-0'), -0)).toBe(true);
  });

  it('keeps a __proto__ key as an ordinary key', () => {
    const v = parseLosslessJson('{"__proto__":1}') as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
  });

  it.each([
    ['[1,]', 'invalid JSON at offset 3: unexpected character "]"'],
    ['{"a" 1}', 'invalid JSON at offset 5: expected : after an object key'],
    ['01', 'invalid JSON at offset 1: unexpected text after the JSON value'],
    ['"abc', 'invalid JSON at offset 0: unterminated string'],
    ['-', 'invalid JSON at offset 0: malformed number'],
    ['[1 2]', 'invalid JSON at offset 3: expected , or ] in an array'],
    ['"\\x"', 'invalid JSON at offset 0: malformed string'],
    ['', 'invalid JSON at offset 0: unexpected end of input'],
  ])('rejects %j', (text, message) => {
    expect(() => parseLosslessJson(text)).toThrow(new SyntaxError(message));
  });

  it('rejects an EXPECT line that is not a call', () => {
    expect(() => parseExpectLines('EXPECT {"function":1,"args":[]}')).toThrow(
      'EXPECT line without a "function" string and an "args" list: EXPECT {"function":1,"args":[]}',
    );
  });
});
