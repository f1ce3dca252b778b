// What looking for separate debug info adds to a start (src/binary/debuginfo/):
// findDebugFile on a program already read, for the newest toolchain's
// httpserver fixture unstripped (no lookup: it has DWARF), split with objcopy
// with its debug file beside it (.gnu_debuglink: read, CRC32, parse), and
// stripped with no debug file anywhere (a few stat calls). Then a debuginfod
// download from a server on 127.0.0.1, cold (HTTP + write to the cache) and
// from the cache. Min and median of N runs; the load average is printed.
//
// Usage: node bench/debuginfo.mjs [runs]   (after npx tsc; fixtures built)

import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { findDebugFile, lookupId, readBuildIds } from '../dist/binary/debuginfo/index.js';
import { ElfFile } from '../dist/binary/elf/file.js';

const runs = Number(process.argv[2] ?? 21);
const manifest = JSON.parse(readFileSync(new URL('../fixtures/build/manifest.json', import.meta.url), 'utf8'));
const newest = manifest.builds.filter((b) => b.fixture === 'httpserver' && b.variant === 'normal').sort((a, b) => a.toolchain.localeCompare(b.toolchain, undefined, { numeric: true })).at(-1);
const work = mkdtempSync(join(tmpdir(), 'weaver-bench-debuginfo-'));
const bin = join(work, 'httpserver');
copyFileSync(newest.path, bin);
execFileSync('objcopy', ['--only-keep-debug', bin, `${bin}.debug`]);
execFileSync('objcopy', ['--strip-debug', `--add-gnu-debuglink=${bin}.debug`, bin]);
mkdirSync(join(work, 'alone'));
copyFileSync(bin, join(work, 'alone', 'httpserver'));

const say = () => {};
async function time(name, elf, env) {
  const t = [];
  for (let i = 0; i < runs; i++) {
    const a = process.hrtime.bigint();
    await findDebugFile(elf, { say, verbose: false, env: env() });
    t.push(Number(process.hrtime.bigint() - a) / 1e6);
  }
  t.sort((x, y) => x - y);
  console.log(`| ${name} | ${t[0].toFixed(2)} | ${t[t.length >> 1].toFixed(2)} |`);
}

const body = readFileSync(`${bin}.debug`);
const server = createServer((req, res) => res.writeHead(200, { 'content-length': body.length }).end(body));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}`;
const none = join(work, 'no-root');
let n = 0;

console.log(`Go ${newest.toolchain} httpserver, debug file ${(body.length / 1e6).toFixed(1)} MB, ${runs} runs, load ${loadavg()[0].toFixed(1)}`);
console.log('| case | min ms | median ms |\n| --- | ---: | ---: |');
await time('unstripped: has DWARF, no lookup', ElfFile.read(newest.path), () => ({ WEAVER_DEBUG_FILE_DIRECTORY: none }));
await time('debug file beside (.gnu_debuglink)', ElfFile.read(bin), () => ({ WEAVER_DEBUG_FILE_DIRECTORY: none }));
const alone = ElfFile.read(join(work, 'alone', 'httpserver'));
await time('none anywhere', alone, () => ({ WEAVER_DEBUG_FILE_DIRECTORY: none }));
await time('debuginfod on 127.0.0.1, download', alone, () => ({ WEAVER_DEBUG_FILE_DIRECTORY: none, DEBUGINFOD_URLS: url, XDG_CACHE_HOME: join(work, `xdg-${++n}`) }));
await time('debuginfod, from the cache', alone, () => ({ WEAVER_DEBUG_FILE_DIRECTORY: none, DEBUGINFOD_URLS: url, XDG_CACHE_HOME: join(work, 'xdg-1') }));
console.log(`load after: ${loadavg()[0].toFixed(1)}; build ID ${lookupId(readBuildIds(alone))}`);
server.close();
rmSync(work, { recursive: true, force: true });
