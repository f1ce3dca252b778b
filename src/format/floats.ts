// Float formatting shared by the text and JSON formatters. A float32 is
// carried as a JS number (a float64 holding the float32's exact value), so
// JS's own shortest printing would show 0.1f as 0.10000000149011612; we
// instead find the fewest digits that read back to the same float32.

/**
 * Shortest decimal that reads back to `x` at `bits` precision, in JS number
 * syntax (`0.1`, `1e-45`, `3.4028235e+38`, `-0`). Finite values only.
 */
export function shortestFloat(x: number, bits: 32 | 64): string {
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  if (bits === 64) return String(x);
  // Integers up to 2^24 are exact in float32 and String() prints them shortest.
  if (Number.isInteger(x) && Math.abs(x) <= 16777216) return String(x);
  for (let p = 1; p < 9; p++) {
    const candidate = Number(x.toPrecision(p));
    if (Math.fround(candidate) === x) return String(candidate);
  }
  // Nine significant digits always identify a float32.
  return String(Number(x.toPrecision(9)));
}

/**
 * How Go's fmt prints a float with %v (`strconv.FormatFloat(x, 'g', -1, bits)`):
 * shortest digits; exponent form when the decimal exponent is < -4 or >= 6
 * (Go uses precision 6 for that decision in shortest mode), with at least two
 * exponent digits (`1e+06`, `1.5e-07`); `NaN`, `+Inf`, `-Inf`.
 */
export function goFloat(x: number, bits: 32 | 64): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const shortest = shortestFloat(x, bits);
  const exponential = Number(shortest).toExponential();
  const ePos = exponential.indexOf('e');
  const exp = Number(exponential.slice(ePos + 1));
  if (exp < -4 || exp >= 6) {
    const mantissa = exponential.slice(0, ePos);
    const absExp = Math.abs(exp);
    return `${mantissa}e${exp < 0 ? '-' : '+'}${absExp < 10 ? '0' : ''}${absExp}`;
  }
  // In this range JS's String() uses plain decimal notation, as Go does.
  return shortest;
}

/** Go's %v of a complex number: `(1+2i)`, `(0-Infi)`, `(NaN+NaNi)`. */
export function goComplex(real: number, imag: number, bits: 64 | 128): string {
  const partBits = bits === 64 ? 32 : 64;
  const im = goFloat(imag, partBits);
  const signedIm = im.startsWith('-') || im.startsWith('+') ? im : `+${im}`;
  return `(${goFloat(real, partBits)}${signedIm}i)`;
}

/** A float as a JSON value: a number, or the strings "NaN", "+Inf", "-Inf" that JSON lacks. */
export function jsonFloat(x: number, bits: 32 | 64): string {
  if (Number.isNaN(x)) return '"NaN"';
  if (x === Infinity) return '"+Inf"';
  if (x === -Infinity) return '"-Inf"';
  return shortestFloat(x, bits);
}
