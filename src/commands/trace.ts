// `weaver <binary> …`: build the spec, compile, load and attach, then print
// every call until SIGINT/SIGTERM (or the reader of stdout goes away).

import type { TraceFlags } from '../cli.js';
import { compileBpf } from '../compile.js';
import { UsageError } from '../errors.js';
import { createFormatter, resolveFormat, shouldUseColor } from '../format/index.js';
import { checkPrivileges } from '../privileges.js';
import { TraceSession, resolveTransport } from '../session.js';
import { buildTraceSpec } from '../tracespec.js';
import { printSupportedTypes } from './types.js';
import { OutputWriter } from '../output.js';

export async function runTrace(flags: TraceFlags): Promise<void> {
  if (flags.types) {
    printSupportedTypes(process.stdout);
    return;
  }
  if (!flags.binary) {
    throw new UsageError('missing the Go program to trace', {
      hint: 'usage: weaver <binary> --functions-file funcs.txt (see weaver --help)',
    });
  }
  if (flags.functionsFile && flags.packagesGiven) {
    throw new UsageError('--functions-file and --packages choose functions in two different ways; give one of them');
  }
  if ((flags.bufferSize & (flags.bufferSize - 1)) !== 0 || flags.bufferSize % 4096 !== 0) {
    throw new UsageError(`--buffer-size must be a power of two of at least 4096 bytes, not ${flags.bufferSize}`);
  }

  const say = (line: string) => process.stderr.write(`${line}\n`);
  const verbose = flags.verbose ? say : () => {};

  const transport = resolveTransport(flags.transport);
  const spec = buildTraceSpec({
    binaryPath: flags.binary,
    functionsFile: flags.functionsFile,
    packages: flags.packages,
    probePlacement: flags.probePlacement,
    transport,
    plan: { stringSize: flags.stringSize, maxElements: flags.maxElements, maxRecordSize: flags.maxEventSize },
  });
  for (const note of spec.notes) say(`weaver: ${note}`);

  if (flags.emit === 'c') {
    process.stdout.write(spec.cSource);
    return;
  }

  checkPrivileges();
  const started = process.hrtime.bigint();
  const compiled = await compileBpf(spec.cSource, { warn: (m) => say(`weaver: ${m}`) });
  verbose(`weaver: BPF object ${compiled.cached ? 'from cache' : 'compiled'}${compiled.cachePath ? ` (${compiled.cachePath})` : ''}`);

  const format = resolveFormat(flags.format, Boolean(process.stdout.isTTY));
  const formatter = createFormatter({
    format,
    color: flags.color !== false && shouldUseColor(process.stdout, process.env),
    timestamps: 'absolute',
  });
  const output = new OutputWriter(process.stdout);

  const total = spec.targets.length;
  const showProgress = total > 20 && process.stderr.isTTY;
  const session = TraceSession.start(spec, compiled.object, {
    pid: flags.pid,
    bufferSize: flags.bufferSize,
    transport,
    onEvents: (events) => output.writeLines(events.map((e) => formatter.format(e))),
    onMalformed: (err) => verbose(`weaver: skipped a record: ${err.message}`),
    onAttach: showProgress
      ? (n) => {
          if (n % 25 === 0 || n === total) process.stderr.write(`\rAttaching probes: ${n}/${total}`);
          if (n === total) process.stderr.write('\n');
        }
      : undefined,
  });

  try {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const b = spec.binary;
    say(
      `Tracing ${total} function${total === 1 ? '' : 's'} in ${b.path} (${b.goVersion ?? 'unknown Go version'}, ${b.abi} ABI${flags.pid ? `, pid ${flags.pid}` : ''}) in ${ms.toFixed(0)} ms. Ctrl-C to end.`,
    );
    if (flags.verbose) {
      say(`  events through the ${transport === 'ring' ? 'BPF ring buffer' : 'per-CPU perf buffers'}`);
      for (const t of spec.targets) {
        say(`  ${t.plan.name}+0x${t.probe.offset.toString(16)} (file offset 0x${t.attachOffset.toString(16)}, ${t.plan.recordSize}-byte records): ${t.probe.reason}`);
      }
    }
    const reason = await Promise.race([waitForSignal(), output.closed]);
    verbose(`weaver: stopping (${reason})`);
  } finally {
    const stats = session.stats();
    session.close();
    await output.flush();
    const lost = stats.dropped + BigInt(output.dropped);
    say(
      `weaver: ${stats.events} event${stats.events === 1 ? '' : 's'}` +
        (lost > 0n ? `, ${lost} lost (${stats.dropped} in the kernel ${transport} buffer, ${output.dropped} at a slow output)` : ', none lost') +
        (stats.malformed ? `, ${stats.malformed} malformed records skipped` : ''),
    );
  }
}

function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    const done = (sig: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(sig);
    };
    const onInt = () => done('SIGINT');
    const onTerm = () => done('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}

