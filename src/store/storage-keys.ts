// Layout of one member's engine. Applied state and its marker are written in one atomic batch; the
// revision log is not in the engine but in its own WAL (src/log/segmented-wal.ts):
//   k<main u64><sub u64>  one KvRecord per revision (etcd's key space: revision → KeyValue)
//   m/applied             <log index u64><revision u64> the applied state persisted so far
//   m/compact             <revision u64> compaction point
//   l<id i64>             <TTL seconds u64> one granted lease
//   _alarm/<member u64><type u8>  (empty) one raised alarm (src/maintenance/alarm-table.ts)
//   a/enabled, a/revision, a/user/<name>, a/role/<name>  the auth state (src/auth/auth-state.ts)
// The member's identity is not here but in <data-dir>/member-identity.json (src/server/member-identity.ts):
// it is read before any engine is opened.

/** Revisions and indexes stay below 2^48: the top two bytes are zero. */
const writeU64 = (b: Buffer, n: number, offset: number): void => {
  b.writeUInt16BE(0, offset);
  b.writeUIntBE(n, offset + 2, 6);
};
const u64 = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  writeU64(b, n, 0);
  return b;
};
const readU64 = (b: Buffer, offset: number): number => b.readUIntBE(offset + 2, 6);

export const RECORD_PREFIX = Buffer.from('k');
export const RECORD_END = Buffer.from('l');
/** One buffer written in place: every applied change makes a record key. */
export function recordKey(main: number, sub: number): Buffer {
  const b = Buffer.allocUnsafe(17);
  b[0] = RECORD_PREFIX[0]!;
  writeU64(b, main, 1);
  writeU64(b, sub, 9);
  return b;
}
export const recordSubOf = (key: Buffer): number => readU64(key, 9);

export const APPLIED_KEY = Buffer.from('m/applied');
export const COMPACT_KEY = Buffer.from('m/compact');

export interface AppliedMark {
  readonly index: number;
  readonly revision: number;
}
export function encodeApplied(m: AppliedMark): Buffer {
  const b = Buffer.allocUnsafe(16);
  writeU64(b, m.index, 0);
  writeU64(b, m.revision, 8);
  return b;
}
export const decodeApplied = (b: Buffer): AppliedMark => ({ index: readU64(b, 0), revision: readU64(b, 8) });
export const encodeRevision = (rev: number): Buffer => u64(rev);
export const decodeRevision = (b: Buffer): number => readU64(b, 0);

// Leases: l<id i64, two's complement> → <granted TTL seconds u64>, as etcd keeps its "lease" bucket
// (ID and TTL only; expiries are never persisted: they are refreshed when a member becomes primary).
export const LEASE_PREFIX = Buffer.from('l');
export const LEASE_END = Buffer.from('m');
export function leaseKey(id: bigint): Buffer {
  const b = Buffer.alloc(9);
  b.set(LEASE_PREFIX, 0);
  b.writeBigInt64BE(id, 1);
  return b;
}
export const leaseIdOf = (key: Buffer): bigint => key.readBigInt64BE(1);
export const encodeLeaseTtl = (ttlSeconds: number): Buffer => u64(ttlSeconds);
export const decodeLeaseTtl = (b: Buffer): number => readU64(b, 0);
