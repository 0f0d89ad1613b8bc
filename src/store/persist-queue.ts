// The applied state on its way to the engine. Each applied batch's ops are gathered and written a
// few milliseconds later as one engine batch with one applied mark, or at once when a synced batch
// is due or much is pending. One client's puts come one batch at a time, each a whole round trip
// after the last: written one by one, every put paid an engine write of its own (a RocksDB write
// on the JS thread, a trip through the thread pool for the memory engine's WAL).
//
// Callers are not answered later for it. Reads are served from the key index; a snapshot waits
// until the engine's applied mark reaches what it must hold; Maintenance.Hash drains the queue first
// (as etcd commits its backend before hashing); a Raft snapshot's state is any consistent point at
// or past the synced one. The log's trimming waits for synced batches, and applying waits only when
// too many writes are in flight. Nothing is lost by waiting: the log keeps every entry until a
// synced batch covers it (persistedUpTo), and start-up replays what the engine lacks.
import { systemTimers } from '../core/timers.js';
import type { Engine, WriteOp } from '../engines/engine.js';
import type { RevisionLog } from '../log/revision-log.js';
import { APPLIED_KEY, COMPACT_KEY, encodeApplied, encodeRevision } from './storage-keys.js';

/** How long applied state may wait to be gathered with later batches. */
export const persistDelayMs = 10;
/** Pending ops, or bytes of keys and values, that are written at once rather than gathered further. */
const maxPendingOps = 8192;
const maxPendingBytes = 16 * 1024 * 1024;
/** Engine writes in flight before the caller is asked to wait (the store then stops applying). */
const maxWritesInFlight = 64;

export interface PersistMarks {
  /** Log index of the last entry the ops apply. */
  readonly index: number;
  readonly revision: number;
  /** Set when the batch compacted: the compaction point to store. */
  readonly compactRevision?: number;
}

export interface PersistQueueOptions {
  readonly engine: Engine;
  readonly log: Pick<RevisionLog, 'written' | 'persistedUpTo'>;
  /** Applied index of the last batch written with sync (or loaded at open). */
  readonly syncedIndex: number;
  /** Log entries between batches written with sync. */
  readonly syncedEveryEntries: number;
  /** A write failed: the store stops. Nothing more is written after it. */
  readonly onFailure: (e: unknown) => void;
}

export class PersistQueue {
  private pending: WriteOp[] = [];
  private pendingBytes = 0;
  private marks: PersistMarks | undefined;
  private compactRevision: number | undefined;
  private syncedIndex: number;
  private cancelTimer: (() => void) | undefined;
  private writing: Promise<void> = Promise.resolve();
  /** Each write still on its way to the engine, oldest first (they land in this order). */
  private readonly inFlight: Promise<void>[] = [];
  private failed = false;

  constructor(private readonly o: PersistQueueOptions) {
    this.syncedIndex = o.syncedIndex;
  }

  /**
   * Takes an applied batch's ops (in apply order) and marks. Returns a promise to wait for when too
   * many writes are in flight (the oldest one), undefined otherwise.
   */
  add(ops: readonly WriteOp[], marks: PersistMarks): Promise<void> | undefined {
    if (this.failed) return undefined;
    for (const op of ops) {
      this.pending.push(op);
      this.pendingBytes += opBytes(op);
    }
    this.marks = marks;
    if (marks.compactRevision !== undefined) this.compactRevision = marks.compactRevision;
    if (marks.index - this.syncedIndex >= this.o.syncedEveryEntries || this.pending.length >= maxPendingOps || this.pendingBytes >= maxPendingBytes) this.flush();
    else this.cancelTimer ??= systemTimers.after(persistDelayMs, () => this.flush());
    return this.inFlight.length > maxWritesInFlight ? this.inFlight[0] : undefined;
  }

  /** Writes nothing more (the store stopped on a failure elsewhere). */
  stop(): void {
    this.failed = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  /** Writes what is pending now; resolves once every write so far has landed (or failed). */
  drain(): Promise<void> {
    this.flush();
    return this.writing;
  }

  private flush(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    const marks = this.marks;
    if (marks === undefined || this.failed) return;
    const ops = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.marks = undefined;
    // Stored as compactRev + 1 so that "never compacted" (-1) needs no special encoding.
    if (this.compactRevision !== undefined) ops.push({ type: 'put', key: COMPACT_KEY, value: encodeRevision(this.compactRevision + 1) });
    this.compactRevision = undefined;
    ops.push({ type: 'put', key: APPLIED_KEY, value: encodeApplied({ index: marks.index, revision: marks.revision }) });
    const sync = marks.index - this.syncedIndex >= this.o.syncedEveryEntries;
    if (sync) this.syncedIndex = marks.index;
    // Asked now, while everything up to marks.index is written to the log: the state may reach the
    // disk only once those entries are durable there (the quorum and async modes sync them later).
    const logWritten = this.o.log.written();
    this.writing = this.writing
      .then(async () => {
        await logWritten;
        // After a failed batch nothing later may land: its applied mark would cover the lost one.
        if (this.failed) return;
        await this.o.engine.write(ops, { sync });
        if (sync) this.o.log.persistedUpTo(marks.index);
      })
      .catch((e: unknown) => {
        this.failed = true;
        this.o.onFailure(e);
      })
      .finally(() => void this.inFlight.shift());
    this.inFlight.push(this.writing);
  }
}

function opBytes(op: WriteOp): number {
  switch (op.type) {
    case 'put':
      return op.key.length + op.value.length;
    case 'del':
      return op.key.length;
    case 'delRange':
      return op.gte.length + op.lt.length;
  }
}
