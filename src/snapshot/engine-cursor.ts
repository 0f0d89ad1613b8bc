// One pass over an engine's point-in-time view, shared by several consumers in key order: each
// bucket of an etcd image takes the run of engine keys under its prefix, then hands the cursor on.
// One iteration (not one per prefix) is what makes the image consistent: a single view, one revision.
//
// The engine's batches are read ahead (a bounded queue filled by a pump), so its next batch is
// fetched while the bbolt writer works on the current one, instead of each waiting for the other.
// The consumer takes them in runs (the part of a batch under its prefix, the batch itself when all
// of it is), so an await is paid per batch, never per pair: a save is hundreds of thousands of pairs.
import type { EnginePair } from '../engines/engine.js';

export type { EnginePair };

/** Pairs queued ahead of the consumer at most (a few engine batches); the last batch may pass it. */
export const maxReadAheadPairs = 4096;
/**
 * Bytes (keys and values) queued ahead at most: with values up to the request limit (1.5 MiB) a
 * pair count alone would let gigabytes be read ahead. The last batch queued may pass it, so a save
 * holds at most this plus an engine batch (maxIterateBatchBytes and one pair) ahead.
 */
export const maxReadAheadBytes = 8 * 1024 * 1024;

interface QueuedBatch {
  readonly pairs: readonly EnginePair[];
  readonly bytes: number;
}

export class EngineCursor {
  private readonly source: AsyncIterator<readonly EnginePair[]>;
  private readonly queue: QueuedBatch[] = [];
  /** Pairs of the first queued batch already taken. */
  private offset = 0;
  /** Of the batches queued (the first one whole until it is all taken). */
  private queuedPairs = 0;
  private queuedBytes = 0;
  private ended = false;
  private failure: { readonly error: unknown } | undefined;
  private pumping: Promise<void> | undefined;
  private wakeConsumer: (() => void) | undefined;
  private wakePump: (() => void) | undefined;
  private closed = false;

  /** `throwIfStopped` runs once per batch read: what it throws ends the iteration (a client gone). */
  constructor(
    batches: AsyncIterable<readonly EnginePair[]>,
    private readonly throwIfStopped: () => void = () => undefined,
  ) {
    this.source = batches[Symbol.asyncIterator]();
  }

  /** The next pair without taking it; undefined at the end. */
  async peek(): Promise<EnginePair | undefined> {
    return (await this.filled()) ? this.queue[0]!.pairs[this.offset] : undefined;
  }

  /** Pairs whose key starts with `prefix`, skipping any keys before them (they belong to nobody). */
  async *take(prefix: Buffer): AsyncGenerator<EnginePair> {
    for await (const run of this.takeRuns(prefix)) yield* run;
  }

  /** take() in runs: each yield holds pairs under `prefix` from one engine batch (never an empty run). */
  async *takeRuns(prefix: Buffer): AsyncGenerator<readonly EnginePair[]> {
    while (await this.filled()) {
      const pairs = this.queue[0]!.pairs;
      let end = this.offset;
      while (end < pairs.length && comparePrefix(pairs[end]![0], prefix) < 0) end++;
      const start = end;
      while (end < pairs.length && comparePrefix(pairs[end]![0], prefix) === 0) end++;
      const past = end < pairs.length;
      const run = start === 0 && !past ? pairs : pairs.slice(start, end);
      this.taken(end);
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
    while (this.queue.length === 0) {
      if (this.failure !== undefined) throw this.failure.error;
      if (this.ended) return false;
      await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
    }
    return true;
  }

  /** Marks the first batch taken up to `end`; a batch all taken leaves the queue and lets the pump refill it. */
  private taken(end: number): void {
    const first = this.queue[0]!;
    if (end < first.pairs.length) {
      this.offset = end;
      return;
    }
    this.queue.shift();
    this.offset = 0;
    this.queuedPairs -= first.pairs.length;
    this.queuedBytes -= first.bytes;
    if (!this.full()) this.wakePump?.();
  }

  private async pump(): Promise<void> {
    try {
      while (!this.closed) {
        if (this.full()) {
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
        const pairs = next.value;
        if (pairs.length === 0) continue;
        let bytes = 0;
        for (const [key, value] of pairs) bytes += key.length + value.length;
        this.queue.push({ pairs, bytes });
        this.queuedPairs += pairs.length;
        this.queuedBytes += bytes;
        this.wake();
      }
    } catch (error) {
      this.failure = { error };
    }
    this.wake();
  }

  private full(): boolean {
    return this.queuedPairs >= maxReadAheadPairs || this.queuedBytes >= maxReadAheadBytes;
  }

  private wake(): void {
    const wake = this.wakeConsumer;
    this.wakeConsumer = undefined;
    wake?.();
  }
}

/** Buffer.compare(key's first prefix.length bytes, prefix) without a subarray per key. */
function comparePrefix(key: Buffer, prefix: Buffer): number {
  const n = Math.min(key.length, prefix.length);
  for (let i = 0; i < n; i++) {
    const d = key[i]! - prefix[i]!;
    if (d !== 0) return d;
  }
  return key.length < prefix.length ? -1 : 0;
}
