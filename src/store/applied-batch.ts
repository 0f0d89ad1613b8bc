// What the store publishes after applying each batch of the revision log: every change in revision
// order (main, then sub-revision) with the record it replaced. Watch hubs and
// metrics consume this stream; it is the only way they learn of writes.
import type { RecordChange } from '../mvcc/key-history-index.js';

/** A put or a tombstone with the key's live record at the revision before it (prev_kv). */
export type AppliedChange = RecordChange;

export interface AppliedBatch {
  readonly changes: readonly AppliedChange[];
  /** The store's revision once the batch is applied. */
  readonly revision: number;
  /** History below this revision is gone (-1 before any compaction). */
  readonly compactRevision: number;
}
