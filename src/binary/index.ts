// binary: what the Go program's file says. ELF sections and symbols,
// .go.buildinfo, .gopclntab and its line tables, DWARF, runtime type
// descriptors, x86 decoding (entry probe sites, RETs), separate debug info,
// and the per-binary cache of these answers. In: a path; out: plain facts.
//
// The stage's public face: other stages import from here (or from a
// sub-folder's index.ts), never from the stage's modules themselves.

export { parseGoVersion } from './elf/buildinfo.js';
export { ElfFile } from './elf/file.js';
export { goBinaryInfo, goFunctionName, openGoBinary } from './elf/gobinary.js';
export { LineTable } from './elf/pcline.js';
export { findPclntab, parsePclntab } from './elf/pclntab.js';
export { functionNames, lazyFunctionNames, type FunctionNames } from './functionnames.js';
export { goidOffsetFor } from './goid.js';
export { ProbeCache } from './probecache.js';
export { binaryIdentity, goBuildId, isCurrentBuild, type BinaryIdentity } from './identity.js';
export { IFACE_STRINGS, ifaceRecipe, isDirectIface, lazyRuntimeTypes, runtimeTypesFromList, type IfaceRecipe, type RuntimeTable, type RuntimeTypes } from './runtimetypes.js';
export { chooseEntryProbe, type ProbeKind } from './x86/prologue.js';
export { findReturnProbes, type ReturnSite, type ReturnSiteKind } from './x86/returns.js';
