// --returns and -c/--summary on the command line: -c implies --returns
// (a summary needs durations), neither is on by default.

import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildCli, type TraceFlags } from '../../src/cli/flags.js';

async function flagsOf(args: string[]): Promise<TraceFlags> {
  let flags: TraceFlags | undefined;
  const program = buildCli({ trace: async (f) => void (flags = f), list: async () => {}, cacheClean: async () => {} });
  program.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  try {
    await program.parseAsync(['node', 'weaver', ...args]);
  } catch (err) {
    if (err instanceof CommanderError) throw new Error(`commander: ${err.message}`);
    throw err;
  }
  return flags!;
}

describe('--returns and -c/--summary', () => {
  it.each([
    [['./server', '-f', 'f.txt'], { returns: false, summary: false }],
    [['./server', '-f', 'f.txt', '--returns'], { returns: true, summary: false }],
    [['./server', '-f', 'f.txt', '-c'], { returns: true, summary: true }],
    [['./server', '--summary', '-f', 'f.txt'], { returns: true, summary: true }],
    [['-c', '--returns', './server'], { returns: true, summary: true }],
  ])('%j', async (args, want) => {
    const f = await flagsOf(args);
    expect({ returns: f.returns, summary: f.summary }).toEqual(want);
  });
});
