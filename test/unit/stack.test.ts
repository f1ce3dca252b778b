// --stack, without the kernel: line tables read from .gopclntab against
// `go tool objdump` of the same builds, the stack tail of an entry record,
// frames as text and JSON, the flags, and probe placement that keeps RBP.

import { execFileSync } from 'node:child_process';
import { basename, join } from 'node:path';
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildCli, type TraceFlags } from '../../src/cli/flags.js';
import { RecordDecoder, MalformedRecordError } from '../../src/events/decode.js';
import { ElfFile } from '../../src/binary/elf/file.js';
import { findPclntab } from '../../src/binary/elf/pclntab.js';
import { LineTable } from '../../src/binary/elf/pcline.js';
import type { FunctionPlan } from '../../src/spec/plan.js';
import { HEADER_SIZE, RECORD_KIND, STACK_TAIL, stackTailCDeclaration, stackTailSize } from '../../src/spec/record.js';
import { StackSymbols, stackFormatter } from '../../src/output/stack.js';
import { CallStats, callStatsJson } from '../../src/output/callstats.js';
import { withStackTail } from '../../src/bpf/tracespec.js';
import { chooseEntryProbe } from '../../src/binary/x86/prologue.js';
import { fixtureBuilds } from '../helpers/fixtures.js';

describe('line tables (src/binary/elf/pcline.ts) give what go tool objdump shows for every instruction', () => {
  const builds = fixtureBuilds({ fixture: 'httpserver' }).filter((b) => b.variant !== 'stripped');
  it('covers every toolchain (pclntab layouts of Go 1.2, 1.18 and 1.20; none builds the 1.16 one)', () => {
    expect(new Set(builds.map((b) => b.toolchain))).toEqual(new Set(['1.15', '1.19', '1.22', '1.24', '1.27']));
  });
  // Go's objdump shows no lines for its own PIE builds before 1.22 (`:0` on
  // every instruction); the newest toolchain's objdump reads them.
  const newest = builds.find((x) => x.toolchain === '1.27')!.goroot;
  const objdumpOf = (b: (typeof builds)[number]) => (b.variant === 'pie' && ['1.15', '1.19'].includes(b.toolchain) ? newest : b.goroot);
  for (const b of builds) {
    it(`Go ${b.toolchain} ${b.variant}`, () => {
      const out = execFileSync(join(objdumpOf(b), 'bin/go'), ['tool', 'objdump', '-s', '^main\\.', b.path], { encoding: 'utf8', maxBuffer: 1 << 26 });
      const table = new LineTable(findPclntab(ElfFile.read(b.path))!, b.path);
      const want: string[] = [];
      const got: string[] = [];
      let func = '';
      for (const line of out.split('\n')) {
        const text = /^TEXT (\S+)\(SB\)/.exec(line);
        if (text) func = text[1]!;
        const m = /^\s+(\S+):(\d+)\s+0x([0-9a-f]+)/.exec(line);
        if (!m) continue;
        const at = table.lookup(parseInt(m[3]!, 16))!;
        want.push(`${func} ${m[1]}:${m[2]}`);
        // objdump shows the base name of the file; the table holds the full path.
        got.push(`${at.func} ${basename(at.file)}:${at.line}`);
      }
      expect(want.length).toBeGreaterThan(200);
      expect(got).toEqual(want);
    });
  }

  it('a stripped build answers as the unstripped one, and an address outside every function gets null', () => {
    for (const toolchain of ['1.15', '1.27']) {
      const [full, stripped] = ['normal', 'stripped'].map((variant) => {
        const b = fixtureBuilds({ fixture: 'httpserver', toolchain, variant: variant as 'normal' | 'stripped' })[0]!;
        return new LineTable(findPclntab(ElfFile.read(b.path))!, b.path);
      });
      const main = fixtureBuilds({ fixture: 'httpserver', toolchain, variant: 'normal' })[0]!;
      const text = ElfFile.read(main.path).section('.text')!;
      for (let pc = text.addr; pc < text.addr + text.data.length; pc += 997) expect(stripped!.lookup(pc)).toEqual(full!.lookup(pc));
      expect(full!.lookup(1)).toBeNull();
    }
  });
});

/** One traced function with a stack tail of `frames` after a header-only record, probed at 0x401000. */
function stackPlan(frames: number): FunctionPlan {
  return withStackTail({ id: 0, name: 'main.f', abi: 'register', args: [], stackArea: null, recordSize: HEADER_SIZE }, frames, 0x401000);
}

