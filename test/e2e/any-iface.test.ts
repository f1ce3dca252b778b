// `any` written for parameters that are really non-empty interfaces, as a
// user of a stripped binary writes `ctx any` for a context.Context it has no
// name for: the first word is then an itab, not a type, and the value must
// still show its dynamic type and value. The composites fixture passes
// errors (`error`) and a main.Rect as a Shape; the stack ABI (Go 1.15) and
// the register ABI (Go 1.27) put the two words in different places.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureBuild } from '../helpers/fixtures.js';
import { parseLosslessJson, type LosslessJson } from '../helpers/losslessJson.js';
import { requireBpfOrSkip, runWeaver } from '../helpers/weaver.js';

const canRun = requireBpfOrSkip();

const FUNCTIONS = ['main.errorValues(plain any, wrapped any, none any)', 'main.shape(s any)'].join('\n');

/** Addresses differ between runs. */
function withoutAddresses(v: LosslessJson): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x)).replace(/"0x[0-9a-f]+"/g, '"0x…"');
}

describe.skipIf(!canRun)('any for a non-empty interface value', () => {
  const dir = canRun ? mkdtempSync(join(tmpdir(), 'weaver-any-iface-')) : '';
  const funcs = join(dir, 'funcs.txt');
  if (canRun) writeFileSync(funcs, FUNCTIONS + '\n');

  it.each(['1.15', '1.27'])('Go %s stripped: the dynamic type and value, not the itab', async (toolchain) => {
    const binary = fixtureBuild({ fixture: 'composites', toolchain, variant: 'stripped' }).path;
    const run = await runWeaver(['-f', funcs, '--format', 'json', '--', binary], { timeoutMs: 60000 });
    expect(run.code, run.stderr).toBe(0);
    const args = new Map<string, string>();
    for (const line of run.stdout.split('\n').filter((l) => l.startsWith('{"ts"'))) {
      const event = parseLosslessJson(line) as { [k: string]: LosslessJson };
      args.set(event.function as string, withoutAddresses(event.args!));
    }
    expect(Object.fromEntries(args)).toEqual({
      'main.errorValues':
        '[{"name":"plain","type":"any","value":{"type":"*errors.errorString","value":{"address":"0x…","value":{"s":"disk full"}}}},' +
        '{"name":"wrapped","type":"any","value":{"type":"*fmt.wrapError","value":{"address":"0x…","value":{"msg":"save report.txt: disk full","err":{"type":"*errors.errorString","data":"0x…"}}}}},' +
        '{"name":"none","type":"any","value":null}]',
      'main.shape': '[{"name":"s","type":"any","value":{"type":"main.Rect","value":{"W":"3n","H":"4n"}}}]',
    });
  }, 60000);
});
