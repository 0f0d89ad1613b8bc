// Maintenance.HashKV over the shards: etcd's HashByRev (mvcc/kvstore.go), CRC-32C over the backend's
// key bucket up to a revision, computed on a job thread.
import { EtcdError } from '../core/errors.js';
import type { HashKvResult } from '../core/kv-api.js';
import type { HashJobs } from '../jobs/job-pool.js';
import { crc32c } from '../jobs/hash-kv-task.js';
import type { KvRecord } from '../mvcc/kv-record.js';
import { byRevision, encodeHashStream } from './hash-kv-stream.js';
import type { ShardSet } from './shard-set.js';

/** HashKV gathers again when a compaction lands meanwhile; after this many tries it gives up. */
const maxHashKvAttempts = 3;

/** Hashes on the calling thread: for stores opened without a job pool (tests of the store alone). */
export const inlineHashJobs: HashJobs = { crc32c: async (bytes) => crc32c(new Uint8Array(bytes)) };

/** Where the store stands now; read again after each await. */
export interface RevisionMarks {
  readonly revision: number;
  /** -1 before any compaction. */
  readonly compactRevision: number;
}

/**
 * The hash at `revision` (0 = current), skipping compacted history that Keep(revision) does not keep.
 * Fails with compacted for 0 < revision <= compact revision, futureRev above the current revision.
 */
export async function hashKv(marks: RevisionMarks, shards: ShardSet, jobs: HashJobs, revision: bigint): Promise<HashKvResult> {
  for (let attempt = 1; ; attempt++) {
    const compactRev = marks.compactRevision;
    const current = marks.revision;
    if (revision > 0n && revision <= BigInt(compactRev)) throw new EtcdError('compacted');
    if (revision > BigInt(current)) throw new EtcdError('futureRev');
    const rev = revision === 0n ? current : Number(revision);
    const records = await hashRecords(shards, rev, compactRev);
    // A compaction applied meanwhile removed records some shards had not yet reported.
    if (marks.compactRevision !== compactRev) {
      if (attempt < maxHashKvAttempts) continue;
      throw new EtcdError('compacted');
    }
    records.sort(byRevision);
    const hash = await jobs.crc32c(encodeHashStream(records));
    return { hash, compactRevision: compactRev, revision: current };
  }
}

/** The records HashByRev hashes at rev, from every shard, in no particular order. */
async function hashRecords(shards: ShardSet, rev: number, compactRev: number): Promise<KvRecord[]> {
  const ask = (includeUnkept: boolean) =>
    Promise.all(Array.from({ length: shards.count }, (_, s) => shards.shard(s).ask({ type: 'hashRecords', rev, compactRev, includeUnkept })));
  let parts = await ask(false);
  // etcd skips compacted revisions outside Keep(rev) only when Keep(rev) is not empty.
  if (compactRev >= 0 && parts.every((p) => p.liveKeys === 0)) parts = await ask(true);
  return parts.flatMap((p) => p.records);
}
