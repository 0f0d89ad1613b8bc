// What the store reads back from its engine at start-up: the applied mark, the compaction point, the
// leases, and every record, loaded into the shards that own them. The log is replayed from there.
import type { Engine } from '../engines/engine.js';
import type { ShardSet } from './shard-set.js';
import { decodeRecord, type KvRecord } from '../mvcc/kv-record.js';
import type { LeaseLedger } from '../actors/lease-table-ports.js';
import {
  APPLIED_KEY,
  COMPACT_KEY,
  LEASE_END,
  LEASE_PREFIX,
  RECORD_END,
  RECORD_PREFIX,
  decodeApplied,
  decodeLeaseTtl,
  decodeRevision,
  leaseIdOf,
  recordSubOf,
} from './storage-keys.js';

/** Records sent to a shard per message while loading at start-up. */
const loadChunkRecords = 10_000;

export interface PersistedMarks {
  /** The last log entry the engine's state includes (0: none). */
  readonly appliedIndex: number;
  readonly revision: number;
  /** -1 before any compaction. */
  readonly compactRevision: number;
}

/** Loads the engine's state into the shards and the lease table (its updates may still be on their way: LeaseLedger.flush); returns where it stands. */
export async function loadPersistedState(engine: Engine, shards: ShardSet, leases: Pick<LeaseLedger, 'restore' | 'attach'>): Promise<PersistedMarks> {
  const applied = await engine.get(APPLIED_KEY);
  const mark = applied === undefined ? { index: 0, revision: 1 } : decodeApplied(applied);
  const compact = await engine.get(COMPACT_KEY);
  // Stored as compactRev + 1 so that "never compacted" (-1) needs no special encoding.
  const compactRevision = compact === undefined ? -1 : decodeRevision(compact) - 1;
  for await (const pairs of engine.iterateBatches({ gte: LEASE_PREFIX, lt: LEASE_END })) {
    for (const [key, value] of pairs) leases.restore(leaseIdOf(key), decodeLeaseTtl(value));
  }
  await loadRecords(engine, shards, leases);
  return { appliedIndex: mark.index, revision: mark.revision, compactRevision };
}

/** Loads every record into its shard, and attaches each key's live record to its lease. */
async function loadRecords(engine: Engine, shards: ShardSet, leases: Pick<LeaseLedger, 'attach'>): Promise<void> {
  const chunks: KvRecord[][] = Array.from({ length: shards.count }, () => []);
  // Records come in revision order, so the last one seen per key is its live one.
  const leaseOfKey = new Map<string, bigint>();
  const flush = async (s: number): Promise<void> => {
    const records = chunks[s]!;
    chunks[s] = [];
    if (records.length > 0) await shards.shard(s).ask({ type: 'load', records });
  };
  for await (const pairs of engine.iterateBatches({ gte: RECORD_PREFIX, lt: RECORD_END })) {
    for (const [key, value] of pairs) {
      const record = decodeRecord(value, recordSubOf(key));
      if (record.lease !== 0n && !record.tombstone) leaseOfKey.set(record.key, record.lease);
      else leaseOfKey.delete(record.key);
      const s = shards.shardOf(record.key);
      chunks[s]!.push(record);
      if (chunks[s]!.length >= loadChunkRecords) await flush(s);
    }
  }
  for (let s = 0; s < shards.count; s++) await flush(s);
  for (const [key, lease] of leaseOfKey) leases.attach(lease, key);
}
