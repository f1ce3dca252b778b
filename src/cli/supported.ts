// What `weaver --types` prints: every type the functions file accepts, with
// how a captured value is shown.

export interface SupportedType {
  /** How it is written in a functions file. */
  syntax: string;
  description: string;
}

export const SUPPORTED_TYPES: readonly SupportedType[] = [
  { syntax: 'bool', description: 'true or false' },
  { syntax: 'int, int8, int16, int32, int64', description: 'signed integers (int is 64-bit)' },
  { syntax: 'uint, uint8, uint16, uint32, uint64, uintptr', description: 'unsigned integers' },
  { syntax: 'byte, rune', description: 'aliases of uint8 and int32' },
  { syntax: 'float32, float64', description: 'floating point; unavailable when passed in an XMM register (register ABI, Go 1.17+)' },
  { syntax: 'complex64, complex128', description: 'complex numbers; unavailable when passed in XMM registers (register ABI)' },
  { syntax: 'string', description: 'the bytes, up to --string-size, and the length' },
  { syntax: '*T', description: 'a pointer: what it points to, followed up to --depth levels (&{…}); only its address deeper, or when T is unknown (a named type without DWARF)' },
  { syntax: '[N]T', description: 'an array: up to --max-elements elements, then its length when cut short' },
  { syntax: '[]T', description: 'a slice: length, capacity and up to --max-elements elements' },
  { syntax: 'struct{A int; B string}', description: 'a struct written out: its fields, laid out as Go does' },
  { syntax: 'map[K]V', description: 'a map: up to --max-elements entries and its length; its address when it is not read (past --depth)' },
  { syntax: 'chan T', description: 'a channel (also chan<- T, <-chan T): its address, with len and cap when read' },
  { syntax: 'func(...)', description: 'a func value: the function it calls, by name (main.barfoo, a closure main.main.func1); its address past --depth' },
  { syntax: 'interface{}, any, error', description: 'an interface: its dynamic type and value (from up to 64 bytes behind it); the data word, labelled data=, when the value is not decoded' },
  { syntax: 'interface{ M() }', description: 'an interface with methods: written out, or as any or error, since a named interface (context.Context, io.Reader) needs DWARF; all show the dynamic type and value' },
  { syntax: 'unsafe.Pointer', description: 'an address' },
  { syntax: 'pkg.Name', description: 'a named type from the binary\'s debug info (DWARF); without it, only *pkg.Name (an address)' },
  { syntax: 'name T', description: 'parameters may be named: main.f(x int, xs ...int); a ...T parameter is a []T' },
  { syntax: 'pkg.(*T).M(r *pkg.T, ...)', description: 'a method: its receiver is the first parameter, as a pointer or a value (pkg.T.M(r pkg.T, ...))' },
] as const;

/** The list as `weaver --types` prints it: aligned columns, one type per line. */
export function formatSupportedTypes(): string {
  const width = Math.max(...SUPPORTED_TYPES.map((t) => t.syntax.length));
  return SUPPORTED_TYPES.map((t) => `${t.syntax.padEnd(width)}  ${t.description}`).join('\n') + '\n';
}
