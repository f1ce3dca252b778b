// A WeaverError crosses from the process that builds the trace spec as
// plain data (JSON) and comes back reported as it was: the same sentence,
// hint and exit status, a ParseError with its source line and caret, and,
// for -v, the chain of causes where it arose.

import { describe, expect, it } from 'vitest';
import { describeCauses, EnvironmentError, InputError, ParseError, SymbolNotFoundError, UsageError, WeaverError, weaverErrorData, weaverErrorFrom } from '../../src/core/errors.js';
import { SignatureError } from '../../src/spec/signaturecheck.js';

/** Through JSON, as the builder's answer goes. */
const across = (err: WeaverError) => weaverErrorFrom(JSON.parse(JSON.stringify(weaverErrorData(err))));

describe('a WeaverError across processes', () => {
  const cases: [string, WeaverError, number][] = [
    ['a usage error', new UsageError('--functions-file and --packages choose functions in two different ways; give one of them'), 2],
    ['an input error with a hint', new InputError('cannot read ./bin: no such file', { hint: 'check the path' }), 1],
    ['a missing function', new SymbolNotFoundError('main.nope', ['main.nop', 'main.note']), 1],
    ['an environment error', new EnvironmentError('clang is not installed, and weaver needs it to compile its BPF programs', { hint: 'run npm run setup' }), 3],
  ];
  it.each(cases)('%s: same name, sentence, hint and exit status', (_what, err, code) => {
    const back = across(err);
    expect(back).toBeInstanceOf(WeaverError);
    expect([back.name, back.message, back.hint, back.exitCode]).toEqual([err.name, err.message, err.hint, code]);
    expect(back).not.toBeInstanceOf(ParseError);
  });

  it('a parse error keeps its position, source line and caret', () => {
    const err = new SignatureError('parameter s of main.strASCII is string (16 bytes, in AX, BX) in the binary, not int (8 bytes, in AX)', 'f.txt', 1, 15, 'main.strASCII(s int) int64', { hint: 'write instead: main.strASCII(s string) (int64)' });
    const back = across(err);
    expect(back).toBeInstanceOf(ParseError);
    expect((back as ParseError).format()).toBe(err.format());
    expect([back.name, back.hint, back.exitCode]).toEqual(['SignatureError', err.hint, 1]);
  });

  it('keeps the chain of causes where it arose, for -v', () => {
    const inner = new Error('EACCES: permission denied, open ./bin');
    const err = new InputError('cannot read ./bin', { cause: inner });
    expect(describeCauses(across(err))).toEqual(describeCauses(err));
    expect(describeCauses(across(err))[1]).toMatch(/^Error: EACCES: permission denied, open \.\/bin\n\s+at /);
  });
});
