// The process that builds a trace spec apart (src/cli/specprocess.ts):
// reads its order as JSON on standard input, reads the binary (with its
// separate debug info), builds the spec, and writes it to the spec cache
// or, when it is not kept there, to the order's transfer file. Its last
// line on standard output is the answer; its heap goes with it at exit.

import { readFileSync, writeSync } from 'node:fs';
import { buildTraceSpec, specCachePath, writeCachedSpec, writeSpecFile } from '../bpf/index.js';
import { openWithDebugInfo } from '../binary/debuginfo/index.js';
import { describeCauses, WeaverError, weaverErrorData } from '../core/index.js';
import type { SpecBuildAnswer, SpecBuildOrder } from './specprocess.js';

function answer(a: SpecBuildAnswer): void {
  writeSync(1, `${JSON.stringify(a)}\n`);
}

async function build(order: SpecBuildOrder): Promise<SpecBuildAnswer> {
  const say = (line: string) => process.stderr.write(`weaver: ${line}\n`);
  const elf = await openWithDebugInfo(order.request.binaryPath, { debugFile: order.debugFile, cache: order.cache, say, verbose: order.verbose });
  const request = { ...order.request, elf };
  const spec = buildTraceSpec(request);
  // Half the heap is now garbage (DWARF read, prologues decoded): collected first, serializing the spec reuses its pages instead of growing the heap.
  (globalThis as { gc?: () => void }).gc?.();
  // Kept in the cache, it is both the answer and the next start's spec.
  if (order.specCacheDir && writeCachedSpec(request, spec, elf, order.specCacheDir)) {
    const path = specCachePath(request, order.specCacheDir);
    if (path) return { kind: 'spec', path };
  }
  return writeSpecFile(order.transferPath, spec, null) ? { kind: 'spec', path: order.transferPath } : { kind: 'unstorable' };
}

let verbose = false;
try {
  const text = readFileSync(0, 'utf8');
  // No order: weaver found the spec in its cache, or ended first.
  if (text.trim() === '') process.exit(0);
  const order = JSON.parse(text) as SpecBuildOrder;
  verbose = order.verbose;
  answer(await build(order));
} catch (err) {
  if (err instanceof WeaverError) {
    answer({ kind: 'error', error: weaverErrorData(err) });
  } else {
    // Not the user's input: weaver builds the spec itself and reports it there; -v shows this one too.
    if (verbose) for (const line of describeCauses(err)) process.stderr.write(`${line}\n`);
    process.exitCode = 1;
  }
}
