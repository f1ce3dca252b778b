// `npm run demo` is one of the two commands the README gives a new user:
// its tracing part must end by itself and show the handler's arguments.

import { describe, expect, it } from 'vitest';
import { REPO_ROOT, requireBpfOrSkip, runProcess } from '../helpers/weaver.js';

const canRun = requireBpfOrSkip();

describe.skipIf(!canRun)('scripts/demo.sh', () => {
  it('traces the HTTP handler for four requests and ends by itself', async () => {
    const run = await runProcess('bash', ['scripts/demo.sh'], { cwd: REPO_ROOT, timeoutMs: 60_000 });
    expect(run.code, run.stderr).toBe(0);
    const calls = run.stdout.trim().split('\n');
    expect(calls).toHaveLength(4);
    const shown = calls.map((l) => l.replace(/^\+\d+\.\d{6} httpserver\[\d+\] g\d+ /, ''));
    expect(shown).toEqual([
      'main.handleRequest(method="GET", path="/", status=200, query="", userAgentLen=15)',
      'main.handleRequest(method="GET", path="/items/42", status=200, query="blue shoes", userAgentLen=15)',
      'main.handleRequest(method="GET", path="/teapot", status=418, query="", userAgentLen=15)',
      // The escape sequence a client sent is shown escaped, never sent to the terminal.
      'main.handleRequest(method="GET", path="/missing", status=404, query="\\x1b[31mred", userAgentLen=15)',
    ]);
    expect(run.stderr).toMatch(/^weaver: 4 events in \d+(\.\d+)?m?s, none lost$/m);
    // Not a terminal: plain text, no escape sequences (bold headings) in logs.
    expect(run.stderr).not.toContain('\x1b');
    expect(run.stdout).not.toContain('\x1b');
    expect(run.stderr).toMatch(/^== What weaver saw/m);
  });
});
