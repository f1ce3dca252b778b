// Flags only: turns argv into typed options for the commands. Validation
// of each value happens here, so a bad number never reaches a command.

import { readFileSync } from 'node:fs';
import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { completionScript, SHELLS, type Shell } from './completion.js';
import { parseDurationMs, UsageError } from '../core/index.js';
import { otlpEndpointProblem } from '../output/index.js';
import type { TimestampMode } from '../output/format/index.js';
import { STACK_DEFAULT_FRAMES, STACK_MAX_FRAMES } from '../spec/index.js';

export interface TraceFlags {
  binary?: string;
  functionsFile?: string;
  /** --force: trace functions-file signatures that contradict the binary, with a warning. */
  force: boolean;
  packages: string[];
  /** True when --packages was given (it defaults to main). */
  packagesGiven: boolean;
  /** --pid, once per process (empty: every process running the binary). */
  pids: number[];
  /** Launch mode: the program and its arguments, given after `--`. */
  command?: string[];
  /** Stop after this many events are shown. */
  count?: number;
  /** Stop after this many milliseconds. */
  durationMs?: number;
  /** Write events to this file instead of stdout. */
  output?: string;
  /** --filter expressions, in the order given. */
  filters: string[];
  timestamps: TimestampMode;
  format: 'auto' | 'text' | 'json';
  stringSize: number;
  maxElements: number;
  maxEventSize: number;
  /** Levels of pointers (and slice, map, interface contents) followed from each argument. */
  depth: number;
  /** False with --no-cache: nothing is read from or written to the cache. */
  cache?: boolean;
  /** Bytes of kernel buffer; undefined: sized from the traced functions (src/bpf/buffersize.ts). */
  bufferSize?: number;
  types: boolean;
  emit?: 'c';
  probePlacement: 'auto' | 'entry';
  /** --returns: results and duration of each call, from probes on its RET instructions. */
  returns: boolean;
  /** -c/--summary: per-function call statistics at exit instead of each call (implies --returns). */
  summary: boolean;
  /** --summary-json: where to write the end-of-trace counts as JSON. */
  summaryJson?: string;
  /** --otlp [endpoint]: also export each call to an OpenTelemetry collector (true: the endpoint from the environment). */
  otlp?: string | true;
  /** --stack[=N]: record up to N frames of the Go call stack at each call; undefined without it. */
  stackFrames?: number;
  /** --by-caller: -c rows per function and immediate caller. */
  byCaller: boolean;
  transport: 'auto' | 'ring' | 'perf';
  attach: 'auto' | 'multi' | 'single';
  verbose: boolean;
  color?: boolean;
  /** --debug-file: the program's separate debug info (src/binary/debuginfo/). */
  debugFile?: string;
}

export interface ListFlags {
  binary: string;
  /** --debug-file: the program's separate debug info (src/binary/debuginfo/). */
  debugFile?: string;
  /** -p: package paths or patterns (default: main). */
  packages?: string[];
  /** --packages: print the binary's packages and their function counts instead of functions. */
  listPackages: boolean;
  verbose: boolean;
}

export interface CliHandlers {
  trace(flags: TraceFlags): Promise<void>;
  list(flags: ListFlags): Promise<void>;
  cacheClean(): Promise<void>;
}

function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} takes a whole number, not "${value}".`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}, not ${value}.`);
    return n;
  };
}

