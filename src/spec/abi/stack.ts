// Stack slots: both ABIs lay stack-assigned values out like the fields of a
// struct that starts at sp+8 at function entry (Go < 1.17 passes everything
// this way; the register ABI only what does not fit in registers).

import { alignOf, alignUp, sizeOf, type GoType, type Piece } from '../../core/index.js';

export class StackLayout {
  /** Next free byte, relative to sp+8. */
  offset: number;

  constructor(start = 0) {
    this.offset = start;
  }

  /** Places a value at its alignment; a zero-size value gets no piece but still aligns. */
  place(t: GoType): Piece[] {
    this.offset = alignUp(this.offset, alignOf(t));
    const size = sizeOf(t);
    const at = this.offset;
    this.offset += size;
    return size === 0 ? [] : [{ offset: 0, size, location: { kind: 'stack', offset: at } }];
  }

  /** Arguments and results are each rounded up to a pointer-size boundary. */
  roundToWord(): void {
    this.offset = alignUp(this.offset, 8);
  }
}
