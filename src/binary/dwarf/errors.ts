import { InputError } from '../../core/index.js';

/** The DWARF of a binary is missing, unsupported or corrupt. */
export class DwarfError extends InputError {
  constructor(
    message: string,
    readonly section?: string,
    readonly offset?: number,
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

export function hex(n: number): string {
  return '0x' + n.toString(16);
}

/** The one sentence used for every malformed byte: it names the section and where. */
export function corrupt(section: string, offset: number, what: string): DwarfError {
  return new DwarfError(`DWARF section ${section} is corrupt at offset ${hex(offset)}: ${what}`, section, offset, {
    hint: 'the binary may be truncated or damaged; rebuild it, or trace it with a functions file',
  });
}
