// `weaver <binary> …`, `weaver --pid N …`, `weaver … -- <program> …`:
// choose the target, build the spec, compile, load and attach, then print
// every call until a signal, --count, --duration, the output closing, or
// the traced program ending. Orchestration only; each step lives in its
// own module. Returns the exit status (the program's own in launch mode).
//
// Start-up time counts (bench/startup.mjs): what only some runs need (the
// filter parser, --returns pairing output, -c statistics, --types) is
// imported when that run needs it.

import type { TraceFlags } from '../flags.js';
import { buildTraceSpec, checkPrivileges, compileBpf, defaultBufferSize, defaultSpecCacheDir, describeFeatures, forgetKernelBtf, formatBufferSize, keepKernelBtf, keptKernelBtf, kernelFeatures, MIN_DEFAULT_BUFFER, prepareClang, readCachedSpec, RING_BATCH_MAX_RECORD, ringBatchBytesFor, writeCachedSpec, type TraceRequest, type TraceSpec } from '../../bpf/index.js';
import type { ElfFile } from '../../binary/index.js';
import { UsageError, type CallEvent } from '../../core/index.js';
import type { EventFilter } from '../../output/filter/index.js';
import { createFormatter, loadColors, resolveFormat, shouldUseColor } from '../../output/format/index.js';
import { writeFileSync } from 'node:fs';
import { after, chooseTarget, describeExit, exitStatusOf, forwardSignals, outputPatience, settle, SignalWatch, spawnHeld, terminate, watchBinary, whenAllExit, type LaunchedProgram, type ProgramExit, type StopSource } from '../../process/index.js';
import { describeWriteError, EventPrinter, EXIT_OUTPUT_ERROR, formatSummary, formatTwoTraps, isSharedStream, loadCallStats, loadReturnFormat, loadOtlpExport, loadStackNames, openOutputFile, OutputWriter, pairingCounts, resolveOtlpConfig, StatusLine, stdoutTarget, summaryRecord, type OtlpExport, type OutputFailure, type SummaryFacts } from '../../output/index.js';
import { TraceSession, resolveAttachMode, resolveTransport, type SessionOptions } from '../../events/index.js';
import { weaverVersion } from '../flags.js';
import { buildSpecApart, specProcessWanted, type SpecBuilder } from '../specprocess.js';

function checkFlags(flags: TraceFlags): void {
  if (flags.force && !flags.functionsFile) {
    throw new UsageError('--force only applies to the signatures of a functions file given with -f');
  }
  if (flags.functionsFile && flags.packagesGiven) {
    throw new UsageError('--functions-file and --packages choose functions in two different ways; give one of them');
  }
  if (flags.byCaller && !flags.summary) {
    throw new UsageError('--by-caller groups the -c summary by caller; give it with -c');
  }
  if (flags.bufferSize !== undefined && ((flags.bufferSize & (flags.bufferSize - 1)) !== 0 || flags.bufferSize % 4096 !== 0)) {
    throw new UsageError(`--buffer-size must be a power of two of at least 4096 bytes, not ${flags.bufferSize}`);
  }
}

/** Without --filter every call is shown, and the filter parser is not loaded. */
const SHOW_ALL: EventFilter = { active: false, test: () => true };

async function compileFilters(texts: string[], spec: TraceSpec): Promise<EventFilter> {
  if (texts.length === 0) return SHOW_ALL;
  const { compileFilters: compile } = await import('../../output/filter/index.js');
  return compile(texts, spec.targets.map((t) => ({ name: t.plan.name, params: t.plan.args?.map((a) => ({ name: a.name, type: a.type })) ?? null })));
}

