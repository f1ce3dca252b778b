// End to end, separate debug info: the httpserver fixture split as
// distributions ship programs (objcopy --only-keep-debug / --strip-debug /
// --add-gnu-debuglink) must list and trace as the unstripped build does, with
// its debug file found beside it by .gnu_debuglink, in a build-ID tree (by the
// GNU build ID on Go 1.27, by Go's build ID on 1.15 and 1.19), and from a
// debuginfod server started here on 127.0.0.1; a server without the file
// says so and weaver goes on without DWARF.

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIdPath, lookupId, readBuildIds } from '../../src/binary/debuginfo/index.js';
import { ElfFile } from '../../src/binary/elf/file.js';
import { splitDebugInfo, type SplitBinary } from '../helpers/debugsplit.js';
import { fixtureBuild, newestToolchain } from '../helpers/fixtures.js';
import { parseLosslessJson, type LosslessJson } from '../helpers/losslessJson.js';
import { requireBpfOrSkip, runWeaver, startTracer } from '../helpers/weaver.js';

const canRun = requireBpfOrSkip();
const PACKAGES = 'main,net/url';
const TOOLCHAINS = ['1.15', '1.19', newestToolchain()];

let work: string;
let server: Server;
let serverUrl: string;
/** What the debuginfod server has, by request path. */
const served = new Map<string, Buffer>();

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'weaver-debug-file-'));
  server = createServer((req, res) => {
    const body = served.get(req.url!);
    if (body) res.writeHead(200, { 'content-length': body.length }).end(body);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(work, { recursive: true, force: true });
});

/** An environment that finds nothing in /usr/lib/debug and has no debuginfod server or shared cache. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, WEAVER_DEBUG_FILE_DIRECTORY: join(work, 'no-debug-root'), ...extra };
  if (!('DEBUGINFOD_URLS' in extra)) delete env.DEBUGINFOD_URLS;
  return env;
}

/** A directory holding only a copy of the stripped binary. */
function alone(split: SplitBinary, name: string): string {
  const dir = join(work, name);
  mkdirSync(dir);
  copyFileSync(split.stripped, join(dir, 'httpserver'));
  return join(dir, 'httpserver');
}

async function list(binary: string, env: NodeJS.ProcessEnv, extra: string[] = []) {
  const run = await runWeaver(['list', binary, '-p', PACKAGES, '-v', ...extra], { env });
  expect(run.code, run.stderr).toBe(0);
  return run;
}

/** The events of a launched server's one request, without addresses (they differ between builds). */
async function traceOneRequest(binary: string, env: NodeJS.ProcessEnv, extra: string[] = []): Promise<string[]> {
  const tracer = await startTracer(['-p', 'main', '--depth', '0', '--format', 'json', ...extra, '--', binary, '-exit-after', '1'], { env });
  // The launched server's own stdout goes to stderr while events go to a piped stdout.
  const listening = () => tracer.stderr().split('\n').find((l) => l.startsWith('LISTENING '));
  for (let i = 0; i < 200 && !listening(); i++) await new Promise((r) => setTimeout(r, 100));
  expect(listening(), tracer.stderr()).toBeDefined();
  const address = listening()!.split(' ')[1];
  await new Promise<void>((resolve) => {
    get({ host: address!.split(':')[0], port: address!.split(':')[1], path: '/items/tea?q=green', headers: { 'user-agent': 'weaver-test' } }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    }).on('error', () => resolve());
  });
  // The server exits after its request, and weaver with it.
  expect(await tracer.waitFor(() => tracer.child.exitCode !== null, 20000)).toBe(true);
  const result = await tracer.stop();
  expect(result.code, result.stderr).toBe(0);
  return tracer
    .lines()
    .filter((l) => l.startsWith('{"ts"'))
    .map((l) => {
      const e = parseLosslessJson(l) as { function: string; args: LosslessJson };
      return `${e.function} ${JSON.stringify(e.args, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x)).replace(/"0x[0-9a-f]+"/g, '"0x…"')}`;
    })
    .sort();
}

/** Each toolchain's split build and its unstripped `weaver list`. */
const splits = new Map<string, { split: SplitBinary; unstripped: string }>();

