// One pass over an engine's point-in-time view, shared by several consumers in key order: each
// bucket of an etcd image takes the run of engine keys under its prefix, then hands the cursor on.
// One iteration (not one per prefix) is what makes the image consistent: a single view, one revision.
//
// The pairs are read ahead (a bounded queue filled by a pump) so the engine's next batch is fetched
// while the bbolt writer works on the current one, instead of each waiting for the other.

export type EnginePair = readonly [Buffer, Buffer];

/** Pairs read ahead of the consumer at most (about a few engine batches). */
export const maxReadAheadPairs = 4096;

export class EngineCursor {
  private readonly source: AsyncIterator<EnginePair>;
  private readonly queue: EnginePair[] = [];
  private queueHead = 0;
  private ended = false;
  private failure: { readonly error: unknown } | undefined;
  private pumping: Promise<void> | undefined;
  private wakeConsumer: (() => void) | undefined;
  private wakePump: (() => void) | undefined;
  private closed = false;

  constructor(pairs: AsyncIterable<EnginePair>) {
    this.source = pairs[Symbol.asyncIterator]();
  }

  /** The next pair without taking it; undefined at the end. */
  async peek(): Promise<EnginePair | undefined> {
    this.pumping ??= this.pump();
    while (this.queueHead >= this.queue.length) {
      if (this.failure !== undefined) throw this.failure.error;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
    }
    return this.queue[this.queueHead];
  }

  /** Pairs whose key starts with `prefix`, skipping any keys before them (they belong to nobody). */
  async *take(prefix: Buffer): AsyncGenerator<EnginePair> {
    for (let pair = await this.peek(); pair !== undefined; pair = await this.peek()) {
      const order = Buffer.compare(pair[0].subarray(0, prefix.length), prefix);
      if (order > 0) return;
      this.advance();
      if (order === 0) yield pair;
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

  private advance(): void {
    this.queueHead++;
    if (this.queueHead >= maxReadAheadPairs / 2 && this.queueHead * 2 >= this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
    if (this.queue.length - this.queueHead < maxReadAheadPairs) this.wakePump?.();
  }

  private async pump(): Promise<void> {
    try {
      while (!this.closed) {
        if (this.queue.length - this.queueHead >= maxReadAheadPairs) {
          await new Promise<void>((resolve) => (this.wakePump = resolve));
          this.wakePump = undefined;
          continue;
        }
        const next = await this.source.next();
        if (next.done === true) {
          this.ended = true;
          break;
        }
        this.queue.push(next.value);
        this.wake();
      }
    } catch (error) {
      this.failure = { error };
    }
    this.wake();
  }

  private wake(): void {
    const wake = this.wakeConsumer;
    this.wakeConsumer = undefined;
    wake?.();
  }
}
