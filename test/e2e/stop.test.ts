// Ctrl-C right after a burst of calls: the calls still in the kernel buffer
// are printed before weaver detaches, and every call is either printed or
// counted as lost in the summary, never silently gone.

import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { fixtureBuild, newestToolchain } from '../helpers/fixtures.js';
import { requireBpfOrSkip, startTracer } from '../helpers/weaver.js';

const canRun = requireBpfOrSkip();
const GOROUTINES = 8;
const ITERATIONS = 5000;

describe.skipIf(!canRun)('SIGINT right after a burst', () => {
  it('prints or counts every call made before it', async () => {
    const build = fixtureBuild({ fixture: 'goroutines', toolchain: newestToolchain() });
    const tracer = await startTracer([build.path, '-f', build.funcs!, '--format', 'json']);
    // The signal comes the moment the program says it is done, while its last calls are still in the kernel buffer.
    const program = spawn(build.path, ['-g', String(GOROUTINES), '-i', String(ITERATIONS), '-quiet'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      program.stdout.setEncoding('utf8').on('data', (d: string) => {
        if (d.includes('DONE')) resolve();
      });
      program.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the fixture exited with ${code}`))));
    });
    // One SIGINT, sent at once (a second one would end weaver without its summary).
    const result = await tracer.stop('SIGINT');
    expect(result.code, result.stderr).toBe(0);
    const printed = tracer.lines().length;
    const summary = /^weaver: (\d+) events? .*?(?:, (\d+) lost|none lost)/m.exec(result.stderr);
    expect(summary, result.stderr).not.toBeNull();
    const lost = Number(summary![2] ?? 0);
    expect(Number(summary![1])).toBe(printed);
    expect(printed + lost).toBe(GOROUTINES * ITERATIONS);
  });

  it('a second and third SIGINT end the wait but still detach, sum up and exit 0', async () => {
    const build = fixtureBuild({ fixture: 'goroutines', toolchain: newestToolchain() });
    const tracer = await startTracer([build.path, '-f', build.funcs!, '--format', 'json']);
    const program = spawn(build.path, ['-g', String(GOROUTINES), '-i', String(ITERATIONS * 4), '-quiet'], { stdio: 'ignore' });
    expect(await tracer.waitFor((lines) => lines.length >= 100)).toBe(true);
    for (let i = 0; i < 3; i++) {
      tracer.child.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 30));
    }
    const result = await tracer.stop('SIGINT');
    program.kill('SIGKILL');
    expect(result.signal).toBeNull();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^weaver: \d+ events? in /m);
  });
});