/** `builder`: the spec's own process, started by main.ts before this module loaded (src/cli/specprocess.ts). */
export async function runTrace(flags: TraceFlags, builder: SpecBuilder | null = null): Promise<number> {
  if (flags.types) {
    const { printSupportedTypes } = await import('./types.js');
    printSupportedTypes(process.stdout);
    return 0;
  }
  checkFlags(flags);
  const otlpConfig = flags.otlp ? resolveOtlpConfig(flags.otlp) : undefined;
  const target = chooseTarget(flags);

  const say = (line: string) => process.stderr.write(`${line}\n`);
  const verbose = flags.verbose ? say : () => {};

  // Asked of the kernel once per boot (src/bpf/features.ts), then plain data for the spec.
  const found = kernelFeatures({ cache: flags.cache !== false });
  verbose(describeFeatures(found));
  const { features } = found;
  const transport = resolveTransport(flags.transport, features);
  // clang --version (~30 ms) runs on the other core while the binary is read.
  if (flags.emit !== 'c') prepareClang('clang', flags.cache === false ? null : undefined);
  const request: TraceRequest = {
    binaryPath: target.binaryPath,
    functionsFile: flags.functionsFile,
    force: flags.force,
    packages: flags.packages,
    probePlacement: flags.probePlacement,
    transport,
    features,
    // The default buffer is 8 MiB at least, which batches of 8 KiB fit.
    ringBatchBytes: ringBatchBytesFor(flags.bufferSize ?? MIN_DEFAULT_BUFFER),
    attach: resolveAttachMode(flags.attach, features),
    returns: flags.returns,
    // --by-caller needs the caller: one frame, unless --stack asks for more.
    stackFrames: flags.stackFrames ?? (flags.byCaller ? 1 : undefined),
    ...(flags.cache === false ? { binaryCacheDir: null } : {}),
    plan: { stringSize: flags.stringSize, maxElements: flags.maxElements, maxRecordSize: flags.maxEventSize, depth: flags.depth },
  };
  // A warm start takes the whole spec from the cache (src/bpf/speccache.ts),
  // without reading the binary; --debug-file always reads it.
  const specCacheDir = flags.cache !== false && flags.debugFile === undefined ? defaultSpecCacheDir() : null;
  const cachedSpec = specCacheDir ? readCachedSpec(request, specCacheDir) : null;
  // The debug-info lookup is loaded only by a start that reads the binary.
  const openBinary = async () => {
    const { openWithDebugInfo } = await import('../../binary/debuginfo/index.js');
    return openWithDebugInfo(target.binaryPath, { debugFile: flags.debugFile, cache: flags.cache, say: (l) => say(`weaver: ${l}`), verbose: flags.verbose });
  };
  // A large binary is read in a process of its own, whose heap is gone before clang starts (src/cli/specprocess.ts).
  const wantApart = !cachedSpec && flags.emit !== 'c' && (builder !== null || specProcessWanted(target.binaryPath));
  if (!wantApart) builder?.dismiss();
  const apart = wantApart ? await buildSpecApart({ request, debugFile: flags.debugFile, cache: flags.cache, verbose: Boolean(flags.verbose), specCacheDir }, verbose, builder ?? undefined) : null;
  let elf: ElfFile | undefined;
  let spec: TraceSpec;
  // A spec built this run is kept once tracing has begun: its serializing
  // (~0.1 s and tens of MB for thousands of functions) then neither delays
  // the start nor adds to the peak while clang runs.
  let keepSpec = () => {};
  if (cachedSpec) {
    spec = cachedSpec;
    verbose('weaver: trace spec from cache');
  } else if (apart) {
    spec = apart;
    verbose('weaver: trace spec built by a process of its own');
  } else {
    elf = await openBinary();
    spec = buildTraceSpec({ ...request, elf });
    const built = { spec, elf };
    if (specCacheDir) keepSpec = () => void writeCachedSpec(request, built.spec, built.elf, specCacheDir);
  }
  for (const note of spec.notes.lines(flags.verbose)) say(`weaver: ${note}`);
  const filter = await compileFilters(flags.filters, spec);

  if (flags.emit === 'c') {
    keepSpec();
    process.stdout.write(spec.cSource);
    return 0;
  }

  checkPrivileges();
  const bufferSize = flags.bufferSize ?? defaultBufferSize(spec.targets);
  const sink = flags.output ? openOutputFile(flags.output) : stdoutTarget(Boolean(target.launch));
  const status = new StatusLine();
  status.set('weaver: compiling the BPF program…');
  const compiled = await compileBpf(spec.cUnits, {
    ...(flags.cache === false ? { cacheDir: null } : {}),
    warn: (m) => say(`weaver: ${m}`),
  });
  verbose(`weaver: BPF object ${compiled.cached ? 'from cache' : 'compiled'}${compiled.cachePath ? ` (${compiled.cachePath})` : ''}`);

  const toTerminal = !flags.output && Boolean(process.stdout.isTTY);
  const format = resolveFormat(flags.format, toTerminal);
  const color = format === 'text' && toTerminal && flags.color !== false && shouldUseColor(process.stdout, process.env);
  if (color) await loadColors();
  const baseFormatter = createFormatter({
    format,
    color,
    timestamps: flags.timestamps,
  });
  const returnFormat = flags.returns ? await loadReturnFormat() : undefined;
  const paired = returnFormat ? returnFormat.pairedFormatter(baseFormatter, format) : baseFormatter;
  // --stack: frames named from the binary's line tables, under each call.
  const stackModule = spec.targets.some((t) => t.plan.stack) ? await loadStackNames() : undefined;
  const symbols = stackModule?.StackSymbols.forBinary(elf ?? (await openBinary()), spec.binary.path);
  const formatter = stackModule && symbols ? stackModule.stackFormatter(paired, format, symbols) : paired;
  // -c/--summary: calls are counted, not printed; the table comes at exit.
  const callStatsModule = flags.summary ? await loadCallStats() : undefined;
  const callStats = callStatsModule ? new callStatsModule.CallStats(flags.byCaller && symbols ? (e) => symbols.caller(e) : undefined) : undefined;
  const output = new OutputWriter(sink, { lineAtomic: !flags.output && isSharedStream(1), name: flags.output ?? 'standard output', ownsFile: Boolean(flags.output) });
  // --otlp: created once the launched program's pid is known, below.
  let otlp: OtlpExport | undefined;
  const printer = new EventPrinter(formatter, output, filter, flags.count, callStats ? (e) => callStats.add(e) : undefined, otlpConfig ? (e) => otlp!.add(e) : undefined);

  // Held back until the probes are attached, so its first call is traced.
  // Events on a piped stdout (`| jq`) must stay whole lines of weaver's: the
  // program's own output then goes to stderr. On a terminal both are for eyes.
  const programStdout = !flags.output && !process.stdout.isTTY ? 'stderr' : 'stdout';
  const program = target.launch ? spawnHeld(target.launch.path, target.launch.args, { stdout: programStdout }) : undefined;
  const total = spec.targets.length;
  // Events per function whose probe the kernel single-steps, for the line after the summary.
  const twoTraps = new Map(spec.targets.filter((t) => t.probe.traps === 2).map((t) => [t.plan.name, 0]));
  const countTwoTraps = (events: CallEvent[]) => {
    for (const e of events) {
      const n = twoTraps.get(e.function);
      if (n !== undefined) twoTraps.set(e.function, n + 1);
    }
  };
  let session: TraceSession;
  // The kernel types the object relocates against, cut from the kernel's BTF by an earlier start (src/bpf/kernelbtf.ts).
  let kernelBtf = keptKernelBtf(compiled.cachePath);
  if (kernelBtf) verbose(`weaver: kernel BTF for CO-RE from ${kernelBtf}`);
  try {
    if (otlpConfig) {
      const { OtlpExport } = await loadOtlpExport();
      const pids = program ? [program.pid] : target.pids;
      otlp = await OtlpExport.create(
        otlpConfig,
        { binary: spec.binary, buildId: spec.buildId ?? null, pid: pids.length === 1 ? pids[0] : undefined, weaverVersion: weaverVersion() },
        { returns: flags.returns, onFirstFailure: (sentence) => say(`weaver: ${sentence}`) },
      );
    }
    const sessionOptions: SessionOptions = {
      nesting: Boolean(otlp) && flags.returns,
      pids: program ? [program.pid] : target.pids,
      bufferSize,
      transport,
      onEvents: (events) => {
        if (twoTraps.size > 0) countTwoTraps(events);
        printer.print(events);
      },
      onMalformed: (err) => verbose(`weaver: skipped a record: ${err.message}`),
      onAttach: (n, all) => status.set(`weaver: attaching probes ${n}/${all}…`),
      ...(kernelBtf ? { kernelBtf } : {}),
      onKernelBtfRefused: (path, err) => {
        forgetKernelBtf(path);
        verbose(`weaver: the kept kernel BTF ${path} did not serve (${err.message}); loading with the kernel's own`);
        kernelBtf = null;
      },
    };
    session = TraceSession.start(spec, compiled.object, sessionOptions);
  } catch (err) {
    status.done();
    program?.signal('SIGKILL');
    throw err;
  }
  status.done();

  let elapsedFrom = process.hrtime.bigint();
  // From here on a signal never kills weaver: the first ends tracing, the
  // next ones cut short whatever waits are left (src/process/stop.ts outputPatience).
  const signals = new SignalWatch();
  try {
    // What the user waited: from weaver's start (Node's own start-up, reading the binary) to probes in place.
    const ms = process.uptime() * 1000;
    const b = spec.binary;
    const whose = program ? `, pid ${program.pid}` : target.pids.length ? `, pid${target.pids.length > 1 ? 's' : ''} ${target.pids.join(', ')}` : '';
    say(
      `Tracing ${total} function${total === 1 ? '' : 's'} in ${b.path} (${b.goVersion ?? 'unknown Go version'}, ${b.abi} ABI${whose}) in ${ms.toFixed(0)} ms. ${program ? 'Starting it now.' : 'Ctrl-C to end.'}`,
    );
    if (flags.verbose) {
      say(
        `  events through the ${
          transport === 'perf' ? 'per-CPU perf buffers' : spec.ringBatches ? `BPF ring buffer, records up to ${RING_BATCH_MAX_RECORD} bytes in per-CPU batches` : 'BPF ring buffer'
        } of ${formatBufferSize(bufferSize)}${flags.bufferSize === undefined ? ' (sized from the traced functions; --buffer-size sets it)' : ''}`,
      );
      say(spec.dispatch ? `  probes attached through uprobe_multi links, one per dispatcher program and process` : `  probes attached one link each`);
      for (const t of spec.targets) {
        say(`  ${t.plan.name}+0x${t.probe.offset.toString(16)} (file offset 0x${t.attachOffset.toString(16)}, ${t.plan.recordSize}-byte records): ${t.probe.reason}`);
        for (const r of t.returns?.probes ?? []) {
          say(`    ${r.kind === 'ret' ? 'RET' : `CALL runtime.deferreturn (frame ${r.frameSize} bytes)`} at +0x${r.offset.toString(16)} (file offset 0x${r.attachOffset.toString(16)}): ${r.program}`);
        }
      }
    }
    setImmediate(keepSpec);
    // Cut for the next start when none served this one.
    if (!kernelBtf) keepKernelBtf(compiled.cachePath);
    elapsedFrom = process.hrtime.bigint();
    const outcome = await traceUntilDone(flags, program, target.pids, printer, output, spec.binary.path, signals);
    verbose(`weaver: stopping (${outcome.detail})`);
    // The probes go first: then no record can be added, and reading until
    // nothing is pending accounts for every call they saw.
    const detaching = new StatusLine(process.stderr, 0);
    if (total * Math.max(1, program ? 1 : target.pids.length) > 5) detaching.set(`weaver: detaching ${total} probes…`);
    session.detach();
    detaching.done();
    // The records still in the kernel buffer: read them all while the reader
    // makes progress (a loaded machine can leave many behind). Per-CPU
    // batches are flushed by the reader within 10 ms; perf buffers, whose
    // pending bytes are unknown, until the count has been quiet a moment.
    // A further signal stops the wait.
    const nextSignal = signals.received(signals.count + 1);
    await Promise.race([settle(() => session.stats().events, { pending: () => session.pendingBytes(), quietMs: 250, maxMs: 60_000 }), nextSignal]);
    // What the time order still holds, and calls still pending, are shown
    // (and counted) before the counts are taken.
    session.drain();
    const stats = session.stats();
    const unreadBytes = session.pendingBytes();
    // Pairing statistics exist only with --returns.
    const pairing = returnFormat?.describePairing(stats.pairing);
    session.close();
    if (callStats) output.writeLines([callStatsModule!.callStatsOutput(callStats, format)]);
    const elapsedMs = Number(process.hrtime.bigint() - elapsedFrom) / 1e6;
    // A reader that does not read: wait for it until a signal says stop.
    const patience = outputPatience(signals);
    await Promise.race([output.end(), patience.promise]);
    patience.cancel();
    output.abandon();
    // The collector gets a bounded time for what is queued: the next signal
    // cuts it, and so does a second one that has come already.
    const otlpAnswered = otlp ? await otlp.finish(signals.received(Math.min(signals.count + 1, 2))) : true;

    let programSummary: string | undefined;
    let programExit = outcome.programExit;
    if (program && outcome.endedProgram) programSummary = `${program.path} ended by weaver (${describeExit(outcome.endedProgram)})`;
    else if (program && !programExit) {
      // The output failed: tracing is over, the program is not weaver's to end.
      say(`weaver: ${outcome.reason}; tracing stopped, ${program.path} runs on untraced until it ends`);
      const stopForwarding = forwardSignals(program);
      programExit = await program.exited;
      stopForwarding();
    }
    if (program && programExit) programSummary ??= `${program.path} ${describeExit(programExit)}`;

    const failure: OutputFailure | undefined = output.failure;
    const status = failure && failure.code !== 'EPIPE' ? EXIT_OUTPUT_ERROR : programExit ? exitStatusOf(programExit) : 0;
    const facts: SummaryFacts = {
      // -c: events go to the statistics, not to the output.
      shown: callStats ? printer.shown : output.written,
      filteredOut: printer.filteredOut,
      afterCount: printer.afterLimit,
      droppedInKernel: stats.dropped,
      droppedAtOutput: callStats ? 0 : output.dropped,
      // After close(): the records it handed on (held for order) may include malformed ones.
      malformed: session.stats().malformed,
      unreadBytes,
      returns: flags.returns,
      elapsedMs,
      transport,
      bufferSize,
      // Said once: a failure that ended tracing is its stop reason already.
      stopReason: failure && failure.sentence !== outcome.reason ? [outcome.reason, failure.sentence].filter(Boolean).join('; ') : outcome.reason,
      program: programSummary,
      otlp: otlp?.counts(),
      pairing: stats.pairing && pairingCounts(stats.pairing),
    };
    say(formatSummary(facts));
    if (pairing) say(pairing);
    const slow = formatTwoTraps([...twoTraps].map(([name, events]) => ({ name, events })), flags.verbose);
    if (slow) say(slow);
    const finalStatus = writeSummaryJson(flags.summaryJson, facts, status, failure, say);
    // A write still waiting for a reader that never reads keeps Node running.
    // So does an OTLP request the collector never answered.
    if (output.stuck || !otlpAnswered) process.exit(finalStatus);
    return finalStatus;
  } finally {
    // An exception on the way out: the probes still go.
    session.close();
  }
}

