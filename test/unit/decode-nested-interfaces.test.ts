// Interfaces nested in an interface's dynamic value (decode-dynamic
// nameNestedInterfaces, loadBias): named through the descriptor table
// directly (interface{}) or through compile-time itabs (other interfaces),
// after taking off the load bias learnt from the outer interface.

import { describe, expect, it } from 'vitest';
import { loadBias, nameNestedInterfaces } from '../../src/events/decode-dynamic.js';
import { basic, makeStruct, type GoType } from '../../src/core/gotypes.js';
import type { Value } from '../../src/core/model.js';
import { runtimeTypesFromList } from '../../src/binary/runtimetypes.js';

const errorType: GoType = { kind: 'interface', name: 'error', empty: false };
const anyType: GoType = { kind: 'interface', name: 'interface {}', empty: true };
const errorString = makeStruct('errors.errorString', [{ name: 's', type: { kind: 'string', name: 'string' } }]);
const ptrErrorString: GoType = { kind: 'pointer', name: '*errors.errorString', elem: errorString };
const wrapError = makeStruct('fmt.wrapError', [
  { name: 'msg', type: { kind: 'string', name: 'string' } },
  { name: 'err', type: errorType },
]);
const holder = makeStruct('main.Holder', [
  { name: 'x', type: anyType },
  { name: 'inner', type: { kind: 'array', name: '[1]error', len: 1, elem: errorType } },
]);

const TYPES = runtimeTypesFromList(
  [
    { address: 0x4a1000, name: '*errors.errorString', type: ptrErrorString },
    { address: 0x4a2000, name: '*fmt.wrapError', type: { kind: 'pointer', name: '*fmt.wrapError', elem: wrapError } },
    { address: 0x4a3000, name: 'int', type: basic('int') },
  ],
  [
    { address: 0x4c0100, type: 0x4a1000 }, // go:itab.*errors.errorString,error
    { address: 0x4c0200, type: 0x4a2000 }, // go:itab.*fmt.wrapError,error
  ],
);

const str = (s: string): Value => ({ kind: 'string', bytes: new TextEncoder().encode(s), len: s.length, truncated: false });
const iface = (typeAddress: bigint, dataAddress = 0xc000010000n): Value => ({ kind: 'interface', typeAddress, dataAddress });

describe('loadBias', () => {
  const PIE = 0x5555_5540_0000n;
  it.each([
    ['interface{} in a non-PIE binary', 0x4a3000n, 0x4a3000, true, 0n],
    ['interface{} in a PIE', PIE + 0x4a3000n, 0x4a3000, true, PIE],
    ['error holding a compile-time itab, non-PIE', 0x4c0200n, 0x4a2000, false, 0n],
    ['error holding a compile-time itab, PIE', PIE + 0x4c0200n, 0x4a2000, false, PIE],
    ['error holding an itab made at run time', 0xc000123458n, 0x4a2000, false, null],
    ['error whose type has no compile-time itab', PIE + 0x4c0300n, 0x4a3000, false, null],
  ] as const)('%s', (_name, word, link, empty, want) => {
    expect(loadBias(word, link, empty, TYPES)).toBe(want);
  });
});

describe('nameNestedInterfaces', () => {
  const wrapped = (errWord: bigint): Value => ({ kind: 'struct', fields: [{ name: 'msg', value: str('save: disk full') }, { name: 'err', value: iface(errWord) }] });
  const nestedType = (v: Value) => ((v as Extract<Value, { kind: 'struct' }>).fields[1]!.value as Extract<Value, { kind: 'interface' }>).typeName;

  it.each([
    ['a non-PIE binary', 0n, 0x4c0100n, '*errors.errorString'],
    ['a PIE', 0x7f00_0000_0000n, 0x7f00_0000_0000n + 0x4c0100n, '*errors.errorString'],
    ['an itab made at run time', 0n, 0xc000200000n, undefined],
    ['an unknown bias in a PIE', null, 0x7f00_0000_0000n + 0x4c0100n, undefined],
    ['a nil error', 0n, 0n, undefined],
  ] as const)('names an error inside *fmt.wrapError in %s', (_name, bias, word, want) => {
    expect(nestedType(nameNestedInterfaces(wrapped(word), wrapError, TYPES, bias))).toBe(want);
  });

  it('names interface{} fields directly and interfaces in arrays, and keeps everything else', () => {
    const value: Value = {
      kind: 'struct',
      fields: [
        { name: 'x', value: iface(0x1000n + 0x4a3000n) },
        { name: 'inner', value: { kind: 'array', elems: [iface(0x1000n + 0x4c0200n)] } },
      ],
    };
    const named = nameNestedInterfaces(value, holder, TYPES, 0x1000n);
    expect(named).toEqual({
      kind: 'struct',
      fields: [
        { name: 'x', value: { ...iface(0x1000n + 0x4a3000n), typeName: 'int' } },
        { name: 'inner', value: { kind: 'array', elems: [{ ...iface(0x1000n + 0x4c0200n), typeName: '*fmt.wrapError' }] } },
      ],
    });
    // The input is left as it was.
    expect((value.fields[0]!.value as { typeName?: string }).typeName).toBeUndefined();
  });

  it('follows a followed pointer to the struct it points at', () => {
    const ptrType: GoType = { kind: 'pointer', name: '*fmt.wrapError', elem: wrapError };
    const value: Value = { kind: 'pointer', address: 0xc000010000n, target: wrapped(0x4c0100n) };
    const named = nameNestedInterfaces(value, ptrType, TYPES, 0n) as Extract<Value, { kind: 'pointer' }>;
    expect(nestedType(named.target!)).toBe('*errors.errorString');
  });
});
