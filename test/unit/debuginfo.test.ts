// Separate debug info (src/binary/debuginfo/): the build IDs and .gnu_debuglink of
// real Go builds split with objcopy, the order places are looked in, the
// checks that keep another build's DWARF out (CRC32, build IDs) with their
// exact messages, a debuginfod server on 127.0.0.1 (found, 404, unreachable,
// silent, wrong file, cache), and the probe cache telling the two apart.

import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idMismatch, lookupId, readBuildIds } from '../../src/binary/debuginfo/buildid.js';
import { fileCrc, readDebugLink } from '../../src/binary/debuginfo/debuglink.js';
import { debuginfodTimeoutS, debuginfodUrls, pruneDebugCache } from '../../src/binary/debuginfo/debuginfod.js';
import { findDebugFile, openWithDebugInfo } from '../../src/binary/debuginfo/index.js';
import { buildIdPath, candidates, debugRoots, findLocalDebugFile } from '../../src/binary/debuginfo/lookup.js';
import { ElfFile } from '../../src/binary/elf/file.js';
import { goBinaryInfo } from '../../src/binary/elf/gobinary.js';
import { ProbeCache } from '../../src/binary/probecache.js';
import { splitDebugInfo, type SplitBinary } from '../helpers/debugsplit.js';
import { fixtureBuild } from '../helpers/fixtures.js';

let work: string;
/** Go 1.19: only Go's build ID. */
let go119: SplitBinary;
/** Go 1.27: a GNU build ID too. */
let go127: SplitBinary;
/** Another build (Go 1.15) of the same program: the wrong debug file. */
let go115: SplitBinary;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'weaver-debuginfo-'));
  const split = (toolchain: string) => {
    const dir = join(work, `src-${toolchain}`);
    mkdirSync(dir);
    return splitDebugInfo(fixtureBuild({ fixture: 'httpserver', toolchain, variant: 'normal' }).path, dir, 'httpserver');
  };
  go119 = split('1.19');
  go127 = split('1.27');
  go115 = split('1.15');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

let caseNo = 0;
/** A fresh directory with a copy of the stripped binary (and, unless `debug` is false, its debug file beside it). */
function layout(split: SplitBinary, debug = true): { dir: string; bin: string; debugName: string } {
  const dir = join(work, `case-${++caseNo}`);
  mkdirSync(dir);
  const bin = join(dir, 'httpserver');
  copyFileSync(split.stripped, bin);
  if (debug) copyFileSync(split.debug, join(dir, 'httpserver.debug'));
  return { dir, bin, debugName: 'httpserver.debug' };
}

function lookLocally(bin: string, env: NodeJS.ProcessEnv = { WEAVER_DEBUG_FILE_DIRECTORY: join(work, 'no-such-root') }) {
  const warnings: string[] = [];
  const found = findLocalDebugFile(ElfFile.read(bin), (l) => warnings.push(l), env);
  return { found: found && { path: found.path, how: found.how }, warnings };
}

const goIdHex = (split: SplitBinary) => Buffer.from(readBuildIds(ElfFile.read(split.original)).go!, 'latin1').toString('hex');

