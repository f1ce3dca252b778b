// What trace.ts prints around the events: the --count limit and filter
// counts (EventPrinter), and the status line's terminal-only redraws.

import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { compileFilters, NO_FILTER } from '../../src/output/filter/index.js';
import { basic } from '../../src/core/gotypes.js';
import type { CallEvent } from '../../src/core/model.js';
import { OutputWriter } from '../../src/output/writer.js';
import { EventPrinter } from '../../src/output/printer.js';
import { StatusLine } from '../../src/output/status.js';

function event(code: number): CallEvent {
  return { ts: 1n, function: 'main.f', pid: 1, tid: 1, ppid: 0, comm: 'p', goid: 1n, args: [{ name: 'code', type: 'int', value: { kind: 'int', value: BigInt(code) } }] };
}

function collect(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.setEncoding('utf8').on('data', (d) => (text += d));
  return { stream, text: () => text };
}

const codeOf = { format: (ev: CallEvent) => String((ev.args![0]!.value as { value: bigint }).value) };

describe('EventPrinter', () => {
  it('--count shows exactly N calls, even when they arrive in one batch, and then says so', async () => {
    const out = collect();
    const output = new OutputWriter(out.stream);
    const printer = new EventPrinter(codeOf, output, NO_FILTER, 3);
    let reached = false;
    void printer.limitReached.then(() => (reached = true));
    printer.print([event(1), event(2)]);
    await Promise.resolve();
    expect(reached).toBe(false);
    printer.print([event(3), event(4), event(5)]);
    printer.print([event(6)]);
    await Promise.resolve();
    expect(reached).toBe(true);
    expect(printer.shown).toBe(3);
    // The calls that came after the limit are counted, for the summary.
    expect(printer.afterLimit).toBe(3);
    await output.flush();
    expect(out.text()).toBe('1\n2\n3\n');
    expect(output.written).toBe(3);
  });

  it('filtered-out calls are counted and do not count towards --count', async () => {
    const out = collect();
    const filter = compileFilters(['main.f: code >= 10'], [{ name: 'main.f', params: [{ name: 'code', type: basic('int') }] }]);
    const output = new OutputWriter(out.stream);
    const printer = new EventPrinter(codeOf, output, filter, 2);
    printer.print([event(1), event(10), event(2), event(11), event(12)]);
    await output.flush();
    expect(out.text()).toBe('10\n11\n');
    expect(printer.shown).toBe(2);
    expect(printer.filteredOut).toBe(2);
    expect(printer.afterLimit).toBe(1);
  });
});

describe('StatusLine', () => {
  function tty(isTTY: boolean) {
    const s = collect();
    return Object.assign(s, { writable: Object.assign(s.stream, { isTTY }) });
  }

  it('at a terminal, redraws in place and erases itself', () => {
    const t = tty(true);
    const status = new StatusLine(t.writable, 0);
    status.set('weaver: attaching probes 1/2…');
    status.done();
    expect(t.text()).toBe('\r\x1b[Kweaver: attaching probes 1/2…\r\x1b[K');
  });

  it('prints nothing when the step ends before the delay', () => {
    const t = tty(true);
    const status = new StatusLine(t.writable, 10_000);
    status.set('weaver: compiling…');
    status.done();
    expect(t.text()).toBe('');
  });

  it('prints nothing when stderr is not a terminal', () => {
    const t = tty(false);
    const status = new StatusLine(t.writable, 0);
    status.set('weaver: compiling…');
    status.done();
    expect(t.text()).toBe('');
  });
});