function record(plan: FunctionPlan, ip: bigint, pcs: bigint[], count = pcs.length): DataView {
  const view = new DataView(new ArrayBuffer(plan.recordSize));
  view.setUint32(0, RECORD_KIND.call, true);
  const at = plan.stack!.offset;
  view.setUint32(at + STACK_TAIL.count, count, true);
  view.setBigUint64(at + STACK_TAIL.ip, ip, true);
  pcs.forEach((pc, i) => view.setBigUint64(at + STACK_TAIL.pcs + 8 * i, pc, true));
  return view;
}

describe('the stack tail of an entry record', () => {
  it('is appended to the record: 16 bytes and 8 a frame, declared in C from the same offsets', () => {
    const plan = stackPlan(4);
    expect(plan.stack).toEqual({ offset: HEADER_SIZE, frames: 4, probeAddress: 0x401000 });
    expect(plan.recordSize).toBe(HEADER_SIZE + 16 + 32);
    expect(stackTailSize(64)).toBe(528);
    expect(stackTailCDeclaration(4)).toContain('#define WEAVER_STACK_DEPTH 4\nstruct weaver_stack_tail {');
    expect(stackTailCDeclaration(4)).toContain('_Static_assert(sizeof(struct weaver_stack_tail) == 48, "stack tail size");');
    expect(withStackTail(plan, undefined, 0)).toBe(plan);
  });

  it('decodes as link-time return addresses: the load bias is the probe address seen minus the linked one', () => {
    const plan = stackPlan(4);
    const decoder = new RecordDecoder([plan], 0n);
    const plain = record(plan, 0x401000n, [0x401234n, 0x402000n]);
    expect(decoder.decode(plain, 0, plain.byteLength).stack).toEqual([0x401234n, 0x402000n]);
    const pie = record(plan, 0x7f0000401000n, [0x7f0000401234n, 0x7f0000402000n, 0x7f0000403000n, 0x7f0000404000n]);
    expect(decoder.decode(pie, 0, pie.byteLength).stack).toEqual([0x401234n, 0x402000n, 0x403000n, 0x404000n]);
    const empty = record(plan, 0x401000n, []);
    expect(decoder.decode(empty, 0, empty.byteLength).stack).toEqual([]);
  });

  it('rejects a count larger than the tail, and a record too short for it', () => {
    const plan = stackPlan(4);
    const decoder = new RecordDecoder([plan], 0n);
    const over = record(plan, 0x401000n, [], 5);
    expect(() => decoder.decode(over, 0, over.byteLength)).toThrow(new MalformedRecordError('record for main.f has no valid call stack of at most 4 frames at offset 64'));
    const short = new RecordDecoder([{ ...plan, recordSize: HEADER_SIZE + 16 }], 0n);
    expect(() => short.decode(over, 0, HEADER_SIZE + 16)).toThrow(MalformedRecordError);
  });
});

