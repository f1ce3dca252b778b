// Units and debugging information entries (DIEs) of .debug_info, decoded on
// demand: a DIE is read at its offset when someone asks for it, so a lookup
// in one package never decodes the rest of a large binary.

import { type Abbrev, type AbbrevTable, parseAbbrevTable } from './abbrev.js';
import { AT, FORM, UT } from './constants.js';
import { Cursor } from './cursor.js';
import { DwarfError, corrupt, hex } from './errors.js';
import type { DwarfSections } from './sections.js';

export interface Unit {
  /** Offset of the unit header in .debug_info. */
  offset: number;
  /** Offset just past the unit. */
  end: number;
  version: number;
  unitType: number;
  addrSize: number;
  offsetSize: 4 | 8;
  abbrevs: AbbrevTable;
  /** Offset of the unit's root DIE (DW_TAG_compile_unit). */
  rootOffset: number;
  /** Filled on first use from the root DIE. */
  root?: Die;
}

export type AttrValue = number | string | Buffer | bigint;

export interface Die {
  offset: number;
  unit: Unit;
  tag: number;
  hasChildren: boolean;
  /** Attribute codes, their forms (after DW_FORM_indirect) and raw values, in parallel. */
  ats: number[];
  forms: number[];
  values: AttrValue[];
  /** Offset just past this DIE's attributes: its first child, or its next sibling. */
  next: number;
}

export class DwarfInfo {
  readonly info: Buffer;
  readonly infoName: string;
  private unitList?: Unit[];
  private readonly abbrevCache = new Map<string, AbbrevTable>();

  constructor(readonly sections: DwarfSections) {
    this.info = sections.require('info');
    this.infoName = sections.nameOf('info');
  }

  /** Every unit header, in section order. Reads only headers: unit_length jumps over the rest. */
  units(): Unit[] {
    if (this.unitList) return this.unitList;
    const list: Unit[] = [];
    const c = new Cursor(this.info, this.infoName);
    // Each unit is at least its 11-byte header long, so this loop ends with the section.
    while (c.pos < c.end) {
      list.push(this.readUnitHeader(c));
    }
    this.unitList = list;
    return list;
  }

  private readUnitHeader(c: Cursor): Unit {
    const offset = c.pos;
    let length = c.u32();
    let offsetSize: 4 | 8 = 4;
    if (length === 0xffffffff) {
      length = c.u64();
      offsetSize = 8;
    } else if (length >= 0xfffffff0) {
      c.fail(`unit length ${hex(length)} is a reserved value`, offset);
    }
    const end = c.pos + length;
    if (end > c.end) c.fail(`unit length ${length} runs past the end of the section (${c.end} bytes)`, offset);
    const unitCursor = new Cursor(c.buf, c.section, c.pos, end);
    const version = unitCursor.u16();
    if (version < 2 || version > 5) c.fail(`unsupported DWARF version ${version}`, offset);
    let unitType: number = UT.compile;
    let addrSize: number;
    let abbrevOffset: number;
    if (version >= 5) {
      unitType = unitCursor.u8();
      addrSize = unitCursor.u8();
      abbrevOffset = unitCursor.uN(offsetSize);
      if (unitType === UT.type || unitType === UT.split_type) unitCursor.skip(8 + offsetSize);
      else if (unitType === UT.skeleton || unitType === UT.split_compile) unitCursor.skip(8);
    } else {
      abbrevOffset = unitCursor.uN(offsetSize);
      addrSize = unitCursor.u8();
    }
    if (addrSize !== 4 && addrSize !== 8) c.fail(`unsupported address size ${addrSize}`, offset);
    c.pos = end;
    return {
      offset, end, version, unitType, addrSize, offsetSize,
      abbrevs: this.abbrevTable(abbrevOffset, addrSize, version <= 2 ? addrSize : offsetSize),
      rootOffset: unitCursor.pos,
    };
  }

