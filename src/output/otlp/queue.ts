// The bounded queue between the calls weaver reads and the exporter: a
// collector that is down or slow must neither slow weaver's reading (which
// would let the kernel buffer overflow) nor make its memory grow. So a
// call that finds the queue full (in items or in bytes) is dropped and
// counted; batches go out when full or after a short wait, a few at a time;
// at exit the queue gets a bounded time to empty, and whatever is left then
// counts as dropped. exported + dropped = every item offered, always.

export interface QueueLimits {
  /** Items waiting at most (not counting those in flight). */
  maxItems: number;
  /** Estimated bytes waiting at most. */
  maxBytes: number;
  /** Items in one export request. */
  batchSize: number;
  /** Export requests under way at once. */
  maxInFlight: number;
  /** How long a partial batch waits for more items. */
  lingerMs: number;
}

export const DEFAULT_QUEUE_LIMITS: QueueLimits = { maxItems: 16384, maxBytes: 16 << 20, batchSize: 512, maxInFlight: 4, lingerMs: 200 };

/** Sends one batch; resolves with an error sentence when the items were not delivered (after the exporter's own retries). */
export type SendBatch<T> = (items: T[]) => Promise<string | null>;

export interface QueueCounts {
  exported: number;
  /** Dropped because the queue was full. */
  droppedFull: number;
  /** Dropped because their request failed. */
  droppedFailed: number;
  /** Still queued or in flight when the exit flush ended. */
  droppedAtExit: number;
  /** The last failed request's error. */
  lastError?: string;
}

export class ExportQueue<T> {
  private items: T[] = [];
  private sizes: number[] = [];
  private queuedBytes = 0;
  private inFlight = 0;
  private inFlightItems = 0;
  private timer: NodeJS.Timeout | null = null;
  private draining = false;
  /** Once true, counts are final: late answers change nothing. */
  private settled = false;
  private idle: (() => void) | null = null;
  readonly counts: QueueCounts = { exported: 0, droppedFull: 0, droppedFailed: 0, droppedAtExit: 0 };

  constructor(
    private readonly send: SendBatch<T>,
    private readonly limits: QueueLimits = DEFAULT_QUEUE_LIMITS,
    /** Told once, at the first failed request. */
    private readonly onFirstFailure: (error: string) => void = () => {},
  ) {}

  get dropped(): number {
    const c = this.counts;
    return c.droppedFull + c.droppedFailed + c.droppedAtExit;
  }

  get queued(): number {
    return this.items.length;
  }

  /** False when the next item would be dropped: the caller need not build it. */
  get hasRoom(): boolean {
    return !this.settled && this.items.length < this.limits.maxItems && this.queuedBytes < this.limits.maxBytes;
  }

  /** Counts an item dropped without being offered (hasRoom was false). */
  dropUnbuilt(): void {
    if (this.settled) this.counts.droppedAtExit++;
    else this.counts.droppedFull++;
  }

  /** Queues one item of about `bytes` bytes; false when it was dropped. */
  offer(item: T, bytes: number): boolean {
    if (this.settled || this.items.length >= this.limits.maxItems || this.queuedBytes + bytes > this.limits.maxBytes) {
      if (this.settled) this.counts.droppedAtExit++;
      else this.counts.droppedFull++;
      return false;
    }
    this.items.push(item);
    this.sizes.push(bytes);
    this.queuedBytes += bytes;
    if (this.items.length >= this.limits.batchSize) this.pump(false);
    else this.timer ??= setTimeout(() => {
      this.timer = null;
      this.pump(true);
    }, this.limits.lingerMs).unref();
    return true;
  }

  /** Starts requests while there is room: full batches, or any batch once it has waited (`partial`) or at exit. */
  private pump(partial: boolean): void {
    while (!this.settled && this.inFlight < this.limits.maxInFlight && this.items.length > 0) {
      if (this.items.length < this.limits.batchSize && !partial && !this.draining) break;
      const n = Math.min(this.limits.batchSize, this.items.length);
      const batch = this.items.splice(0, n);
      for (const b of this.sizes.splice(0, n)) this.queuedBytes -= b;
      this.inFlight++;
      this.inFlightItems += n;
      let sent: Promise<string | null>;
      try {
        sent = this.send(batch);
      } catch (err) {
        sent = Promise.resolve((err as Error).message);
      }
      sent.then(
        (error) => this.done(n, error),
        (err: unknown) => this.done(n, (err as Error)?.message ?? String(err)),
      );
    }
    // Items left behind by a full pipe wait for the next answer; a partial batch for the timer.
    if (this.items.length > 0 && this.inFlight < this.limits.maxInFlight && !this.timer && !this.settled) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.pump(true);
      }, this.limits.lingerMs).unref();
    }
  }

  private done(n: number, error: string | null): void {
    if (this.settled) return;
    this.inFlight--;
    this.inFlightItems -= n;
    if (error === null) this.counts.exported += n;
    else {
      if (this.counts.droppedFailed === 0 && this.counts.lastError === undefined) this.onFirstFailure(error);
      this.counts.droppedFailed += n;
      this.counts.lastError = error;
    }
    this.pump(false);
    if (this.idle && this.items.length === 0 && this.inFlight === 0) this.idle();
  }

  /**
   * Sends what is queued and waits for every answer, at most `maxMs` or
   * until `cut` resolves (a second signal); what is still queued or in
   * flight then counts as dropped. Returns true when everything was answered.
   */
  async drain(maxMs: number, cut?: Promise<unknown>): Promise<boolean> {
    this.draining = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pump(true);
    let complete = this.items.length === 0 && this.inFlight === 0;
    if (!complete) {
      let timeout: NodeJS.Timeout | undefined;
      complete = await Promise.race([
        new Promise<boolean>((resolve) => (this.idle = () => resolve(true))),
        new Promise<boolean>((resolve) => (timeout = setTimeout(() => resolve(false), maxMs))),
        ...(cut ? [cut.then(() => false)] : []),
      ]);
      clearTimeout(timeout);
      this.idle = null;
    }
    this.settled = true;
    this.counts.droppedAtExit += this.items.length + this.inFlightItems;
    this.items = [];
    this.sizes = [];
    this.queuedBytes = 0;
    return complete;
  }
}
