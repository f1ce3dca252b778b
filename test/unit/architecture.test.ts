// src/ is one folder per pipeline stage (docs/architecture.md). Arrows go one
// way, down the pipeline: a module imports modules of its own stage, or an
// earlier stage through that stage's public face (its index.ts, or the
// index.ts of the sub-folder holding what it needs), and no two modules
// import each other, directly or around a loop.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
/** In pipeline order: a stage may import only from stages before it. */
const STAGES = ['core', 'binary', 'spec', 'bpf', 'events', 'output', 'process', 'cli'];

interface Edge {
  from: string;
  to: string;
  /** Erased by TypeScript (`import type`, or every name `type …`). */
  typeOnly: boolean;
  dynamic: boolean;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

const modules = walk(SRC)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .map((f) => relative(SRC, f));

function importsOf(file: string): Edge[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  const edges: Edge[] = [];
  const resolve = (spec: string) => normalize(join(dirname(file), spec)).replace(/\.js$/, '.ts');
  for (const m of text.matchAll(/^(import|export)\s+(type\s+)?([^;]*?)\s+from\s+'(\.{1,2}\/[^']+)';/gms)) {
    const [, , typeKeyword, clause, spec] = m;
    const names = /\{([^}]*)\}/.exec(clause!)?.[1]?.split(',').map((s) => s.trim()).filter(Boolean) ?? [];
    const typeOnly = Boolean(typeKeyword) || (names.length > 0 && !/^\w/.test(clause!) && names.every((n) => n.startsWith('type ')));
    edges.push({ from: file, to: resolve(spec!), typeOnly, dynamic: false });
  }
  for (const m of text.matchAll(/import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g)) {
    edges.push({ from: file, to: resolve(m[1]!), typeOnly: false, dynamic: true });
  }
  return edges;
}

const edges = modules.flatMap(importsOf);
const stageOf = (file: string) => file.split('/')[0]!;
/** A stage's face, or a sub-folder's index.ts inside a stage. */
const isFace = (file: string) => file.endsWith('/index.ts');

describe('src/ layout', () => {
  it('every module sits in a stage folder, and every stage but cli has an index.ts', () => {
    expect(modules.filter((f) => !STAGES.includes(stageOf(f)) || !f.includes('/'))).toEqual([]);
    expect(STAGES.filter((s) => s !== 'cli' && !modules.includes(`${s}/index.ts`))).toEqual([]);
  });

  it('every relative import names a module that exists', () => {
    expect(edges.filter((e) => !modules.includes(e.to)).map((e) => `${e.from} → ${e.to}`)).toEqual([]);
  });

  it('another stage is reached only through its public face', () => {
    const inner = edges.filter((e) => stageOf(e.from) !== stageOf(e.to) && !isFace(e.to));
    expect(inner.map((e) => `${e.from} → ${e.to}`)).toEqual([]);
  });

  it('arrows go down the pipeline: no stage imports a later one', () => {
    const rank = (f: string) => STAGES.indexOf(stageOf(f));
    const upward = edges.filter((e) => rank(e.to) > rank(e.from));
    expect(upward.map((e) => `${e.from} → ${e.to}`)).toEqual([]);
  });

  it("no module imports its own stage's face (it would loop through it)", () => {
    const own = edges.filter((e) => e.to === `${stageOf(e.from)}/index.ts` && e.from !== e.to);
    expect(own.map((e) => `${e.from} → ${e.to}`)).toEqual([]);
  });

  it('no import cycles between modules (imports TypeScript keeps)', () => {
    const next = new Map<string, string[]>();
    for (const e of edges) if (!e.typeOnly && !e.dynamic) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (m: string, path: string[]) => {
      if (state.get(m) === 'done') return;
      if (state.get(m) === 'open') {
        cycles.push([...path.slice(path.indexOf(m)), m].join(' → '));
        return;
      }
      state.set(m, 'open');
      for (const n of next.get(m) ?? []) visit(n, [...path, m]);
      state.set(m, 'done');
    };
    for (const m of modules) visit(m, []);
    expect(cycles).toEqual([]);
  });

  it('the checks see the imports: a known arrow is found', () => {
    // Guards the parser above: if it stopped matching, every check would pass vacuously.
    expect(edges).toContainEqual({ from: 'cli/commands/trace.ts', to: 'bpf/index.ts', typeOnly: false, dynamic: false });
    expect(edges.filter((e) => e.dynamic).length).toBeGreaterThan(0);
    expect(edges.length).toBeGreaterThan(250);
  });
});
