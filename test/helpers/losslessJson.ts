// A small JSON parser that keeps 64-bit integers exact, for the fixtures'
// EXPECT lines (JSON.parse would round 18446744073709551615 to a double).
//
// Numbers:
//   - an integer literal (no fraction, no exponent) becomes a bigint, always,
//     so comparisons never depend on whether a value happens to be "safe";
//   - except `-0`, which becomes the number -0: only floats produce it, and a
//     bigint cannot hold the sign of zero;
//   - a literal with a fraction or an exponent becomes a number (a double).
//     Fixtures write float32 values in float32's shortest form (`0.1`), so
//     compare those with Math.fround(value). A float whose value is integral
//     is written without a fraction (`2`) and so arrives as a bigint.
// Everything else is as JSON.parse gives it. Invalid JSON throws a SyntaxError
// naming the offset.

export type LosslessJson =
  | null
  | boolean
  | number
  | bigint
  | string
  | LosslessJson[]
  | { [key: string]: LosslessJson };

export function parseLosslessJson(text: string): LosslessJson {
  const parser = new Parser(text);
  parser.skipSpace();
  const value = parser.value();
  parser.skipSpace();
  if (parser.pos !== text.length) parser.fail('unexpected text after the JSON value');
  return value;
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

class Parser {
  pos = 0;
  constructor(private readonly text: string) {}

  fail(what: string): never {
    throw new SyntaxError(`invalid JSON at offset ${this.pos}: ${what}`);
  }

  skipSpace(): void {
    while (this.pos < this.text.length && ' \t\n\r'.includes(this.text[this.pos]!)) this.pos++;
  }

  value(): LosslessJson {
    const c = this.text[this.pos];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return v;
      }
    }
    return this.fail(c === undefined ? 'unexpected end of input' : `unexpected character ${JSON.stringify(c)}`);
  }

  private number(): number | bigint {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (!m) return this.fail('malformed number');
    this.pos += m[0].length;
    if (m[1] === undefined && m[2] === undefined) return m[0] === '-0' ? -0 : BigInt(m[0]);
    return Number(m[0]);
  }

  private string(): string {
    // Find the closing quote, skipping escapes, then let JSON.parse decode the
    // escapes: it implements them exactly.
    const start = this.pos++;
    while (this.pos < this.text.length) {
      const c = this.text[this.pos]!;
      if (c === '"') {
        this.pos++;
        try {
          return JSON.parse(this.text.slice(start, this.pos)) as string;
        } catch {
          this.pos = start;
          return this.fail('malformed string');
        }
      }
      this.pos += c === '\\' ? 2 : 1;
    }
    this.pos = start;
    return this.fail('unterminated string');
  }

  private array(): LosslessJson[] {
    this.pos++;
    const out: LosslessJson[] = [];
    this.skipSpace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipSpace();
      out.push(this.value());
      this.skipSpace();
      const c = this.text[this.pos++];
      if (c === ']') return out;
      if (c !== ',') {
        this.pos--;
        this.fail('expected , or ] in an array');
      }
    }
  }

  private object(): { [key: string]: LosslessJson } {
    this.pos++;
    const out: { [key: string]: LosslessJson } = {};
    this.skipSpace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] !== '"') this.fail('expected a string key in an object');
      const key = this.string();
      this.skipSpace();
      if (this.text[this.pos] !== ':') this.fail('expected : after an object key');
      this.pos++;
      this.skipSpace();
      // defineProperty: a key named __proto__ must stay an ordinary key.
      Object.defineProperty(out, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
      this.skipSpace();
      const c = this.text[this.pos++];
      if (c === '}') return out;
      if (c !== ',') {
        this.pos--;
        this.fail('expected , or } in an object');
      }
    }
  }
}
