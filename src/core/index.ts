// core: the vocabulary every stage shares. Typed errors (only the CLI entry
// turns them into exit codes), the Go type model and value model, Go name
// helpers, did-you-mean suggestions, notes, where caches live, the rule that
// bounds them and the fingerprint of weaver's own files. Imports no other stage.
//
// The stage's public face: other stages import from here (or from a
// sub-folder's index.ts), never from the stage's modules themselves.

export { defaultCacheDir } from './cachedir.js';
export { cachedFiles, leastRecentlyUsed, type CachedFile } from './cachelru.js';
export { formatDurationMs, parseDurationMs } from './duration.js';
export { BpfError, EnvironmentError, InputError, NotSupportedError, ParseError, SymbolNotFoundError, UsageError, WeaverError, describeCauses, weaverErrorData, weaverErrorFrom, type WeaverErrorData } from './errors.js';
export { readTextUpTo } from './files.js';
export { decoderPackageFile, filesFingerprint, filesUnder } from './fingerprint.js';
export { packageOf, withoutTypeArguments } from './gonames.js';
export { BASIC_TYPE_NAMES, DICTIONARY_PARAM, alignOf, alignUp, basic, isBasicKind, isIntKind, isSignedInt, makeStruct, sizeOf, type BasicKind, type FunctionSpec, type GoType, type IntKind, type Param, type SpecOrigin, type StructField } from './gotypes.js';
export { type CallEvent, type DecodedArg, type FunctionSymbol, type GoAbi, type GoBinaryInfo, type IntRegister, type MapCut, type Piece, type Value, type ValueLocation } from './model.js';
export { Notes, type NotesData } from './notes.js';
export { lastStartingAtOrBefore } from './search.js';
export { closestFunctions, closestNames, didYouMean } from './suggest.js';