/** --summary-json FILE: the summary's facts as one JSON object. A failure to write it is an output error too. */
function writeSummaryJson(path: string | undefined, facts: SummaryFacts, status: number, failure: OutputFailure | undefined, say: (line: string) => void): number {
  if (!path) return status;
  const record = summaryRecord(facts, { exitStatus: status, outputError: failure?.sentence });
  try {
    writeFileSync(path, `${JSON.stringify(record)}\n`);
    return status;
  } catch (err) {
    say(`weaver: ${describeWriteError(`--summary-json ${path}`, err as NodeJS.ErrnoException).sentence}`);
    return status === 0 ? EXIT_OUTPUT_ERROR : status;
  }
}

interface Outcome {
  /** Said in the summary when it is not the obvious end. */
  reason?: string;
  detail: string;
  /** The output failed (its OutputFailure says how). */
  outputFailed?: boolean;
  /** Launch mode: the program ended by itself (or by a forwarded signal); its status is weaver's. */
  programExit?: ProgramExit;
  /** Launch mode: weaver ended the program because tracing was over. */
  endedProgram?: ProgramExit;
}

/** Waits for whatever ends this trace; in launch mode, also waits for the program to end. */
async function traceUntilDone(
  flags: TraceFlags,
  program: LaunchedProgram | undefined,
  pids: number[],
  printer: EventPrinter,
  output: OutputWriter,
  binaryPath: string,
  signals: SignalWatch,
): Promise<Outcome> {
  const sources: StopSource<Outcome>[] = [];
  const source = <T>(s: StopSource<T>, map: (v: T) => Outcome) => {
    sources.push({ promise: s.promise.then(map), cancel: s.cancel });
  };
  // Rewritten in place, the file would get int3 bytes mid-instruction in new processes: stop.
  const warn = (sentence: string) => process.stderr.write(`weaver: ${sentence}\n`);
  // Tracing every process of the binary: once none can run it any more, nothing is left to wait for.
  const endWhenUntraceable = !program && pids.length === 0;
  source(watchBinary(binaryPath, warn, 250, { endWhenUntraceable }), (why) => ({ reason: why, detail: 'the program file changed' }));
  source({ promise: printer.limitReached, cancel: () => {} }, () => ({ reason: `--count ${flags.count} reached`, detail: 'count reached' }));
  source({ promise: output.closed, cancel: () => {} }, (failure) => ({ reason: failure.sentence, detail: failure.sentence, outputFailed: true }));
  if (flags.durationMs !== undefined) {
    source(after(flags.durationMs, null), () => ({ reason: '--duration reached', detail: 'duration reached' }));
  }
  let stopForwarding = () => {};
  if (program) {
    // Signals go to the program; weaver ends when it does.
    stopForwarding = forwardSignals(program);
    source({ promise: program.exited, cancel: () => {} }, (exit) => ({ detail: `the program ${describeExit(exit)}`, programExit: exit }));
    program.release();
  } else {
    source({ promise: signals.received(1), cancel: () => {} }, (sig) => ({ detail: sig }));
    if (pids.length > 0) {
      source(whenAllExit(pids), (gone) => ({
        reason: gone.length === 1 ? `process ${gone[0]} exited` : 'every traced process exited',
        detail: 'the processes exited',
      }));
    }
  }
  try {
    const outcome = await Promise.race(sources.map((s) => s.promise));
    if (program && !outcome.programExit && !outcome.outputFailed) {
      // weaver ends first (--count, --duration, the file changed): so does the program, as with `timeout`.
      outcome.endedProgram = await terminate(program);
    }
    return outcome;
  } finally {
    stopForwarding();
    for (const s of sources) s.cancel();
  }
}

