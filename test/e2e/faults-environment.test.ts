// What the machine lacks, one sentence each with what to do: not root, root
// without CAP_BPF/CAP_PERFMON/CAP_SYS_ADMIN, clang missing or failing; and
// what weaver works around: an unwritable compile cache (a file in the way,
// a read-only mount) costs only the cache, and tracefs unmounted changes
// nothing because libbpf attaches through the uprobe PMU. Mounts are made in
// a private mount namespace (unshare -m), so the machine is never touched.
//
// Not simulated: BPF missing from the kernel, and the uprobe PMU missing
// (neither can be taken away from one process without a different kernel).

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureBuild } from '../helpers/fixtures.js';
import { requireBpfOrSkip, runProcess, WEAVER_BIN } from '../helpers/weaver.js';

const canRun = requireBpfOrSkip();
const NEEDS_ROOT = [
  'weaver: loading BPF programs and attaching uprobes needs root (or CAP_BPF and CAP_PERFMON)',
  '  run it with sudo',
];

let dir: string;
let bin: string;
let funcs: string;
/** A directory with node and nothing else, for PATH. */
let nodeOnly: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'weaver-env-'));
  chmodSync(dir, 0o755);
  bin = canRun ? fixtureBuild({ fixture: 'goroutines', toolchain: '1.19' }).path : '';
  funcs = join(dir, 'funcs.txt');
  writeFileSync(funcs, 'main.work(id int, iter int, tag string)\n');
  chmodSync(funcs, 0o644);
  nodeOnly = join(dir, 'bin');
  mkdirSync(nodeOnly);
  symlinkSync(process.execPath, join(nodeOnly, 'node'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function lines(text: string): string[] {
  return text.trimEnd().split('\n');
}

/** Launch mode on the goroutines fixture: 8 goroutines × 50 calls, events to a file. */
function launchArgs(extra: string[] = []): string[] {
  return [WEAVER_BIN, '-f', funcs, ...extra, '-o', join(dir, 'events.jsonl'), '--', bin, '-quiet'];
}

describe.skipIf(!canRun)('missing privileges', () => {
  it('not root (run as nobody): exit 3, run it with sudo', async () => {
    const r = await runProcess('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, WEAVER_BIN, bin, '-f', funcs]);
    expect({ code: r.code, stderr: lines(r.stderr), stdout: r.stdout }).toEqual({ code: 3, stderr: NEEDS_ROOT, stdout: '' });
  });

  it('root without CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN: the same', async () => {
    const drop = '-bpf,-perfmon,-sys_admin';
    const r = await runProcess('setpriv', [`--bounding-set=${drop}`, `--inh-caps=${drop}`, process.execPath, WEAVER_BIN, bin, '-f', funcs]);
    expect({ code: r.code, stderr: lines(r.stderr) }).toEqual({ code: 3, stderr: NEEDS_ROOT });
  });
});

describe.skipIf(!canRun)('clang', () => {
  it('missing from PATH: exit 3, install it', async () => {
    const r = await runProcess(process.execPath, [WEAVER_BIN, bin, '-f', funcs], { env: { ...process.env, PATH: nodeOnly } });
    expect({ code: r.code, stderr: lines(r.stderr) }).toEqual({
      code: 3,
      stderr: ['weaver: clang is not installed, and weaver needs it to compile its BPF programs', '  run npm run setup, or apt-get install clang'],
    });
  });

  it('failing: its first error, and where to look', async () => {
    const fake = join(dir, 'fakeclang');
    mkdirSync(fake);
    writeFileSync(join(fake, 'clang'), '#!/bin/sh\n[ "$1" = --version ] && { echo "fake clang 1"; exit 0; }\necho "x.c:1:1: error: fake failure" >&2\nexit 1\n');
    chmodSync(join(fake, 'clang'), 0o755);
    symlinkSync(process.execPath, join(fake, 'node'));
    const r = await runProcess(process.execPath, [WEAVER_BIN, bin, '-f', funcs], { env: { ...process.env, PATH: fake } });
    expect({ code: r.code, stderr: lines(r.stderr) }).toEqual({
      code: 1,
      stderr: [
        'weaver: clang could not compile the generated BPF program: fake failure',
        '  run with --emit c to see the generated program, and -v for the full compiler output',
      ],
    });
  });
});

describe.skipIf(!canRun)('an unwritable compile cache costs only the cache', () => {
  const warning = (cache: string) =>
    new RegExp(`^weaver: compile cache ${cache}/weaver/bpf is not writable \\([A-Z]+: [^)]*\\); compiling without it$`, 'm');

  it('XDG_CACHE_HOME is a file', async () => {
    const file = join(dir, 'cache-file');
    writeFileSync(file, '');
    const r = await runProcess(process.execPath, launchArgs(), { env: { ...process.env, XDG_CACHE_HOME: file } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(warning(file));
    expect(r.stderr).toMatch(/^weaver: 400 events in [\d.]+m?s, none lost/m);
    expect(readFileSync(join(dir, 'events.jsonl'), 'utf8').split('\n').filter(Boolean).length).toBe(400);
  });

  it('XDG_CACHE_HOME is a read-only mount', async () => {
    const ro = join(dir, 'ro-cache');
    mkdirSync(ro);
    const script = `mount -t tmpfs -o ro tmpfs "$1" && shift && exec "$@"`;
    const r = await runProcess('unshare', ['-m', 'sh', '-c', script, 'sh', ro, process.execPath, ...launchArgs()], {
      env: { ...process.env, XDG_CACHE_HOME: ro },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(warning(ro));
    expect(r.stderr).toMatch(/^weaver: 400 events in [\d.]+m?s, none lost/m);
  });
});

describe.skipIf(!canRun)('tracefs', () => {
  it('unmounted (in a private mount namespace): tracing works the same', async () => {
    const script = 'umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug/tracing 2>/dev/null; test ! -e /sys/kernel/tracing/uprobe_events && exec "$@"';
    const r = await runProcess('unshare', ['-m', 'sh', '-c', script, 'sh', process.execPath, ...launchArgs()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^weaver: 400 events in [\d.]+m?s, none lost/m);
    // The machine's own tracefs is untouched.
    expect(execFileSync('sh', ['-c', 'test -e /sys/kernel/tracing/uprobe_events && echo yes'], { encoding: 'utf8' }).trim()).toBe('yes');
  });
});