describe.skipIf(!canRun)('stripped, with the debug file', () => {
  beforeAll(async () => {
    await Promise.all(
      TOOLCHAINS.map(async (toolchain) => {
        const dir = join(work, `go${toolchain}`);
        mkdirSync(dir);
        const split = splitDebugInfo(fixtureBuild({ fixture: 'httpserver', toolchain, variant: 'normal' }).path, dir, 'httpserver');
        const unstripped = (await list(split.original, cleanEnv())).stdout;
        expect(unstripped.split('\n')).toContain('main.handleRequest(method string, path string, status int, query string, userAgentLen int) (int64)');
        splits.set(toolchain, { split, unstripped });
      }),
    );
  }, 120_000);

  // The toolchains run side by side: most of the time is waiting for processes.
  it.concurrent.each(TOOLCHAINS)('Go %s: weaver list is the unstripped one with the debug link beside, a build-ID tree, debuginfod', async (toolchain) => {
    const { split, unstripped } = splits.get(toolchain)!;
    const ids = readBuildIds(ElfFile.read(split.stripped));
    const id = lookupId(ids)!;
    const root = join(work, `root-${toolchain}`);
    const inTree = buildIdPath(root, id);
    mkdirSync(join(inTree, '..'), { recursive: true });
    copyFileSync(split.debug, inTree);
    served.set(`/buildid/${id}/debuginfo`, readFileSync(split.debug));
    const cacheHome = join(work, `xdg-${toolchain}`);
    const [beside, tree, debuginfod] = await Promise.all([
      list(split.stripped, cleanEnv()),
      list(alone(split, `tree-${toolchain}`), cleanEnv({ WEAVER_DEBUG_FILE_DIRECTORY: root })),
      list(alone(split, `debuginfod-${toolchain}`), cleanEnv({ DEBUGINFOD_URLS: serverUrl, XDG_CACHE_HOME: cacheHome })),
    ]);
    expect(beside.stdout).toBe(unstripped);
    expect(beside.stderr).toContain(`weaver: debug info from ${split.debug} (found by .gnu_debuglink httpserver.debug, CRC32 checked)\n`);
    expect(tree.stdout).toBe(unstripped);
    expect(tree.stderr).toContain(`weaver: debug info from ${inTree} (found by its ${ids.gnu ? 'GNU' : 'Go'} build ID in ${root}/.build-id)\n`);
    expect(debuginfod.stdout).toBe(unstripped);
    expect(debuginfod.stderr).toContain(`weaver: debug info from ${cacheHome}/weaver/debuginfo/${id}.debug (downloaded from the debuginfod server ${serverUrl})\n`);
  }, 120_000);

  // Each toolchain exercises a different way of finding the file.
  const WAYS: Record<string, 'beside' | 'tree' | 'flag'> = { '1.15': 'beside', '1.19': 'tree', [newestToolchain()]: 'flag' };
  it.concurrent.each(TOOLCHAINS)('Go %s: traces the same values as the unstripped build', async (toolchain) => {
    const { split } = splits.get(toolchain)!;
    const way = WAYS[toolchain];
    const binary = way === 'beside' ? split.stripped : alone(split, `trace-${toolchain}`);
    const root = join(work, `trace-root-${toolchain}`);
    if (way === 'tree') {
      const inTree = buildIdPath(root, lookupId(readBuildIds(ElfFile.read(binary)))!);
      mkdirSync(join(inTree, '..'), { recursive: true });
      copyFileSync(split.debug, inTree);
    }
    const env = cleanEnv(way === 'tree' ? { WEAVER_DEBUG_FILE_DIRECTORY: root } : {});
    const [expected, traced] = await Promise.all([
      traceOneRequest(split.original, cleanEnv()),
      traceOneRequest(binary, env, way === 'flag' ? ['--debug-file', split.debug] : []),
    ]);
    expect(expected.find((e) => e.startsWith('main.handleRequest '))).toBe(
      'main.handleRequest [{"name":"method","type":"string","value":"GET"},{"name":"path","type":"string","value":"/items/tea"},{"name":"status","type":"int","value":"200n"},{"name":"query","type":"string","value":"green"},{"name":"userAgentLen","type":"int","value":"11n"}]',
    );
    expect(traced).toEqual(expected);
  }, 120_000);
});

describe.skipIf(!canRun)('errors', () => {
  it('says when the debuginfod server has nothing, and lists names only', async () => {
    const dir = join(work, 'nothing');
    mkdirSync(dir);
    const split = splitDebugInfo(fixtureBuild({ fixture: 'httpserver', toolchain: newestToolchain(), variant: 'normal' }).path, dir, 'httpserver');
    const bin = alone(split, 'nothing-alone');
    const id = readBuildIds(ElfFile.read(bin)).gnu!;
    const run = await runWeaver(['list', bin, '-p', 'main'], { env: cleanEnv({ DEBUGINFOD_URLS: `${serverUrl}/empty`, XDG_CACHE_HOME: join(work, 'xdg-nothing') }) });
    expect([run.code, run.stderr]).toEqual([
      0,
      `weaver: the debuginfod server ${serverUrl}/empty has no debug information for build ID ${id} (HTTP 404)\n` +
        `weaver: ${bin} has no DWARF debug information: names only, commented out; write each function's parameter types to trace its arguments\n`,
    ]);
  });

  it('refuses --debug-file of another build, in one sentence, with exit status 1', async () => {
    const a = fixtureBuild({ fixture: 'httpserver', toolchain: '1.19', variant: 'stripped' }).path;
    const b = fixtureBuild({ fixture: 'httpserver', toolchain: '1.15', variant: 'normal' }).path;
    const theirs = readBuildIds(ElfFile.read(b)).go;
    const ours = readBuildIds(ElfFile.read(a)).go;
    const run = await runWeaver([a, '-p', 'main', '--debug-file', b, '--emit', 'c'], { env: cleanEnv() });
    expect([run.code, run.stderr]).toEqual([
      1,
      `weaver: ${b} is not the debug file of ${a}: its Go build ID is ${theirs} but the program's is ${ours}\n  give the debug file made from this very build of the program\n`,
    ]);
  });
});
