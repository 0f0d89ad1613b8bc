// One pass over an engine's point-in-time view, shared by several consumers in key order: each
// bucket of an etcd image takes the run of engine keys under its prefix, then hands the cursor on.
// One iteration (not one per prefix) is what makes the image consistent: a single view, one revision.

export type EnginePair = readonly [Buffer, Buffer];

export class EngineCursor {
  private readonly source: AsyncIterator<EnginePair>;
  private head: EnginePair | undefined;
  private started = false;
  private done = false;

  constructor(pairs: AsyncIterable<EnginePair>) {
    this.source = pairs[Symbol.asyncIterator]();
  }

  /** The next pair without taking it; undefined at the end. */
  async peek(): Promise<EnginePair | undefined> {
    if (!this.started) {
      this.started = true;
      await this.advance();
    }
    return this.head;
  }

  /** Pairs whose key starts with `prefix`, skipping any keys before them (they belong to nobody). */
  async *take(prefix: Buffer): AsyncGenerator<EnginePair> {
    for (let pair = await this.peek(); pair !== undefined; pair = await this.peek()) {
      const order = Buffer.compare(pair[0].subarray(0, prefix.length), prefix);
      if (order > 0) return;
      await this.advance();
      if (order === 0) yield pair;
    }
  }

  /** Ends the iteration early (the engine releases its view). */
  async close(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.source.return?.();
    }
  }

  private async advance(): Promise<void> {
    if (this.done) {
      this.head = undefined;
      return;
    }
    const next = await this.source.next();
    if (next.done === true) {
      this.done = true;
      this.head = undefined;
    } else {
      this.head = next.value;
    }
  }
}
