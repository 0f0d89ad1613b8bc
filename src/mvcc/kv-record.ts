// One revision of one key. Revisions are plain numbers inside the store: they grow by one per write,
// so they stay far below 2^53; int64 values from clients are compared as bigint at the edges.
import { KeyValue } from '../gen/etcd/mvcc/mvccpb/kv.js';
import { keyBytes, toKey, type Key } from '../core/keys.js';
import { bytesFieldSize, ExactWriter, intFieldSize, lengthSize } from '../core/proto-writer.js';

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
  // Written once into a buffer of the exact size, from the record itself (no KeyValue with its key
  // bytes and bigints in between): every applied change is encoded here. Revisions and versions are
  // never negative, so their varints are those of writeKeyValue's bigints.
  const size =
    bytesFieldSize(r.key.length) + // latin1: one byte per char
    numberFieldSize(r.createRevision) +
    numberFieldSize(r.modRevision) +
    numberFieldSize(r.version) +
    bytesFieldSize(r.value.length) +
    intFieldSize(r.lease);
  const out = Buffer.allocUnsafe(size + 1);
  out[0] = r.tombstone ? 1 : 0;
  const w = new ExactWriter(out, 1);
  w.latin1Field(1, r.key);
  numberField(w, 2, r.createRevision);
  numberField(w, 3, r.modRevision);
  numberField(w, 4, r.version);
  w.bytesField(5, r.value);
  w.intField(6, r.lease);
  if (w.offset !== out.length) throw new Error(`record encoder wrote ${w.offset} of ${out.length} bytes`);
  return out;
}

/** Size of a field holding a non-negative number as a varint (an int64 the store keeps as a number); 0 when omitted. */
const numberFieldSize = (n: number): number => (n === 0 ? 0 : 1 + lengthSize(n));

function numberField(w: ExactWriter, field: number, n: number): void {
  if (n === 0) return;
  w.tag(field, 0);
  w.length(n);
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
