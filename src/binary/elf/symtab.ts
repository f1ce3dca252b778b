// Elf64_Sym entries of a .symtab section, names resolved in its string table.

import { InputError } from '../../core/index.js';

/** One Elf64_Sym, its name read from the string table (src/binary/elf/file.ts holds them). */
export interface ElfSymbol {
  name: string;
  value: number;
  size: number;
  type: number;
  bind: number;
  shndx: number;
}

const ELF64_SYM_SIZE = 24;

export function parseSymbolTable(symtab: Buffer, strtab: Buffer, path: string): ElfSymbol[] {
  if (symtab.length % ELF64_SYM_SIZE !== 0) {
    throw new InputError(`${path} has a corrupt symbol table: its size ${symtab.length} is not a multiple of ${ELF64_SYM_SIZE}`);
  }
  const out: ElfSymbol[] = [];
  // Entry 0 is the reserved null symbol.
  for (let off = ELF64_SYM_SIZE; off < symtab.length; off += ELF64_SYM_SIZE) {
    const nameOff = symtab.readUInt32LE(off);
    const info = symtab[off + 4];
    const shndx = symtab.readUInt16LE(off + 6);
    const value = symtab.readUInt32LE(off + 8) + symtab.readUInt32LE(off + 12) * 0x1_0000_0000;
    const size = symtab.readUInt32LE(off + 16) + symtab.readUInt32LE(off + 20) * 0x1_0000_0000;
    if (nameOff >= strtab.length && nameOff !== 0) {
      throw new InputError(`${path} has a corrupt symbol table: a name offset (${nameOff}) is past its string table`);
    }
    let end = strtab.indexOf(0, nameOff);
    if (end < 0) end = strtab.length;
    out.push({ name: strtab.toString('utf8', nameOff, end), value, size, type: info & 0xf, bind: info >> 4, shndx });
  }
  return out;
}
