// One revision of one key. Revisions are plain numbers inside the store: they grow by one per write,
// so they stay far below 2^53; int64 values from clients are compared as bigint at the edges.
import { KeyValue } from '../gen/etcd/mvcc/mvccpb/kv.js';
import { keyBytes, toKey, type Key } from '../core/keys.js';
import { ExactWriter, keyValueSize, writeKeyValue } from '../core/proto-writer.js';

export interface KvRecord {
  readonly key: Key;
  readonly value: Buffer;
  readonly createRevision: number;
  readonly modRevision: number;
  /** Position of this change inside its main revision (etcd's sub-revision). */
  readonly sub: number;
  readonly version: number;
  readonly lease: bigint;
  /** A deletion marker; a tombstone ends the key's current generation. */
  readonly tombstone: boolean;
}

const EMPTY = Buffer.alloc(0);

export function toKeyValue(r: KvRecord, keysOnly = false): KeyValue {
  return {
    key: keyBytes(r.key),
    value: keysOnly ? EMPTY : r.value,
    createRevision: BigInt(r.createRevision),
    modRevision: BigInt(r.modRevision),
    version: BigInt(r.version),
    lease: r.lease,
  };
}

/** Storage form: a flag byte (1 = tombstone) then the KeyValue protobuf, as etcd keeps it. */
export function encodeRecord(r: KvRecord): Buffer {
  // Written once into a buffer of the exact size: every applied change is encoded here.
  const kv = toKeyValue(r);
  const out = Buffer.allocUnsafe(keyValueSize(kv) + 1);
  out[0] = r.tombstone ? 1 : 0;
  writeKeyValue(new ExactWriter(out, 1), kv);
  return out;
}

export function decodeRecord(bytes: Buffer, sub: number): KvRecord {
  const kv = KeyValue.decode(bytes.subarray(1));
  return {
    key: toKey(kv.key),
    value: Buffer.from(kv.value),
    createRevision: Number(kv.createRevision),
    modRevision: Number(kv.modRevision),
    sub,
    version: Number(kv.version),
    lease: kv.lease,
    tombstone: bytes[0] === 1,
  };
}
