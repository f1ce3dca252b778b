// Reading small text inputs (functions files) that may be pipes, as with
// `-f <(weaver list ./bin)`, without trusting their size: /dev/zero or a
// mistaken multi-gigabyte path must end in a sentence, not exhaust memory.

import { closeSync, openSync, readSync } from 'node:fs';

/** The file's text as UTF-8, or null when it is longer than `maxBytes`. Errors are fs errors (with `code`). */
export function readTextUpTo(path: string, maxBytes: number): string | null {
  const fd = openSync(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      total += n;
      if (total > maxBytes) return null;
      chunks.push(chunk.subarray(0, n));
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
