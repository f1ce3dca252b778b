// Weaver must only read the traced program: no helper that writes user
// memory, sends signals or overrides returns, and no uretprobes (which
// rewrite return addresses on goroutine stacks that Go moves). Checked two
// ways: the sources (native binding, shared BPF header, TypeScript), and the
// compiled objects for every fixture's functions, whose helper calls must
// all be on a list of read-only helpers and whose programs are all entry
// uprobes.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileBpf } from '../../src/bpf/compile.js';
import { buildTraceSpec } from '../../src/bpf/tracespec.js';
import { fixtureBuilds } from '../helpers/fixtures.js';
import { REPO_ROOT } from './robust-support.js';

/** Helpers that only read, count, time or hand records to user space. */
const READ_ONLY_HELPERS = new Set([
  'map_lookup_elem',
  // Map helpers touch only weaver's own maps (counters, scratch, --returns pairing), never user memory.
  'map_update_elem',
  'map_delete_elem',
  'probe_read',
  'probe_read_str',
  'probe_read_user',
  'probe_read_user_str',
  'probe_read_kernel',
  'probe_read_kernel_str',
  'ktime_get_ns',
  'ktime_get_boot_ns',
  'get_current_pid_tgid',
  'get_current_task',
  'get_current_task_btf',
  'get_smp_processor_id',
  'get_current_comm',
  'perf_event_output',
  'ringbuf_output',
  'ringbuf_reserve',
  'ringbuf_submit',
  'ringbuf_discard',
  'ringbuf_query',
  'get_prandom_u32',
  'trace_printk',
  'loop',
  // The dispatcher reads which probe fired (the cookie of its uprobe_multi link).
  'get_attach_cookie',
]);

/** Words that must not appear in any source that builds or loads a program. */
const FORBIDDEN_WORDS = [
  /bpf_probe_write_user/,
  /bpf_override_return/,
  /bpf_send_signal/,
  /SEC\("uretprobe/,
  /attach_uretprobe/,
  /retprobe\s*[=:]\s*(true|1)\b/,
  /UPROBE_MULTI_RETURN/,
  /uprobe_flags\s*=/,
];

/** Helper names by number, in the order linux/bpf.h lists them (FN(unspec) is 0). */
function helperNames(): string[] {
  const header = readFileSync('/usr/include/linux/bpf.h', 'utf8');
  const start = header.indexOf('#define __BPF_FUNC_MAPPER(FN)');
  const names: string[] = [];
  for (const line of header.slice(start).split('\n').slice(1)) {
    const m = /FN\((\w+)/.exec(line);
    if (m) names.push(m[1]!);
    if (!line.trimEnd().endsWith('\\')) break;
  }
  return names;
}

function filesUnder(dir: string, ext: RegExp): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path, ext));
    else if (ext.test(name)) out.push(path);
  }
  return out;
}

describe('sources', () => {
  const sources = [
    ...filesUnder(join(REPO_ROOT, 'native/src'), /\.[ch]$/),
    ...filesUnder(join(REPO_ROOT, 'bpf'), /\.[ch]$/),
    ...filesUnder(join(REPO_ROOT, 'src'), /\.ts$/),
  ];

  it('there are sources to check', () => {
    expect(sources.some((f) => f.endsWith('native/src/main.c'))).toBe(true);
    expect(sources.some((f) => f.endsWith('bpf/weaver.h'))).toBe(true);
  });

  it.each(FORBIDDEN_WORDS.map((w) => [String(w)]))('no source uses %s', (word) => {
    const re = FORBIDDEN_WORDS.find((w) => String(w) === word)!;
    expect(sources.filter((f) => re.test(readFileSync(f, 'utf8'))).map((f) => f.slice(REPO_ROOT.length))).toEqual([]);
  });

  it('the binding attaches through one libbpf call, with retprobe false (and uprobe_multi links with no flags: no return probes)', () => {
    const native = filesUnder(join(REPO_ROOT, 'native/src'), /\.c$/).map((f) => readFileSync(f, 'utf8')).join('\n');
    const attachCalls = native.match(/bpf_program__attach\w*\(/g) ?? [];
    expect(new Set(attachCalls)).toEqual(new Set(['bpf_program__attach_uprobe_opts(']));
    expect(native).toMatch(/LIBBPF_OPTS\(bpf_uprobe_opts, \w+, \.retprobe = false/);
  });
});

describe('compiled programs for the fixtures', () => {
  const names = helperNames();
  const work = mkdtempSync(join(tmpdir(), 'weaver-integrity-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('linux/bpf.h numbers the helpers as the kernel does', () => {
    // Fixed by the kernel ABI: a wrong parse would make the check below meaningless.
    expect([names[1], names[4], names[36], names[112]]).toEqual(['map_lookup_elem', 'probe_read', 'probe_write_user', 'probe_read_user']);
  });

  const builds = fixtureBuilds({ variant: 'normal' }).filter((b) => b.funcs && (b.toolchain === '1.15' || b.toolchain === '1.22'));
  const cases = builds.flatMap((b) => [false, true].map((returns) => ({ label: `go${b.toolchain} ${b.fixture}${returns ? ' --returns' : ''}`, build: b, returns })));

  it.each(cases)('$label: only read-only helpers, only entry uprobes', async ({ build, returns }) => {
    const spec = buildTraceSpec({
      binaryPath: build.path,
      functionsFile: build.funcs!,
      packages: ['main'],
      returns,
      plan: { stringSize: 64, maxElements: 16, maxRecordSize: 16384 },
    } as Parameters<typeof buildTraceSpec>[0]);
    const { object } = await compileBpf(spec.cSource, { cacheDir: null });
    const objPath = join(work, 'prog.o');
    writeFileSync(objPath, object);

    const sections = execFileSync('llvm-objdump', ['-h', objPath], { encoding: 'utf8' })
      .split('\n')
      .map((l) => /^\s*\d+\s+(\S+)/.exec(l)?.[1])
      .filter((s): s is string => s !== undefined && /probe/.test(s) && !s.startsWith('.rel'));
    expect(sections.length).toBeGreaterThan(0);
    expect(sections.filter((s) => s !== 'uprobe')).toEqual([]);

    const called = new Set<string>();
    for (const line of execFileSync('llvm-objdump', ['-d', objPath], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n')) {
      // 85 = BPF_JMP|BPF_CALL; the next byte's high nibble is src_reg: 0 helper, 1 BPF function, 2 kfunc.
      const m = /:\s+85 ([0-9a-f]{2}) 00 00 ([0-9a-f]{2}) ([0-9a-f]{2}) ([0-9a-f]{2}) ([0-9a-f]{2})/.exec(line);
      if (!m) continue;
      const src = parseInt(m[1]!, 16) >> 4;
      if (src === 1) continue;
      const id = parseInt(m[5]! + m[4]! + m[3]! + m[2]!, 16);
      called.add(src === 0 ? names[id] ?? `helper #${id}` : `kfunc #${id}`);
    }
    expect(called.size).toBeGreaterThan(0);
    expect([...called].filter((h) => !READ_ONLY_HELPERS.has(h))).toEqual([]);
  });
});
