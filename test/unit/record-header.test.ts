import { describe, expect, it } from 'vitest';
import { HEADER_FIELDS, HEADER_SIZE, readHeader } from '../../src/spec/record.js';

const COMM = HEADER_FIELDS.find((f) => f.name === 'comm')!.offset;

function header(comm: Uint8Array): DataView {
  const buf = new Uint8Array(HEADER_SIZE);
  buf.set(comm, COMM);
  return new DataView(buf.buffer);
}

describe('readHeader comm (decoded once per run of equal names)', () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  it.each([
    [['server', 'server', 'worker', 'server'], ['server', 'server', 'worker', 'server']],
    // 16 bytes without a NUL: all of them; a NUL ends the name even with bytes after it.
    [['0123456789abcdef', 'abc\0junk'], ['0123456789abcdef', 'abc']],
    [['', 'é', ''], ['', 'é', '']],
  ])('%j reads as %j', (names, want) => {
    expect(names.map((n) => readHeader(header(enc(n)), 0).comm)).toEqual(want);
  });

  it('reads a header at an offset inside a larger view', () => {
    const buf = new Uint8Array(8 + HEADER_SIZE);
    buf.set(enc('at-eight'), 8 + COMM);
    expect(readHeader(new DataView(buf.buffer), 8).comm).toBe('at-eight');
    expect(readHeader(new DataView(buf.buffer, 8), 0).comm).toBe('at-eight');
  });
});
