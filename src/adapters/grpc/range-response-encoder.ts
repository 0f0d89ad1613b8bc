// Serializes a RangeResponse into one buffer of exactly its size. The generated serializer grows a
// writer by doubling, copies it on finish() and once more into a Buffer, so a large range held several
// copies of itself at once; this measures first and writes each byte once. Same bytes as the
// generated encoder (field order, proto3 defaults skipped), which test/adapters pins.
import type { ResponseHeader, RangeResponse } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { KeyValue } from '../../gen/etcd/mvcc/mvccpb/kv.js';

const u64 = (v: bigint): bigint => (v < 0n ? BigInt.asUintN(64, v) : v);

function varintSize(v: bigint): number {
  let x = u64(v);
  let n = 1;
  while (x >= 0x80n) {
    x >>= 7n;
    n++;
  }
  return n;
}

function lengthSize(len: number): number {
  let n = 1;
  while (len >= 0x80) {
    len = Math.floor(len / 128);
    n++;
  }
  return n;
}

class ExactWriter {
  private at = 0;
  constructor(readonly buf: Buffer) {}

  tag(field: number, wireType: number): void {
    this.buf[this.at++] = (field << 3) | wireType;
  }

  length(len: number): void {
    while (len >= 0x80) {
      this.buf[this.at++] = (len & 0x7f) | 0x80;
      len = Math.floor(len / 128);
    }
    this.buf[this.at++] = len;
  }

  varint(v: bigint): void {
    let x = u64(v);
    // Revisions and counts fit in a double: stay off bigint arithmetic for them.
    if (x <= 0x1fffffffffffffn) {
      let n = Number(x);
      while (n >= 0x80) {
        this.buf[this.at++] = (n % 128) | 0x80;
        n = Math.floor(n / 128);
      }
      this.buf[this.at++] = n;
      return;
    }
    while (x >= 0x80n) {
      this.buf[this.at++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.at++] = Number(x);
  }

  bytes(b: Uint8Array): void {
    this.buf.set(b, this.at);
    this.at += b.length;
  }

  get offset(): number {
    return this.at;
  }
}

const intField = (v: bigint): number => (v === 0n ? 0 : 1 + varintSize(v));
const bytesField = (b: Uint8Array): number => (b.length === 0 ? 0 : 1 + lengthSize(b.length) + b.length);

function headerSize(h: ResponseHeader): number {
  return intField(h.clusterId) + intField(h.memberId) + intField(h.revision) + intField(h.raftTerm);
}

function kvSize(kv: KeyValue): number {
  return (
    bytesField(kv.key) +
    intField(kv.createRevision) +
    intField(kv.modRevision) +
    intField(kv.version) +
    bytesField(kv.value) +
    intField(kv.lease)
  );
}

function writeInt(w: ExactWriter, field: number, v: bigint): void {
  if (v === 0n) return;
  w.tag(field, 0);
  w.varint(v);
}

function writeBytes(w: ExactWriter, field: number, b: Uint8Array): void {
  if (b.length === 0) return;
  w.tag(field, 2);
  w.length(b.length);
  w.bytes(b);
}

export function encodeRangeResponse(res: RangeResponse): Buffer {
  const hSize = res.header === undefined ? -1 : headerSize(res.header);
  const kvSizes = res.kvs.map(kvSize);
  let total = hSize < 0 ? 0 : 1 + lengthSize(hSize) + hSize;
  for (const s of kvSizes) total += 1 + lengthSize(s) + s;
  if (res.more) total += 2;
  total += intField(res.count);

  const w = new ExactWriter(Buffer.allocUnsafe(total));
  if (res.header !== undefined) {
    w.tag(1, 2);
    w.length(hSize);
    writeInt(w, 1, res.header.clusterId);
    writeInt(w, 2, res.header.memberId);
    writeInt(w, 3, res.header.revision);
    writeInt(w, 4, res.header.raftTerm);
  }
  res.kvs.forEach((kv, i) => {
    w.tag(2, 2);
    w.length(kvSizes[i]!);
    writeBytes(w, 1, kv.key);
    writeInt(w, 2, kv.createRevision);
    writeInt(w, 3, kv.modRevision);
    writeInt(w, 4, kv.version);
    writeBytes(w, 5, kv.value);
    writeInt(w, 6, kv.lease);
  });
  if (res.more) {
    w.tag(3, 0);
    w.varint(1n);
  }
  writeInt(w, 4, res.count);
  if (w.offset !== total) throw new Error(`RangeResponse encoder wrote ${w.offset} of ${total} bytes`);
  return w.buf;
}
