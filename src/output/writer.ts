// Writes formatted lines to stdout or --output without letting the output
// harm tracing: a slow reader cannot make memory grow (past a bound, lines
// are dropped and counted), and an output that fails (ENOSPC, EIO, EPIPE
// when the reader went away, as with `| head -1`) ends tracing with one
// sentence that names the error. Every line is either written whole or
// counted as not written.
//
// One write is in flight at a time, so the writer always knows how many
// lines and bytes have reached the operating system: that is what lets it
// count what was not written and cut an --output file back to its last
// whole line after a failed write (a write can fill a disk half way through).
//
// A reader that stops reading must never block weaver: a blocked write
// would hold up the event loop, and with it every signal handler (seen:
// `weaver … | sleep 60` ignored SIGTERM until sleep ended). In launch mode
// the traced program shares our stdout's file description, and starting it
// turns O_NONBLOCK off on it (libuv makes a child's stdio blocking). So a
// pipe or terminal on stdout is opened again through /proc/self/fd/1: a
// file description of our own, non-blocking whatever happens to the
// program's; a full pipe then means EAGAIN and a retry. A socket cannot be
// opened again: in launch mode its blocking writes go to libuv's thread
// pool (the event loop stays free, but a write stuck there holds the exit
// until the reader reads or goes away); otherwise Node's own stream writes it.
//
// In launch mode the traced program usually shares our stdout pipe. Linux
// makes a pipe write atomic only up to PIPE_BUF bytes, so one large write of
// many lines can have the program's own output land in the middle of a line,
// which breaks `--format json | jq`. On a pipe, lines therefore go out as
// writes of at most PIPE_BUF bytes that end at a line break.

import { closeSync, constants, fstatSync, ftruncateSync, openSync, write } from 'node:fs';

/** Linux's PIPE_BUF: the largest pipe write that is never interleaved with another writer's. */
export const PIPE_BUF = 4096;

/** Exit status when the output could not be written (sysexits' EX_IOERR). */
export const EXIT_OUTPUT_ERROR = 74;

/** Lines merged into one write on a file or terminal, up to this many bytes. */
const MERGE_BYTES = 256 << 10;

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

/**
 * A non-blocking descriptor of our own for `fd` when it is a pipe or a
 * terminal (see above); `fd` itself otherwise (a regular file never stalls; a
 * socket cannot be opened again), or when opening fails.
 */
