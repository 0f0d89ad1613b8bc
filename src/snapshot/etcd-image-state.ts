// The inverse of etcd-image-buckets.ts: the buckets of an etcd 3.4/3.5 snapshot file as the
// engine's state stream pairs (src/store/storage-keys.ts), read bucket by bucket in key order, in
// bounded memory. Every key at every revision the file holds, tombstones, leases, and the marks.
import { KeyValue } from '../gen/etcd/mvcc/mvccpb/kv.js';
import { decodeRevisionKey, decodeRevisionKeyNumbers, etcdBuckets, etcdMetaKeys, type BboltReader, type BucketRef } from '../bbolt/index.js';
import { keyText as keyTextOf } from '../bbolt/key-text.js';
import { encodeRecord } from '../mvcc/kv-record.js';
import { toKey } from '../core/keys.js';
import type { StatePair } from '../engines/state-stream.js';
import { APPLIED_KEY, COMPACT_KEY, RECORD_PREFIX, encodeApplied, encodeLeaseTtl, encodeRevision, leaseKey } from '../store/storage-keys.js';

/** 'k' + main u64 + sub u64 (storage-keys.ts recordKey). */
const recordKeyBytes = 17;
import { fromEtcdAuthEntry, type EtcdAuthBucket } from '../auth/etcd-auth-buckets.js';
import { decodeLeaseValue } from './lease-value.js';
import { SnapshotRestoreError } from './snapshot-errors.js';

export interface RestoredImage {
  /** The store's revision: the highest in the key bucket, or the compaction point if higher. */
  revision: number;
  /** -1 when the file records no compaction. */
  compactRevision: number;
  records: number;
  leases: number;
}

export interface EtcdImageBuckets {
  readonly key: BucketRef;
  readonly meta: BucketRef;
  readonly lease: BucketRef | undefined;
  readonly auth: Readonly<Record<EtcdAuthBucket, BucketRef | undefined>>;
  readonly alarm: BucketRef | undefined;
}

/** The buckets a restore needs; refuses a bbolt file that is not etcd's. */
export async function findEtcdBuckets(reader: BboltReader): Promise<EtcdImageBuckets> {
  const key = await reader.bucket(etcdBuckets.key);
  const meta = await reader.bucket(etcdBuckets.meta);
  if (key === undefined || meta === undefined) {
    const missing = [key === undefined ? 'key' : '', meta === undefined ? 'meta' : ''].filter((n) => n !== '').join(' and ');
    throw new SnapshotRestoreError('not-etcd', `not an etcd snapshot: the bbolt file has no ${missing} bucket`);
  }
  return {
    key,
    meta,
    lease: await reader.bucket(etcdBuckets.lease),
    alarm: await reader.bucket(etcdBuckets.alarm),
    auth: {
      auth: await reader.bucket(etcdBuckets.auth),
      authUsers: await reader.bucket(etcdBuckets.authUsers),
      authRoles: await reader.bucket(etcdBuckets.authRoles),
    },
  };
}

const liveFlag = 0;

/** The engine's k<main><sub> from etcd's <main>_<sub>[t]: the same big-endian u64s, copied. */
function recordKeyOfRevision(revisionKey: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(recordKeyBytes);
  out.set(RECORD_PREFIX, 0);
  out.set(revisionKey.subarray(0, 8), 1);
  out.set(revisionKey.subarray(9, 17), 9);
  return out;
}

/** The engine pairs of the image; `image` is complete once the iteration has ended. */
export async function* engineStateOfEtcdImage(reader: BboltReader, buckets: EtcdImageBuckets, image: RestoredImage): AsyncGenerator<StatePair> {
  for await (const run of engineRunsOfEtcdImage(reader, buckets, image)) yield* run;
}

/**
 * engineStateOfEtcdImage in runs (about a leaf page of the file each), so that a restore pays one
 * await per page rather than per pair; `image` is complete once the iteration has ended.
 */
