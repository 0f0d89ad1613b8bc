// `lattice snapshot status`: what etcdctl snapshot status reports of a snapshot file
// (clientv3/snapshot v3_snapshot.go Status): a CRC-32C over every bucket name, key and value, the
// highest revision in the key bucket, the count of keys in all buckets, and the bbolt file's size.
import { BboltReader, decodeRevisionKey, etcdBuckets } from '../bbolt/index.js';
import { crc32c } from '../jobs/hash-kv-task.js';

export interface SnapshotStatus {
  readonly hash: number;
  readonly revision: bigint;
  readonly totalKeys: number;
  readonly totalSizeBytes: number;
}

export async function snapshotStatus(path: string): Promise<SnapshotStatus> {
  const reader = await BboltReader.open(path);
  try {
    let hash = 0;
    let revision = 0n;
    let totalKeys = 0;
    for await (const top of reader.entries(reader.root)) {
      if (top.kind !== 'bucket') continue;
      hash = crc32c(top.key, hash);
      const isKeyBucket = Buffer.compare(top.key, etcdBuckets.key) === 0;
      // bbolt's ForEach yields nested buckets with a nil value; etcd's buckets hold none.
      for await (const entry of reader.entries(top.bucket)) {
        hash = crc32c(entry.key, hash);
        if (entry.kind === 'value') hash = crc32c(entry.value, hash);
        if (isKeyBucket) revision = decodeRevisionKey(entry.key)?.main ?? revision;
        totalKeys++;
      }
    }
    return { hash, revision, totalKeys, totalSizeBytes: reader.meta.highWaterPgid * reader.meta.pageSize };
  } finally {
    await reader.close();
  }
}

/** go-humanize's Bytes (SI units), as etcdctl prints the size. */
export function humanizeBytes(bytes: number): string {
  if (bytes < 10) return `${bytes} B`;
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const e = Math.floor(Math.log(bytes) / Math.log(1000));
  const value = Math.floor((bytes / 1000 ** e) * 10 + 0.5) / 10;
  return `${value < 10 ? value.toFixed(1) : value.toFixed(0)} ${units[e]}`;
}

/** etcdctl's table rows for a status: hash in hex, revision, keys, humanized size. */
export function statusRow(s: SnapshotStatus): string[] {
  return [s.hash.toString(16), s.revision.toString(), String(s.totalKeys), humanizeBytes(s.totalSizeBytes)];
}
