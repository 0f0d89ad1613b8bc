// Single-member revision log: proposals made in the same turn of the event loop are written as one
// batch with one fsync (group commit); while a batch is on its way to disk the next one gathers.
// A failed write or fsync stops the log for good (fail-stop, src/storage/group-commit.ts): every
// later proposal fails with that failure until a restart re-reads the disk.
// Entries live in a segmented WAL of their own, not in the engine: its writes and fdatasyncs run on
// the libuv pool, while the engine's synced batch writes (RocksDB) would block the event loop.
import { EtcdError } from '../core/errors.js';
import { decodeEntry, encodeEntry, type Command, type LogEntry } from './command.js';
import { defaultFollowLimits, followCommitted, type CommitListener, type CommittedSource, type FollowLimits } from './log-follower.js';
import type { RevisionLog } from './revision-log.js';
import { defaultMaxSegmentBytes, openSegmentedWal, type SegmentedWal } from './segmented-wal.js';
import { nodeFileSystem, type FileSystem } from '../storage/file-system.js';
import { GroupCommit, GroupCommitFullError } from '../storage/group-commit.js';

interface Proposal {
  readonly requestId: bigint;
  readonly command: Command;
}

export interface LocalLogOptions {
  readonly fsync: boolean;
  /** Entries per disk write; more wait for the next one. */
  readonly maxBatchEntries: number;
  /** Proposals waiting for disk before new ones are refused (etcd: too many requests). */
  readonly maxPendingProposals: number;
  /** Entries kept behind the persisted applied index before the log is trimmed. */
  readonly retainEntries: number;
  /** WAL segment size; the log is trimmed a whole segment at a time. */
  readonly maxSegmentBytes: number;
  readonly fs: FileSystem;
  readonly follow: FollowLimits;
}

export const defaultLocalLogOptions: LocalLogOptions = {
  fsync: true,
  maxBatchEntries: 4096,
  maxPendingProposals: 100_000,
  retainEntries: 5_000,
  maxSegmentBytes: defaultMaxSegmentBytes,
  fs: nodeFileSystem,
  follow: defaultFollowLimits,
};

export class LocalLog implements RevisionLog, CommittedSource {
  readonly term = 1;
  private readonly listeners = new Set<CommitListener>();
  private readonly committer: GroupCommit<Proposal>;
  private closed = false;
  private closing: Promise<void> | undefined;
  private ended = false;
  private trimming = false;
  /** Followers still running; close() keeps the WAL open until they have read to the end. */
  private followers = 0;
  private followersDone: (() => void) | undefined;

  private constructor(
    private readonly wal: SegmentedWal,
    private readonly options: LocalLogOptions,
    private last: number,
  ) {
    this.committer = new GroupCommit<Proposal>({
      flush: (group) => this.writeBatch(group),
      weight: () => 1,
      maxGroupWeight: options.maxBatchEntries,
      maxQueuedItems: options.maxPendingProposals,
      start: 'immediate',
    });
  }

  /** Opens (creating if missing) the log whose WAL segments are in dir. */
  static async open(dir: string, options: LocalLogOptions = defaultLocalLogOptions): Promise<LocalLog> {
    const wal = await openSegmentedWal(dir, { maxSegmentBytes: options.maxSegmentBytes, fs: options.fs });
    return new LocalLog(wal, options, wal.lastIndex);
  }

  get committedIndex(): number {
    return this.last;
  }

  get failure(): Error | undefined {
    return this.committer.failure;
  }

  onFailure(listener: (failure: Error) => void): void {
    this.committer.onStop(listener);
  }

  /** Resolves once the entry is durable: on a single member that is committed. */
  propose(requestId: bigint, command: Command): Promise<void> {
    if (this.closed) return Promise.reject(new EtcdError('stopped'));
    return this.committer.submit({ requestId, command }).catch((e: unknown) => {
      throw e instanceof GroupCommitFullError ? new EtcdError('tooManyRequests') : e;
    });
  }

  async *follow(fromIndex: number): AsyncGenerator<readonly LogEntry[]> {
    this.followers++;
    try {
      yield* followCommitted(this, fromIndex, this.options.follow);
    } finally {
      if (--this.followers === 0) this.followersDone?.();
    }
  }

  /** Every acknowledged write is committed, and a single member's commit index is its last entry. */
  readIndex(): Promise<number> {
    if (this.closed) return Promise.reject(new EtcdError('stopped'));
    return Promise.resolve(this.last);
  }

  async *readCommitted(from: number, to: number): AsyncGenerator<LogEntry> {
    // Entries right after the applied state were trimmed, so the engine lost state it had made
    // durable (or is from another data dir). Replaying what is left would silently skip writes.
    const first = this.wal.firstIndex;
    if (first > 0 && from < first) {
      throw new Error(`revision log starts at index ${first}, but the applied state ends at ${from - 1}: entries ${from}..${first - 1} are gone`);
    }
    if (from > to) return;
    for await (const entry of this.wal.readFrom(from)) {
      if (entry.index > to) return;
      yield decodeEntry(entry.index, entry.bytes);
    }
  }

  subscribe(listener: CommitListener): () => void {
    if (this.ended) {
      listener.ended();
      return () => undefined;
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Entries commit only once synced, so whatever was applied is already durable. */
  written(): Promise<void> {
    return Promise.resolve();
  }

  persistedUpTo(index: number): void {
    if (this.closed || this.trimming || this.committer.failure !== undefined) return;
    // The WAL deletes whole segments only, so this is a cheap no-op until one lies entirely below.
    this.trimming = true;
    void this.wal
      .truncateBefore(index - this.options.retainEntries)
      // A failed removal or directory fsync leaves the directory in a state the page cache may
      // misreport (the WAL has stopped too): fail-stop, as for a failed append.
      .catch((err: unknown) => {
        if (!this.closed) this.committer.fail(err);
      })
      .finally(() => (this.trimming = false));
  }

  close(): Promise<void> {
    this.closed = true;
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    await this.committer.drain();
    this.ended = true;
    for (const l of [...this.listeners]) l.ended();
    this.listeners.clear();
    // A follower that fell behind reads the rest back from the WAL, so it stays open until they finish.
    if (this.followers > 0) await new Promise<void>((resolve) => (this.followersDone = resolve));
    await this.wal.close();
  }

  private async writeBatch(batch: readonly Proposal[]): Promise<void> {
    const entries: LogEntry[] = batch.map((p, i) => ({
      index: this.last + 1 + i,
      term: this.term,
      requestId: p.requestId,
      command: p.command,
    }));
    await this.wal.append(
      entries.map((e) => ({ index: e.index, bytes: encodeEntry(e) })),
      this.options.fsync,
    );
    this.last += entries.length;
    for (const l of this.listeners) l.committed(entries);
  }
}
