// etcd-format snapshot files made without a server, for the restore tests: the engine pairs of a
// store written through the same bucket mapping Maintenance.Snapshot uses.
import { writeBboltFile } from '../../src/bbolt/index.js';
import { toKey } from '../../src/core/keys.js';
import { encodeRecord } from '../../src/mvcc/kv-record.js';
import { EngineCursor, type EnginePair } from '../../src/snapshot/engine-cursor.js';
import { etcdImageBuckets, type ImageSummary } from '../../src/snapshot/etcd-image-buckets.js';
import { APPLIED_KEY, encodeApplied, encodeLeaseTtl, leaseKey, recordKey } from '../../src/store/storage-keys.js';

/** One put per revision 2..revisions+1 of key-<n mod keys>, values of valueBytes, one lease. */
function* storePairs(revisions: number, keys: number, valueBytes: number): Generator<EnginePair> {
  const versions = new Map<number, number>();
  for (let i = 0; i < revisions; i++) {
    const rev = i + 2;
    const k = i % keys;
    const version = (versions.get(k) ?? 0) + 1;
    versions.set(k, version);
    const created = version === 1 ? rev : rev - (version - 1) * keys;
    const record = { key: toKey(Buffer.from(`key-${String(k).padStart(8, '0')}`)), value: Buffer.alloc(valueBytes, i % 251), createRevision: created, modRevision: rev, sub: 0, version, lease: 0n, tombstone: false };
    yield [recordKey(rev, 0), encodeRecord(record)];
  }
  yield [leaseKey(7n), encodeLeaseTtl(60)];
  yield [APPLIED_KEY, encodeApplied({ index: revisions + 1, revision: revisions + 1 })];
}

/** storePairs in batches, as an engine's iterateBatches hands them out. */
async function* storeBatches(revisions: number, keys: number, valueBytes: number): AsyncGenerator<EnginePair[]> {
  let batch: EnginePair[] = [];
  for (const pair of storePairs(revisions, keys, valueBytes)) {
    batch.push(pair);
    if (batch.length === 1000) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** Writes an etcd snapshot file (with its sha256 trailer) of storePairs(...). */
export async function writeStoreSnapshot(path: string, revisions: number, keys: number, valueBytes: number): Promise<ImageSummary> {
  const summary: ImageSummary = { revision: 1, compactRevision: -1, appliedIndex: 0, records: 0, leases: 0 };
  const cursor = new EngineCursor(storeBatches(revisions, keys, valueBytes));
  await writeBboltFile(path, etcdImageBuckets({ cursor, members: [], clusterVersion: '3.4.0' }, summary), { snapshotHash: true });
  return summary;
}
