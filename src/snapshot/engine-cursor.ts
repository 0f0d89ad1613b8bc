// One pass over an engine's point-in-time view, shared by several consumers in key order: each
// bucket of an etcd image takes the run of engine keys under its prefix, then hands the cursor on.
// One iteration (not one per prefix) is what makes the image consistent: a single view, one revision.
//
// The pairs are read ahead (a bounded queue filled by a pump) so the engine's next batch is fetched
// while the bbolt writer works on the current one, instead of each waiting for the other. The
// consumer takes them in runs (every queued pair under its prefix at once), so the cost of an await
// is paid per run, not per pair: a save is hundreds of thousands of pairs.

export type EnginePair = readonly [Buffer, Buffer];

/** Pairs queued ahead of the consumer at most (about a few engine batches), besides the run it holds. */
export const maxReadAheadPairs = 4096;
/**
 * Bytes (keys and values) queued ahead at most, and in one run at most: with values up to the
 * request limit (1.5 MiB) a pair count alone would let gigabytes be read ahead. Each bound may be
 * passed by one pair, so a save holds at most about twice this plus two values.
 */
export const maxReadAheadBytes = 8 * 1024 * 1024;
/** Pairs queued before a waiting consumer is woken: fewer wakes, longer runs (the end wakes it too). */
export const wakeConsumerPairs = 256;

export class EngineCursor {
  private readonly source: AsyncIterator<EnginePair>;
  private queue: EnginePair[] = [];
  private queueHead = 0;
  /** Bytes of the pairs from queueHead on. */
  private queuedBytes = 0;
  private ended = false;
  private failure: { readonly error: unknown } | undefined;
  private pumping: Promise<void> | undefined;
  private wakeConsumer: (() => void) | undefined;
  private wakePump: (() => void) | undefined;
  private closed = false;

  /** `throwIfStopped` runs once per pair read: what it throws ends the iteration (a client gone). */
  constructor(
    pairs: AsyncIterable<EnginePair>,
    private readonly throwIfStopped: () => void = () => undefined,
  ) {
    this.source = pairs[Symbol.asyncIterator]();
  }

  /** The next pair without taking it; undefined at the end. */
  async peek(): Promise<EnginePair | undefined> {
    return (await this.filled()) ? this.queue[this.queueHead] : undefined;
  }

  /** Pairs whose key starts with `prefix`, skipping any keys before them (they belong to nobody). */
  async *take(prefix: Buffer): AsyncGenerator<EnginePair> {
    for await (const run of this.takeRuns(prefix)) yield* run;
  }

  /** take() in runs: each yield holds every queued pair under `prefix` (never an empty run). */
  async *takeRuns(prefix: Buffer): AsyncGenerator<EnginePair[]> {
    while (await this.filled()) {
      const run: EnginePair[] = [];
      let runBytes = 0;
      let past = false;
      while (this.queueHead < this.queue.length && runBytes < maxReadAheadBytes) {
        const pair = this.queue[this.queueHead]!;
        const order = comparePrefix(pair[0], prefix);
        if (order > 0) {
          past = true;
          break;
        }
        this.queueHead++;
        const bytes = pairBytes(pair);
        this.queuedBytes -= bytes;
        if (order === 0) {
          run.push(pair);
          runBytes += bytes;
        }
      }
      this.consumed();
      if (run.length > 0) yield run;
      if (past) return;
    }
  }

  /** Ends the iteration early (the engine releases its view). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakePump?.();
    await this.pumping;
    if (!this.ended) await this.source.return?.();
  }

  /** Waits until a pair is queued (true) or the iteration has ended (false); rethrows its failure. */
  private async filled(): Promise<boolean> {
    this.pumping ??= this.pump();
    while (this.queueHead >= this.queue.length) {
      if (this.failure !== undefined) throw this.failure.error;
      if (this.ended) return false;
      await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
    }
    return true;
  }

  /** Drops the taken pairs from the queue and lets the pump refill it. */
  private consumed(): void {
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
      this.queuedBytes = 0;
    } else if (this.queueHead >= maxReadAheadPairs / 2) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    if (!this.full()) this.wakePump?.();
  }

  private async pump(): Promise<void> {
    try {
      while (!this.closed) {
        if (this.full()) {
          this.wake();
          await new Promise<void>((resolve) => (this.wakePump = resolve));
          this.wakePump = undefined;
          continue;
        }
        const next = await this.source.next();
        if (next.done === true) {
          this.ended = true;
          break;
        }
        this.throwIfStopped();
        this.queue.push(next.value);
        this.queuedBytes += pairBytes(next.value);
        if (this.queue.length - this.queueHead >= wakeConsumerPairs) this.wake();
      }
    } catch (error) {
      this.failure = { error };
    }
    this.wake();
  }

  private full(): boolean {
    return this.queue.length - this.queueHead >= maxReadAheadPairs || this.queuedBytes >= maxReadAheadBytes;
  }

  private wake(): void {
    const wake = this.wakeConsumer;
    this.wakeConsumer = undefined;
    wake?.();
  }
}

const pairBytes = (pair: EnginePair): number => pair[0].length + pair[1].length;

/** Buffer.compare(key's first prefix.length bytes, prefix) without a subarray per key. */
function comparePrefix(key: Buffer, prefix: Buffer): number {
  const n = Math.min(key.length, prefix.length);
  for (let i = 0; i < n; i++) {
    const d = key[i]! - prefix[i]!;
    if (d !== 0) return d;
  }
  return key.length < prefix.length ? -1 : 0;
}
