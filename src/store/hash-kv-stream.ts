// The byte stream etcd's HashByRev (mvcc/kvstore.go) feeds to its CRC-32C: the bucket name "key",
// then, in bbolt's order (revision order), each revision key followed by the value stored under it.
// Measured first and written once into an ArrayBuffer of exactly its size, so it can be transferred
// to a job thread as is.
import { keyBytes } from '../core/keys.js';
import type { KvRecord } from '../mvcc/kv-record.js';

const bucketName = Buffer.from('key', 'latin1');
/** etcd's revision key: 8-byte big-endian main, '_', 8-byte big-endian sub. */
const revisionKeyBytes = 17;
const revisionSeparator = 0x5f; // '_'
const tombstoneMark = 0x74; // 't'
const twoTo32 = 2 ** 32;

const varintSize = (v: bigint): number => {
  let x = BigInt.asUintN(64, v);
  let n = 1;
  while (x >= 0x80n) {
    x >>= 7n;
    n++;
  }
  return n;
};
const intField = (v: bigint): number => (v === 0n ? 0 : 1 + varintSize(v));
const bytesField = (len: number): number => (len === 0 ? 0 : 1 + varintSize(BigInt(len)) + len);

/**
 * What etcd stores for the record: a put stores `mvccpb.KeyValue{Key, CreateRevision, ModRevision,
 * Version, Value, Lease}`, a delete `KeyValue{Key}` only (proto3: zero fields omitted).
 */
function storedFields(r: KvRecord): { key: Buffer; ints: readonly [number, bigint][]; value: Buffer; lease: bigint } {
  const key = keyBytes(r.key);
  if (r.tombstone) return { key, ints: [], value: Buffer.alloc(0), lease: 0n };
  return {
    key,
    ints: [
      [2, BigInt(r.createRevision)],
      [3, BigInt(r.modRevision)],
      [4, BigInt(r.version)],
    ],
    value: r.value,
    lease: r.lease,
  };
}

function storedSize(r: KvRecord): number {
  const f = storedFields(r);
  let n = bytesField(f.key.length);
  for (const [, v] of f.ints) n += intField(v);
  return n + bytesField(f.value.length) + intField(f.lease);
}

class ExactWriter {
  private at = 0;
  constructor(private readonly out: Uint8Array) {}

  bytes(b: Uint8Array): void {
    this.out.set(b, this.at);
    this.at += b.length;
  }

  byte(b: number): void {
    this.out[this.at++] = b;
  }

  varint(v: bigint): void {
    let x = BigInt.asUintN(64, v);
    while (x >= 0x80n) {
      this.byte(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.byte(Number(x));
  }

  uint64BigEndian(v: number): void {
    const high = Math.floor(v / twoTo32);
    const low = v >>> 0;
    for (const word of [high, low]) {
      this.byte((word >>> 24) & 0xff);
      this.byte((word >>> 16) & 0xff);
      this.byte((word >>> 8) & 0xff);
      this.byte(word & 0xff);
    }
  }

  get length(): number {
    return this.at;
  }
}

function writeStored(w: ExactWriter, r: KvRecord): void {
  const f = storedFields(r);
  const bytesOf = (field: number, b: Uint8Array): void => {
    if (b.length === 0) return;
    w.byte((field << 3) | 2);
    w.varint(BigInt(b.length));
    w.bytes(b);
  };
  const intOf = (field: number, v: bigint): void => {
    if (v === 0n) return;
    w.byte(field << 3);
    w.varint(v);
  };
  bytesOf(1, f.key);
  for (const [field, v] of f.ints) intOf(field, v);
  bytesOf(5, f.value);
  intOf(6, f.lease);
}

/** Orders records as bbolt orders their revision keys: by main, then sub revision. */
export function byRevision(a: KvRecord, b: KvRecord): number {
  return a.modRevision - b.modRevision || a.sub - b.sub;
}

/** The hash stream for records already in revision order, in a buffer of exactly its size. */
export function encodeHashStream(records: readonly KvRecord[]): ArrayBuffer {
  let size = bucketName.length;
  for (const r of records) size += revisionKeyBytes + (r.tombstone ? 1 : 0) + storedSize(r);
  const buffer = new ArrayBuffer(size);
  const w = new ExactWriter(new Uint8Array(buffer));
  w.bytes(bucketName);
  for (const r of records) {
    w.uint64BigEndian(r.modRevision);
    w.byte(revisionSeparator);
    w.uint64BigEndian(r.sub);
    if (r.tombstone) w.byte(tombstoneMark);
    writeStored(w, r);
  }
  if (w.length !== size) throw new Error(`hash stream measured ${size} bytes but wrote ${w.length}`);
  return buffer;
}
