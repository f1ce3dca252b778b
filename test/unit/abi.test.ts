import { describe, expect, test } from 'vitest';
import { argumentLocations, resultLocations, stackArgsSize } from '../../src/spec/abi/index.js';
import { NotSupportedError } from '../../src/core/errors.js';
import type { Param } from '../../src/core/gotypes.js';
import type { GoAbi, ValueLocation } from '../../src/core/model.js';
import { parseTypeExpr } from '../../src/spec/typeexpr.js';

// Expected values come from the Go internal ABI spec (cmd/compile/abi-internal.md)
// and from measurements of real builds (/work/shared/go-binary-facts.md);
// test/unit/abi.compiler.test.ts checks the same kind of cases against the compiler.

function params(...types: string[]): Param[] {
  return types.map((t, i) => ({ name: `p${i}`, type: parseTypeExpr(t) }));
}

/** Pieces as `offset/size@where`, where is a register (ax, x0) or a stack offset (s16). */
function compact(locs: ValueLocation[]): string[] {
  return locs.map((l) =>
    l.pieces
      .map((p) => {
        const at = p.location.kind === 'reg' ? p.location.reg : p.location.kind === 'freg' ? `x${p.location.reg}` : `s${p.location.offset}`;
        return `${p.offset}/${p.size}@${at}`;
      })
      .join(' '),
  );
}

/** Stack offsets of values that are each one whole stack piece. */
function stackOffsets(locs: ValueLocation[]): number[] {
  return locs.map((l) => {
    const [p] = l.pieces;
    if (l.pieces.length !== 1 || p!.location.kind !== 'stack' || p!.offset !== 0) throw new Error('not one stack piece');
    return p!.location.offset;
  });
}

describe('stack ABI (Go < 1.17): struct-field layout from sp+8', () => {
  test.each<[string[], number[]]>([
    [['int8', 'int16', 'int32'], [0, 2, 4]],
    [['int16', 'int32', 'int64'], [0, 4, 8]],
    [['uint8', 'complex64'], [0, 4]],
    [['uint8', '[2]uint32'], [0, 4]],
    [['int8', 'struct{int8; int64}', 'int8'], [0, 8, 24]],
    [['int32', 'string', 'int32'], [0, 8, 24]],
    [['uint8', '[3]uint8', 'uint16'], [0, 1, 4]],
    [['bool', 'int64', 'bool', 'int32'], [0, 8, 16, 20]],
    [['float32', 'float64', 'complex128', 'uint16'], [0, 8, 16, 32]],
    [['[]int', 'interface{}', 'map[int]int', 'chan int', 'func()', '*int', 'unsafe.Pointer'], [0, 24, 40, 48, 56, 64, 72]],
  ])('(%s) → %j', (types, offsets) => {
    expect(stackOffsets(argumentLocations(params(...types), 'stack'))).toEqual(offsets);
  });

  test('each value is one piece covering its whole size', () => {
    expect(compact(argumentLocations(params('int8', 'string', 'struct{A int8; B float32}'), 'stack'))).toEqual(['0/1@s0', '0/16@s8', '0/8@s24']);
  });

  test('zero-size values have no pieces but still align what follows', () => {
    expect(compact(argumentLocations(params('int8', 'struct{}', '[0]int64', 'int8'), 'stack'))).toEqual(['0/1@s0', '', '', '0/1@s8']);
  });

  test.each<[string[], string[], string[], number]>([
    [['int8'], ['int8'], ['0/1@s8'], 8],
    [['int32', 'string', 'int32'], ['int', 'string'], ['0/8@s32', '0/16@s40'], 32],
    [['bool', 'int16'], ['int8', 'int32'], ['0/1@s8', '0/4@s12'], 8],
    [[], ['error'], ['0/16@s0'], 0],
    [['uint8', '[3]uint8'], ['bool'], ['0/1@s8'], 8],
  ])('results of (%s) (%s) follow the arguments rounded up to 8', (args, results, expected, argsSize) => {
    expect(compact(resultLocations(params(...args), params(...results), 'stack'))).toEqual(expected);
    expect(stackArgsSize(params(...args), 'stack')).toBe(argsSize);
  });
});

