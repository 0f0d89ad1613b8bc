// Single-member revision log: proposals made in the same turn of the event loop are written as one
// batch with one fsync (group commit); while a batch is on its way to disk the next one gathers.
// Entries live in a segmented WAL of their own, not in the engine: its writes and fdatasyncs run on
// the libuv pool, while the engine's synced batch writes (RocksDB) would block the event loop.
import { Subject } from 'rxjs';
import { EtcdError } from '../core/errors.js';
import { decodeEntry, encodeEntry, type Command, type LogEntry } from './command.js';
import type { RevisionLog } from './revision-log.js';
import { defaultMaxSegmentBytes, openSegmentedWal, type SegmentedWal } from './segmented-wal.js';

interface Pending {
  readonly requestId: number;
  readonly command: Command;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
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
}

export const defaultLocalLogOptions: LocalLogOptions = {
  fsync: true,
  maxBatchEntries: 4096,
  maxPendingProposals: 100_000,
  retainEntries: 5_000,
  maxSegmentBytes: defaultMaxSegmentBytes,
};

export class LocalLog implements RevisionLog {
  readonly term = 1;
  private readonly subject = new Subject<readonly LogEntry[]>();
  readonly committed$ = this.subject.asObservable();
  private pending: Pending[] = [];
  private writing = false;
  private closed = false;
  private trimming = false;
  private drained: (() => void) | null = null;

  private constructor(
    private readonly wal: SegmentedWal,
    private readonly options: LocalLogOptions,
    private last: number,
  ) {}

  /** Opens (creating if missing) the log whose WAL segments are in dir. */
  static async open(dir: string, options: LocalLogOptions = defaultLocalLogOptions): Promise<LocalLog> {
    const wal = await openSegmentedWal(dir, { maxSegmentBytes: options.maxSegmentBytes });
    return new LocalLog(wal, options, wal.lastIndex);
  }

  get lastIndex(): number {
    return this.last;
  }

  propose(requestId: number, command: Command): Promise<void> {
    if (this.closed) return Promise.reject(new EtcdError('stopped'));
    if (this.pending.length >= this.options.maxPendingProposals) return Promise.reject(new EtcdError('tooManyRequests'));
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ requestId, command, resolve, reject });
      if (!this.writing) {
        this.writing = true;
        setImmediate(() => void this.writeBatches());
      }
    });
  }

  async *committedAfter(index: number): AsyncIterable<LogEntry> {
    // Entries right after index were trimmed, so the engine lost state it had made durable (or is
    // from another data dir). Replaying what is left would silently skip writes.
    const first = this.wal.firstIndex;
    if (first > 0 && index + 1 < first) {
      throw new Error(`revision log starts at index ${first}, but the applied state ends at ${index}: entries ${index + 1}..${first - 1} are gone`);
    }
    for await (const entry of this.wal.readFrom(index + 1)) yield decodeEntry(entry.index, entry.bytes);
  }

  persistedUpTo(index: number): void {
    if (this.closed || this.trimming) return;
    // The WAL deletes whole segments only, so this is a cheap no-op until one lies entirely below.
    this.trimming = true;
    void this.wal
      .truncateBefore(index - this.options.retainEntries)
      // A failed trim only leaves more log than needed; a later call tries again.
      .catch(() => undefined)
      .finally(() => (this.trimming = false));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.writing) await new Promise<void>((resolve) => (this.drained = resolve));
    await this.wal.close();
    this.subject.complete();
  }

  private async writeBatches(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.options.maxBatchEntries);
      const entries: LogEntry[] = batch.map((p, i) => ({
        index: this.last + 1 + i,
        term: this.term,
        requestId: p.requestId,
        command: p.command,
      }));
      try {
        await this.wal.append(
          entries.map((e) => ({ index: e.index, bytes: encodeEntry(e) })),
          this.options.fsync,
        );
      } catch (e) {
        for (const p of batch) p.reject(e);
        continue;
      }
      this.last += entries.length;
      for (const p of batch) p.resolve();
      this.subject.next(entries);
    }
    this.writing = false;
    this.drained?.();
  }
}
