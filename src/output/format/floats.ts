// Float formatting shared by the text and JSON formatters. A float32 is
// carried as a JS number (a float64 holding the float32's exact value), so
// JS's own shortest printing would show 0.1f as 0.10000000149011612; we
// instead find the fewest digits that read back to the same float32.

/** A positive decimal 0.DIGITS × 10^point, DIGITS without trailing zeros. */
interface Decimal {
  digits: string;
  point: number;
}

const POW10: number[] = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));

function stripZeros(digits: string): string {
  let end = digits.length;
  while (end > 1 && digits.charCodeAt(end - 1) === 48) end--;
  return end === digits.length ? digits : digits.slice(0, end);
}

/** Decimal from JS exponential notation `d.ddde±X`. */
function parseExponential(s: string): Decimal {
  const e = s.indexOf('e');
  const mantissa = s.slice(0, e);
  const digits = mantissa.length > 1 ? mantissa[0]! + mantissa.slice(2) : mantissa;
  return { digits: stripZeros(digits), point: Number(s.slice(e + 1)) + 1 };
}

/**
 * Fewest significant digits that read back to the float32 `x` (positive,
 * finite), the nearest such decimal, ties to even, as Go chooses. Tries 1, 2, … digits with exact double arithmetic (an integer
 * mantissa below 2^53 times or over an exact power of ten rounds once);
 * values whose scale needs a power of ten beyond 1e22 take the slower
 * toPrecision route. Every candidate is checked by reading it back.
 */
function float32Decimal(x: number): Decimal {
  let e10 = Math.floor(Math.log10(x));
  for (let p = 1; p <= 9; p++) {
    const k = p - 1 - e10;
    if (k > 22 || k < -22) return float32DecimalSlow(x);
    const scaled = k >= 0 ? x * POW10[k]! : x / POW10[-k]!;
    let m = Math.round(scaled);
    // Exactly halfway between two p-digit decimals (2138125.25 at 8 digits):
    // both read back, and Go picks the even one.
    if (m - scaled === 0.5 && m % 2 === 1) m--;
    if (m >= POW10[p]! && p === 1) {
      // log10 was one too small (x just below a power of ten rounds up in log10's favour).
      e10++;
      p--;
      continue;
    }
    const candidate = k >= 0 ? m / POW10[k]! : m * POW10[-k]!;
    if (m > 0 && Math.fround(candidate) === x) {
      const all = String(m);
      return { digits: stripZeros(all), point: all.length - k };
    }
  }
  return float32DecimalSlow(x);
}

function float32DecimalSlow(x: number): Decimal {
  for (let p = 1; p < 9; p++) {
    const s = x.toExponential(p - 1);
    if (Math.fround(Number(s)) === x) return parseExponential(s);
  }
  // Nine significant digits always identify a float32.
  return parseExponential(x.toExponential(8));
}

/** Decimal from JS's own shortest printing of a float64 (`123.45`, `0.001`, `1.5e-7`): faster than toExponential(). */
function parseJsNumber(s: string): Decimal {
  const e = s.indexOf('e');
  const mantissa = e < 0 ? s : s.slice(0, e);
  const exp = e < 0 ? 0 : Number(s.slice(e + 1));
  const dot = mantissa.indexOf('.');
  const all = dot < 0 ? mantissa : mantissa.slice(0, dot) + mantissa.slice(dot + 1);
  let point = (dot < 0 ? mantissa.length : dot) + exp;
  let lead = 0;
  while (lead < all.length - 1 && all.charCodeAt(lead) === 48) lead++;
  point -= lead;
  return { digits: stripZeros(lead ? all.slice(lead) : all), point };
}

function decimalOf(x: number, bits: 32 | 64): Decimal {
  return bits === 32 ? float32Decimal(x) : parseJsNumber(String(x));
}

/** JS Number-to-string layout (also valid JSON): plain for 1e-7 < |x| < 1e21, else `1.5e+21`. */
function jsLayout(d: Decimal): string {
  const { digits, point } = d;
  const k = digits.length;
  if (k <= point && point <= 21) return digits + '0'.repeat(point - k);
  if (0 < point && point <= 21) return `${digits.slice(0, point)}.${digits.slice(point)}`;
  if (-6 < point && point <= 0) return `0.${'0'.repeat(-point)}${digits}`;
  const e = point - 1;
  return `${digits[0]}${k > 1 ? `.${digits.slice(1)}` : ''}e${e < 0 ? '-' : '+'}${Math.abs(e)}`;
}

/**
 * Shortest decimal that reads back to `x` at `bits` precision, in JS number
 * syntax (`0.1`, `1e-45`, `3.4028235e+38`, `-0`). Finite values only.
 */
export function shortestFloat(x: number, bits: 32 | 64): string {
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  // JS prints float64 shortest already, and integers up to 2^24 are exact float32s.
  if (bits === 64 || (Number.isInteger(x) && Math.abs(x) <= 16777216)) return String(x);
  const s = jsLayout(float32Decimal(Math.abs(x)));
  return x < 0 ? `-${s}` : s;
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
  // Small integers: Go and JS agree, skip the digit search.
  if (Number.isInteger(x) && Math.abs(x) < 1e6) return String(x);
  const sign = x < 0 ? '-' : '';
  const { digits, point } = decimalOf(Math.abs(x), bits);
  const exp = point - 1;
  if (exp < -4 || exp >= 6) {
    const absExp = Math.abs(exp);
    const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${mantissa}e${exp < 0 ? '-' : '+'}${absExp < 10 ? '0' : ''}${absExp}`;
  }
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return sign + digits + '0'.repeat(point - digits.length);
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
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
