// The CLI entry: the one place where errors become messages and exit codes.
// Kept thin: each command's module (and all it imports) is loaded only when
// that command runs, since loading modules is most of a warm start-up.

import { CommanderError } from 'commander';
import { buildCli } from './flags.js';
import { ParseError, WeaverError, describeCauses } from '../core/index.js';
import { prestartSpecBuilder } from './specprocess.js';

const EXIT_INTERNAL = 70;

function report(err: unknown, verbose: boolean): number {
  // The reader of our output went away (`weaver list ./bin | head -3`): that is its choice, not an error.
  if ((err as NodeJS.ErrnoException | null)?.code === 'EPIPE') return 0;
  if (err instanceof CommanderError) {
    // commander has already printed its message (see configureOutput below).
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof ParseError) {
    process.stderr.write(`weaver: ${err.format()}\n`);
    if (err.hint) process.stderr.write(`  ${err.hint}\n`);
  } else if (err instanceof WeaverError) {
    process.stderr.write(`weaver: ${err.message}\n`);
    if (err.hint) process.stderr.write(`  ${err.hint}\n`);
  } else {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`weaver: internal error: ${message}${verbose ? '' : ' (run with -v for details)'}\n`);
  }
  if (verbose) {
    for (const line of describeCauses(err)) process.stderr.write(`${line}\n`);
    const log = (err as { log?: string }).log;
    if (log) process.stderr.write(`${log}\n`);
  }
  return err instanceof WeaverError ? err.exitCode : EXIT_INTERNAL;
}

async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes('-v') || argv.includes('--verbose');
  // A command may decide the exit status itself (launch mode passes on the program's).
  let status = 0;
  const program = buildCli({
    trace: async (flags) => {
      // A large binary's spec is built by a process of its own: it starts loading now, beside weaver's own modules.
      const builder = prestartSpecBuilder(flags);
      try {
        const { runTrace } = await import('./commands/trace.js');
        status = await runTrace(flags, builder);
      } finally {
        builder?.dismiss();
      }
    },
    list: async (flags) => {
      const { runList } = await import('./commands/list.js');
      await runList(flags);
    },
    cacheClean: async () => {
      const { runCacheClean } = await import('./commands/cache.js');
      runCacheClean();
    },
  });
  program.exitOverride();
  program.configureOutput({
    outputError: (text, write) => write(`weaver: ${text.replace(/^error: /, '')}`),
  });
  for (const sub of program.commands) {
    sub.exitOverride();
    sub.configureOutput({ outputError: (text, write) => write(`weaver: ${text.replace(/^error: /, '')}`) });
  }
  try {
    await program.parseAsync(argv);
    return status;
  } catch (err) {
    return report(err, verbose);
  }
}

process.on('uncaughtException', (err) => {
  process.exitCode = report(err, process.argv.includes('-v') || process.argv.includes('--verbose'));
  process.exit();
});

main(process.argv).then((code) => {
  process.exitCode = code;
});