describe('build IDs and the debug link', () => {
  it('reads the GNU build ID where Go writes one (1.24+) and Go\'s everywhere; objcopy keeps both in the debug file', () => {
    const ids127 = readBuildIds(ElfFile.read(go127.original));
    expect(ids127.gnu).toMatch(/^[0-9a-f]{40}$/);
    expect(ids127.go).toMatch(/^[\w-]+(\/[\w-]+){3}$/);
    expect(readBuildIds(ElfFile.read(go127.debug))).toEqual(ids127);
    expect(readBuildIds(ElfFile.read(go127.stripped))).toEqual(ids127);
    const ids119 = readBuildIds(ElfFile.read(go119.original));
    expect(ids119.gnu).toBeNull();
    expect(readBuildIds(ElfFile.read(go119.debug))).toEqual(ids119);
  });

  it('looks up by the GNU build ID, else by Go\'s hex-encoded', () => {
    const ids127 = readBuildIds(ElfFile.read(go127.original));
    expect(lookupId(ids127)).toBe(ids127.gnu);
    expect(lookupId({ gnu: null, go: 'ab/c' })).toBe('61622f63');
    expect(lookupId({ gnu: null, go: null })).toBeNull();
  });

  it('compares IDs of the same kind only', () => {
    expect(idMismatch({ gnu: 'aa', go: 'x' }, { gnu: 'aa', go: 'y' })).toBeNull();
    expect(idMismatch({ gnu: 'aa', go: 'x' }, { gnu: 'bb', go: 'x' })).toBe("its GNU build ID is bb but the program's is aa");
    expect(idMismatch({ gnu: null, go: 'x' }, { gnu: 'bb', go: 'y' })).toBe("its Go build ID is y but the program's is x");
    expect(idMismatch({ gnu: 'aa', go: null }, { gnu: null, go: 'y' })).toBeNull();
  });

  it('reads the name and CRC32 objcopy --add-gnu-debuglink writes', () => {
    const link = readDebugLink(ElfFile.read(go119.stripped));
    expect(link).toEqual({ file: 'httpserver.debug', crc: fileCrc(readFileSync(go119.debug)) });
    expect(readDebugLink(ElfFile.read(go119.original))).toBeNull();
  });
});

