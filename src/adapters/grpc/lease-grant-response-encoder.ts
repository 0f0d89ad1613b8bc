// Serializes a LeaseGrantResponse, framed as one gRPC message, into one buffer of exactly its size:
// every grant is answered through here. Same bytes as the generated encoder, which test/adapters pins.
import type { LeaseGrantResponse } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { intFieldSize, lengthSize } from '../../core/proto-writer.js';
import { finishAnswer, headerFieldBytes, headerSizeOf, startAnswer } from './answer-frame.js';

/** LeaseGrantResponse: header 1, ID 2, TTL 3, error 4. */
export function frameLeaseGrantResponse(res: LeaseGrantResponse): Buffer {
  const headerSize = headerSizeOf(res.header);
  const errorBytes = res.error.length === 0 ? 0 : Buffer.byteLength(res.error, 'utf8');
  let total = headerFieldBytes(headerSize) + intFieldSize(res.ID) + intFieldSize(res.TTL);
  if (errorBytes > 0) total += 1 + lengthSize(errorBytes) + errorBytes;
  const w = startAnswer(total, res.header, headerSize);
  w.intField(2, res.ID);
  w.intField(3, res.TTL);
  if (errorBytes > 0) {
    w.tag(4, 2);
    w.length(errorBytes);
    w.bytes(Buffer.from(res.error, 'utf8'));
  }
  return finishAnswer(w, 'LeaseGrantResponse');
}