export async function* engineRunsOfEtcdImage(reader: BboltReader, buckets: EtcdImageBuckets, image: RestoredImage): AsyncGenerator<StatePair[]> {
  const compact = await compactRevisionOf(reader, buckets.meta);
  let maxMain = 0;
  for await (const entries of reader.entryRuns(buckets.key)) {
    const run = new Array<StatePair>(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      if (entry.kind !== 'value') throw new SnapshotRestoreError('bad-entry', `the key bucket holds a bucket ${keyTextOf(entry.key)}`);
      const key = entry.key;
      const rev = decodeRevisionKeyNumbers(key);
      if (rev === undefined) throw new SnapshotRestoreError('bad-entry', `the key bucket holds ${keyTextOf(entry.key)}, not a revision`);
      const { main, sub, tombstone } = rev;
      if (main > maxMain) maxMain = main;
      let value: Buffer;
      if (tombstone) {
        // etcd's tombstone carries the key alone; Lattice's says at which revision the key was deleted.
        const kv = KeyValue.decode(entry.value);
        value = encodeRecord({ key: toKey(kv.key), value: Buffer.alloc(0), createRevision: 0, modRevision: main, sub, version: 0, lease: 0n, tombstone: true });
      } else {
        // Lattice keeps etcd's KeyValue bytes as they are, behind its flag byte.
        value = Buffer.allocUnsafe(entry.value.length + 1);
        value[0] = liveFlag;
        value.set(entry.value, 1);
      }
      run[i] = [recordKeyOfRevision(key), value];
    }
    image.records += run.length;
    yield run;
  }
  const rest: StatePair[] = [];
  if (buckets.lease !== undefined) {
    for await (const entry of reader.entries(buckets.lease)) {
      const lease = entry.kind === 'value' ? decodeLeaseValue(entry.value) : undefined;
      if (lease === undefined || lease.id === 0n) throw new SnapshotRestoreError('bad-entry', `the lease bucket holds ${keyTextOf(entry.key)}, not a lease`);
      image.leases++;
      rest.push([leaseKey(lease.id), encodeLeaseTtl(Number(lease.ttlSeconds))]);
      if (rest.length >= restRunPairs) yield rest.splice(0);
    }
  }
  // Users, roles and the auth flag and revision: the same protobuf bytes under Lattice's keys.
  for (const name of ['auth', 'authUsers', 'authRoles'] as const) {
    const bucket = buckets.auth[name];
    if (bucket === undefined) continue;
    for await (const entry of reader.entries(bucket)) {
      const key = entry.kind === 'value' ? fromEtcdAuthEntry(name, entry.key) : undefined;
      if (entry.kind === 'value' && key !== undefined) rest.push([key, Buffer.from(entry.value)]);
      if (rest.length >= restRunPairs) yield rest.splice(0);
    }
  }
  // Raised alarms (a NOSPACE stays raised after the move, as it does in a restored etcd). Their
  // decoders are loaded only for a file that has some: the generated rpc module takes a good part of
  // a small restore's start-up.
  if (buckets.alarm !== undefined) {
    for await (const entry of reader.entries(buckets.alarm)) {
      if (entry.kind !== 'value') continue;
      const [{ AlarmMember }, { alarmKey }] = await Promise.all([import('../gen/etcd/etcdserver/etcdserverpb/rpc.js'), import('../maintenance/alarm-table.js')]);
      let member: { readonly memberID: bigint; readonly alarm: number };
      try {
        member = AlarmMember.decode(entry.key);
      } catch {
        throw new SnapshotRestoreError('bad-entry', `the alarm bucket holds ${keyTextOf(entry.key)}, not an alarm`);
      }
      rest.push([alarmKey(member.memberID, member.alarm), Buffer.alloc(0)]);
    }
  }
  image.compactRevision = compact;
  image.revision = Math.max(maxMain, compact, 1);
  // Applied index 0: the restored member's Raft log starts afresh at its bootstrap entries.
  rest.push([APPLIED_KEY, encodeApplied({ index: 0, revision: image.revision })]);
  // Lattice stores compactRev + 1 (see persisted-state.ts).
  if (compact > 0) rest.push([COMPACT_KEY, encodeRevision(compact + 1)]);
  yield rest;
}

/** Pairs of the small buckets (leases, auth) gathered into one run. */
const restRunPairs = 1024;

/**
 * The compaction point etcd would stand at once started from the file: the scheduled compaction if it
 * was not finished (etcd resumes it), else the finished one. Reads at or above it answer the same
 * either way; below it they are compacted.
 */
async function compactRevisionOf(reader: BboltReader, meta: BucketRef): Promise<number> {
  let compact = -1;
  for (const name of [etcdMetaKeys.finishedCompactRev, etcdMetaKeys.scheduledCompactRev]) {
    const entry = await reader.get(meta, name);
    if (entry === undefined) continue;
    const rev = entry.kind === 'value' ? decodeRevisionKey(entry.value) : undefined;
    if (rev === undefined) throw new SnapshotRestoreError('bad-entry', `meta ${keyTextOf(name)} is not a revision`);
    compact = Math.max(compact, Number(rev.main));
  }
  return compact;
}
