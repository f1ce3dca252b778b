// What `weaver list` writes, traced with -f, reads every argument as
// package mode does: for every function of every fixture's main package
// (and cart's methods, and net/http in the httpserver fixture), on every toolchain, the plans built from the
// listed line and from DWARF copy the same registers and stack bytes and
// decode them the same way. Names aside (a parameter DWARF calls ~p0 is
// written _), nothing may differ.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PLAN_OPTIONS } from '../../src/spec/plan.js';
import { buildTraceSpec } from '../../src/bpf/tracespec.js';
import { fixtureBuilds } from '../helpers/fixtures.js';
import { runWeaver } from '../helpers/weaver.js';

const builds = fixtureBuilds({ variant: 'normal' });

/** A plan as data, without names and types (types may be cyclic; names may be written differently). */
function shape(value: unknown): string {
  return JSON.stringify(value, (key, v) => (key === 'name' || key === 'type' || key === 'types' || key === 'id' ? undefined : typeof v === 'bigint' ? String(v) : v));
}

describe('weaver list → -f gives the plans package mode gives', () => {
  it.each(builds.map((b) => [`Go ${b.toolchain} ${b.fixture}`, b] as const))('%s', async (_, b) => {
    // -p names only packages the binary has: one it lacks is an error.
    const packages = b.fixture === 'httpserver' ? ['main', 'net/http'] : b.fixture === 'types' ? ['main', 'github.com/acme/shop/cart'] : ['main'];
    const listed = await runWeaver(['list', b.path, '-p', packages.join(',')]);
    expect(listed.code, listed.stderr).toBe(0);
    const lines = listed.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    const file = join(mkdtempSync(join(tmpdir(), 'weaver-list-')), 'funcs.txt');
    writeFileSync(file, lines.join('\n'));
    const request = { binaryPath: b.path, plan: DEFAULT_PLAN_OPTIONS, binaryCacheDir: null };
    const fromFile = buildTraceSpec({ ...request, functionsFile: file, packages: [] });
    const fromPackages = new Map(buildTraceSpec({ ...request, packages }).targets.map((t) => [t.plan.name, t.plan]));
    expect(fromFile.targets.length).toBe(lines.length);
    // Package mode traces by name only where DWARF leaves a parameter out; the listed line
    // (a pointer receiver DWARF leaves out, written recv) fills the frame, so -f sees more.
    const named = fromFile.targets.filter((t) => fromPackages.get(t.plan.name)?.args !== null);
    const differ = named.filter((t) => shape(t.plan.args) !== shape(fromPackages.get(t.plan.name)?.args)).map((t) => t.plan.name);
    expect(differ).toEqual([]);
    const onlyByName = fromFile.targets.filter((t) => !named.includes(t)).map((t) => t.plan.name);
    if (b.fixture !== 'httpserver') expect(onlyByName).toEqual(b.fixture === 'composites' && ['1.15', '1.19'].includes(b.toolchain) ? ['main.(*Rect).Area'] : []);
  }, 60_000);
});
