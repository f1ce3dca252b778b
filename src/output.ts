// Writes formatted lines to stdout without letting a slow reader make
// memory grow: past a bound, lines are dropped and counted. A reader that
// goes away (EPIPE, as with `| head -1`) ends tracing cleanly.
//
// In launch mode the traced program usually shares our stdout pipe. Linux
// makes a pipe write atomic only up to PIPE_BUF bytes, so one large write of
// many lines can have the program's own output land in the middle of a line,
// which breaks `--format json | jq`. On a pipe, lines therefore go out as
// writes of at most PIPE_BUF bytes that end at a line break, one write in
// flight at a time (Node merges queued writes into one writev otherwise).

import { fstatSync } from 'node:fs';

/** Linux's PIPE_BUF: the largest pipe write that is never interleaved with another writer's. */
export const PIPE_BUF = 4096;

/** Splits text into pieces of at most `limit` bytes that end at a line break; a longer line stays whole. */
export function lineAlignedChunks(bytes: Buffer, limit = PIPE_BUF): Buffer[] {
  if (bytes.length <= limit) return [bytes];
  const chunks: Buffer[] = [];
  let start = 0;
  while (start < bytes.length) {
    let end = bytes.length - start <= limit ? bytes.length - 1 : bytes.lastIndexOf(0x0a, start + limit - 1);
    if (end < start) {
      end = bytes.indexOf(0x0a, start);
      if (end < 0) end = bytes.length - 1;
    }
    chunks.push(bytes.subarray(start, end + 1));
    start = end + 1;
  }
  return chunks;
}

/** Whether file descriptor `fd` is a pipe or socket, where other writers' output can interleave with ours. */
export function isSharedStream(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}

export class OutputWriter {
  dropped = 0;
  /** Resolves with a reason when the stream can no longer be written. */
  readonly closed: Promise<string>;
  private isClosed = false;
  // Line-atomic mode: chunks waiting for the one write in flight.
  private readonly queue: Buffer[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private writing = false;
  private idle: Array<() => void> = [];

  constructor(
    private readonly stream: NodeJS.WritableStream & { writableLength?: number },
    private readonly options: { maxBuffered?: number; lineAtomic?: boolean } = {},
  ) {
    this.closed = new Promise((resolve) => {
      stream.on('error', (err: NodeJS.ErrnoException) => {
        this.isClosed = true;
        this.wakeIdle();
        resolve(err.code === 'EPIPE' ? 'the output was closed' : `output error: ${err.message}`);
      });
    });
  }

  private buffered(): number {
    return this.queuedBytes + (this.stream.writableLength ?? 0);
  }

  writeLines(lines: string[]): void {
    if (this.isClosed || lines.length === 0) return;
    if (this.buffered() > (this.options.maxBuffered ?? 16 << 20)) {
      this.dropped += lines.length;
      return;
    }
    const text = lines.join('\n') + '\n';
    if (!this.options.lineAtomic) {
      this.stream.write(text);
      return;
    }
    for (const chunk of lineAlignedChunks(Buffer.from(text))) {
      this.queue.push(chunk);
      this.queuedBytes += chunk.length;
    }
    this.pump();
  }

  private pump(): void {
    if (this.writing || this.isClosed) return;
    if (this.queueHead === this.queue.length) {
      this.queue.length = this.queueHead = 0;
      this.wakeIdle();
      return;
    }
    const chunk = this.queue[this.queueHead++]!;
    this.queuedBytes -= chunk.length;
    this.writing = true;
    this.stream.write(chunk, (err) => {
      this.writing = false;
      if (!err) this.pump();
    });
  }

  private wakeIdle(): void {
    const waiting = this.idle;
    this.idle = [];
    for (const resolve of waiting) resolve();
  }

  /** Waits until what was written has been handed to the operating system. */
  flush(): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    return new Promise((resolve) => {
      if (this.writing || this.queueHead < this.queue.length) {
        this.idle.push(resolve);
        return;
      }
      // Not 'drain': a stream emits it only after a write past its high-water
      // mark, so below that it never comes, and with nothing else keeping the
      // event loop alive Node would exit with the summary unprinted. An empty
      // write's callback runs once everything written before it is out.
      if ((this.stream.writableLength ?? 0) === 0) resolve();
      else this.stream.write(Buffer.alloc(0), () => resolve());
      this.closed.then(() => resolve());
    });
  }
}
