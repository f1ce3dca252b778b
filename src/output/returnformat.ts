// Output of paired events (--returns): the formatters of src/output/format already
// write `returns` and `duration_ns`; this adds what only pairing knows.
//
// JSON keys, appended to the event object:
//   "returned": false        no return was seen for this call; "why" says
//                            which: "replaced" or "unwound" (a newer call at
//                            the same stack depth, or a return from a
//                            shallower frame, shows the frame is gone: a
//                            panic unwound it), "untraced" (it left
//                            where no probe sees it: a jump, or a system
//                            stack the scheduler abandons), "evicted" (too many calls
//                            pending), "exit" (still running when tracing
//                            ended)
//   "via_deferreturn": true  the call's deferred calls ran through
//                            runtime.deferreturn (with open-coded defers,
//                            Go 1.14+, only after a recovered panic)
// Text: the same as a note after the line.

import type { Formatter, OutputFormat } from './format/index.js';
import type { CallEvent } from '../core/index.js';
import type { NotReturnedReason, PairedEvent, PairingStats } from '../events/index.js';

const TEXT_REASONS: Record<NotReturnedReason, string> = {
  replaced: 'no return: its frame was unwound (panic)',
  unwound: 'no return: its frame was unwound (panic)',
  untraced: 'no return traced: it left by a jump or on a system stack',
  evicted: 'no return seen: evicted, too many calls pending',
  exit: 'no return: still running at exit',
};

export function pairedFormatter(base: Formatter, format: OutputFormat): Formatter {
  return {
    format(ev: CallEvent): string {
      const p = ev as PairedEvent;
      const line = base.format(ev);
      if (p.returned !== false && !p.viaDeferreturn) return line;
      if (format === 'json') {
        let extra = '';
        if (p.returned === false) extra += `,"returned":false,"why":"${p.notReturnedReason ?? 'exit'}"`;
        if (p.viaDeferreturn) extra += ',"via_deferreturn":true';
        // jsonEvent always ends the object with its closing brace.
        return line.endsWith('}') ? `${line.slice(0, -1)}${extra}}` : line;
      }
      const notes: string[] = [];
      if (p.returned === false) notes.push(TEXT_REASONS[p.notReturnedReason ?? 'exit']);
      if (p.viaDeferreturn) notes.push('via runtime.deferreturn');
      return `${line}  (${notes.join('; ')})`;
    },
  };
}

/** The --returns line of the exit summary: what pairing saw, evictions and overflows included; '' when nothing to say. */
export function describePairing(p: PairingStatsWithKernel | undefined): string {
  if (!p) return '';
  const nr = p.notReturned;
  const unwound = nr.replaced + nr.unwound;
  const parts = [`${p.paired} call${p.paired === 1 ? '' : 's'} paired with ${p.paired === 1 ? 'its' : 'their'} return`];
  if (unwound) parts.push(`${unwound} unwound by a panic`);
  if (nr.untraced) parts.push(`${nr.untraced} left without a traced return (by a jump, or on a system stack)`);
  if (nr.exit) parts.push(`${nr.exit} still running at exit`);
  if (nr.evicted) parts.push(`${nr.evicted} evicted from the ${'pending-call'} table (too many pending)`);
  if (p.returnsWithoutEntry) parts.push(`${p.returnsWithoutEntry} return${p.returnsWithoutEntry === 1 ? '' : 's'} without an entry`);
  const k = p.kernel;
  if (k.unmatched) parts.push(`${k.unmatched} return${k.unmatched === 1n ? '' : 's'} whose entry the kernel's bounded pairing map had evicted or never stored`);
  if (k.insertFailed) parts.push(`${k.insertFailed} entr${k.insertFailed === 1n ? 'y' : 'ies'} the kernel's pairing map refused`);
  return `weaver: returns: ${parts.join(', ')}`;
}

type PairingStatsWithKernel = PairingStats & { kernel: { replaced: bigint; unmatched: bigint; insertFailed: bigint } };
