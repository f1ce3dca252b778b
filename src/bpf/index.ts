// bpf: from plans to programs in the kernel. The trace spec (what to load:
// functions, shapes, generated C units, probes), code generation, clang and
// its cache, kernel feature probes, the kernel buffer's size, and the loader,
// the only module that talks to the native libbpf binding.
//
// The stage's public face: other stages import from here (or from a
// sub-folder's index.ts), never from the stage's modules themselves.

export { MIN_DEFAULT_BUFFER, defaultBufferSize, formatBufferSize, suggestedBufferSize } from './buffersize.js';
export { PAIR_STATS_MAP, RING_BATCH_MAX_RECORD, ringBatchBytesFor } from './codegen.js';
export { compileBpf, prepareClang } from './compile.js';
export { describeFeatures, kernelFeatures, type KernelFeatures } from './features.js';
export { forgetKernelBtf, keepKernelBtf, keptKernelBtf } from './kernelbtf.js';
export { BpfObject, forEachRecord, monotonicToRealtimeOffsetNs } from './loader.js';
export { checkPrivileges } from './privileges.js';
export { defaultSpecCacheDir, readCachedSpec, readSpecFile, specCachePath, writeCachedSpec, writeSpecFile } from './speccache.js';
export { buildTraceSpec, type TraceRequest, type TraceSpec } from './tracespec.js';
