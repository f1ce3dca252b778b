// `weaver completion bash|zsh`: the scripts parse in their shells, and the
// bash one completes what a user would expect, run in a real bash.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCli } from '../../src/cli/flags.js';
import { completionScript } from '../../src/cli/completion.js';

const program = buildCli({ trace: async () => {}, list: async () => {}, cacheClean: async () => {} });
const bash = completionScript(program, 'bash');
const zsh = completionScript(program, 'zsh');
const dir = mkdtempSync(join(tmpdir(), 'weaver-completion-'));
writeFileSync(join(dir, 'weaver.bash'), bash);
writeFileSync(join(dir, '_weaver'), zsh);
writeFileSync(join(dir, 'funcs.txt'), '');
writeFileSync(join(dir, 'server'), '');

/** The words bash would offer after `line` (the last word is the one being completed). */
function complete(line: string): string[] {
  const words = line.split(' ');
  const script = `source ${join(dir, 'weaver.bash')}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})
COMP_CWORD=${words.length - 1}
_weaver
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const out = execFileSync('bash', ['-c', script], { cwd: dir, encoding: 'utf8' });
  return out.split('\n').filter(Boolean).sort();
}

describe('bash completion', () => {
  it('parses', () => {
    expect(() => execFileSync('bash', ['-n', join(dir, 'weaver.bash')])).not.toThrow();
  });

  it.each<[string, string[]]>([
    ['weaver --form', ['--format']],
    ['weaver --format ', ['auto', 'json', 'text']],
    ['weaver --timestamps r', ['relative']],
    ['weaver --transport ', ['auto', 'perf', 'ring']],
    ['weaver --dur', ['--duration']],
    ['weaver -f fu', ['funcs.txt']],
    ['weaver -o se', ['server']],
    ['weaver --count ', []],
    ['weaver comp', ['completion']],
    ['weaver completion ', ['bash', 'zsh']],
    ['weaver list --pa', ['--packages']],
    ['weaver list se', ['server']],
    ['weaver -f funcs.txt -- ./server --po', []],
    ['weaver -f funcs.txt -- ./server se', ['server']],
  ])('%j', (line, expected) => {
    expect(complete(line)).toEqual(expected);
  });

  it('offers every long flag of the trace command', () => {
    const offered = complete('weaver --');
    for (const o of program.options) if (o.long) expect(offered).toContain(o.long);
  });

  it('completes the launched command as a command', () => {
    expect(complete('weaver -f funcs.txt -- bas')).toContain('bash');
  });

  it('--pid offers running process ids', () => {
    expect(complete(`weaver --pid ${process.pid}`)).toContain(String(process.pid));
  });
});

describe('zsh completion', () => {
  it('is a #compdef file naming every flag once, with value completions', () => {
    expect(zsh.startsWith('#compdef weaver\n')).toBe(true);
    for (const o of program.options) if (o.long) expect(zsh).toContain(o.long);
    expect(zsh).toContain(':timestamps:(absolute relative none)');
    expect(zsh).toContain(':file:_files');
    expect(zsh).toContain("'*--pid[");
    expect(zsh).toContain("'1:shell:(bash zsh)'");
  });

  it('parses in zsh (installed by npm run setup)', () => {
    expect(() => execFileSync('zsh', ['-n', join(dir, '_weaver')])).not.toThrow();
  });
});
