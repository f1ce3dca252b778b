// A status line on stderr for slow steps (compiling, attaching many
// probes): shown only at a terminal, only once a step has taken longer
// than a moment, rewritten in place and erased when done.

export class StatusLine {
  private readonly started = Date.now();
  private shown = false;
  private lastWrite = 0;
  private timer: NodeJS.Timeout | undefined;
  private text = '';

  constructor(
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
    private readonly delayMs = 500,
    private readonly enabled = stream.isTTY === true,
  ) {}

  /** Sets the status text; it appears once `delayMs` has passed since the start. */
  set(text: string): void {
    if (!this.enabled) return;
    this.text = text;
    const now = Date.now();
    if (now - this.started >= this.delayMs) {
      // Attaching calls this synchronously thousands of times: redraw at most every 50 ms.
      if (now - this.lastWrite >= 50) this.draw();
    } else if (!this.timer) {
      // An async step (clang) lets the timer fire; a synchronous one redraws on its next set().
      this.timer = setTimeout(() => this.draw(), this.delayMs - (now - this.started));
    }
  }

  private draw(): void {
    this.timer = undefined;
    this.lastWrite = Date.now();
    this.shown = true;
    this.stream.write(`\r\x1b[K${this.text}`);
  }

  /** Erases the line (if it was shown). */
  done(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}