export function ownNonBlocking(fd: number): number {
  try {
    const st = fstatSync(fd);
    if (!st.isFIFO() && !st.isCharacterDevice()) return fd;
    return openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch {
    return fd;
  }
}

/** What OutputWriter should write stdout through (see above). */
export function stdoutTarget(launching: boolean): number | NodeJS.WritableStream {
  const fd = ownNonBlocking(1);
  return fd === 1 && !launching && isSharedStream(1) ? process.stdout : fd;
}

/** Why the output stopped taking lines. */
export interface OutputFailure {
  /** The errno name (ENOSPC, EPIPE, …). */
  code: string;
  /** One sentence, e.g. "cannot write to calls.jsonl: no space left on device (ENOSPC)". */
  sentence: string;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error',
  EFBIG: 'file too large',
  EPIPE: 'the reader closed it',
  ECONNRESET: 'the reader closed it',
  EBADF: 'not open for writing',
};

/** "cannot write to calls.jsonl: no space left on device (ENOSPC)". */
export function describeWriteError(name: string, err: NodeJS.ErrnoException): OutputFailure {
  const code = err.code ?? 'EIO';
  const text = ERRNO_TEXT[code] ?? err.message.replace(/^[A-Z]+: /, '').replace(/, write$/, '');
  return { code, sentence: code === 'EPIPE' ? 'the output was closed' : `cannot write to ${name}: ${text} (${code})` };
}

interface Chunk {
  bytes: Buffer;
  lines: number;
  /** Bytes of it already written (a write can take part of a chunk). */
  done?: number;
}

/** A non-blocking pipe that is full: try again after this long. */
const RETRY_MS = 5;

export interface OutputOptions {
  /** Bytes held for a slow reader before lines are dropped (default 16 MiB). */
  maxBuffered?: number;
  /** Writes of at most PIPE_BUF bytes, each ending at a line break (a pipe shared with the traced program). */
  lineAtomic?: boolean;
  /** How the output is named in an error sentence (default "the output"). */
  name?: string;
  /** The descriptor is a regular file's (--output): after a failed write it is cut back to the last whole line; end() closes it. */
  ownsFile?: boolean;
}

export class OutputWriter {
  /** Lines that reached the operating system. */
  written = 0;
  /** Lines not written: dropped for a slow reader, or left over when the output failed or was given up. */
  dropped = 0;
  /** Set once a write has failed. */
  failure: OutputFailure | undefined;
  /** Resolves when the output can no longer be written. */
  readonly closed: Promise<OutputFailure>;
  private fail: (f: OutputFailure) => void = () => {};
  private isClosed = false;
  private abandoned = false;
  private bytesWritten = 0;
  private readonly queue: Chunk[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private inFlight: Chunk | undefined;
  private idle: Array<() => void> = [];

  private retry: NodeJS.Timeout | undefined;
  /** A write call has not returned yet (it may be blocked in the kernel, on a socket). */
  private writePending = false;

  /** `target`: a file descriptor (stdout, --output), or a stream (tests, in-process use). */
  constructor(
    private readonly target: number | NodeJS.WritableStream,
    private readonly options: OutputOptions = {},
  ) {
    this.closed = new Promise((resolve) => (this.fail = resolve));
    // Errors also come through each write's callback; this listener keeps an
    // 'error' event from becoming an uncaught exception.
    if (typeof target !== 'number') target.on('error', (err: NodeJS.ErrnoException) => this.onError(err));
  }

  /** Bytes accepted but not yet handed to the operating system. */
  buffered(): number {
    return this.queuedBytes + (this.inFlight?.bytes.length ?? 0);
  }

  /** Whether a write is still waiting for the reader (after abandon(), the process must exit explicitly). */
  get stuck(): boolean {
    return this.abandoned && this.writePending;
  }

  writeLines(lines: string[]): void {
    if (lines.length === 0) return;
    if (this.isClosed || this.buffered() > (this.options.maxBuffered ?? 16 << 20)) {
      this.dropped += lines.length;
      return;
    }
    const text = Buffer.from(lines.join('\n') + '\n');
    if (this.options.lineAtomic && text.length > PIPE_BUF) {
      for (const bytes of lineAlignedChunks(text)) this.enqueue({ bytes, lines: countLines(bytes) });
    } else {
      this.enqueue({ bytes: text, lines: lines.length });
    }
    this.pump();
  }

  private enqueue(chunk: Chunk): void {
    this.queue.push(chunk);
    this.queuedBytes += chunk.bytes.length;
  }

  private next(): Chunk | undefined {
    if (this.queueHead === this.queue.length) return undefined;
    let chunk = this.queue[this.queueHead++]!;
    if (!this.options.lineAtomic) {
      // Many small deliveries become one write, as Node's writev would make them.
      const parts = [chunk];
      let bytes = chunk.bytes.length;
      while (this.queueHead < this.queue.length && bytes + this.queue[this.queueHead]!.bytes.length <= MERGE_BYTES) {
        const more = this.queue[this.queueHead++]!;
        parts.push(more);
        bytes += more.bytes.length;
      }
      if (parts.length > 1) chunk = { bytes: Buffer.concat(parts.map((p) => p.bytes), bytes), lines: parts.reduce((n, p) => n + p.lines, 0) };
    }
    this.queuedBytes -= chunk.bytes.length;
    if (this.queueHead === this.queue.length) this.queue.length = this.queueHead = 0;
    return chunk;
  }

  private pump(): void {
    if (this.inFlight || this.isClosed) return;
    const chunk = this.next();
    if (!chunk) {
      this.wakeIdle();
      return;
    }
    this.inFlight = chunk;
    this.writeChunk(chunk);
  }

  private writeChunk(chunk: Chunk): void {
    const done = (err: NodeJS.ErrnoException | null | undefined, n: number) => {
      this.writePending = false;
      if (this.inFlight !== chunk || this.isClosed) return;
      if (err?.code === 'EAGAIN') {
        this.retry = setTimeout(() => this.writeChunk(chunk), RETRY_MS);
        return;
      }
      if (err) {
        this.onError(err);
        return;
      }
      chunk.done = (chunk.done ?? 0) + n;
      if (chunk.done < chunk.bytes.length) {
        this.writeChunk(chunk);
        return;
      }
      this.inFlight = undefined;
      this.written += chunk.lines;
      this.bytesWritten += chunk.bytes.length;
      this.pump();
    };
    const offset = chunk.done ?? 0;
    this.writePending = true;
    if (typeof this.target === 'number') write(this.target, chunk.bytes, offset, chunk.bytes.length - offset, null, (err, n) => done(err, n));
    else this.target.write(chunk.bytes, (err) => done(err, chunk.bytes.length));
  }

  private onError(err: NodeJS.ErrnoException): void {
    if (this.isClosed) return;
    this.failure = describeWriteError(this.options.name ?? 'the output', err);
    this.close();
    if (this.options.ownsFile && typeof this.target === 'number') {
      // A write that filled the disk may have left part of a line: cut it off.
      try {
        ftruncateSync(this.target, this.bytesWritten);
      } catch {
        // The sentence already says the file is not complete.
      }
    }
    this.fail(this.failure);
  }

  /** Stops writing: whatever is queued or in flight counts as not written. */
  private close(): void {
    this.isClosed = true;
    clearTimeout(this.retry);
    this.dropped += this.queue.slice(this.queueHead).reduce((n, c) => n + c.lines, 0) + (this.inFlight?.lines ?? 0);
    this.queue.length = this.queueHead = this.queuedBytes = 0;
    if (!this.abandoned) this.inFlight = undefined;
    this.wakeIdle();
  }

  /** Gives up on a reader that does not read: what is still waiting is counted as not written. */
  abandon(): void {
    if (this.isClosed) return;
    this.abandoned = true;
    this.close();
  }

  private wakeIdle(): void {
    const waiting = this.idle;
    this.idle = [];
    for (const resolve of waiting) resolve();
  }

  /** Waits until every line has been handed to the operating system (or the output failed or was given up). */
  flush(): Promise<void> {
    if (this.isClosed || (!this.inFlight && this.queueHead === this.queue.length)) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Ends an --output file: flushes, closes it, and reports a failure to close (some file systems report ENOSPC only then). */
  async end(): Promise<void> {
    await this.flush();
    if (!this.options.ownsFile || typeof this.target !== 'number') return;
    try {
      closeSync(this.target);
    } catch (err) {
      if (!this.failure) this.failure = describeWriteError(this.options.name ?? 'the output', err as NodeJS.ErrnoException);
    }
  }
}

function countLines(bytes: Buffer): number {
  let n = 0;
  for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) n++;
  return n;
}