describe('register ABI (amd64, Go 1.17+)', () => {
  test('the measured Go 1.19 case', () => {
    const args = params('int8', 'string', '[]int', 'interface{}', 'float64', 'complex128', '[1]int16', '[2]int', 'struct{A int8; B float32}');
    expect(compact(argumentLocations(args, 'register'))).toEqual([
      '0/1@ax',
      '0/8@bx 8/8@cx',
      '0/8@di 8/8@si 16/8@r8',
      '0/8@r9 8/8@r10',
      '0/8@x0',
      '0/8@x1 8/8@x2',
      '0/2@r11',
      '0/16@s0',
      '0/8@s16',
    ]);
    expect(compact(resultLocations(args, params('int', 'string'), 'register'))).toEqual(['0/8@ax', '0/8@bx 8/8@cx']);
    expect(stackArgsSize(args, 'register')).toBe(24);
  });

  test.each<[string, string[], string[]]>([
    ['one int register per scalar, piece size = type size', ['bool', 'int8', 'uint16', 'int32', 'int64', 'uintptr', 'byte', 'rune'],
      ['0/1@ax', '0/1@bx', '0/2@cx', '0/4@di', '0/8@si', '0/8@r8', '0/1@r9', '0/4@r10']],
    ['pointer-shaped values', ['*int', 'map[string]int', 'chan int', 'func()', 'unsafe.Pointer'], ['0/8@ax', '0/8@bx', '0/8@cx', '0/8@di', '0/8@si']],
    ['float32 and complex64 halves', ['float32', 'complex64', 'int8'], ['0/4@x0', '0/4@x1 4/4@x2', '0/1@ax']],
    ['interfaces: type word then data word', ['error', 'any'], ['0/8@ax 8/8@bx', '0/8@cx 8/8@di']],
    ['structs: fields in turn, ints and floats interleaved', ['struct{A int8; B float32; C float64; D int64}'], ['0/1@ax 4/4@x0 8/8@x1 16/8@bx']],
    ['nested structs and [1] arrays', ['struct{P struct{X, Y int32}; Q [1]struct{S string}}'], ['0/4@ax 4/4@bx 8/8@cx 16/8@di']],
    ['zero-size fields take nothing', ['struct{A struct{}; B int16; C [0]int64; D [1]uint8}'], ['0/2@ax 8/1@bx']],
    ['arrays: [0] nothing, [1] its element, longer on the stack', ['[0]int', '[1]string', '[2]int8', 'int'], ['', '0/8@ax 8/8@bx', '0/2@s0', '0/8@cx']],
    ['a struct holding a [2] array goes on the stack', ['struct{A int; B [2]int8}', 'int'], ['0/16@s0', '0/8@ax']],
    ['zero-size arguments take nothing but align the stack', ['[2]int8', '[0]int64', '[2]int8', 'struct{}'], ['0/2@s0', '', '0/2@s8', '']],
  ])('%s', (_, types, expected) => {
    expect(compact(argumentLocations(params(...types), 'register'))).toEqual(expected);
  });

  test('10 int arguments: the 10th spills to the stack', () => {
    const locs = compact(argumentLocations(params(...Array(10).fill('int')), 'register'));
    expect(locs).toEqual(['0/8@ax', '0/8@bx', '0/8@cx', '0/8@di', '0/8@si', '0/8@r8', '0/8@r9', '0/8@r10', '0/8@r11', '0/8@s0']);
  });

  test('an argument that does not fit goes whole to the stack; later smaller ones still take registers', () => {
    const types = [...Array(7).fill('int'), '[]int', 'int8', 'string', 'int', 'int16'];
    expect(compact(argumentLocations(params(...types), 'register')).slice(7)).toEqual(['0/24@s0', '0/1@r10', '0/16@s24', '0/8@r11', '0/2@s40']);
    expect(stackArgsSize(params(...types), 'register')).toBe(48);
  });

  test('16 float64 arguments: X0–X14, then the stack', () => {
    const locs = compact(argumentLocations(params(...Array(16).fill('float64'), 'int'), 'register'));
    expect(locs).toEqual([...Array.from({ length: 15 }, (_, i) => `0/8@x${i}`), '0/8@s0', '0/8@ax']);
  });

  test('a complex128 needing 2 of 1 remaining float registers spills; a float64 after it takes the last one', () => {
    const locs = compact(argumentLocations(params(...Array(14).fill('float32'), 'complex128', 'float64'), 'register'));
    expect(locs.slice(13)).toEqual(['0/4@x13', '0/16@s0', '0/8@x14']);
  });

  test('a struct with an int field and no int register left spills whole, freeing nothing', () => {
    const locs = compact(argumentLocations(params(...Array(9).fill('int'), 'struct{A int8; B float32}', 'float64'), 'register'));
    expect(locs.slice(9)).toEqual(['0/8@s0', '0/8@x0']);
  });

  test('results restart at RAX and X0; stack results follow the stack arguments rounded to 8', () => {
    const args = params(...Array(10).fill('int8'));
    const results = params(...Array(10).fill('int'), 'float64', 'string');
    expect(stackArgsSize(args, 'register')).toBe(8);
    expect(compact(resultLocations(args, results, 'register'))).toEqual([
      '0/8@ax', '0/8@bx', '0/8@cx', '0/8@di', '0/8@si', '0/8@r8', '0/8@r9', '0/8@r10', '0/8@r11', '0/8@s8', '0/8@x0', '0/16@s16',
    ]);
  });

  test('a hidden dictionary takes RAX and is not returned', () => {
    const locs = argumentLocations(params('int', 'float64', 'string'), 'register', { hiddenDictionary: true });
    expect(locs.map((l) => l.param.name)).toEqual(['p0', 'p1', 'p2']);
    expect(compact(locs)).toEqual(['0/8@bx', '0/8@x0', '0/8@cx 8/8@di']);
    expect(compact(argumentLocations(params(...Array(9).fill('int')), 'register', { hiddenDictionary: true })).slice(7)).toEqual(['0/8@r11', '0/8@s0']);
  });

  test('with the stack ABI a hidden dictionary takes the first 8 bytes', () => {
    expect(compact(argumentLocations(params('int8'), 'stack', { hiddenDictionary: true }))).toEqual(['0/1@s8']);
    expect(stackArgsSize(params('int8'), 'stack', { hiddenDictionary: true })).toBe(16);
  });

  test('param objects are passed through', () => {
    const ps = params('int', 'string');
    expect(argumentLocations(ps, 'register').map((l) => l.param)).toEqual(ps);
  });
});

describe('values whose layout is unknown', () => {
  test('in the register ABI an opaque type is refused with NotSupportedError', () => {
    const abi: GoAbi = 'register';
    const p: Param[] = [{ name: 'x', type: { kind: 'opaque', name: 'main.T', size: 16, align: 8 } }];
    expect(() => argumentLocations(p, abi)).toThrow(NotSupportedError);
    expect(() => argumentLocations(p, abi)).toThrow('cannot tell where a value of type main.T is passed: its layout is unknown');
  });

  test('an opaque type still has a stack slot in the stack ABI', () => {
    const p: Param[] = [{ name: 'a', type: parseTypeExpr('int8') }, { name: 'x', type: { kind: 'opaque', name: 'main.T', size: 16, align: 8 } }];
    expect(compact(argumentLocations(p, 'stack'))).toEqual(['0/1@s0', '0/16@s8']);
  });
});
