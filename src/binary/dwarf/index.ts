// The DWARF reader: Go functions with parameter names and types, so that
// ordinary (unstripped) binaries need no functions file.
//
//   readDwarfFunctions(elf, { packages: ['main'] }).get('main.(*Cart).Add')
//   dwarfTypeByName(elf, 'main.Account')

import type { GoType } from '../../core/index.js';
import { AT, TAG, UT } from './constants.js';
import { DwarfError } from './errors.js';
import { collectUnitFunctions, type DwarfFunction } from './functions.js';
import { DwarfInfo } from './info.js';
import { DwarfSections, type ElfLike } from './sections.js';
import { TypeBuilder } from './types.js';

export { DwarfError } from './errors.js';
export { placeDictionary, type DwarfFunction } from './functions.js';
export type { ElfLike, ElfSectionLike } from './sections.js';

export interface ReadDwarfOptions {
  /**
   * Package paths (`main`, `github.com/acme/shop/cart`) whose compile units
   * are read; the others are skipped after their header. Generic
   * instantiations live in the unit of the package that instantiates them,
   * so `pkg.F[go.shape.int]` may need the caller's package too.
   */
  packages?: string[];
}

const TYPE_TAGS = new Set<number>([
  TAG.base_type, TAG.pointer_type, TAG.structure_type, TAG.typedef, TAG.array_type, TAG.subroutine_type,
]);

/** One binary's DWARF, read lazily and cached: units, decoded types, the type-name index. */
export class DwarfReader {
  private readonly dw: DwarfInfo;
  private readonly types: TypeBuilder;
  private typeIndex?: Map<string, number>;
  private readonly unitFunctions = new Map<number, Map<string, DwarfFunction>>();

  constructor(elf: ElfLike) {
    this.dw = guard(() => new DwarfInfo(new DwarfSections(elf)));
    this.types = new TypeBuilder(this.dw);
  }

  functions(options: ReadDwarfOptions = {}): Map<string, DwarfFunction> {
    return guard(() => {
      const wanted = options.packages ? new Set(options.packages) : null;
      const out = new Map<string, DwarfFunction>();
      for (const unit of this.dw.units()) {
        if (unit.unitType !== UT.compile) continue;
        if (wanted && !wanted.has(this.dw.str(this.dw.root(unit), AT.name) ?? '')) continue;
        let fns = this.unitFunctions.get(unit.offset);
        if (!fns) {
          fns = new Map();
          collectUnitFunctions(this.dw, this.types, unit, fns);
          this.unitFunctions.set(unit.offset, fns);
        }
        for (const [name, fn] of fns) if (!out.has(name)) out.set(name, fn);
      }
      return out;
    });
  }

  /**
   * Whether DWARF describes `name` (`main.f`) in the abstract, for the calls
   * it was inlined into (DW_AT_inline). Such an entry sits in the unit of
   * each package that inlined it, so every unit is searched: only asked
   * about a function the binary has no symbol for.
   */
  describesInlined(name: string): boolean {
    return guard(() => {
      for (const unit of this.dw.units()) {
        if (unit.unitType !== UT.compile) continue;
        for (const die of this.dw.childrenWithTag(this.dw.root(unit), TAG.subprogram)) {
          if (this.dw.has(die, AT.inline) && this.dw.str(die, AT.name) === name) return true;
        }
      }
      return false;
    });
  }

  /** The named type as DWARF describes it (`main.Account`, `time.Duration`, `[]string`), or null. */
  typeByName(name: string): GoType | null {
    return guard(() => {
      const offset = this.typesByName().get(name);
      return offset === undefined ? null : this.types.typeAt(offset);
    });
  }

  /**
   * Like typeByName, looking only in the compile unit of package `unit`:
   * one unit's top-level entries instead of an index of every type, for
   * the lookups made at every start (runtime.g).
   */
  typeByNameInUnit(name: string, unit: string): GoType | null {
    return guard(() => {
      for (const u of this.dw.units()) {
        if (u.unitType !== UT.compile) continue;
        const root = this.dw.root(u);
        if (this.dw.str(root, AT.name) !== unit) continue;
        for (const tag of TYPE_TAGS) {
          for (const die of this.dw.childrenWithTag(root, tag)) {
            if (this.dw.str(die, AT.name) === name) return this.types.typeAt(die.offset);
          }
        }
      }
      return null;
    });
  }

  /** Names of every type the binary describes, for suggestions. */
  typeNames(): string[] {
    return guard(() => [...this.typesByName().keys()]);
  }

  private typesByName(): Map<string, number> {
    if (this.typeIndex) return this.typeIndex;
    const index = new Map<string, number>();
    for (const unit of this.dw.units()) {
      const root = this.dw.root(unit);
      for (const die of this.dw.childrenWithTag(root, TYPE_TAGS)) {
        const name = this.dw.str(die, AT.name);
        // A named struct is written twice (the struct and a typedef of it): either gives the same type.
        if (name && !index.has(name)) index.set(name, die.offset);
      }
    }
    this.typeIndex = index;
    return index;
  }
}

const readers = new WeakMap<object, DwarfReader>();

/** The reader of `elf`, shared by every call about the same file. */
export function dwarfReader(elf: ElfLike): DwarfReader {
  let reader = readers.get(elf);
  if (!reader) {
    reader = new DwarfReader(elf);
    readers.set(elf, reader);
  }
  return reader;
}

/**
 * Every function with code in the binary, by Go name: `main.f`,
 * `main.(*T).M`, `main.T.M`, `main.main.func1`, `main.F[go.shape.int_0]`.
 */
export function readDwarfFunctions(elf: ElfLike, options: ReadDwarfOptions = {}): Map<string, DwarfFunction> {
  return dwarfReader(elf).functions(options);
}

/** Whether DWARF describes the function as inlined (see DwarfReader.describesInlined); false when it cannot be read. */
export function dwarfDescribesInlined(elf: ElfLike, name: string): boolean {
  try {
    return dwarfReader(elf).describesInlined(name);
  } catch {
    return false;
  }
}

/** A named type from the binary's DWARF, for the functions-file parser; null when absent. */
export function dwarfTypeByName(elf: ElfLike, name: string): GoType | null {
  return dwarfReader(elf).typeByName(name);
}

/** A named type looked up in one package's compile unit only (fast); null when absent. */
export function dwarfTypeInUnit(elf: ElfLike, name: string, unit: string): GoType | null {
  return dwarfReader(elf).typeByNameInUnit(name, unit);
}

/** Turns an unexpected exception (a bug, or input no check foresaw) into a DwarfError. */
function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof DwarfError) throw err;
    throw new DwarfError(`DWARF section .debug_info could not be read: ${(err as Error).message}`, '.debug_info', undefined, {
      cause: err,
    });
  }
}
