import { corrupt } from './errors.js';

/**
 * A read position in one DWARF section. Every read is checked against the
 * end of the section (or of the unit), so corrupt input ends in a DwarfError
 * naming the section, never in a RangeError or an endless loop.
 */
export class Cursor {
  constructor(
    readonly buf: Buffer,
    readonly section: string,
    public pos = 0,
    public end = buf.length,
  ) {}

  fail(what: string, at = this.pos): never {
    throw corrupt(this.section, at, what);
  }

  need(n: number): void {
    if (n < 0 || this.pos + n > this.end) this.fail(`needs ${n} more bytes but only ${Math.max(0, this.end - this.pos)} remain`);
  }

  u8(): number {
    if (this.pos >= this.end) this.fail('unexpected end of data');
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u24(): number {
    this.need(3);
    const v = this.buf.readUIntLE(this.pos, 3);
    this.pos += 3;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A 64-bit value as a number: exact below 2^53, which every address and offset we use is. */
  u64(): number {
    this.need(8);
    const lo = this.buf.readUInt32LE(this.pos);
    const hi = this.buf.readUInt32LE(this.pos + 4);
    this.pos += 8;
    return hi * 0x1_0000_0000 + lo;
  }

  /** An offset or address of `size` bytes (4 or 8). */
  uN(size: number): number {
    switch (size) {
      case 1: return this.u8();
      case 2: return this.u16();
      case 4: return this.u32();
      case 8: return this.u64();
      default: return this.fail(`unsupported field size ${size}`);
    }
  }

  uleb(): number {
    let result = 0;
    let mul = 1;
    const start = this.pos;
    for (;;) {
      if (this.pos >= this.end) this.fail('LEB128 number runs past the end', start);
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
      if (this.pos - start > 10) this.fail('LEB128 number is longer than 10 bytes', start);
    }
  }

  sleb(): number {
    let result = 0;
    let mul = 1;
    const start = this.pos;
    for (;;) {
      if (this.pos >= this.end) this.fail('LEB128 number runs past the end', start);
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) return b & 0x40 ? result - mul : result;
      if (this.pos - start > 10) this.fail('LEB128 number is longer than 10 bytes', start);
    }
  }

  /** A NUL-terminated UTF-8 string. */
  cstr(): string {
    const nul = this.buf.indexOf(0, this.pos);
    if (nul < 0 || nul >= this.end) this.fail('string is not NUL-terminated');
    const s = this.buf.toString('utf8', this.pos, nul);
    this.pos = nul + 1;
    return s;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
}
