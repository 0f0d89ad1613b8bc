// Serializes a PutResponse, framed as one gRPC message, into one buffer of exactly its size: every
// put is answered through here, and the generated serializer's growing writer and copies cost more
// than the message. Same bytes as the generated encoder, which test/adapters pins.
import type { PutResponse } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { ExactWriter, keyValueSize, lengthSize, writeKeyValue } from '../../core/proto-writer.js';
import { messagePrefixBytes } from './grpc-wire.js';
import { headerBytes } from './range-response-encoder.js';

export function framePutResponse(res: PutResponse): Buffer {
  const header = res.header === undefined ? undefined : headerBytes(res.header);
  const prevSize = res.prevKv === undefined ? -1 : keyValueSize(res.prevKv);
  let total = header === undefined ? 0 : 1 + lengthSize(header.length) + header.length;
  if (prevSize >= 0) total += 1 + lengthSize(prevSize) + prevSize;
  const out = Buffer.allocUnsafe(messagePrefixBytes + total);
  out[0] = 0;
  out.writeUInt32BE(total, 1);
  const w = new ExactWriter(out, messagePrefixBytes);
  if (header !== undefined) {
    w.tag(1, 2);
    w.length(header.length);
    w.bytes(header);
  }
  if (res.prevKv !== undefined) {
    // a present message is written even when every field is zero, as the generated encoder does
    w.tag(2, 2);
    w.length(prevSize);
    writeKeyValue(w, res.prevKv);
  }
  if (w.offset !== out.length) throw new Error(`PutResponse encoder wrote ${w.offset - messagePrefixBytes} of ${total} bytes`);
  return out;
}
