// Colour decisions for text output. Colour is for people at a terminal:
// off when output is not a TTY, when NO_COLOR is set (no-color.org) or
// TERM=dumb; FORCE_COLOR forces it either way, as chalk users expect.

import type { ChalkInstance } from 'chalk';
import type { TextStyle } from './text.js';

export function shouldUseColor(stream: { isTTY?: boolean }, env: Record<string, string | undefined>): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '') return force !== '0' && force !== 'false';
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

// Distinct, readable on dark and light backgrounds; red is left out so
// that a function never looks like an error.
const FUNCTION_COLORS = ['cyan', 'green', 'yellow', 'blue', 'magenta', 'cyanBright', 'greenBright', 'magentaBright'] as const;

/** FNV-1a: the same function gets the same colour in every run. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function functionColorName(name: string): (typeof FUNCTION_COLORS)[number] {
  return FUNCTION_COLORS[hashName(name) % FUNCTION_COLORS.length]!;
}

let Chalk: typeof import('chalk').Chalk | undefined;

/** Loads chalk, which only runs that colour need (~40 ms of a start); colorStyle() needs it loaded. */
export async function loadColors(): Promise<void> {
  Chalk ??= (await import('chalk')).Chalk;
}

/** Styling with 16-colour ANSI codes; function names coloured once and cached. */
export function colorStyle(): TextStyle {
  if (!Chalk) throw new Error('colorStyle() before loadColors()');
  const chalk: ChalkInstance = new Chalk({ level: 1 });
  const cache = new Map<string, string>();
  return {
    dim: (s) => chalk.dim(s),
    fn: (name) => {
      let styled = cache.get(name);
      if (styled === undefined) {
        styled = chalk[functionColorName(name)](name);
        if (cache.size > 4096) cache.clear();
        cache.set(name, styled);
      }
      return styled;
    },
  };
}