describe('frames shown under the call', () => {
  const b = fixtureBuilds({ fixture: 'httpserver', toolchain: '1.27', variant: 'normal' })[0]!;
  const symbols = StackSymbols.forBinary(ElfFile.read(b.path), b.path);
  const table = new LineTable(findPclntab(ElfFile.read(b.path))!, b.path);
  // A return address: the instruction after a CALL in main.main, named by the CALL's own line (pc − 1).
  const out = execFileSync(join(b.goroot, 'bin/go'), ['tool', 'objdump', '-s', '^main\\.main$', b.path], { encoding: 'utf8' });
  const lines = out.split('\n').filter((l) => /^\s+\S+:\d+\s+0x[0-9a-f]+/.test(l));
  const callIndex = lines.findIndex((l) => /\tCALL /.test(l));
  const call = /^\s+(\S+):(\d+)\s+0x([0-9a-f]+)/.exec(lines[callIndex]!)!;
  const ret = BigInt(parseInt(/0x([0-9a-f]+)/.exec(lines[callIndex + 1]!)![1]!, 16));
  const file = table.lookup(parseInt(call[3]!, 16))!.file;
  const event = { ts: 0n, function: 'main.f', pid: 1, tid: 1, ppid: 0, comm: 'x', goid: 1n, args: [], stack: [ret, 1n] };
  const base = { format: () => 'CALL' };

  it('names a return address by the call before it, and an unknown one by its address', () => {
    expect(basename(file)).toBe(call[1]);
    expect(symbols.frames(event.stack)).toEqual([
      { func: 'main.main', file, line: Number(call[2]), pc: ret },
      { func: '?', file: '?', line: 0, pc: 1n },
    ]);
  });

  it('as indented lines in text and a stack array in JSON', () => {
    expect(stackFormatter(base, 'text', symbols).format(event)).toBe(`CALL\n  at main.main (${file}:${call[2]})\n  at ? (0x1)`);
    const json = { format: () => '{"function":"main.f"}' };
    expect(stackFormatter(json, 'json', symbols).format(event)).toBe(
      `{"function":"main.f","stack":[{"func":"main.main","file":${JSON.stringify(file)},"line":${call[2]},"pc":"0x${ret.toString(16)}"},{"func":"?","file":"?","line":0,"pc":"0x1"}]}`,
    );
    expect(stackFormatter(base, 'text', symbols).format({ ...event, stack: undefined })).toBe('CALL');
  });

  it('-c --by-caller: one row per function and immediate caller', () => {
    const stats = new CallStats((e) => symbols.caller(e));
    for (const [stack, ns] of [[[ret], 10n], [[ret], 30n], [[], 5n]] as const) stats.add({ ...event, stack: [...stack], durationNs: ns });
    expect(callStatsJson(stats.rows())).toBe(
      '{"summary":[{"function":"main.f","caller":"main.main","calls":2,"total_ns":40,"mean_ns":20,"p50_ns":10,"p99_ns":30,"max_ns":30,"errors":0,"not_returned":0},' +
        '{"function":"main.f","caller":"?","calls":1,"total_ns":5,"mean_ns":5,"p50_ns":5,"p99_ns":5,"max_ns":5,"errors":0,"not_returned":0}]}',
    );
  });
});

/** Parses argv as weaver would: the trace flags, or commander's error text. */
async function parse(args: string[]): Promise<{ flags?: TraceFlags; error?: string }> {
  let flags: TraceFlags | undefined;
  let error = '';
  const program = buildCli({ trace: async (f) => void (flags = f), list: async () => {}, cacheClean: async () => {} });
  program.exitOverride().configureOutput({ writeErr: (s) => (error += s), writeOut: () => {} });
  try {
    await program.parseAsync(['node', 'weaver', ...args]);
  } catch (err) {
    if (err instanceof CommanderError) return { error: error.trim() };
    throw err;
  }
  return { flags };
}

describe('--stack and --by-caller flags', () => {
  it.each([
    [['--stack', './s'], 16, './s'],
    [['./s', '--stack'], 16, './s'],
    [['--stack=64', './s'], 64, './s'],
    [['--stack=1', './s', '--by-caller'], 1, './s'],
    [['./s'], undefined, './s'],
  ])('%j: %s frames of %s', async (args, frames, binary) => {
    const { flags } = await parse(args);
    expect(flags?.stackFrames).toBe(frames);
    expect(flags?.binary).toBe(binary);
  });

  it('a bare --stack after -- belongs to the launched program', async () => {
    const { flags } = await parse(['--', './s', '--stack']);
    expect(flags?.command).toEqual(['./s', '--stack']);
    expect(flags?.stackFrames).toBeUndefined();
  });

  it.each([
    ['--stack=0', "error: option '--stack [frames]' argument '0' is invalid. --stack must be between 1 and 64, not 0."],
    ['--stack=65', "error: option '--stack [frames]' argument '65' is invalid. --stack must be between 1 and 64, not 65."],
    ['--stack=x', 'error: option \'--stack [frames]\' argument \'x\' is invalid. --stack takes a whole number, not "x".'],
  ])('%s: %s', async (flag, message) => {
    expect((await parse([flag, './s'])).error).toBe(message);
  });
});

describe('probe placement keeps RBP, where --stack starts its walk', () => {
  // cmp rax, rbx; jge +1; ret; ret: the probe goes on the jge (emulated) …
  const leaf = [0x48, 0x39, 0xd8, 0x7d, 0x01, 0xc3, 0xc3];
  it('a leaf probed on its first emulated instruction when nothing before it writes RBP', () => {
    expect(chooseEntryProbe(new Uint8Array(leaf), 0x401000, 'register').offset).toBe(3);
  });
  it('at the entry when an instruction before it writes RBP', () => {
    // … but not after mov rbp, rax.
    const p = chooseEntryProbe(new Uint8Array([0x48, 0x89, 0xc5, ...leaf]), 0x401000, 'register');
    expect(p.offset).toBe(0);
    expect(p.reason).toContain('the instruction at 0x401000 writes rbp (mov)');
  });
});
