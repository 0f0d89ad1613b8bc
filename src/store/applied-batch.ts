// What the store publishes after applying each batch of the revision log: every change in revision
// order (main, then sub-revision) with the record it replaced. Watch hubs, the lease table and
// metrics consume this stream; it is the only way they learn of writes.
import type { KvRecord } from '../mvcc/kv-record.js';

export interface AppliedChange {
  /** A put, or a tombstone for a delete. */
  readonly record: KvRecord;
  /** The key's record before this change (prev_kv), undefined when the key did not exist. */
  readonly prev: KvRecord | undefined;
}

export interface AppliedBatch {
  readonly changes: readonly AppliedChange[];
  /** The store's revision once the batch is applied. */
  readonly revision: number;
  /** History below this revision is gone (-1 before any compaction). */
  readonly compactRevision: number;
}
