// Lattice's engine state (src/store/storage-keys.ts) as the buckets of etcd 3.4's bbolt file, in
// the order bbolt keeps them, for the bbolt writer to stream: one pass over one engine view.
//
//   engine                          etcd bucket
//   k<main><sub> → flag|KeyValue    key:   <main>_<sub>[t] → mvccpb.KeyValue (a tombstone carries the key only)
//   l<id>        → TTL              lease: <id> → leasepb.Lease{ID, TTL}
//   m/applied, m/compact            meta:  consistent_index, scheduled/finishedCompactRev (revision bytes)
//   _alarm/<member><type>           alarm: etcdserverpb.AlarmMember → (empty)
//   a/enabled, a/revision           auth:  authEnabled, authRevision
//   a/role/<name>, a/user/<name>    authRoles, authUsers: authpb.Role / authpb.User (the same bytes)
//   (membership)                    members, cluster
import { KeyValue } from '../gen/etcd/mvcc/mvccpb/kv.js';
import type { Member } from '../cluster/member.js';
import {
  encodeBigEndianU64,
  encodeRevisionKey,
  etcdBuckets,
  revisionKeyBytes,
  revisionKeySeparator,
  revisionKeyTombstoneMark,
  etcdMetaKeys,
  type EntrySource,
  type WriteEntry,
} from '../bbolt/index.js';
import { APPLIED_KEY, COMPACT_KEY, LEASE_PREFIX, RECORD_PREFIX, decodeApplied, decodeLeaseTtl, decodeRevision, leaseIdOf } from '../store/storage-keys.js';
import { AUTH_PREFIX } from '../auth/auth-state.js';
import { AlarmMember } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { ALARM_PREFIX, alarmOfKey } from '../maintenance/alarm-table.js';
import { etcdInitialAuthRevision, toEtcdAuthEntry } from '../auth/etcd-auth-buckets.js';
import type { EngineCursor } from './engine-cursor.js';
import { encodeLeaseKey, encodeLeaseValue } from './lease-value.js';
import { encodeMemberKey, encodeMemberValue } from './member-value.js';

/** What the image holds, known once the writer has consumed every bucket. */
export interface ImageSummary {
  /** The revision of the store the image is of (its applied mark). */
  revision: number;
  /** -1 when never compacted. */
  compactRevision: number;
  appliedIndex: number;
  records: number;
  leases: number;
}

export interface ImageSources {
  readonly cursor: EngineCursor;
  readonly members: readonly Member[];
  /** etcd's cluster version (the `cluster` bucket's clusterVersion). */
  readonly clusterVersion: string;
}

const encoder = new TextEncoder();
const metaPrefix = Buffer.from('m/');
const tombstoneFlag = 1;

/** The top-level buckets, in bbolt's (bytewise) order; `summary` is filled as they are written. */
export function* etcdImageBuckets(sources: ImageSources, summary: ImageSummary): Generator<WriteEntry> {
  const bucket = (key: Uint8Array, entries: EntrySource): WriteEntry => ({ kind: 'bucket', key, entries });
  yield bucket(etcdBuckets.alarm, alarmBucket(sources.cursor));
  // The engine holds a/enabled < a/revision < a/role/… < a/user/…, so one run of the cursor serves
  // the three auth buckets; roles and users wait in memory for their bucket (etcd holds them all too).
  const auth: AuthRuns = { roles: [], users: [] };
  yield bucket(etcdBuckets.auth, authBucket(sources.cursor, auth));
  yield bucket(etcdBuckets.authRoles, later(auth.roles));
  yield bucket(etcdBuckets.authUsers, later(auth.users));
  yield bucket(etcdBuckets.cluster, [{ kind: 'value', key: encoder.encode('clusterVersion'), value: encoder.encode(sources.clusterVersion) }]);
  yield bucket(etcdBuckets.key, keyBucket(sources.cursor, summary));
  yield bucket(etcdBuckets.lease, leaseBucket(sources.cursor, summary));
  yield bucket(etcdBuckets.members, membersBucket(sources.members));
  yield bucket(etcdBuckets.membersRemoved, []);
  yield bucket(etcdBuckets.meta, metaBucket(sources.cursor, summary));
}

async function* alarmBucket(cursor: EngineCursor): AsyncGenerator<WriteEntry> {
  const alarms: WriteEntry[] = [];
  for await (const [key] of cursor.take(ALARM_PREFIX)) {
    alarms.push({ kind: 'value', key: AlarmMember.encode(alarmOfKey(key)).finish(), value: new Uint8Array(0) });
  }
  // etcd's key is the AlarmMember's protobuf, whose byte order is not the engine's: a few at most.
  yield* alarms.sort((a, b) => Buffer.compare(a.key, b.key));
}

interface AuthRuns {
  readonly roles: WriteEntry[];
  readonly users: WriteEntry[];
}

