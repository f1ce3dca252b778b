// Writes formatted lines to stdout without letting a slow reader make
// memory grow: past a bound, lines are dropped and counted. A reader that
// goes away (EPIPE, as with `| head -1`) ends tracing cleanly.

export class OutputWriter {
  dropped = 0;
  /** Resolves with a reason when the stream can no longer be written. */
  readonly closed: Promise<string>;
  private isClosed = false;

  constructor(
    private readonly stream: NodeJS.WritableStream & { writableLength?: number },
    private readonly maxBuffered = 16 << 20,
  ) {
    this.closed = new Promise((resolve) => {
      stream.on('error', (err: NodeJS.ErrnoException) => {
        this.isClosed = true;
        resolve(err.code === 'EPIPE' ? 'the output was closed' : `output error: ${err.message}`);
      });
    });
  }

  writeLines(lines: string[]): void {
    if (this.isClosed || lines.length === 0) return;
    if ((this.stream.writableLength ?? 0) > this.maxBuffered) {
      this.dropped += lines.length;
      return;
    }
    this.stream.write(lines.join('\n') + '\n');
  }

  /** Waits until what was written has been handed to the operating system. */
  flush(): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    return new Promise((resolve) => {
      if ((this.stream.writableLength ?? 0) === 0) resolve();
      else this.stream.once('drain', () => resolve());
      this.closed.then(() => resolve());
    });
  }
}
