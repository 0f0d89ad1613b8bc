// RevisionLog.follow for any log that can read its committed entries back and announce new ones:
// catch up from storage, then take the live batches, with no gap and no duplicate in between — the
// same synced/unsynced idea as the watch hub. The follower subscribes *before* it notes how far the
// log has committed, so every batch committed after that point arrives live, and everything up to it
// is read back. Live batches wait in a bounded buffer while the consumer is busy; if it overflows, the
// buffer is dropped and the follower reads those entries back from storage instead (they are
// committed, so they are there), then joins the live batches again.
import type { LogEntry } from './command.js';

export interface CommitListener {
  /** A batch just committed, in index order; the source's committedIndex already covers it. */
  committed(batch: readonly LogEntry[]): void;
  /** No more entries will commit (the log closed). */
  ended(): void;
}

export interface CommittedSource {
  readonly committedIndex: number;
  /** Committed entries with index in [from, to], in order (to <= committedIndex). */
  readCommitted(from: number, to: number): AsyncIterable<LogEntry>;
  /** Starts calling the listener (ended() at once if the log has ended); returns the unsubscribe. */
  subscribe(listener: CommitListener): () => void;
}

export interface FollowLimits {
  /** Live entries held for a busy consumer before the follower falls back to reading storage. */
  readonly maxBufferedEntries: number;
  /** Entries per batch handed out while reading back from storage. */
  readonly readChunkEntries: number;
}

export const defaultFollowLimits: FollowLimits = { maxBufferedEntries: 10_000, readChunkEntries: 1000 };

export async function* followCommitted(
  source: CommittedSource,
  fromIndex: number,
  limits: FollowLimits = defaultFollowLimits,
): AsyncGenerator<readonly LogEntry[]> {
  let next = fromIndex + 1;
  let live: (readonly LogEntry[])[] = [];
  let liveEntries = 0;
  /** False: the live buffer is not (or no longer) contiguous with `next`; read storage first. */
  let buffering = false;
  let ended = false;
  let wake: (() => void) | undefined;
  const dropLive = (): void => {
    buffering = false;
    live = [];
    liveEntries = 0;
  };
  const unsubscribe = source.subscribe({
    committed: (batch) => {
      if (buffering) {
        if (liveEntries + batch.length > limits.maxBufferedEntries) dropLive();
        else {
          live.push(batch);
          liveEntries += batch.length;
        }
      }
      wake?.();
    },
    ended: () => {
      ended = true;
      wake?.();
    },
  });
  try {
    for (;;) {
      if (!buffering) {
        // In one synchronous step: from here on every committed batch is buffered, and it lies past `to`.
        buffering = true;
        const to = source.committedIndex;
        let chunk: LogEntry[] = [];
        for await (const entry of source.readCommitted(next, to)) {
          if (entry.index !== next) throw new Error(`log follower: read entry ${entry.index} where ${next} was expected`);
          chunk.push(entry);
          next++;
          if (chunk.length >= limits.readChunkEntries) {
            yield chunk;
            chunk = [];
          }
        }
        if (chunk.length > 0) yield chunk;
        if (next !== to + 1) throw new Error(`log follower: storage ended at entry ${next - 1}, ${to} is committed`);
        continue;
      }
      const batch = live.shift();
      if (batch !== undefined) {
        liveEntries -= batch.length;
        const fresh = batch[0] !== undefined && batch[0].index < next ? batch.filter((e) => e.index >= next) : batch;
        if (fresh.length === 0) continue;
        // Not contiguous (cannot happen with a source that keeps its contract): recover from storage.
        if (fresh[0]!.index !== next) {
          dropLive();
          continue;
        }
        next = fresh[fresh.length - 1]!.index + 1;
        yield fresh;
        continue;
      }
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    unsubscribe();
  }
}