function byteSize(name: string, min: number, max: number) {
  return (value: string): number => {
    const m = /^(\d+)([kKmM]?)$/.exec(value);
    if (!m) throw new InvalidArgumentError(`${name} takes a size in bytes such as 4096, 64k or 8M, not "${value}".`);
    const n = Number(m[1]) * ({ '': 1, k: 1024, K: 1024, m: 1 << 20, M: 1 << 20 } as Record<string, number>)[m[2]];
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max} bytes, not ${value}.`);
    return n;
  };
}

function duration(value: string): number {
  const ms = parseDurationMs(value);
  if (ms === undefined) throw new InvalidArgumentError(`--duration takes a time such as 30s, 500ms, 2m or 1h30m, not "${value}".`);
  if (ms <= 0) throw new InvalidArgumentError(`--duration must be longer than 0, not ${value}.`);
  return ms;
}

/** --stack alone, or --stack=N: a bare --stack takes no value, so `--stack ./server` leaves the binary alone. */
const BARE_STACK = '--stack';

function stackFrames(value: string): number {
  return integer('--stack', 1, STACK_MAX_FRAMES)(value);
}

/** Arguments with a bare --stack (before any `--`) given its default explicitly, as commander would otherwise take the next argument as its value. */
export function expandBareStack(args: string[]): string[] {
  const dash = args.indexOf('--');
  return args.map((a, i) => (a === BARE_STACK && (dash < 0 || i < dash) ? `${BARE_STACK}=${STACK_DEFAULT_FRAMES}` : a));
}

/** For flags given once per value: --pid 1 --pid 2. */
function repeated<T>(parse: (value: string) => T) {
  return (value: string, previous: T[] = []): T[] => [...previous, parse(value)];
}

/**
 * Splits the operands commander collected into the binary (attach mode) or
 * the command after `--` (launch mode). commander keeps no trace of `--`,
 * so it is found in the raw arguments: everything after it is the command.
 */
export function splitOperands(rawArgs: string[], operands: string[]): { binary?: string; command?: string[] } {
  const dash = rawArgs.indexOf('--');
  if (dash < 0) {
    if (operands.length > 1) {
      throw new UsageError(`unexpected argument ${operands[1]}`, {
        hint: `to launch a program with arguments, put it after --: weaver -f funcs.txt -- ${operands.join(' ')}`,
      });
    }
    return { binary: operands[0] };
  }
  const after = rawArgs.length - dash - 1;
  const command = operands.slice(operands.length - after);
  const before = operands.slice(0, operands.length - after);
  if (command.length === 0) throw new UsageError('nothing follows --; give the program to launch after it, such as -- ./server --port 8080');
  if (before.length > 0) {
    throw new UsageError(`the program is given twice, as ${before[0]} and after --`, {
      hint: `launch it with: weaver [options] -- ${command.join(' ')}`,
    });
  }
  return { command };
}

function otlpEndpoint(value: string): string {
  const problem = otlpEndpointProblem(value);
  if (problem) throw new InvalidArgumentError(problem);
  return value;
}

function packageList(value: string): string[] {
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new InvalidArgumentError('-p takes a comma-separated list of package paths or patterns, such as main,net/http or github.com/acme/....');
  return list;
}

const EXAMPLES = `
Examples:
  sudo weaver ./server --functions-file funcs.txt        trace the functions listed in funcs.txt
  sudo weaver -f funcs.txt -- ./server --port 8080       start ./server and trace it from its first instruction
  sudo weaver --pid 4123 -f funcs.txt                    trace one running process (also in a container)
  sudo weaver ./server -f funcs.txt --format json | jq .  JSON lines, one per call
  sudo weaver ./server -f funcs.txt --filter 'main.handler: code >= 500'
                                                         only the calls whose arguments match
  sudo weaver ./server -f funcs.txt --count 10 --duration 30s -o calls.jsonl
                                                         stop after 10 calls or 30 s, write to a file
  sudo weaver --packages main,net/http ./server           every function of those packages
  sudo weaver ./server -f funcs.txt --returns --otlp http://collector:4318
                                                         each call as a span to an OpenTelemetry collector
  weaver ./server -f funcs.txt --emit c                   print the generated BPF program and exit
  weaver list ./server -p main > funcs.txt                write a functions file from the binary
  weaver list --packages ./server                         the packages in the binary, with their function counts
  weaver --types                                          the argument types weaver can decode
  source <(weaver completion bash)                        tab completion (also: zsh)`;

/** The version in package.json, read once: the one source of weaver's version. */
export function weaverVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function buildCli(handlers: CliHandlers): Command {
  const program = new Command('weaver');
  // A bare --stack must not take the binary as its value: see expandBareStack.
  const parseOptions = program.parseOptions.bind(program);
  program.parseOptions = (args: string[]) => parseOptions(expandBareStack(args));
  program
    .version(weaverVersion(), '-V, --version', 'print weaver\'s version and exit')
    .description('Show the arguments passed to functions of a running Go program, live, with eBPF uprobes.')
    .usage('[options] <binary>\n       weaver [options] -- <program> [args...]\n       weaver [options] --pid <pid>\n       weaver list|completion ...')
    .argument('[binary...]', 'the Go program (an ELF executable) whose functions to trace; in launch mode, the program and its arguments after --')
    .option('-f, --functions-file <file>', 'trace the functions listed in this file (one signature a line)')
    .option('-p, --packages <list>', 'trace every function of these packages: comma-separated paths or patterns as go list takes them, such as main,net/http or github.com/acme/... (default: main)', packageList)
    .option('--force', 'trace functions-file signatures that contradict the binary\'s debug info or argument frame anyway, with a warning')
    .option('--pid <pid>', 'trace only this process; repeat for several (default: every process running the binary)', repeated(integer('--pid', 1, 2 ** 31 - 1)))
    .option('--filter <expr>', 'show only calls whose arguments match, e.g. \'main.handler: code >= 500 && path ~ "^/api"\'; repeatable', repeated(String))
    .option('-n, --count <n>', 'stop after this many calls are shown', integer('--count', 1, 2 ** 31 - 1))
    .option('-d, --duration <time>', 'stop after this long: 500ms, 30s, 5m, 1h', duration)
    .option('-o, --output <file>', 'write the calls to this file instead of stdout (JSON lines unless --format text)')
    .addOption(new Option('--timestamps <kind>', 'text output: absolute (local time), relative (seconds since the first call) or none').choices(['absolute', 'relative', 'none']).default('absolute'))
    .addOption(new Option('--format <format>', 'output format: text for people, json for one JSON object a line').choices(['auto', 'text', 'json']).default('auto'))
    .option('--string-size <bytes>', 'bytes of each string to capture', integer('--string-size', 1, 4096), 64)
    .option('--max-elements <n>', 'elements of each slice or array to capture', integer('--max-elements', 0, 1024), 16)
    .option('--depth <n>', 'levels of pointers, slice elements, maps and interface values followed from each argument', integer('--depth', 0, 8), 2)
    .option('--max-event-size <bytes>', 'upper bound on the bytes one call may capture', byteSize('--max-event-size', 256, 65536), 16384)
    .option('--buffer-size <bytes>', 'size of the kernel buffer for events, a power of two (default: room for 16 records of each traced function, 8M to 64M)', byteSize('--buffer-size', 4096, 1 << 30))
    .addOption(
      new Option('--probe-placement <where>', 'auto: after Go\'s stack check when the kernel emulates the jump there, or on the first instruction it emulates in a function without the check (one trap a call); entry: the first instruction')
        .choices(['auto', 'entry'])
        .default('auto'),
    )
    .addOption(
      new Option('--transport <kind>', 'how events leave the kernel: ring (BPF ring buffer, Linux 5.8+), perf (per-CPU perf buffers), auto (ring when the kernel has it)')
        .choices(['auto', 'ring', 'perf'])
        .default('auto'),
    )
    .addOption(
      new Option('--attach <mode>', 'multi: every probe through one uprobe_multi link (Linux 6.6+; fast to attach and detach); single: one link per probe; auto: multi when the kernel has it')
        .choices(['auto', 'multi', 'single'])
        .default('auto'),
    )
    .option('--debug-file <file>', "the program's separate debug info (DWARF), when not found by itself; see README \"Tracing a program your distribution ships\"")
    .option('--no-color', 'no colours in text output (also: NO_COLOR set, or not a terminal)')
    .option('--no-cache', "neither read nor write weaver's cache (compiled BPF objects, binary analyses): everything is worked out again")
    .option('--types', 'list the argument types weaver can decode, and exit')
    .addOption(new Option('--emit <stage>', 'print the output of a pipeline stage and exit').choices(['c']))
    .option('--returns', 'also show what each call returned and how long it took (probes on its RET instructions, never uretprobes)')
    .option('-c, --summary', 'at exit, print per-function counts and durations (calls, total, mean, p50, p99, max, errors) instead of each call; implies --returns')
    .option('--stack [frames]', `record the Go call stack at each call, up to this many frames (default ${STACK_DEFAULT_FRAMES}, at most ${STACK_MAX_FRAMES}; write --stack=N), shown under the call`, stackFrames)
    .option('--by-caller', 'with -c: one summary row per function and immediate caller')
    .option('--summary-json <file>', 'at exit, also write the summary\'s counts (calls seen, shown, filtered out, lost in the kernel and at the output) to this file as JSON')
    .option('--otlp [endpoint]', 'also send each call to an OpenTelemetry collector over OTLP/HTTP: a span with --returns, else a log record (default endpoint: OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318)', otlpEndpoint)
    .option('-v, --verbose', 'details: where probes go, compiler and verifier output, stack traces')
    .addHelpText('after', EXAMPLES)
    .showSuggestionAfterError(true)
    // Options after a subcommand belong to it: `weaver list ./bin -p main`.
    .enablePositionalOptions()
    .action(async (operands: string[], opts) => {
      const { binary, command } = splitOperands((program as unknown as { rawArgs: string[] }).rawArgs, operands);
      await handlers.trace({
        binary,
        command,
        functionsFile: opts.functionsFile,
        force: Boolean(opts.force),
        packages: opts.packages ?? ['main'],
        packagesGiven: opts.packages !== undefined,
        pids: opts.pid ?? [],
        filters: opts.filter ?? [],
        count: opts.count,
        durationMs: opts.duration,
        output: opts.output,
        timestamps: opts.timestamps,
        format: opts.format,
        stringSize: opts.stringSize,
        maxElements: opts.maxElements,
        maxEventSize: opts.maxEventSize,
        depth: opts.depth,
        bufferSize: opts.bufferSize,
        types: Boolean(opts.types),
        emit: opts.emit,
        probePlacement: opts.probePlacement,
        returns: Boolean(opts.returns || opts.summary),
        summary: Boolean(opts.summary),
        summaryJson: opts.summaryJson,
        otlp: opts.otlp,
        stackFrames: opts.stack,
        byCaller: Boolean(opts.byCaller),
        transport: opts.transport,
        attach: opts.attach,
        verbose: Boolean(opts.verbose),
        color: opts.color === false ? false : undefined,
        cache: opts.cache !== false,
        debugFile: opts.debugFile,
      });
    });

  program
    .command('list')
    .description('print the traceable functions of a Go program, one signature a line, in functions-file syntax')
    .argument('<binary>', 'the Go program')
    .option('-p <list>', 'only the functions of these packages: comma-separated paths or patterns such as main,net/http or github.com/acme/... (default: main)', packageList)
    .option('--packages', 'print every package path in the binary with its number of functions instead (with -p, the matching ones)')
    .option('--debug-file <file>', "the program's separate debug info (DWARF), when not found by itself")
    .option('-v, --verbose', 'details')
    // Checked below, for a clearer word than commander's when --packages was given a value.
    .allowExcessArguments()
    .action(async (binary: string, opts, cmd: Command) => {
      if (cmd.args.length > 1) {
        if (opts.packages) {
          throw new UsageError(`weaver list --packages takes no value: it lists the packages of ${binary}`, {
            hint: `to list the functions of a package, name it with -p: weaver list ${binary} -p ${cmd.args[1]}`,
          });
        }
        throw new UsageError(`too many arguments for 'list'. Expected 1 argument but got ${cmd.args.length}.`);
      }
      await handlers.list({ binary, packages: opts.p, listPackages: Boolean(opts.packages), verbose: Boolean(opts.verbose), debugFile: opts.debugFile });
    });

  program
    .command('cache')
    .description("weaver's cache of compiled BPF objects and binary analyses ($XDG_CACHE_HOME/weaver or ~/.cache/weaver)")
    .addArgument(new Argument('<action>', 'clean: remove everything in it').choices(['clean']))
    .action(async () => {
      await handlers.cacheClean();
    });

  program
    .command('completion')
    .description('print a shell completion script: source <(weaver completion bash), or for zsh: weaver completion zsh > "${fpath[1]}/_weaver"')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
    .action((shell: Shell) => {
      process.stdout.write(completionScript(program, shell));
    });

  return program;
}
