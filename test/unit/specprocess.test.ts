// Which cold starts build their spec in a process of its own: binaries of
// SPEC_PROCESS_MIN_BYTES or more, unless WEAVER_SPEC_PROCESS says always or
// never; and a run that will not build a spec (--emit c, --types, nothing
// named on the command line) starts no builder.

import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prestartSpecBuilder, SPEC_PROCESS_MIN_BYTES, specProcessWanted } from '../../src/cli/specprocess.js';

const work = mkdtempSync(join(tmpdir(), 'weaver-specprocess-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A sparse file of `size` bytes. */
function fileOf(name: string, size: number): string {
  const path = join(work, name);
  const fd = openSync(path, 'w');
  ftruncateSync(fd, size);
  closeSync(fd);
  return path;
}

describe('specProcessWanted', () => {
  const large = fileOf('large', SPEC_PROCESS_MIN_BYTES);
  const small = fileOf('small', SPEC_PROCESS_MIN_BYTES - 1);
  const missing = join(work, 'missing');
  it.each([
    ['a binary of the threshold', large, {}, true],
    ['a binary one byte smaller', small, {}, false],
    ['a missing file (building the spec says why)', missing, {}, false],
    ['a small binary with always', small, { WEAVER_SPEC_PROCESS: 'always' }, true],
    ['a large binary with never', large, { WEAVER_SPEC_PROCESS: 'never' }, false],
    ['a large binary with another value', large, { WEAVER_SPEC_PROCESS: 'yes' }, true],
  ] as const)('%s', (_what, path, env, wanted) => {
    expect(specProcessWanted(path, env)).toBe(wanted);
  });
});

describe('prestartSpecBuilder', () => {
  it.each([
    ['--emit c', { binary: fileOf('a', SPEC_PROCESS_MIN_BYTES), emit: 'c' }],
    ['--types', { binary: fileOf('b', SPEC_PROCESS_MIN_BYTES), types: true }],
    ['a small binary', { binary: fileOf('c', 1024) }],
    ['--pid without a binary', {}],
    ['a command found through PATH', { command: ['server'] }],
  ] as const)('starts nothing for %s', (_what, flags) => {
    expect(prestartSpecBuilder(flags)).toBeNull();
  });

  it('starts a builder for a large binary, which exits when dismissed', async () => {
    const builder = prestartSpecBuilder({ command: [fileOf('d', SPEC_PROCESS_MIN_BYTES), '--port', '8080'] });
    expect(builder).not.toBeNull();
    builder!.dismiss();
    // Dismissed, it gives no answer: the caller builds the spec in place.
    const outcome = await builder!.run({ request: { binaryPath: '/nonexistent', packages: [], plan: {} as never }, verbose: false, specCacheDir: null, transferPath: '/nonexistent' });
    expect(outcome).toEqual({ failed: 'was killed by SIGTERM' });
  });
});
