// The byte stream etcd's HashByRev (mvcc/kvstore.go) feeds to its CRC-32C: the bucket name "key",
// then, in bbolt's order (revision order), each revision key followed by the value stored under it.
// Measured first and written once into an ArrayBuffer of exactly its size, so it can be transferred
// to a job thread as is.
import { keyBytes } from '../core/keys.js';
import { ExactWriter, keyValueSize, writeKeyValue, type KeyValueFields } from '../core/proto-writer.js';
import { toKeyValue, type KvRecord } from '../mvcc/kv-record.js';

const bucketName = Buffer.from('key', 'latin1');
/** etcd's revision key: 8-byte big-endian main, '_', 8-byte big-endian sub. */
const revisionKeyBytes = 17;
const revisionSeparator = 0x5f; // '_'
const tombstoneMark = 0x74; // 't'
const twoTo32 = 2 ** 32;
const EMPTY = Buffer.alloc(0);

/**
 * What etcd stores for the record: a put stores `mvccpb.KeyValue{Key, CreateRevision, ModRevision,
 * Version, Value, Lease}`, a delete `KeyValue{Key}` only (proto3: zero fields omitted).
 */
function stored(r: KvRecord): KeyValueFields {
  if (!r.tombstone) return toKeyValue(r);
  return { key: keyBytes(r.key), createRevision: 0n, modRevision: 0n, version: 0n, value: EMPTY, lease: 0n };
}

function writeUint64BigEndian(w: ExactWriter, v: number): void {
  const high = Math.floor(v / twoTo32);
  const low = v >>> 0;
  for (const word of [high, low]) {
    w.byte((word >>> 24) & 0xff);
    w.byte((word >>> 16) & 0xff);
    w.byte((word >>> 8) & 0xff);
    w.byte(word & 0xff);
  }
}

/** Orders records as bbolt orders their revision keys: by main, then sub revision. */
export function byRevision(a: KvRecord, b: KvRecord): number {
  return a.modRevision - b.modRevision || a.sub - b.sub;
}

/** The hash stream for records already in revision order, in a buffer of exactly its size. */
export function encodeHashStream(records: readonly KvRecord[]): ArrayBuffer {
  const values = records.map(stored);
  let size = bucketName.length;
  records.forEach((r, i) => (size += revisionKeyBytes + (r.tombstone ? 1 : 0) + keyValueSize(values[i]!)));
  const buffer = new ArrayBuffer(size);
  const w = new ExactWriter(new Uint8Array(buffer));
  w.bytes(bucketName);
  records.forEach((r, i) => {
    writeUint64BigEndian(w, r.modRevision);
    w.byte(revisionSeparator);
    writeUint64BigEndian(w, r.sub);
    if (r.tombstone) w.byte(tombstoneMark);
    writeKeyValue(w, values[i]!);
  });
  if (w.offset !== size) throw new Error(`hash stream measured ${size} bytes but wrote ${w.offset}`);
  return buffer;
}
