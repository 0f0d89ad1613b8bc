// Serializes a PutResponse, framed as one gRPC message, into one buffer of exactly its size: every
// put is answered through here, and the generated serializer's growing writer and copies cost more
// than the message. Same bytes as the generated encoder, which test/adapters pins.
import type { PutResponse } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { ExactWriter, keyValueSize, lengthSize, writeKeyValue } from '../../core/proto-writer.js';
import { messagePrefixBytes } from './grpc-wire.js';
import { headerFieldsSize, writeHeaderFields } from './range-response-encoder.js';

export function framePutResponse(res: PutResponse): Buffer {
  const headerSize = res.header === undefined ? -1 : headerFieldsSize(res.header);
  const prevSize = res.prevKv === undefined ? -1 : keyValueSize(res.prevKv);
  let total = headerSize < 0 ? 0 : 1 + lengthSize(headerSize) + headerSize;
  if (prevSize >= 0) total += 1 + lengthSize(prevSize) + prevSize;
  const out = Buffer.allocUnsafe(messagePrefixBytes + total);
  out[0] = 0;
  out.writeUInt32BE(total, 1);
  const w = new ExactWriter(out, messagePrefixBytes);
  if (res.header !== undefined) {
    w.tag(1, 2);
    w.length(headerSize);
    writeHeaderFields(w, res.header);
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
