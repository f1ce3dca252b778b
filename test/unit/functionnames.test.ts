import { describe, expect, it } from 'vitest';
import { functionNames } from '../../src/binary/functionnames.js';
import type { FunctionSymbol } from '../../src/core/model.js';

const fn = (name: string, address: number, size: number): FunctionSymbol => ({ name, address, size, fileOffset: address - 0x400000 });

describe('functionNames: a code address names the function holding it', () => {
  const names = functionNames([fn('main.b', 0x401100, 0x40), fn('main.a', 0x401000, 0x100), fn('main.main.func1', 0x401200, 0), fn('main.c', 0x401140, 0x20)]);
  it.each<[bigint, string | null]>([
    [0x401000n, 'main.a'],
    [0x4010ffn, 'main.a'],
    [0x401100n, 'main.b'],
    [0x40113fn, 'main.b'],
    [0x401140n, 'main.c'],
    [0x401160n, null], // past main.c's end, before the next function
    [0x401200n, 'main.main.func1'], // size unknown: only its entry
    [0x401201n, null],
    [0x400fffn, null],
    [0n, null],
    [0xffffffffffffffffn, null],
  ])('%s → %s', (pc, name) => {
    expect(names.at(pc)).toBe(name);
  });
});
