// The entry probe point chosen by chooseEntryProbe, checked against the
// real kernel with tracefs uprobe events: it attaches, fires on every pass
// through the prologue, the saved flags single out the pass that runs the
// body, and it costs far less than a probe on the entry instruction.

import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseEntryProbe, type ProbePoint } from '../../src/binary/x86/prologue.js';
import { TinyElf, availableToolchains, type Toolchain } from '../unit/x86-fixture.js';

const TRACEFS = '/sys/kernel/tracing';
const canTrace = process.getuid?.() === 0 && existsSync(join(TRACEFS, 'uprobe_events'));
// Under CI the privileged tests must run: a missing tracefs is a failure there, never a skip.
if (!canTrace && process.env.CI) throw new Error(`CI needs root and tracefs at ${TRACEFS} for the probe placement tests`);
if (!canTrace) console.warn(`skipping probe placement tests: they need root and tracefs at ${TRACEFS}`);

const SOURCE = `package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

var sink int

//go:noinline
func inner(x int) int { return x*3 + 1 }

//go:noinline
func work(x int) int { return inner(x) + inner(x+1) }

//go:noinline
func deep(n int) int {
	var pad [64]byte
	pad[n%64] = byte(n)
	if n == 0 {
		return int(pad[0])
	}
	return deep(n-1) + int(pad[n%64])
}

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	if os.Args[2] == "deep" {
		sink += deep(n)
		return
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		sink += work(i)
	}
	fmt.Printf("%d\\n", time.Since(start).Nanoseconds()/int64(n))
}
`;

const GROUP = `weaver_x86_e2e_${process.pid}`;
const created: string[] = [];

/** File offset of a virtual address, through the executable PT_LOAD (read with readelf). */
function fileOffset(binary: string, vaddr: number): number {
  const out = execFileSync('readelf', ['-lW', binary], { encoding: 'utf8' });
  for (const line of out.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] === 'LOAD' && (f[7] === 'E' || f[6].includes('E'))) return vaddr - parseInt(f[2], 16) + parseInt(f[1], 16);
  }
  throw new Error('no executable PT_LOAD');
}

function addEvent(name: string, binary: string, vaddr: number, fetch = ''): void {
  appendFileSync(join(TRACEFS, 'uprobe_events'), `p:${GROUP}/${name} ${binary}:0x${fileOffset(binary, vaddr).toString(16)} ${fetch}\n`);
  created.push(name);
}

function withEvent<T>(name: string, run: () => T): T {
  const enable = join(TRACEFS, 'events', GROUP, name, 'enable');
  writeFileSync(enable, '1');
  try {
    return run();
  } finally {
    writeFileSync(enable, '0');
  }
}

function traceLines(name: string): string[] {
  return readFileSync(join(TRACEFS, 'trace'), 'utf8')
    .split('\n')
    .filter((l) => l.includes(` ${name}:`));
}

const toolchains = canTrace ? availableToolchains() : [];

describe.skipIf(!canTrace)('entry probe placement on the real kernel (needs root and tracefs)', () => {
  afterAll(() => {
    for (const name of created) {
      try {
        writeFileSync(join(TRACEFS, 'events', GROUP, name, 'enable'), '0');
        appendFileSync(join(TRACEFS, 'uprobe_events'), `-:${GROUP}/${name}\n`);
      } catch {
        // Already gone.
      }
    }
  });

  describe.each(toolchains)('Go $version', (tc: Toolchain) => {
    const abi = Number(tc.version.split('.')[1]) >= 17 ? 'register' : 'stack';
    const tag = tc.version.replace('.', '_');
    let dir = '';
    let bin = '';
    let work: { entry: number; probe: ProbePoint };
    let deep: { entry: number; probe: ProbePoint };

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), `weaver-x86-e2e-${tc.version}-`));
      writeFileSync(join(dir, 'main.go'), SOURCE);
      writeFileSync(join(dir, 'go.mod'), 'module probeplacement\n\ngo 1.15\n');
      bin = join(dir, 'prog');
      execFileSync(tc.goBinary, ['build', '-o', bin, '.'], {
        cwd: dir,
        env: { ...process.env, GOFLAGS: '-mod=mod', GOCACHE: join(tmpdir(), `weaver-x86-gocache-${tc.version}`), HOME: tmpdir(), GOTOOLCHAIN: 'local' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const elf = new TinyElf(bin);
      const w = elf.function('main.work');
      const d = elf.function('main.deep');
      work = { entry: w.address, probe: chooseEntryProbe(w.code, w.address, abi) };
      deep = { entry: d.address, probe: chooseEntryProbe(d.code, d.address, abi) };
    });
    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('the probe on the stack check jbe fires on every pass, and CF|ZF clear marks exactly the passes that run the body', () => {
      expect(deep.probe.kind).toBe('after-stack-check');
      const name = `deep_${tag}`;
      addEvent(name, bin, deep.probe.address, 'flags=%flags:x64');
      writeFileSync(join(TRACEFS, 'trace'), '');
      const depth = 20000;
      withEvent(name, () => execFileSync(bin, [String(depth), 'deep']));
      const flags = traceLines(name).map((l) => parseInt(/flags=0x([0-9a-f]+)/.exec(l)![1], 16));
      writeFileSync(join(TRACEFS, 'trace'), '');
      const mask = deep.probe.stackGuardCheck!.failFlagsMask;
      const passed = flags.filter((f) => (f & mask) === 0).length;
      const failed = flags.length - passed;
      expect(passed).toBe(depth + 1);
      // The goroutine stack starts small and must grow for this depth.
      expect(failed).toBeGreaterThan(0);
    });

    it('a probe at the jbe costs less than half as much as one at the entry instruction', () => {
      expect(work.probe.kind).toBe('after-stack-check');
      addEvent(`work_entry_${tag}`, bin, work.entry);
      addEvent(`work_jbe_${tag}`, bin, work.probe.address);
      const calls = 50000;
      const perCall = (event: string) => withEvent(event, () => Number(execFileSync(bin, [String(calls), 'work'], { encoding: 'utf8' }).trim()));
      const atEntry = perCall(`work_entry_${tag}`);
      const atJbe = perCall(`work_jbe_${tag}`);
      writeFileSync(join(TRACEFS, 'trace'), '');
      console.log(`Go ${tc.version}: uprobe per call at entry ${atEntry} ns, at jbe (+${work.probe.offset}) ${atJbe} ns`);
      expect(atJbe).toBeLessThan(atEntry / 2);
    });
  });
});
