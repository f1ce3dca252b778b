// A reader that closes the pipe early (`| head -1`) is not an error: weaver
// stops writing, says nothing, and exits 0, for every command that prints.

import { describe, expect, it } from 'vitest';
import { fixtureBuild, newestToolchain } from '../helpers/fixtures.js';
import { WEAVER_BIN, runProcess } from '../helpers/weaver.js';

describe('output closed by its reader', () => {
  const build = fixtureBuild({ fixture: 'httpserver', toolchain: newestToolchain() });
  it.each([
    ['--help', ['--help']],
    ['list', ['list', build.path, '-p', 'net/http']],
    ['--emit c', [build.path, '-p', 'net/http', '--depth', '0', '--emit', 'c']],
  ])('%s | head -1', async (_name, args) => {
    const quoted = args.map((a) => `'${a}'`).join(' ');
    const run = await runProcess('bash', ['-c', `set -o pipefail; '${process.execPath}' '${WEAVER_BIN}' ${quoted} 2>/tmp/weaver-epipe-$$.err | head -1 >/dev/null; s=$?; cat /tmp/weaver-epipe-$$.err; rm -f /tmp/weaver-epipe-$$.err; exit $s`]);
    // Nothing about the pipe: at most the notes package mode says before it writes.
    expect(run.stdout.split('\n').filter((l) => l && !/^weaver: \d+ functions traced by name only: /.test(l))).toEqual([]);
    expect(run.code).toBe(0);
  });
});
