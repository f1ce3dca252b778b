// The `elfy` package ships no types. Only what src/binary/elf/file.ts uses is
// declared; elfy maps type and flag numbers to names, which is why file.ts
// reads those two raw fields itself.
declare module 'elfy' {
  interface ElfyProgram {
    type: string | number;
    offset: number;
    vaddr: number;
    paddr: number;
    filesz: number;
    memsz: number;
    flags: Record<string, boolean>;
    align: number;
    data: Buffer;
  }
  interface ElfySection {
    name: string;
    type: string | number;
    flags: Record<string, boolean>;
    addr: number;
    off: number;
    size: number;
    link: number;
    info: number;
    data: Buffer;
  }
  interface ElfyFile {
    class: string;
    endian: string;
    type: string;
    machine: string;
    entry: number;
    phoff: number;
    shoff: number;
    phentsize: number;
    phnum: number;
    shentsize: number;
    shnum: number;
    shstrndx: number;
    body: { programs: ElfyProgram[]; sections: ElfySection[] };
  }
  class Parser {
    parseHeader(buf: Buffer): ElfyFile;
    parsePrograms(buf: Buffer, header: ElfyFile): ElfyProgram[];
  }
  const elfy: { parse(buf: Buffer): ElfyFile; Parser: typeof Parser };
  export default elfy;
}
