import { Cursor } from './cursor.js';
import { FORM } from './constants.js';

export interface AttrSpec {
  at: number;
  form: number;
  /** The value of a DW_FORM_implicit_const attribute, stored in the abbreviation itself. */
  implicit: number;
}

export interface Abbrev {
  code: number;
  tag: number;
  hasChildren: boolean;
  attrs: AttrSpec[];
  /**
   * Bytes taken by all attribute values when every form has a fixed size
   * for this unit's address/offset size; -1 when some form is variable.
   * Lets the reader skip uninteresting entries without decoding them.
   */
  fixedSize: number;
}

export type AbbrevTable = Map<number, Abbrev>;

/** Parses the abbreviation table at `offset` of .debug_abbrev. */
export function parseAbbrevTable(buf: Buffer, section: string, offset: number, addrSize: number, offsetSize: number): AbbrevTable {
  const c = new Cursor(buf, section, offset);
  if (offset >= buf.length) c.fail(`abbreviation table offset is past the end of the section (${buf.length} bytes)`);
  const table: AbbrevTable = new Map();
  // Each iteration consumes at least one byte, so the loop ends with the section.
  for (;;) {
    const start = c.pos;
    const code = c.uleb();
    if (code === 0) break;
    const tag = c.uleb();
    const hasChildren = c.u8() !== 0;
    const attrs: AttrSpec[] = [];
    for (;;) {
      const at = c.uleb();
      const form = c.uleb();
      if (at === 0 && form === 0) break;
      const implicit = form === FORM.implicit_const ? c.sleb() : 0;
      attrs.push({ at, form, implicit });
    }
    if (table.has(code)) c.fail(`abbreviation code ${code} is defined twice`, start);
    let fixedSize = 0;
    for (const a of attrs) {
      const n = fixedFormSize(a.form, addrSize, offsetSize);
      if (n < 0) { fixedSize = -1; break; }
      fixedSize += n;
    }
    table.set(code, { code, tag, hasChildren, attrs, fixedSize });
  }
  return table;
}

/** Size of a value of `form`, or -1 when it depends on the data. */
export function fixedFormSize(form: number, addrSize: number, offsetSize: number): number {
  switch (form) {
    case FORM.flag_present: case FORM.implicit_const: return 0;
    case FORM.data1: case FORM.ref1: case FORM.flag: case FORM.strx1: case FORM.addrx1: return 1;
    case FORM.data2: case FORM.ref2: case FORM.strx2: case FORM.addrx2: return 2;
    case FORM.strx3: case FORM.addrx3: return 3;
    case FORM.data4: case FORM.ref4: case FORM.strx4: case FORM.addrx4: case FORM.ref_sup4: return 4;
    case FORM.data8: case FORM.ref8: case FORM.ref_sig8: case FORM.ref_sup8: return 8;
    case FORM.data16: return 16;
    case FORM.addr: return addrSize;
    case FORM.ref_addr: case FORM.sec_offset: case FORM.strp: case FORM.line_strp: case FORM.strp_sup:
    case FORM.GNU_ref_alt: case FORM.GNU_strp_alt:
      return offsetSize;
    default: return -1;
  }
}
