// --stack: names the return addresses an entry record carries (src/spec/record.ts
// STACK_TAIL) with the binary's own line tables (src/binary/elf/pcline.ts), and
// shows them under the call: indented `at` lines in text, a `stack` array
// in JSON. A return address is the instruction after the call, which may
// already belong to the next line (or, after a call that never returns, to
// the next function): the call's own line is that of pc − 1.

import type { Formatter, OutputFormat } from './format/index.js';
import { terminalSafe } from './format/strings.js';
import { InputError, type CallEvent } from '../core/index.js';
import { findPclntab, LineTable, type ElfFile } from '../binary/index.js';

export interface StackFrame {
  /** '?' when no function of the binary holds the address. */
  func: string;
  file: string;
  line: number;
  /** The return address as linked in the binary (what `go tool addr2line` takes, minus one). */
  pc: bigint;
}

/** Return addresses whose frames are kept named: far more than a program's call sites usually are. */
const CACHED_MAX = 1 << 16;

/** Frames named once per return address: a traced call site repeats. */
export class StackSymbols {
  private readonly cache = new Map<bigint, StackFrame>();

  constructor(private readonly table: LineTable) {}

  /** `elf` is the binary the trace already read: its .gopclntab names the frames. */
  static forBinary(elf: ElfFile, path: string): StackSymbols {
    const pclntab = findPclntab(elf);
    if (!pclntab) throw new InputError(`${path} has no .gopclntab, so --stack cannot name its frames`);
    return new StackSymbols(new LineTable(pclntab, path));
  }

  frame(pc: bigint): StackFrame {
    let f = this.cache.get(pc);
    if (!f) {
      if (this.cache.size >= CACHED_MAX) this.cache.clear();
      const at = this.table.lookup(Number(pc - 1n));
      f = at ? { func: at.func, file: at.file, line: at.line, pc } : { func: '?', file: '?', line: 0, pc };
      this.cache.set(pc, f);
    }
    return f;
  }

  frames(pcs: readonly bigint[]): StackFrame[] {
    return pcs.map((pc) => this.frame(pc));
  }

  /** The immediate caller's function name, for -c --by-caller; '?' when the stack is empty. */
  caller(ev: CallEvent): string {
    const pc = ev.stack?.[0];
    return pc === undefined ? '?' : this.frame(pc).func;
  }
}

function hex(n: bigint): string {
  return `0x${n.toString(16)}`;
}

export function textFrame(f: StackFrame): string {
  return f.func === '?' ? `  at ? (${hex(f.pc)})` : `  at ${terminalSafe(f.func)} (${terminalSafe(f.file)}:${f.line})`;
}

function jsonFrame(f: StackFrame): string {
  return `{"func":${JSON.stringify(f.func)},"file":${JSON.stringify(f.file)},"line":${f.line},"pc":"${hex(f.pc)}"}`;
}

/** Bounds the rendered frames kept: a trace's call sites are few, but a JIT-like program could make many. */
const RENDERED_MAX = 1 << 16;

/** Adds each event's stack to what `base` writes: lines under the call in text, a `stack` key in JSON. */
export function stackFormatter(base: Formatter, format: OutputFormat, symbols: StackSymbols): Formatter {
  // Each return address rendered once: the same frames repeat on every call
  // from the same place, and rendering them was most of the formatter's work.
  const rendered = new Map<bigint, string>();
  const render = format === 'json' ? jsonFrame : textFrame;
  const frame = (pc: bigint): string => {
    let r = rendered.get(pc);
    if (r === undefined) {
      if (rendered.size >= RENDERED_MAX) rendered.clear();
      r = render(symbols.frame(pc));
      rendered.set(pc, r);
    }
    return r;
  };
  return {
    format(ev: CallEvent): string {
      const line = base.format(ev);
      const pcs = ev.stack;
      if (!pcs) return line;
      if (format === 'json') {
        let out = '[';
        for (let i = 0; i < pcs.length; i++) out += (i ? ',' : '') + frame(pcs[i]!);
        // Every JSON formatter ends the event object with its closing brace.
        return line.endsWith('}') ? `${line.slice(0, -1)},"stack":${out}]}` : line;
      }
      let out = line;
      for (const pc of pcs) out += `\n${frame(pc)}`;
      return out;
    },
  };
}
