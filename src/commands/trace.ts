// `weaver <binary> …`, `weaver --pid N …`, `weaver … -- <program> …`:
// choose the target, build the spec, compile, load and attach, then print
// every call until a signal, --count, --duration, the output closing, or
// the traced program ending. Orchestration only; each step lives in its
// own module. Returns the exit status (the program's own in launch mode).
//
// Start-up time counts (bench/startup.mjs): what only some runs need (the
// filter parser, --returns pairing output, -c statistics, --types) is
// imported when that run needs it.

import type { TraceFlags } from '../cli.js';
import { compileBpf, prepareClang } from '../compile.js';
import { UsageError } from '../errors.js';
import type { EventFilter } from '../filter/index.js';
import { createFormatter, resolveFormat, shouldUseColor } from '../format/index.js';
import { describeExit, exitStatusOf, forwardSignals, spawnHeld, terminate, type LaunchedProgram, type ProgramExit } from '../launch.js';
import { isSharedStream, OutputWriter } from '../output.js';
import { EventPrinter, openOutputFile } from '../printer.js';
import { checkPrivileges } from '../privileges.js';
import { RING_BATCH_MAX_RECORD, ringBatchBytesFor } from '../codegen.js';
import { TraceSession, resolveAttachMode, resolveTransport, ringBatchesSupported } from '../session.js';
import { StatusLine } from '../status.js';
import { after, onSignal, settle, whenAllExit, type StopSource } from '../stop.js';
import { watchBinary } from '../binarywatch.js';
import { formatSummary } from '../summary.js';
import { chooseTarget } from '../target.js';
import { buildTraceSpec, type TraceSpec } from '../tracespec.js';

function checkFlags(flags: TraceFlags): void {
  if (flags.force && !flags.functionsFile) {
    throw new UsageError('--force only applies to the signatures of a functions file given with -f');
  }
  if (flags.functionsFile && flags.packagesGiven) {
    throw new UsageError('--functions-file and --packages choose functions in two different ways; give one of them');
  }
  if ((flags.bufferSize & (flags.bufferSize - 1)) !== 0 || flags.bufferSize % 4096 !== 0) {
    throw new UsageError(`--buffer-size must be a power of two of at least 4096 bytes, not ${flags.bufferSize}`);
  }
}

/** Without --filter every call is shown, and the filter parser is not loaded. */
const SHOW_ALL: EventFilter = { active: false, test: () => true };

async function compileFilters(texts: string[], spec: TraceSpec): Promise<EventFilter> {
  if (texts.length === 0) return SHOW_ALL;
  const { compileFilters: compile } = await import('../filter/index.js');
  return compile(texts, spec.targets.map((t) => ({ name: t.plan.name, params: t.plan.args?.map((a) => ({ name: a.name, type: a.type })) ?? null })));
}