  private abbrevTable(offset: number, addrSize: number, refAddrSize: number): AbbrevTable {
    const key = `${offset}/${addrSize}/${refAddrSize}`;
    let table = this.abbrevCache.get(key);
    if (!table) {
      const buf = this.sections.require('abbrev');
      table = parseAbbrevTable(buf, this.sections.nameOf('abbrev'), offset, addrSize, refAddrSize);
      this.abbrevCache.set(key, table);
    }
    return table;
  }

  /** The unit whose DIEs include `offset`. */
  unitAt(offset: number): Unit {
    const units = this.units();
    let lo = 0;
    let hi = units.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const u = units[mid]!;
      if (offset < u.offset) hi = mid - 1;
      else if (offset >= u.end) lo = mid + 1;
      else {
        if (offset < u.rootOffset) break;
        return u;
      }
    }
    throw corrupt(this.infoName, offset, 'a reference points outside every unit');
  }

  root(unit: Unit): Die {
    if (!unit.root) {
      const die = this.dieIn(unit, unit.rootOffset);
      if (!die) throw corrupt(this.infoName, unit.rootOffset, 'the unit has no root entry');
      unit.root = die;
    }
    return unit.root;
  }

  /** The DIE at `offset`, anywhere in the section. */
  die(offset: number): Die {
    const die = this.dieIn(this.unitAt(offset), offset);
    if (!die) throw corrupt(this.infoName, offset, 'a reference points at a null entry');
    return die;
  }

  /** Decodes the DIE at `offset` of `unit`; null for the null entry that ends a list of children. */
  dieIn(unit: Unit, offset: number): Die | null {
    const c = new Cursor(this.info, this.infoName, offset, unit.end);
    const abbrev = this.abbrevAt(c, unit);
    if (!abbrev) return null;
    const n = abbrev.attrs.length;
    const ats = new Array<number>(n);
    const forms = new Array<number>(n);
    const values = new Array<AttrValue>(n);
    for (let i = 0; i < n; i++) {
      const spec = abbrev.attrs[i]!;
      let form = spec.form;
      // Each indirection consumes a byte, so a chain of them ends with the unit.
      while (form === FORM.indirect) form = c.uleb();
      ats[i] = spec.at;
      forms[i] = form;
      values[i] = form === FORM.implicit_const ? spec.implicit : this.readValue(c, unit, form);
    }
    return { offset, unit, tag: abbrev.tag, hasChildren: abbrev.hasChildren, ats, forms, values, next: c.pos };
  }

  private abbrevAt(c: Cursor, unit: Unit): Abbrev | null {
    const at = c.pos;
    const code = c.uleb();
    if (code === 0) return null;
    const abbrev = unit.abbrevs.get(code);
    if (!abbrev) c.fail(`abbreviation code ${code} is not in the unit's table`, at);
    return abbrev;
  }

  private readValue(c: Cursor, unit: Unit, form: number): AttrValue {
    switch (form) {
      case FORM.addr: return c.uN(unit.addrSize);
      case FORM.data1: case FORM.flag: case FORM.strx1: case FORM.addrx1: return c.u8();
      case FORM.data2: case FORM.strx2: case FORM.addrx2: return c.u16();
      case FORM.strx3: case FORM.addrx3: return c.u24();
      case FORM.data4: case FORM.strx4: case FORM.addrx4: case FORM.ref_sup4: return c.u32();
      case FORM.data8: case FORM.ref_sup8: return c.u64();
      case FORM.ref_sig8: { c.need(8); const v = c.buf.readBigUInt64LE(c.pos); c.pos += 8; return v; }
      case FORM.data16: return c.bytes(16);
      case FORM.sdata: return c.sleb();
      case FORM.udata: case FORM.strx: case FORM.addrx: case FORM.loclistx: case FORM.rnglistx:
      case FORM.GNU_addr_index: case FORM.GNU_str_index:
        return c.uleb();
      case FORM.flag_present: return 1;
      case FORM.string: return c.cstr();
      case FORM.strp: case FORM.line_strp: case FORM.sec_offset: case FORM.strp_sup:
      case FORM.GNU_strp_alt: case FORM.GNU_ref_alt:
        return c.uN(unit.offsetSize);
      case FORM.ref_addr: return c.uN(unit.version <= 2 ? unit.addrSize : unit.offsetSize);
      case FORM.ref1: return unit.offset + c.u8();
      case FORM.ref2: return unit.offset + c.u16();
      case FORM.ref4: return unit.offset + c.u32();
      case FORM.ref8: return unit.offset + c.u64();
      case FORM.ref_udata: return unit.offset + c.uleb();
      case FORM.block1: return c.bytes(c.u8());
      case FORM.block2: return c.bytes(c.u16());
      case FORM.block4: return c.bytes(c.u32());
      case FORM.block: case FORM.exprloc: return c.bytes(c.uleb());
      default: return c.fail(`unknown attribute form ${hex(form)}`);
    }
  }

  /** Moves `c` past the DIE whose abbreviation it is at, without keeping its values. */
  private skipAttrs(c: Cursor, unit: Unit, abbrev: Abbrev): void {
    if (abbrev.fixedSize >= 0) {
      c.skip(abbrev.fixedSize);
      return;
    }
    for (const spec of abbrev.attrs) {
      let form = spec.form;
      while (form === FORM.indirect) form = c.uleb();
      if (form !== FORM.implicit_const) this.readValue(c, unit, form);
    }
  }

  /** Offset just past `die` and all of its descendants. */
  endOfSubtree(die: Die): number {
    return die.hasChildren ? this.skipChildren(die.next, die.unit) : die.next;
  }

  /** The direct children of `die`, in order. */
  children(die: Die): Die[] {
    const out: Die[] = [];
    if (!die.hasChildren) return out;
    let pos = die.next;
    // Each child moves pos forward by at least one byte; the unit's end bounds the loop.
    for (;;) {
      if (pos >= die.unit.end) throw corrupt(this.infoName, pos, 'a list of children runs past the end of its unit');
      const child = this.dieIn(die.unit, pos);
      if (!child) return out;
      out.push(child);
      pos = this.endOfSubtree(child);
    }
  }

  /**
   * The children of `parent` whose tag is `tag`, decoded; the others are
   * skipped without keeping their values (most of a unit is not what we want).
   */
  *childrenWithTag(parent: Die, tag: number | ReadonlySet<number>): Generator<Die> {
    const wanted = typeof tag === 'number' ? (t: number) => t === tag : (t: number) => tag.has(t);
    if (!parent.hasChildren) return;
    const unit = parent.unit;
    const c = new Cursor(this.info, this.infoName, parent.next, unit.end);
    for (;;) {
      if (c.pos >= unit.end) c.fail('a list of children runs past the end of its unit');
      const at = c.pos;
      const abbrev = this.abbrevAt(c, unit);
      if (!abbrev) return;
      let next: number;
      if (wanted(abbrev.tag)) {
        const die = this.dieIn(unit, at)!;
        yield die;
        next = this.endOfSubtree(die);
      } else {
        this.skipAttrs(c, unit, abbrev);
        next = abbrev.hasChildren ? this.skipChildren(c.pos, unit) : c.pos;
      }
      c.pos = next;
    }
  }

  /** Offset just past the children that start at `pos` (and their null terminator). */
  private skipChildren(pos: number, unit: Unit): number {
    const c = new Cursor(this.info, this.infoName, pos, unit.end);
    let depth = 1;
    // Every entry consumes at least one byte: the walk ends with the unit at the latest.
    while (depth > 0) {
      const abbrev = this.abbrevAt(c, unit);
      if (!abbrev) { depth--; continue; }
      this.skipAttrs(c, unit, abbrev);
      if (abbrev.hasChildren) depth++;
    }
    return c.pos;
  }

  // ---- attribute accessors ----

  index(die: Die, at: number): number {
    return die.ats.indexOf(at);
  }

  has(die: Die, at: number): boolean {
    return die.ats.indexOf(at) >= 0;
  }

  /** A constant or flag attribute as a number; undefined when absent or not a number. */
  num(die: Die, at: number): number | undefined {
    const i = die.ats.indexOf(at);
    if (i < 0) return undefined;
    const v = die.values[i];
    return typeof v === 'number' ? v : undefined;
  }

  flag(die: Die, at: number): boolean {
    return (this.num(die, at) ?? 0) !== 0;
  }

  /** A reference attribute as an absolute .debug_info offset; undefined when absent or unsupported (type signatures). */
  ref(die: Die, at: number): number | undefined {
    const i = die.ats.indexOf(at);
    if (i < 0) return undefined;
    const form = die.forms[i]!;
    const v = die.values[i];
    if (typeof v !== 'number') return undefined;
    switch (form) {
      case FORM.ref1: case FORM.ref2: case FORM.ref4: case FORM.ref8: case FORM.ref_udata: case FORM.ref_addr:
        return v;
      default:
        return undefined;
    }
  }

  str(die: Die, at: number): string | undefined {
    const i = die.ats.indexOf(at);
    if (i < 0) return undefined;
    const v = die.values[i];
    if (typeof v === 'string') return v;
    if (typeof v !== 'number') return undefined;
    switch (die.forms[i]) {
      case FORM.strp: return this.cstrIn('str', v);
      case FORM.line_strp: return this.cstrIn('line_str', v);
      case FORM.strx: case FORM.strx1: case FORM.strx2: case FORM.strx3: case FORM.strx4: case FORM.GNU_str_index:
        return this.cstrIn('str', this.strOffset(die.unit, v));
      default: return undefined;
    }
  }

  /** An address attribute (DW_FORM_addr or an index into .debug_addr). */
  addr(die: Die, at: number): number | undefined {
    const i = die.ats.indexOf(at);
    if (i < 0) return undefined;
    const v = die.values[i];
    if (typeof v !== 'number') return undefined;
    switch (die.forms[i]) {
      case FORM.addr: return v;
      case FORM.addrx: case FORM.addrx1: case FORM.addrx2: case FORM.addrx3: case FORM.addrx4: case FORM.GNU_addr_index:
        return this.addrAt(die.unit, v);
      default: return undefined;
    }
  }

  /** DW_AT_high_pc: an address, or (DWARF 4+) a length from low_pc. */
  highPc(die: Die, lowPc: number): number | undefined {
    const i = die.ats.indexOf(AT.high_pc);
    if (i < 0) return undefined;
    const form = die.forms[i]!;
    if (form === FORM.addr || (form >= FORM.addrx1 && form <= FORM.addrx4) || form === FORM.addrx) return this.addr(die, AT.high_pc);
    const v = die.values[i];
    return typeof v === 'number' ? lowPc + v : undefined;
  }

  private cstrIn(name: 'str' | 'line_str', offset: number): string {
    const buf = this.sections.require(name);
    const c = new Cursor(buf, this.sections.nameOf(name), offset);
    if (offset >= buf.length) c.fail(`string offset ${hex(offset)} is past the end of the section (${buf.length} bytes)`, offset);
    return c.cstr();
  }

  private strOffset(unit: Unit, index: number): number {
    const base = this.num(this.root(unit), AT.str_offsets_base) ?? 8;
    const buf = this.sections.require('str_offsets');
    const c = new Cursor(buf, this.sections.nameOf('str_offsets'), base + index * unit.offsetSize);
    return c.uN(unit.offsetSize);
  }

  private addrAt(unit: Unit, index: number): number {
    const base = this.num(this.root(unit), AT.addr_base) ?? 8;
    const buf = this.sections.require('addr');
    const c = new Cursor(buf, this.sections.nameOf('addr'), base + index * unit.addrSize);
    return c.uN(unit.addrSize);
  }
}

export { DwarfError };
