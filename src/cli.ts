// Flags only: turns argv into typed options for the commands. Validation
// of each value happens here, so a bad number never reaches a command.

import { Command, InvalidArgumentError, Option } from 'commander';

export interface TraceFlags {
  binary?: string;
  functionsFile?: string;
  packages: string[];
  /** True when --packages was given (it defaults to main). */
  packagesGiven: boolean;
  pid?: number;
  format: 'auto' | 'text' | 'json';
  stringSize: number;
  maxElements: number;
  maxEventSize: number;
  bufferSize: number;
  types: boolean;
  emit?: 'c';
  probePlacement: 'auto' | 'entry';
  transport: 'auto' | 'ring' | 'perf';
  verbose: boolean;
  color?: boolean;
}

export interface ListFlags {
  binary: string;
  packages?: string[];
  verbose: boolean;
}

export interface CliHandlers {
  trace(flags: TraceFlags): Promise<void>;
  list(flags: ListFlags): Promise<void>;
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

function packageList(value: string): string[] {
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new InvalidArgumentError('--packages takes a comma-separated list of package paths, such as main,net/http.');
  return list;
}

const EXAMPLES = `
Examples:
  sudo weaver ./server --functions-file funcs.txt        trace the functions listed in funcs.txt
  sudo weaver ./server -f funcs.txt --format json | jq .  JSON lines, one per call
  sudo weaver --packages main,net/http ./server           every function of those packages
  weaver ./server -f funcs.txt --emit c                   print the generated BPF program and exit
  weaver list ./server -p main > funcs.txt                write a functions file from the binary
  weaver --types                                          the argument types weaver can decode`;

export function buildCli(handlers: CliHandlers): Command {
  const program = new Command('weaver');
  program
    .description('Show the arguments passed to functions of a running Go program, live, with eBPF uprobes.')
    .argument('[binary]', 'the Go program (an ELF executable) whose functions to trace')
    .option('-f, --functions-file <file>', 'trace the functions listed in this file (one signature a line)')
    .option('-p, --packages <list>', 'trace every function of these packages (comma-separated)', packageList)
    .option('--pid <pid>', 'trace only this process (default: every process running the binary)', integer('--pid', 1, 2 ** 31 - 1))
    .addOption(new Option('--format <format>', 'output format: text for people, json for one JSON object a line').choices(['auto', 'text', 'json']).default('auto'))
    .option('--string-size <bytes>', 'bytes of each string to capture', integer('--string-size', 1, 4096), 64)
    .option('--max-elements <n>', 'elements of each slice or array to capture', integer('--max-elements', 0, 1024), 16)
    .option('--max-event-size <bytes>', 'upper bound on the bytes one call may capture', byteSize('--max-event-size', 256, 65536), 16384)
    .option('--buffer-size <bytes>', 'size of the kernel ring buffer (a power of two)', byteSize('--buffer-size', 4096, 1 << 30), 8 << 20)
    .addOption(
      new Option('--probe-placement <where>', 'auto: after Go\'s stack check when the kernel emulates the jump there (one trap a call); entry: the first instruction')
        .choices(['auto', 'entry'])
        .default('auto'),
    )
    .addOption(
      new Option('--transport <kind>', 'how events leave the kernel: ring (BPF ring buffer, Linux 5.8+), perf (per-CPU perf buffers), auto (ring when the kernel has it)')
        .choices(['auto', 'ring', 'perf'])
        .default('auto'),
    )
    .option('--no-color', 'no colours in text output (also: NO_COLOR set, or not a terminal)')
    .option('--types', 'list the argument types weaver can decode, and exit')
    .addOption(new Option('--emit <stage>', 'print the output of a pipeline stage and exit').choices(['c']))
    .option('-v, --verbose', 'details: where probes go, compiler and verifier output, stack traces')
    .addHelpText('after', EXAMPLES)
    .showSuggestionAfterError(true)
    .action(async (binary: string | undefined, opts) => {
      await handlers.trace({
        binary,
        functionsFile: opts.functionsFile,
        packages: opts.packages ?? ['main'],
        packagesGiven: opts.packages !== undefined,
        pid: opts.pid,
        format: opts.format,
        stringSize: opts.stringSize,
        maxElements: opts.maxElements,
        maxEventSize: opts.maxEventSize,
        bufferSize: opts.bufferSize,
        types: Boolean(opts.types),
        emit: opts.emit,
        probePlacement: opts.probePlacement,
        transport: opts.transport,
        verbose: Boolean(opts.verbose),
        color: opts.color === false ? false : undefined,
      });
    });

  program
    .command('list')
    .description('print the traceable functions of a Go program, one signature a line, in functions-file syntax')
    .argument('<binary>', 'the Go program')
    .option('-p, --packages <list>', 'only these packages (comma-separated; default: main)', packageList)
    .option('-v, --verbose', 'details')
    .action(async (binary: string, opts) => {
      await handlers.list({ binary, packages: opts.packages, verbose: Boolean(opts.verbose) });
    });

  return program;
}