export async function runTrace(flags: TraceFlags): Promise<number> {
  if (flags.types) {
    const { printSupportedTypes } = await import('./types.js');
    printSupportedTypes(process.stdout);
    return 0;
  }
  checkFlags(flags);
  const target = chooseTarget(flags);

  const say = (line: string) => process.stderr.write(`${line}\n`);
  const verbose = flags.verbose ? say : () => {};

  const transport = resolveTransport(flags.transport);
  // clang --version (~30 ms) runs on the other core while the binary is read.
  if (flags.emit !== 'c') prepareClang();
  const spec = buildTraceSpec({
    binaryPath: target.binaryPath,
    functionsFile: flags.functionsFile,
    force: flags.force,
    packages: flags.packages,
    probePlacement: flags.probePlacement,
    transport,
    ringBatches: transport === 'ring' && ringBatchesSupported(),
    ringBatchBytes: ringBatchBytesFor(flags.bufferSize),
    attach: resolveAttachMode(flags.attach),
    returns: flags.returns,
    plan: { stringSize: flags.stringSize, maxElements: flags.maxElements, maxRecordSize: flags.maxEventSize, depth: flags.depth },
  });
  for (const note of spec.notes) say(`weaver: ${note}`);
  const filter = await compileFilters(flags.filters, spec);

  if (flags.emit === 'c') {
    process.stdout.write(spec.cSource);
    return 0;
  }

  checkPrivileges();
  const stream = flags.output ? openOutputFile(flags.output) : process.stdout;
  const started = process.hrtime.bigint();
  const status = new StatusLine();
  status.set('weaver: compiling the BPF program…');
  const compiled = await compileBpf(spec.cSource, { warn: (m) => say(`weaver: ${m}`) });
  verbose(`weaver: BPF object ${compiled.cached ? 'from cache' : 'compiled'}${compiled.cachePath ? ` (${compiled.cachePath})` : ''}`);

  const toTerminal = !flags.output && Boolean(process.stdout.isTTY);
  const format = resolveFormat(flags.format, toTerminal);
  const baseFormatter = createFormatter({
    format,
    color: toTerminal && flags.color !== false && shouldUseColor(process.stdout, process.env),
    timestamps: flags.timestamps,
  });
  const returnFormat = flags.returns ? await import('../returnformat.js') : undefined;
  const formatter = returnFormat ? returnFormat.pairedFormatter(baseFormatter, format) : baseFormatter;
  // -c/--summary: calls are counted, not printed; the table comes at exit.
  const callStatsModule = flags.summary ? await import('../callstats.js') : undefined;
  const callStats = callStatsModule ? new callStatsModule.CallStats() : undefined;
  const output = new OutputWriter(stream, { lineAtomic: !flags.output && isSharedStream(1) });
  const printer = new EventPrinter(formatter, output, filter, flags.count, callStats ? (e) => callStats.add(e) : undefined);

  // Held back until the probes are attached, so its first call is traced.
  const program = target.launch ? spawnHeld(target.launch.path, target.launch.args) : undefined;
  const total = spec.targets.length;
  let session: TraceSession;
  try {
    session = TraceSession.start(spec, compiled.object, {
      pids: program ? [program.pid] : target.pids,
      bufferSize: flags.bufferSize,
      transport,
      onEvents: (events) => printer.print(events),
      onMalformed: (err) => verbose(`weaver: skipped a record: ${err.message}`),
      onAttach: (n, all) => status.set(`weaver: attaching probes ${n}/${all}…`),
    });
  } catch (err) {
    status.done();
    program?.signal('SIGKILL');
    throw err;
  }
  status.done();

  let elapsedFrom = process.hrtime.bigint();
  let stopReason: string | undefined;
  let programExit: ProgramExit | undefined;
  let programSummary: string | undefined;
  try {
    const ms = Number(elapsedFrom - started) / 1e6;
    const b = spec.binary;
    const whose = program ? `, pid ${program.pid}` : target.pids.length ? `, pid${target.pids.length > 1 ? 's' : ''} ${target.pids.join(', ')}` : '';
    say(
      `Tracing ${total} function${total === 1 ? '' : 's'} in ${b.path} (${b.goVersion ?? 'unknown Go version'}, ${b.abi} ABI${whose}) in ${ms.toFixed(0)} ms. ${program ? 'Starting it now.' : 'Ctrl-C to end.'}`,
    );
    if (flags.verbose) {
      say(
        `  events through the ${
          transport === 'perf' ? 'per-CPU perf buffers' : spec.ringBatches ? `BPF ring buffer, records up to ${RING_BATCH_MAX_RECORD} bytes in per-CPU batches` : 'BPF ring buffer'
        }`,
      );
      for (const t of spec.targets) {
        say(`  ${t.plan.name}+0x${t.probe.offset.toString(16)} (file offset 0x${t.attachOffset.toString(16)}, ${t.plan.recordSize}-byte records): ${t.probe.reason}`);
        for (const r of t.returns?.probes ?? []) {
          say(`    ${r.kind === 'ret' ? 'RET' : `CALL runtime.deferreturn (frame ${r.frameSize} bytes)`} at +0x${r.offset.toString(16)} (file offset 0x${r.attachOffset.toString(16)}): ${r.program}`);
        }
      }
    }
    elapsedFrom = process.hrtime.bigint();
    const outcome = await traceUntilDone(flags, program, target.pids, printer, output, spec.binary.path);
    stopReason = outcome.reason;
    programExit = outcome.programExit;
    if (program && outcome.programExit) programSummary = `${program.path} ${describeExit(outcome.programExit)}`;
    if (program && outcome.endedProgram) programSummary = `${program.path} ended by weaver (${describeExit(outcome.endedProgram)})`;
    // Calls made just before the end are still in the kernel buffer.
    if (outcome.drain) {
      // A second Ctrl-C while waiting stops the wait; weaver still detaches and sums up.
      const impatient = onSignal();
      // When no traced process is left, every record is already in the buffer:
      // read them all (a loaded machine can leave many behind), however long
      // that takes while the reader makes progress. Otherwise (Ctrl-C,
      // --duration) calls keep coming: wait for a quiet moment with nothing
      // pending (a call made just before may still sit in its CPU's batch
      // until the next flush), at most 2 s.
      const pending = () => session.pendingBytes();
      const drain = outcome.finished
        ? settle(() => session.stats().events, { pending, maxMs: 60_000 })
        : settle(() => session.stats().events, { pending, quietToo: true });
      await Promise.race([drain, impatient.promise]);
      impatient.cancel();
    }
    // From here to exit, further signals are not worth dying of: detaching and the summary are quick.
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, ignoreSignal);
    verbose(`weaver: stopping (${outcome.detail})`);
  } finally {
    const stats = session.stats();
    // Detaching costs the kernel a grace period per probe (~0.2 s each here): say so at a terminal.
    const detaching = new StatusLine(process.stderr, 0);
    if (total * Math.max(1, program ? 1 : target.pids.length) > 5) detaching.set(`weaver: detaching ${total} probes…`);
    session.close();
    detaching.done();
    if (callStats) output.writeLines([callStatsModule!.callStatsOutput(callStats, format)]);
    const elapsedMs = Number(process.hrtime.bigint() - elapsedFrom) / 1e6;
    await output.flush();
    if (flags.output) await new Promise<void>((resolve) => stream.end(resolve));
    say(
      formatSummary({
        shown: printer.shown,
        filteredOut: printer.filteredOut,
        droppedInKernel: stats.dropped,
        droppedAtOutput: output.dropped,
        malformed: stats.malformed,
        elapsedMs,
        transport,
        stopReason,
        program: programSummary,
      }),
    );
    // Pairing statistics exist only with --returns.
    const pairing = returnFormat?.describePairing(stats.pairing);
    if (pairing) say(pairing);
  }
  return programExit ? exitStatusOf(programExit) : 0;
}

