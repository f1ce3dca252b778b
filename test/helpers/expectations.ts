// Compares what weaver printed for one argument (a JSON-lines ARG, parsed
// losslessly) with what the fixture said it passed (its EXPECT value),
// applying weaver's documented capture limits: strings cut at
// --string-size bytes, slices and arrays at --max-elements elements.
// Returns a list of differences; empty means equal.

import type { LosslessJson } from './losslessJson.js';

export interface CaptureLimits {
  stringSize: number;
  maxElements: number;
}

type Obj = { [key: string]: LosslessJson };

function isObj(v: LosslessJson | undefined): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function show(v: LosslessJson | undefined): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x));
}

/** Bytes of an EXPECT string value: a JSON string (UTF-8) or {"hex": "…"}. */
function expectedBytes(expected: LosslessJson): Buffer | null {
  if (typeof expected === 'string') return Buffer.from(expected, 'utf8');
  if (isObj(expected) && typeof expected.hex === 'string') return Buffer.from(expected.hex, 'hex');
  return null;
}

/** Numbers: ints arrive as bigints, floats as numbers (float32 in its shortest form). */
function sameNumber(actual: LosslessJson | undefined, expected: LosslessJson): boolean {
  if (typeof expected === 'bigint' || typeof actual === 'bigint') {
    return (typeof actual === 'bigint' || typeof actual === 'number') &&
      (typeof expected === 'bigint' || typeof expected === 'number') &&
      !Object.is(actual, -0) && !Object.is(expected, -0) &&
      BigInt(actual as bigint | number) === BigInt(expected as bigint | number);
  }
  return Object.is(actual, expected);
}

/**
 * `actual` is the ARG object at top level, or a nested value (bare, or
 * {"value", …extras} when it has extras, per src/output/format/json.ts).
 */
export function compareValue(actual: LosslessJson | undefined, expected: LosslessJson, limits: CaptureLimits, path: string): string[] {
  const diffs: string[] = [];
  const extras: Obj = isObj(actual) && 'value' in actual ? actual : { value: actual ?? null };
  const value = extras.value;
  const differ = (what: string) => diffs.push(`${path}: ${what} (weaver ${show(actual)}, expected ${show(expected)})`);

  if (typeof extras.error === 'string') {
    differ(`unavailable: ${extras.error}`);
    return diffs;
  }
  // Strings.
  const bytes = expectedBytes(expected);
  if (bytes !== null && (typeof value === 'string')) {
    const captured = bytes.subarray(0, limits.stringSize);
    const truncated = bytes.length > limits.stringSize;
    if (truncated !== (extras.truncated === true)) differ(`truncated should be ${truncated}`);
    if (truncated && !sameNumber(extras.len, BigInt(bytes.length))) differ(`len should be ${bytes.length}`);
    if (typeof extras.bytes_hex === 'string') {
      if (extras.bytes_hex !== captured.toString('hex')) differ('captured bytes differ');
    } else {
      const got = Buffer.from(value, 'utf8');
      // A capture cut inside a multi-byte character drops that partial character.
      const ok = got.equals(captured) || (truncated && captured.length - got.length <= 3 && captured.subarray(0, got.length).equals(got));
      if (!ok) differ('string differs');
    }
    return diffs;
  }
  // []byte and [N]byte: weaver shows the bytes as one string, printable text or
  // hex with "encoding":"hex" (src/output/format/json.ts); --string-size bounds them.
  const expectedElems = Array.isArray(expected) ? expected : isObj(expected) && Array.isArray(expected.elems) ? expected.elems : null;
  if (expectedElems && typeof value === 'string') {
    const got = extras.encoding === 'hex' ? Buffer.from(value, 'hex') : Buffer.from(value, 'utf8');
    const want = Buffer.from(expectedElems.slice(0, limits.stringSize).map((e) => Number(e as bigint)));
    if (!got.equals(want)) differ('bytes differ');
    if (isObj(expected) && !Array.isArray(expected)) {
      if (!sameNumber(extras.len, expected.len!)) differ('len differs');
      if (!sameNumber(extras.cap, expected.cap!)) differ('cap differs');
    }
    return diffs;
  }
  // []byte and [N]byte: weaver shows the bytes as a string (hex when not printable).
  const byteElems = Array.isArray(expected) ? expected : isObj(expected) && Array.isArray(expected.elems) ? expected.elems : null;
  if (typeof value === 'string' && byteElems && byteElems.every((b) => typeof b === 'bigint' && b >= 0n && b < 256n)) {
    const want = Buffer.from(byteElems.map((b) => Number(b)));
    const got = extras.encoding === 'hex' ? Buffer.from(value, 'hex') : Buffer.from(value, 'utf8');
    if (!want.subarray(0, got.length).equals(got)) differ('bytes differ');
    if ((got.length < want.length) !== (extras.truncated === true)) differ('truncated flag differs');
    if (isObj(expected) && (!sameNumber(extras.len, expected.len!) || !sameNumber(extras.cap, expected.cap!))) differ('len/cap differ');
    return diffs;
  }
  // Slices: {"len","cap","elems"} in EXPECT.
  if (isObj(expected) && 'elems' in expected && Array.isArray(expected.elems)) {
    if (!sameNumber(extras.len, expected.len!)) differ('len differs');
    if (!sameNumber(extras.cap, expected.cap!)) differ('cap differs');
    const elems = expected.elems;
    if (elems.length === 0) {
      if (!(value === null || (Array.isArray(value) && value.length === 0))) differ('expected no elements');
      return diffs;
    }
    if (!Array.isArray(value)) return (differ('expected an array of elements'), diffs);
    const shown = Math.min(elems.length, limits.maxElements);
    if (value.length !== shown) differ(`expected ${shown} elements, got ${value.length}`);
    if ((elems.length > limits.maxElements) !== (extras.truncated === true)) differ('truncated flag differs');
    for (let i = 0; i < Math.min(shown, value.length); i++) diffs.push(...compareValue(value[i], elems[i]!, limits, `${path}[${i}]`));
    return diffs;
  }
  // Arrays.
  if (Array.isArray(expected)) {
    if (!Array.isArray(value)) return (differ('expected an array'), diffs);
    const shown = Math.min(expected.length, limits.maxElements);
    if (value.length !== shown) differ(`expected ${shown} elements, got ${value.length}`);
    for (let i = 0; i < Math.min(shown, value.length); i++) diffs.push(...compareValue(value[i], expected[i]!, limits, `${path}[${i}]`));
    return diffs;
  }
  // Complex numbers and structs: objects compared key by key.
  if (isObj(expected)) {
    if (!isObj(value)) return (differ('expected an object'), diffs);
    const keys = Object.keys(expected);
    if (Object.keys(value).join(',') !== keys.join(',')) differ(`keys ${Object.keys(value).join(',')} should be ${keys.join(',')}`);
    for (const k of keys) diffs.push(...compareValue(value[k], expected[k]!, limits, `${path}.${k}`));
    return diffs;
  }
  if (typeof expected === 'bigint' || typeof expected === 'number') {
    if (!sameNumber(value, expected)) differ('number differs');
    return diffs;
  }
  // A pointer weaver followed is {"address", "value"}; the fixture gives its address.
  if (typeof expected === 'string' && expected.startsWith('0x') && isObj(value) && typeof value.address === 'string') {
    if (value.address !== expected) differ('address differs');
    return diffs;
  }
  if (value !== expected) differ('value differs');
  return diffs;
}