describe('where a debug file is looked for', () => {
  it('lists the build-ID tree of each root, then beside the binary, .debug/, and each root + the binary\'s directory', () => {
    const c = candidates('/opt/app/bin/server', { gnu: 'abcdef12', go: 'x' }, { file: 'server.debug', crc: 7 }, ['/r1', '/r2']);
    expect(c.map((x) => [x.path, x.crc ?? null])).toEqual([
      ['/r1/.build-id/ab/cdef12.debug', null],
      ['/r2/.build-id/ab/cdef12.debug', null],
      ['/opt/app/bin/server.debug', 7],
      ['/opt/app/bin/.debug/server.debug', 7],
      ['/r1/opt/app/bin/server.debug', 7],
      ['/r2/opt/app/bin/server.debug', 7],
    ]);
    expect(c[0].how).toBe('found by its GNU build ID in /r1/.build-id');
    expect(candidates('/b', { gnu: null, go: 'ab/c' }, null, ['/r'])).toEqual([{ path: '/r/.build-id/61/622f63.debug', how: 'found by its Go build ID in /r/.build-id' }]);
  });

  it('takes the debug roots from WEAVER_DEBUG_FILE_DIRECTORY, colon-separated, else /usr/lib/debug', () => {
    expect(debugRoots({})).toEqual(['/usr/lib/debug']);
    expect(debugRoots({ WEAVER_DEBUG_FILE_DIRECTORY: '/a::/b' })).toEqual(['/a', '/b']);
  });

  it('finds the debug link beside the binary, in .debug/, and under a root', () => {
    const beside = layout(go119);
    expect(lookLocally(beside.bin)).toEqual({ found: { path: join(beside.dir, 'httpserver.debug'), how: 'found by .gnu_debuglink httpserver.debug, CRC32 checked' }, warnings: [] });

    const sub = layout(go119, false);
    mkdirSync(join(sub.dir, '.debug'));
    copyFileSync(go119.debug, join(sub.dir, '.debug', 'httpserver.debug'));
    expect(lookLocally(sub.bin).found?.path).toBe(join(sub.dir, '.debug', 'httpserver.debug'));

    const rooted = layout(go119, false);
    const root = join(work, `root-${caseNo}`);
    mkdirSync(join(root, rooted.dir), { recursive: true });
    copyFileSync(go119.debug, join(root, rooted.dir, 'httpserver.debug'));
    expect(lookLocally(rooted.bin, { WEAVER_DEBUG_FILE_DIRECTORY: `${join(work, 'empty')}:${root}` }).found?.path).toBe(join(root, rooted.dir, 'httpserver.debug'));
  });

  it('looks in the build-ID tree first, by the GNU build ID (1.27) and by Go\'s (1.19)', () => {
    for (const split of [go127, go119]) {
      const { bin } = layout(split);
      const root = join(work, `root-${caseNo}`);
      const ids = readBuildIds(ElfFile.read(split.original));
      const path = buildIdPath(root, lookupId(ids)!);
      mkdirSync(join(path, '..'), { recursive: true });
      copyFileSync(split.debug, path);
      const kind = ids.gnu ? 'GNU' : 'Go';
      expect(lookLocally(bin, { WEAVER_DEBUG_FILE_DIRECTORY: root })).toEqual({ found: { path, how: `found by its ${kind} build ID in ${root}/.build-id` }, warnings: [] });
    }
    expect(buildIdPath('/r', goIdHex(go119))).toBe(`/r/.build-id/${goIdHex(go119).slice(0, 2)}/${goIdHex(go119).slice(2)}.debug`);
  });

  it('skips a file whose CRC32 is not the one the link asks for, saying so', () => {
    const { dir, bin } = layout(go119, false);
    copyFileSync(go115.debug, join(dir, 'httpserver.debug'));
    const want = readDebugLink(ElfFile.read(bin))!.crc;
    const got = fileCrc(readFileSync(go115.debug));
    const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;
    expect(lookLocally(bin)).toEqual({
      found: null,
      warnings: [`${dir}/httpserver.debug is not the debug file of ${bin}: its CRC32 is ${hex(got)} but .gnu_debuglink asks for ${hex(want)}; skipped`],
    });
  });

  it('skips another build\'s file in the build-ID tree, saying so, and goes on to the debug link', () => {
    const { dir, bin } = layout(go119);
    const root = join(work, `root-${caseNo}`);
    const path = buildIdPath(root, goIdHex(go119));
    mkdirSync(join(path, '..'), { recursive: true });
    copyFileSync(go115.debug, path);
    const theirs = readBuildIds(ElfFile.read(go115.debug)).go;
    const ours = readBuildIds(ElfFile.read(go119.debug)).go;
    expect(lookLocally(bin, { WEAVER_DEBUG_FILE_DIRECTORY: root })).toEqual({
      found: { path: join(dir, 'httpserver.debug'), how: 'found by .gnu_debuglink httpserver.debug, CRC32 checked' },
      warnings: [`${path} is the debug file of another build: its Go build ID is ${theirs} but the program's is ${ours}; skipped`],
    });
  });

  it('finds nothing for a binary with neither a link nor a file in the tree, and -v says where it looked', async () => {
    const { dir, bin } = layout(go119, false);
    expect(lookLocally(bin)).toEqual({ found: null, warnings: [] });
    const root = join(work, 'root-none');
    const lines: string[] = [];
    expect(await findDebugFile(ElfFile.read(bin), { say: (l) => lines.push(l), verbose: true, env: { WEAVER_DEBUG_FILE_DIRECTORY: root } })).toBeNull();
    expect(lines).toEqual([
      `no separate debug info for ${bin}: looked for ${buildIdPath(root, goIdHex(go119))}, ${dir}/httpserver.debug, ${dir}/.debug/httpserver.debug, ${root}${dir}/httpserver.debug (DEBUGINFOD_URLS is not set)`,
    ]);
  });
});

describe('--debug-file', () => {
  const opts = { say: () => {}, verbose: false, env: {} };

  it('is used even when another is beside the binary, and checked by build ID', async () => {
    const { bin } = layout(go127);
    const found = await findDebugFile(ElfFile.read(bin), { ...opts, debugFile: go127.debug });
    expect(found && { path: found.path, how: found.how }).toEqual({ path: go127.debug, how: 'given with --debug-file' });
    const ids = readBuildIds(ElfFile.read(go127.original));
    const other = readBuildIds(ElfFile.read(go115.debug));
    await expect(findDebugFile(ElfFile.read(bin), { ...opts, debugFile: go115.debug })).rejects.toThrow(
      `${go115.debug} is not the debug file of ${bin}: its Go build ID is ${other.go} but the program's is ${ids.go}`,
    );
  });

  it('must hold DWARF', async () => {
    await expect(findDebugFile(ElfFile.read(go119.stripped), { ...opts, debugFile: go119.stripped })).rejects.toThrow(`${go119.stripped} has no DWARF debug information`);
  });
});