interface Outcome {
  /** Said in the summary when it is not the obvious end. */
  reason?: string;
  detail: string;
  /** Wait for events still in the kernel buffer. */
  drain: boolean;
  /** No traced process is left: no record can arrive after those in the buffer. */
  finished?: boolean;
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
): Promise<Outcome> {
  const sources: StopSource<Outcome>[] = [];
  const source = <T>(s: StopSource<T>, map: (v: T) => Outcome) => {
    sources.push({ promise: s.promise.then(map), cancel: s.cancel });
  };
  // Rewritten in place, the file would get int3 bytes mid-instruction in new processes: stop.
  const warn = (sentence: string) => process.stderr.write(`weaver: ${sentence}\n`);
  source(watchBinary(binaryPath, warn), (why) => ({ reason: why, detail: 'the program file changed', drain: false }));
  source({ promise: printer.limitReached, cancel: () => {} }, () => ({ reason: `--count ${flags.count} reached`, detail: 'count reached', drain: false }));
  source({ promise: output.closed, cancel: () => {} }, (why) => ({ reason: why, detail: why, drain: false }));
  if (flags.durationMs !== undefined) {
    source(after(flags.durationMs, null), () => ({ reason: '--duration reached', detail: 'duration reached', drain: true }));
  }
  let stopForwarding = () => {};
  if (program) {
    // Signals go to the program; weaver ends when it does.
    stopForwarding = forwardSignals(program);
    source({ promise: program.exited, cancel: () => {} }, (exit) => ({ detail: `the program ${describeExit(exit)}`, drain: true, finished: true, programExit: exit }));
    program.release();
  } else {
    // Calls made just before Ctrl-C are still in the kernel buffer: print them too (bounded by settle()).
    source(onSignal(), (sig) => ({ detail: sig, drain: true }));
    if (pids.length > 0) {
      source(whenAllExit(pids), (gone) => ({
        reason: gone.length === 1 ? `process ${gone[0]} exited` : 'every traced process exited',
        detail: 'the processes exited',
        drain: true,
        finished: true,
      }));
    }
  }
  try {
    const outcome = await Promise.race(sources.map((s) => s.promise));
    if (program && !outcome.programExit) {
      // weaver ends first (--count, --duration, output closed): so does the program, as with `timeout`.
      outcome.endedProgram = await terminate(program);
    }
    return outcome;
  } finally {
    stopForwarding();
    for (const s of sources) s.cancel();
  }
}

function ignoreSignal(): void {}
