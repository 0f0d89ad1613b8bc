// Serializes a LeaseGrantResponse, framed as one gRPC message, into one buffer of exactly its size:
// every grant is answered through here. Same bytes as the generated encoder, which test/adapters pins.
import type { LeaseGrantResponse } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { ExactWriter, intFieldSize, lengthSize } from '../../core/proto-writer.js';
import { messagePrefixBytes } from './grpc-wire.js';
import { headerFieldsSize, writeHeaderFields } from './range-response-encoder.js';

/** LeaseGrantResponse: header 1, ID 2, TTL 3, error 4. */
export function frameLeaseGrantResponse(res: LeaseGrantResponse): Buffer {
  const headerSize = res.header === undefined ? -1 : headerFieldsSize(res.header);
  const errorBytes = res.error.length === 0 ? 0 : Buffer.byteLength(res.error, 'utf8');
  let total = intFieldSize(res.ID) + intFieldSize(res.TTL);
  if (headerSize >= 0) total += 1 + lengthSize(headerSize) + headerSize;
  if (errorBytes > 0) total += 1 + lengthSize(errorBytes) + errorBytes;
  const out = Buffer.allocUnsafe(messagePrefixBytes + total);
  out[0] = 0;
  out.writeUInt32BE(total, 1);
  const w = new ExactWriter(out, messagePrefixBytes);
  if (res.header !== undefined) {
    w.tag(1, 2);
    w.length(headerSize);
    writeHeaderFields(w, res.header);
  }
  w.intField(2, res.ID);
  w.intField(3, res.TTL);
  if (errorBytes > 0) {
    w.tag(4, 2);
    w.length(errorBytes);
    w.bytes(Buffer.from(res.error, 'utf8'));
  }
  if (w.offset !== out.length) throw new Error(`LeaseGrantResponse encoder wrote ${w.offset - messagePrefixBytes} of ${total} bytes`);
  return out;
}