describe('the binary with its debug file', () => {
  it('reads DWARF from the debug file and everything else from the binary', async () => {
    const { bin } = layout(go119);
    const lines: string[] = [];
    const elf = await openWithDebugInfo(bin, { say: (l) => lines.push(l), verbose: true, env: { WEAVER_DEBUG_FILE_DIRECTORY: join(work, 'none') } });
    expect(lines).toEqual([`debug info from ${bin}.debug (found by .gnu_debuglink httpserver.debug, CRC32 checked)`]);
    const debug = ElfFile.read(go119.debug);
    expect(elf.section('.debug_info')!.data.equals(debug.section('.debug_info')!.data)).toBe(true);
    expect(elf.dwarfFile?.path).toBe(`${bin}.debug`);
    const info = goBinaryInfo(elf);
    const original = goBinaryInfo(ElfFile.read(go119.original));
    expect(info.hasDwarf).toBe(true);
    // The stripped copy's own addresses and file offsets (objcopy moves sections in the file).
    expect(info.functions.get('main.handleRequest')).toEqual({ ...original.functions.get('main.handleRequest'), fileOffset: ElfFile.read(bin).vaddrToFileOffset(original.functions.get('main.handleRequest')!.address) });
  });

  it('is another entry of the probe cache than the binary alone', async () => {
    const { bin } = layout(go119);
    const cacheDir = join(work, `probecache-${caseNo}`);
    const open = async (withDebug: boolean) => {
      const elf = withDebug ? await openWithDebugInfo(bin, { say: () => {}, verbose: false, env: {} }) : ElfFile.read(bin);
      const cache = ProbeCache.open(elf, { dir: cacheDir });
      const info = cache.binaryInfo(bin, () => goBinaryInfo(elf));
      cache.save();
      return { loaded: cache.loaded, hasDwarf: info.hasDwarf };
    };
    expect(await open(false)).toEqual({ loaded: false, hasDwarf: false });
    expect(await open(true)).toEqual({ loaded: false, hasDwarf: true });
    expect(await open(true)).toEqual({ loaded: true, hasDwarf: true });
    // A changed debug file is a miss too.
    const later = new Date(Date.now() + 5000);
    utimesSync(`${bin}.debug`, later, later);
    expect(await open(true)).toEqual({ loaded: false, hasDwarf: true });
  });
});

