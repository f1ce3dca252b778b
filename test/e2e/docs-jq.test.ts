// docs/json.md stays true: every key the JSON formatter can write is
// documented, and every `$ jq …` example, run on output recorded here
// from the fixtures exactly as the page says, prints exactly what the
// page shows.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, requireBpfOrSkip, runWeaver, startTracer } from '../helpers/weaver.js';

const DOC = readFileSync(join(REPO_ROOT, 'docs/json.md'), 'utf8');
const BUILD = join(REPO_ROOT, 'fixtures/build/go1.19');

interface Example {
  command: string;
  expected: string;
}

/** `$ command` lines of ```console blocks, each with the lines that follow it up to the next `$`. */
function examples(markdown: string): Example[] {
  const out: Example[] = [];
  for (const block of markdown.matchAll(/```console\n([\s\S]*?)```/g)) {
    let current: Example | undefined;
    for (const line of block[1]!.split('\n')) {
      if (line.startsWith('$ ')) {
        current = { command: line.slice(2), expected: '' };
        out.push(current);
      } else if (current && line !== '') current.expected += `${line}\n`;
    }
  }
  return out;
}

describe('docs/json.md', () => {
  it('documents every key the JSON output can hold', () => {
    // Code lines only: the comments describe keys in prose.
    const sources = ['src/output/format/json.ts', 'src/output/returnformat.ts', 'src/output/callstats.ts'].map((f) =>
      readFileSync(join(REPO_ROOT, f), 'utf8')
        .split('\n')
        .filter((l) => !/^\s*(\*|\/\*|\/\/)/.test(l))
        .join('\n'),
    );
    const keys = new Set<string>();
    for (const src of sources) for (const m of src.matchAll(/\\?"([a-z_]+)\\?":/g)) keys.add(m[1]!);
    expect(keys.size).toBeGreaterThan(20);
    for (const key of keys) expect(DOC, `key "${key}"`).toMatch(new RegExp(`"${key}"|\`${key}\``));
  });

  it('has jq examples to run', () => {
    expect(examples(DOC).length).toBeGreaterThanOrEqual(15);
    for (const e of examples(DOC)) expect(e.command).toMatch(/^jq /);
  });
});

function get(address: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`http://${address}${path}`, { headers: { 'User-Agent': 'weaver-docs' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const canRun = requireBpfOrSkip();

describe.runIf(canRun)('docs/json.md jq examples on real output', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weaver-docs-'));

  beforeAll(async () => {
    for (const f of ['httpserver', 'types', 'returns']) {
      if (!existsSync(join(BUILD, f))) throw new Error(`fixture ${join(BUILD, f)} is not built (npm run setup builds it)`);
    }
    // http.jsonl: the four requests the page lists, in order.
    const tracer = await startTracer(['-f', join(REPO_ROOT, 'fixtures/httpserver/funcs.txt'), '-o', join(dir, 'http.jsonl'), '--', join(BUILD, 'httpserver'), '-exit-after', '4']);
    expect(await tracer.waitFor((lines) => lines.some((l) => l.startsWith('LISTENING ')))).toBe(true);
    const address = tracer.lines().find((l) => l.startsWith('LISTENING '))!.split(' ')[1]!;
    const statuses = [];
    for (const path of ['/', '/items/apple?q=red', '/teapot', '/missing?q=x']) statuses.push(await get(address, path));
    expect(statuses).toEqual([200, 200, 418, 404]);
    const http = await new Promise<number | null>((resolve) => tracer.child.on('close', (code) => resolve(code)));
    expect(http, tracer.stderr()).toBe(0);

    const types = await runWeaver(['-f', join(BUILD, 'types.funcs.txt'), '-o', join(dir, 'types.jsonl'), '--', join(BUILD, 'types'), '-n', '1', '-quiet']);
    expect(types.code, types.stderr).toBe(0);

    const returnsFuncs = join(dir, 'returns.txt');
    writeFileSync(returnsFuncs, 'main.div(a int, b int) (int, error)\nmain.mustPositive(n int) int\nmain.tryMust(n int) (v int, ok bool)\n');
    const returns = await runWeaver(['--returns', '-f', returnsFuncs, '-o', join(dir, 'returns.jsonl'), '--', join(BUILD, 'returns'), '-n', '1', '-quiet']);
    expect(returns.code, returns.stderr).toBe(0);
    const summary = await runWeaver(['-c', '--format', 'json', '-f', returnsFuncs, '-o', join(dir, 'summary.json'), '--', join(BUILD, 'returns'), '-n', '1', '-quiet']);
    expect(summary.code, summary.stderr).toBe(0);
  }, 180_000);

  it.each(examples(DOC).map((e) => [e.command, e] as const))('%s', (_command, example) => {
    const stdout = execFileSync('/bin/sh', ['-c', example.command], { cwd: dir, encoding: 'utf8' });
    expect(stdout).toBe(example.expected);
  });
});