async function* authBucket(cursor: EngineCursor, runs: AuthRuns): AsyncGenerator<WriteEntry> {
  let revision: WriteEntry | undefined;
  for await (const [key, value] of cursor.take(AUTH_PREFIX)) {
    const target = toEtcdAuthEntry(key);
    if (target === undefined) continue;
    const entry: WriteEntry = { kind: 'value', key: target.key, value };
    if (target.bucket === 'authRoles') runs.roles.push(entry);
    else if (target.bucket === 'authUsers') runs.users.push(entry);
    // authEnabled < authRevision: the revision is held back until the enabled flag has gone out.
    else if (target.key.toString() === 'authRevision') revision = entry;
    else yield entry;
  }
  if (revision === undefined) {
    const [key, value] = etcdInitialAuthRevision();
    revision = { kind: 'value', key, value };
  }
  yield revision;
}

/** The entries of `run` as they are when the writer reaches them. */
function* later(run: readonly WriteEntry[]): Generator<WriteEntry> {
  yield* run;
}

async function* keyBucket(cursor: EngineCursor, summary: ImageSummary): AsyncGenerator<WriteEntry[]> {
  for await (const pairs of cursor.takeRuns(RECORD_PREFIX)) {
    // The run's revision keys share one buffer: an allocation per key (and two native copies into
    // it) was a tenth of a save's image build.
    let keyBytes = 0;
    for (let i = 0; i < pairs.length; i++) keyBytes += revisionKeyBytes + (pairs[i]![1][0] === tombstoneFlag ? 1 : 0);
    const keys = Buffer.allocUnsafe(keyBytes);
    let at = 0;
    const run: WriteEntry[] = new Array<WriteEntry>(pairs.length);
    for (let i = 0; i < pairs.length; i++) {
      const [key, value] = pairs[i]!;
      const tombstone = value[0] === tombstoneFlag;
      const body = value.subarray(1);
      const end = writeRevisionKeyOfRecord(key, tombstone, keys, at);
      run[i] = {
        kind: 'value',
        key: keys.subarray(at, end),
        // etcd's tombstone is a KeyValue with the key alone (mvcc/kvstore_txn.go delete).
        value: tombstone ? KeyValue.encode(KeyValue.fromPartial({ key: KeyValue.decode(body).key })).finish() : body,
      };
      at = end;
    }
    summary.records += pairs.length;
    yield run;
  }
}

/**
 * Writes etcd's revision key (layout in bbolt/etcd-layout.ts) of the engine's record key k<main><sub>
 * into out at `at`, returning where it ends: the same two big-endian u64s, so bytes are copied
 * rather than decoded and encoded (the hot loop of a save), in JS (16 bytes: cheaper than a native
 * copy call).
 */
function writeRevisionKeyOfRecord(recordKey: Buffer, tombstone: boolean, out: Buffer, at: number): number {
  for (let i = 0; i < 8; i++) out[at + i] = recordKey[1 + i]!;
  out[at + 8] = revisionKeySeparator;
  for (let i = 0; i < 8; i++) out[at + 9 + i] = recordKey[9 + i]!;
  if (!tombstone) return at + revisionKeyBytes;
  out[at + revisionKeyBytes] = revisionKeyTombstoneMark;
  return at + revisionKeyBytes + 1;
}

async function* leaseBucket(cursor: EngineCursor, summary: ImageSummary): AsyncGenerator<WriteEntry> {
  for await (const [key, value] of cursor.take(LEASE_PREFIX)) {
    const id = leaseIdOf(key);
    summary.leases++;
    yield { kind: 'value', key: encodeLeaseKey(id), value: encodeLeaseValue({ id, ttlSeconds: BigInt(decodeLeaseTtl(value)), remainingTtlSeconds: 0n }) };
  }
}

function* membersBucket(members: readonly Member[]): Generator<WriteEntry> {
  const sorted = members.map((m) => ({ key: encodeMemberKey(m.id), value: encodeMemberValue(m) })).sort((a, b) => Buffer.compare(a.key, b.key));
  for (const m of sorted) yield { kind: 'value', ...m };
}

async function* metaBucket(cursor: EngineCursor, summary: ImageSummary): AsyncGenerator<WriteEntry> {
  for await (const [key, value] of cursor.take(metaPrefix)) {
    if (key.equals(APPLIED_KEY)) {
      const mark = decodeApplied(value);
      summary.appliedIndex = mark.index;
      summary.revision = mark.revision;
    } else if (key.equals(COMPACT_KEY)) {
      summary.compactRevision = decodeRevision(value) - 1;
    }
  }
  await cursor.close();
  // In bbolt's order: consistent_index < finishedCompactRev < scheduledCompactRev.
  yield { kind: 'value', key: etcdMetaKeys.consistentIndex, value: encodeBigEndianU64(BigInt(summary.appliedIndex)) };
  if (summary.compactRevision > 0) {
    const compacted = encodeRevisionKey({ main: BigInt(summary.compactRevision), sub: 0n, tombstone: false });
    yield { kind: 'value', key: etcdMetaKeys.finishedCompactRev, value: compacted };
    yield { kind: 'value', key: etcdMetaKeys.scheduledCompactRev, value: compacted };
  }
}