describe('debuginfod', () => {
  let server: Server;
  let url: string;
  /** Request paths answered with these bytes; everything else is 404, except /silent/ which never answers. */
  const files = new Map<string, Buffer>();
  const requests: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push(req.url!);
      if (req.url!.startsWith('/silent/')) return;
      const body = files.get(req.url!);
      if (!body) {
        res.writeHead(404).end('not found');
        return;
      }
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  function ask(bin: string, env: NodeJS.ProcessEnv, cache = true) {
    const lines: string[] = [];
    return findDebugFile(ElfFile.read(bin), { say: (l) => lines.push(l), verbose: false, cache, env: { WEAVER_DEBUG_FILE_DIRECTORY: join(work, 'none'), ...env } }).then((found) => ({
      found: found && { path: found.path, how: found.how },
      lines,
    }));
  }

  it('reads DEBUGINFOD_URLS and DEBUGINFOD_TIMEOUT', () => {
    expect(debuginfodUrls({ DEBUGINFOD_URLS: ' http://a/  https://b ' })).toEqual(['http://a', 'https://b']);
    expect(debuginfodTimeoutS({})).toBe(20);
    expect(debuginfodTimeoutS({ DEBUGINFOD_TIMEOUT: '3' })).toBe(3);
    expect(debuginfodTimeoutS({ DEBUGINFOD_TIMEOUT: 'soon' })).toBe(20);
  });

  it('says when the server has nothing (404) or cannot be reached, and goes on without', async () => {
    const { bin } = layout(go127, false);
    const id = readBuildIds(ElfFile.read(bin)).gnu!;
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    const cacheHome = join(work, `xdg-${caseNo}`);
    expect(await ask(bin, { DEBUGINFOD_URLS: `${url} ${closedUrl}/`, XDG_CACHE_HOME: cacheHome })).toEqual({
      found: null,
      lines: [
        `the debuginfod server ${url} has no debug information for build ID ${id} (HTTP 404)`,
        `the debuginfod server ${closedUrl} cannot be reached: ECONNREFUSED`,
      ],
    });
    expect(requests.at(-1)).toBe(`/buildid/${id}/debuginfo`);
    expect(existsSync(join(cacheHome, 'weaver', 'debuginfo'))).toBe(false);
  });

  it('gives up on a server that sends nothing for DEBUGINFOD_TIMEOUT seconds', async () => {
    const { bin } = layout(go127, false);
    const t0 = Date.now();
    expect(await ask(bin, { DEBUGINFOD_URLS: `${url}/silent`, DEBUGINFOD_TIMEOUT: '1', XDG_CACHE_HOME: join(work, 'xdg-silent') })).toEqual({
      found: null,
      lines: [`the debuginfod server ${url}/silent sent nothing for 1 s (DEBUGINFOD_TIMEOUT)`],
    });
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('downloads by Go build ID (hex) from the first server that has it, keeps it, and then needs no server', async () => {
    const { bin } = layout(go119, false);
    const id = goIdHex(go119);
    files.set(`/second/buildid/${id}/debuginfo`, readFileSync(go119.debug));
    const cacheHome = join(work, `xdg-${caseNo}`);
    const kept = join(cacheHome, 'weaver', 'debuginfo', `${id}.debug`);
    expect(await ask(bin, { DEBUGINFOD_URLS: `${url}/first ${url}/second`, XDG_CACHE_HOME: cacheHome })).toEqual({
      found: { path: kept, how: `downloaded from the debuginfod server ${url}/second` },
      // A server without the file is not worth a word when another has it.
      lines: [],
    });
    expect(requests.slice(-2)).toEqual([`/first/buildid/${id}/debuginfo`, `/second/buildid/${id}/debuginfo`]);
    expect(readFileSync(kept).equals(readFileSync(go119.debug))).toBe(true);
    const n = requests.length;
    expect(await ask(bin, { DEBUGINFOD_URLS: `${url}/first`, XDG_CACHE_HOME: cacheHome })).toEqual({
      found: { path: kept, how: 'kept from an earlier debuginfod download' },
      lines: [],
    });
    expect(requests.length).toBe(n);
    // --no-cache: neither read nor written.
    expect((await ask(bin, { DEBUGINFOD_URLS: `${url}/first`, XDG_CACHE_HOME: cacheHome }, false)).found).toBeNull();
  });

  it('refuses another build\'s file from a server and does not keep it', async () => {
    const { bin } = layout(go127, false);
    const id = readBuildIds(ElfFile.read(bin)).gnu!;
    files.set(`/wrong/buildid/${id}/debuginfo`, readFileSync(go115.debug));
    const cacheHome = join(work, `xdg-${caseNo}`);
    const theirs = readBuildIds(ElfFile.read(go115.debug)).go;
    const ours = readBuildIds(ElfFile.read(bin)).go;
    expect(await ask(bin, { DEBUGINFOD_URLS: `${url}/wrong`, XDG_CACHE_HOME: cacheHome })).toEqual({
      found: null,
      lines: [`the file from ${url}/wrong is the debug file of another build: its Go build ID is ${theirs} but the program's is ${ours}`],
    });
    expect(existsSync(join(cacheHome, 'weaver', 'debuginfo', `${id}.debug`))).toBe(false);
  });

  it('keeps the most recently used files only', () => {
    const dir = join(work, 'prune');
    mkdirSync(dir);
    for (let i = 0; i < 4; i++) {
      writeFileSync(join(dir, `${i}.debug`), Buffer.alloc(100));
      utimesSync(join(dir, `${i}.debug`), 1000 + i, 1000 + i);
    }
    pruneDebugCache(dir, 2);
    expect(readdirSync(dir).sort()).toEqual(['2.debug', '3.debug']);
    pruneDebugCache(dir, 32, 150);
    expect(readdirSync(dir)).toEqual(['3.debug']);
  });
});

