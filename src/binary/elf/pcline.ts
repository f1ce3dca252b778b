// File and line of a code address, from the `pcfile` and `pcln` tables of
// its function's `_func` record in .gopclntab: what Go's own tracebacks use,
// present in stripped binaries too. --stack names its frames with it.
//
// A pc-value table is a sequence of (value delta, pc delta) pairs, each a
// uvarint; the value delta is zig-zag encoded, the value starts at -1 and
// the pc at the function's entry; a value delta of 0 after the first pair
// ends the table. The value holds for [previous pc, pc).
//
// Where the `_func` fields are, and how a pcfile value becomes a name:
//   Go 1.2–1.15  `_func` {entry uintptr, nameoff, args, deferreturn, pcsp, pcfile, pcln …};
//                table offsets relative to the pclntab; the value indexes
//                the file table, whose offset follows the function index
//   Go 1.16–1.17 the same `_func` plus cuOffset (+36); offsets relative to
//                pctab; the value indexes the unit's entries of cutab, each
//                the offset of a name in filetab
//   Go 1.18+     `_func` starts with a u32 entry offset, so every field is 4
//                bytes earlier (pcfile +20, pcln +24, cuOffset +32)

import { InputError, lastStartingAtOrBefore } from '../../core/index.js';
import { PCLNTAB_GO116, PCLNTAB_GO12, parsePclntab, type Pclntab, type PclnFunction } from './pclntab.js';

export interface SourceLine {
  /** The function whose code holds the address (the outer one where code was inlined). */
  func: string;
  /** '?' when the table does not say. */
  file: string;
  /** 0 when the table does not say. */
  line: number;
}

interface Layout {
  pcfileAt: number;
  pclnAt: number;
  /** -1: no compile units (Go 1.2–1.15). */
  cuOffsetAt: number;
  pctab: number;
  cutab: number;
  filetab: number;
}

export class LineTable {
  private readonly functions: PclnFunction[];
  private readonly layout: Layout;
  private readonly data: Buffer;

  constructor(private readonly table: Pclntab, private readonly path: string) {
    this.data = table.data;
    this.functions = parsePclntab(table, path);
    this.layout = layoutOf(table, this.functions.length, (off) => this.word(off));
  }

  /** The function, file and line of `pc`; null when no function holds it. */
  lookup(pc: number): SourceLine | null {
    const f = this.functionAt(pc);
    if (!f) return null;
    const l = this.layout;
    const fileNo = this.pcValue(this.u32(f.funcOffset + l.pcfileAt), f.entry, pc);
    const line = this.pcValue(this.u32(f.funcOffset + l.pclnAt), f.entry, pc);
    const cu = l.cuOffsetAt < 0 ? 0 : this.u32(f.funcOffset + l.cuOffsetAt);
    return { func: f.name, file: fileNo < 0 ? '?' : this.fileName(cu, fileNo), line: Math.max(0, line) };
  }

  private functionAt(pc: number): PclnFunction | null {
    const f = this.functions[lastStartingAtOrBefore(this.functions, (g) => g.entry, pc)];
    return f && pc < f.entry + f.size ? f : null;
  }

  /** The value of the pc-value table at `offset` for `pc`; -1 when the table does not cover it. */
  private pcValue(offset: number, entry: number, pc: number): number {
    if (offset === 0) return -1;
    let at = this.layout.pctab + offset;
    let value = -1;
    let start = entry;
    for (let first = true; ; first = false) {
      const [delta, afterValue] = this.uvarint(at);
      if (delta === 0 && !first) return -1;
      const [pcDelta, afterPc] = this.uvarint(afterValue);
      at = afterPc;
      value += delta & 1 ? -((delta + 1) / 2) : delta / 2;
      const end = start + pcDelta;
      if (pc < end) return value;
      start = end;
    }
  }

  private fileName(cu: number, fileNo: number): string {
    const l = this.layout;
    const nameAt = l.cutab < 0 ? this.u32(l.filetab + 4 * fileNo) : this.u32(l.cutab + 4 * (cu + fileNo));
    if (nameAt === 0xffffffff) return '?';
    return this.cstring((l.cutab < 0 ? 0 : l.filetab) + nameAt);
  }

  private corrupt(why: string): InputError {
    return new InputError(`${this.path} has a corrupt .gopclntab line table: ${why}`);
  }

  private u32(off: number): number {
    if (off < 0 || off + 4 > this.data.length) throw this.corrupt(`offset ${off} is past its end`);
    return this.data.readUInt32LE(off);
  }

  private word(off: number): number {
    return this.u32(off) + this.u32(off + 4) * 0x1_0000_0000;
  }

  /** Decodes a uvarint at `off`: [value, offset after it]. Values stay below 2^35, well within a double. */
  private uvarint(off: number): [number, number] {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      if (off + i >= this.data.length) throw this.corrupt(`a pc-value table runs past its end at ${off}`);
      const b = this.data[off + i]!;
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return [value, off + i + 1];
      scale *= 128;
    }
    throw this.corrupt(`an over-long varint at ${off}`);
  }

  private cstring(off: number): string {
    if (off < 0 || off >= this.data.length) throw this.corrupt(`a file name offset ${off} is past its end`);
    const end = this.data.indexOf(0, off);
    if (end < 0) throw this.corrupt('a file name is not terminated');
    return this.data.toString('utf8', off, end);
  }
}

function layoutOf(table: Pclntab, nfunc: number, word: (off: number) => number): Layout {
  if (table.magic === PCLNTAB_GO12) {
    // The file table's offset follows the nfunc {entry, funcoff} pairs and the end of text.
    const fileTab = table.data.readUInt32LE(16 + nfunc * 16 + 8);
    return { pcfileAt: 24, pclnAt: 28, cuOffsetAt: -1, pctab: 0, cutab: -1, filetab: fileTab };
  }
  if (table.magic === PCLNTAB_GO116) {
    return { pcfileAt: 24, pclnAt: 28, cuOffsetAt: 36, cutab: word(8 + 3 * 8), filetab: word(8 + 4 * 8), pctab: word(8 + 5 * 8) };
  }
  return { pcfileAt: 20, pclnAt: 24, cuOffsetAt: 32, cutab: word(8 + 4 * 8), filetab: word(8 + 5 * 8), pctab: word(8 + 6 * 8) };
}
