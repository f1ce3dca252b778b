// A cold start on a large binary builds its trace spec in a process of its
// own (src/cli/specbuilder.ts), which exits before clang starts. Reading
// the binary and its DWARF and planning thousands of functions leave
// weaver's heap at 170-270 MB, and V8 does not give those pages back when
// the work is done: they stayed resident beside the clangs, and weaver
// with its clangs went over 400 MB (bench/README.md §3g). Across a process
// the heap is returned whole at its exit; the spec comes back through the
// spec cache's file format (src/bpf/speccache.ts), as on a warm start.
//
// The builder costs a second Node start and its imports (~0.27 s), so a
// small binary is analysed in place, and for a large one the builder is
// started first thing (src/cli/main.ts), while weaver loads its own
// modules; a start that then finds its spec in the cache stops it.
// Whatever goes wrong with the process itself (not the user's input) only
// costs the saving: the spec is then built in place, as before.
//
// Light on imports: main.ts loads this module before anything else.

import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { TraceRequest, TraceSpec } from '../bpf/index.js';
import { weaverErrorFrom, type WeaverErrorData } from '../core/index.js';

/** Binaries of at least this size (DWARF included) are analysed apart: cmd/pprof is 18.6 MB, the httpserver fixture 8.7 MB. */
export const SPEC_PROCESS_MIN_BYTES = 16 << 20;

/** always / never: whatever the binary's size (for tests and measurements); anything else: by size. */
export const SPEC_PROCESS_ENV = 'WEAVER_SPEC_PROCESS';

/**
 * Node flags of the builder. A fixed young generation of 16 MB: nothing
 * runs beside the builder, and one that does not grow and shrink saves
 * scavenges. --expose-gc: the builder collects its garbage before it
 * writes the spec, which then reuses the pages instead of growing the heap
 * (its peak at 3,128 functions: ~330 → ~270 MiB; bench/README.md §3g).
 */
const BUILDER_NODE_FLAGS = ['--expose-gc', '--min-semi-space-size=16', '--max-semi-space-size=16'];

/** What the builder is told, as one JSON document on its standard input (none: it exits). */
export interface SpecBuildOrder {
  request: Omit<TraceRequest, 'elf'>;
  /** openWithDebugInfo's options. */
  debugFile?: string;
  cache?: boolean;
  verbose: boolean;
  /** Where to keep the spec between runs (writeCachedSpec); null: not kept. */
  specCacheDir: string | null;
  /** Where to write the spec when it is not kept in the cache. */
  transferPath: string;
}

/** The builder's answer: its last line on standard output. */
export type SpecBuildAnswer =
  | { kind: 'spec'; path: string }
  | { kind: 'error'; error: WeaverErrorData }
  /** Built, but it holds something the file format cannot store. */
  | { kind: 'unstorable' };

/** True when `binaryPath` is worth a process of its own (SPEC_PROCESS_MIN_BYTES, SPEC_PROCESS_ENV). */
export function specProcessWanted(binaryPath: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const asked = env[SPEC_PROCESS_ENV];
  if (asked === 'always') return true;
  if (asked === 'never') return false;
  try {
    return statSync(binaryPath).size >= SPEC_PROCESS_MIN_BYTES;
  } catch {
    // Building the spec says what is wrong with the file.
    return false;
  }
}

/** A builder process, started and loading its modules, waiting for its order. */
export class SpecBuilder {
  private settled = false;
  private readonly exit: Promise<{ answer: SpecBuildAnswer } | { failed: string }>;

  private constructor(private readonly child: ChildProcessByStdio<Writable, Readable, null> | null, startError: Error | null) {
    if (!child) {
      this.exit = Promise.resolve({ failed: `could not start (${startError?.message ?? 'unknown'})` });
      return;
    }
    const out: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stdin.on('error', () => {
      // It exited before reading its order: its exit says why.
    });
    this.exit = new Promise((resolve) => {
      child.on('error', (err) => resolve({ failed: `could not start (${err.message})` }));
      child.on('close', (code, signal) => {
        const lines = Buffer.concat(out).toString('utf8').trim().split('\n');
        try {
          const answer = JSON.parse(lines[lines.length - 1]!) as SpecBuildAnswer;
          if (typeof answer?.kind === 'string') return resolve({ answer });
        } catch {
          // No answer: the exit says why.
        }
        resolve({ failed: signal ? `was killed by ${signal}` : `exited with status ${code} without an answer` });
      });
    });
  }

  static start(): SpecBuilder {
    const entry = fileURLToPath(new URL('./specbuilder.js', import.meta.url));
    try {
      // Its standard error is weaver's: what it says while reading (debug info found, -v lines) reaches the user as it happens.
      return new SpecBuilder(spawn(process.execPath, [...BUILDER_NODE_FLAGS, entry], { stdio: ['pipe', 'pipe', 'inherit'] }), null);
    } catch (err) {
      return new SpecBuilder(null, err as Error);
    }
  }

  /** Sends the order and waits for the builder to exit: its answer, or how it failed. */
  run(order: SpecBuildOrder): Promise<{ answer: SpecBuildAnswer } | { failed: string }> {
    if (!this.settled && this.child) this.child.stdin.end(JSON.stringify(order));
    this.settled = true;
    return this.exit;
  }

  /** Not needed after all (the spec was in the cache, or the run ended early): it exits now. */
  dismiss(): void {
    if (this.settled) return;
    this.settled = true;
    this.child?.kill();
  }
}

/**
 * Starts the builder for a trace run that will want it: a large binary
 * named on the command line (or by WEAVER_SPEC_PROCESS), and not --emit c.
 * Null otherwise; runTrace then decides again once it knows the target.
 */
export function prestartSpecBuilder(flags: { binary?: string; command?: string[]; emit?: string; types?: boolean }): SpecBuilder | null {
  if (flags.emit || flags.types) return null;
  const named = flags.binary ?? (flags.command?.[0]?.includes('/') ? flags.command[0] : undefined);
  return named !== undefined && specProcessWanted(named) ? SpecBuilder.start() : null;
}

/**
 * The spec of `order.request`, built by `builder` (started now when not
 * given). A WeaverError there (a bad signature, a missing function) is
 * thrown here as it was reported. Null, with the reason given to
 * `verbose`, when the process itself failed: the caller then builds the
 * spec in place.
 */
export async function buildSpecApart(order: Omit<SpecBuildOrder, 'transferPath'>, verbose: (line: string) => void, builder: SpecBuilder = SpecBuilder.start()): Promise<TraceSpec | null> {
  let dir: string;
  try {
    dir = mkdtempSync(join(tmpdir(), 'weaver-spec-'));
  } catch (err) {
    builder.dismiss();
    verbose(`weaver: building the trace spec here: no temporary directory (${(err as Error).message})`);
    return null;
  }
  try {
    const outcome = await builder.run({ ...order, transferPath: join(dir, 'trace.spec') });
    if ('failed' in outcome) {
      verbose(`weaver: building the trace spec here: its process ${outcome.failed}`);
      return null;
    }
    const answer = outcome.answer;
    if (answer.kind === 'error') throw weaverErrorFrom(answer.error);
    if (answer.kind === 'unstorable') {
      verbose('weaver: building the trace spec here: it holds values its file cannot store');
      return null;
    }
    // Loaded already by the trace command; this module stays light for main.ts.
    const { readSpecFile } = await import('../bpf/index.js');
    // The file stays open for the parts read on first use: removing the directory below does not cut them off.
    const spec = readSpecFile(answer.path, order.request.binaryPath);
    if (!spec) verbose(`weaver: building the trace spec here: ${answer.path} could not be read back`);
    return spec;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
