// Serializes a RangeResponse into one buffer of exactly its size. The generated serializer grows a
// writer by doubling, copies it on finish() and once more into a Buffer, so a large range held several
// copies of itself at once; this measures first and writes each byte once. Same bytes as the
// generated encoder (field order, proto3 defaults skipped), which test/adapters pins.
import type { ResponseHeader, RangeResponse } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { ExactWriter, intFieldSize, keyValueSize, lengthSize, writeKeyValue } from '../../core/proto-writer.js';
import { messagePrefixBytes } from './grpc-wire.js';

function headerSize(h: ResponseHeader): number {
  return intFieldSize(h.clusterId) + intFieldSize(h.memberId) + intFieldSize(h.revision) + intFieldSize(h.raftTerm);
}

export function encodeRangeResponse(res: RangeResponse): Buffer {
  return encodeAfter(res, 0);
}

/** The response as one gRPC message: the 5-byte prefix, then the encoding, in one buffer (no second copy). */
export function frameRangeResponse(res: RangeResponse): Buffer {
  return encodeAfter(res, messagePrefixBytes);
}

/** Encodes `res` into a new buffer after `prefixBytes` bytes; a non-zero prefix gets gRPC's (uncompressed, length). */
function encodeAfter(res: RangeResponse, prefixBytes: number): Buffer {
  const hSize = res.header === undefined ? -1 : headerSize(res.header);
  const kvSizes = res.kvs.map(keyValueSize);
  let total = hSize < 0 ? 0 : 1 + lengthSize(hSize) + hSize;
  for (const s of kvSizes) total += 1 + lengthSize(s) + s;
  if (res.more) total += 2;
  total += intFieldSize(res.count);

  const out = Buffer.allocUnsafe(prefixBytes + total);
  if (prefixBytes > 0) {
    out[0] = 0;
    out.writeUInt32BE(total, 1);
  }
  const w = new ExactWriter(out, prefixBytes);
  if (res.header !== undefined) {
    // Written even when every field is zero, as the generated encoder does for a present message.
    w.tag(1, 2);
    w.length(hSize);
    w.intField(1, res.header.clusterId);
    w.intField(2, res.header.memberId);
    w.intField(3, res.header.revision);
    w.intField(4, res.header.raftTerm);
  }
  for (let i = 0; i < res.kvs.length; i++) {
    w.tag(2, 2);
    w.length(kvSizes[i]!);
    writeKeyValue(w, res.kvs[i]!);
  }
  if (res.more) w.intField(3, 1n);
  w.intField(4, res.count);
  if (w.offset !== prefixBytes + total) throw new Error(`RangeResponse encoder wrote ${w.offset - prefixBytes} of ${total} bytes`);
  return out;
}
