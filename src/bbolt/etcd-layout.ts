// etcd 3.4's bucket layout inside its bbolt file (mvcc/backend, mvcc/kvstore.go, lease, auth,
// membership, alarm), and its revision keys.

const encoder = new TextEncoder();

/** The buckets etcd creates, by their names as bytes. */
export const etcdBuckets = {
  key: encoder.encode('key'),
  meta: encoder.encode('meta'),
  lease: encoder.encode('lease'),
  alarm: encoder.encode('alarm'),
  auth: encoder.encode('auth'),
  authUsers: encoder.encode('authUsers'),
  authRoles: encoder.encode('authRoles'),
  cluster: encoder.encode('cluster'),
  members: encoder.encode('members'),
  membersRemoved: encoder.encode('members_removed'),
} as const;

/** Keys of the `meta` bucket. */
export const etcdMetaKeys = {
  consistentIndex: encoder.encode('consistent_index'),
  scheduledCompactRev: encoder.encode('scheduledCompactRev'),
  finishedCompactRev: encoder.encode('finishedCompactRev'),
} as const;

/** main (8 bytes, big-endian) | '_' | sub (8 bytes, big-endian), then 't' for a tombstone. */
export const revisionKeyBytes = 17;
export const revisionKeyTombstoneMark = 0x74; // 't'
export const revisionKeySeparator = 0x5f; // '_'

export interface RevisionKey {
  readonly main: bigint;
  readonly sub: bigint;
  readonly tombstone: boolean;
}

export function encodeRevisionKey(key: RevisionKey): Uint8Array {
  const bytes = new Uint8Array(revisionKeyBytes + (key.tombstone ? 1 : 0));
  const data = new DataView(bytes.buffer);
  data.setBigUint64(0, key.main, false);
  bytes[8] = revisionKeySeparator;
  data.setBigUint64(9, key.sub, false);
  if (key.tombstone) bytes[revisionKeyBytes] = revisionKeyTombstoneMark;
  return bytes;
}

/** Whether `bytes` has a revision key's shape: undefined if not, else whether it marks a tombstone. */
function revisionKeyTombstone(bytes: Uint8Array): boolean | undefined {
  const marked = bytes.length === revisionKeyBytes + 1;
  if ((bytes.length !== revisionKeyBytes && !marked) || bytes[8] !== revisionKeySeparator) return undefined;
  if (marked && bytes[revisionKeyBytes] !== revisionKeyTombstoneMark) return undefined;
  return marked;
}

/** The revision in a `key` bucket key, or undefined when the key has another shape. */
export function decodeRevisionKey(bytes: Uint8Array): RevisionKey | undefined {
  const tombstone = revisionKeyTombstone(bytes);
  if (tombstone === undefined) return undefined;
  const data = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { main: data.getBigInt64(0, false), sub: data.getBigInt64(9, false), tombstone };
}

/**
 * decodeRevisionKey in numbers, for a restore's hot loop (a bigint per key was most of it): also
 * undefined when main or sub is past 2^53 - 1, negative as etcd's int64 included.
 */
export function decodeRevisionKeyNumbers(bytes: Uint8Array): { readonly main: number; readonly sub: number; readonly tombstone: boolean } | undefined {
  const tombstone = revisionKeyTombstone(bytes);
  if (tombstone === undefined) return undefined;
  const main = safeU64At(bytes, 0);
  const sub = safeU64At(bytes, 9);
  return main === undefined || sub === undefined ? undefined : { main, sub, tombstone };
}

/** The big-endian u64 at `at` as a number, or undefined past 2^53 - 1. */
function safeU64At(bytes: Uint8Array, at: number): number | undefined {
  const high = ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
  const low = ((bytes[at + 4]! << 24) | (bytes[at + 5]! << 16) | (bytes[at + 6]! << 8) | bytes[at + 7]!) >>> 0;
  if (high >= 0x200000) return undefined;
  return high * 0x1_0000_0000 + low;
}

/** An 8-byte big-endian u64, as etcd stores the numbers of the `meta` bucket. */
export function encodeBigEndianU64(value: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, value, false);
  return bytes;
}

export function decodeBigEndianU64(bytes: Uint8Array): bigint | undefined {
  if (bytes.length !== 8) return undefined;
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, false);
}
