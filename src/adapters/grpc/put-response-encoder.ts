// Serializes a PutResponse, framed as one gRPC message, into one buffer of exactly its size: every
// put is answered through here, and the generated serializer's growing writer and copies cost more
// than the message. Same bytes as the generated encoder, which test/adapters pins.
import type { PutResponse } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { keyValueSize, lengthSize, writeKeyValue } from '../../core/proto-writer.js';
import { finishAnswer, headerFieldBytes, headerSizeOf, startAnswer } from './answer-frame.js';

export function framePutResponse(res: PutResponse): Buffer {
  const headerSize = headerSizeOf(res.header);
  const prevSize = res.prevKv === undefined ? -1 : keyValueSize(res.prevKv);
  let total = headerFieldBytes(headerSize);
  if (prevSize >= 0) total += 1 + lengthSize(prevSize) + prevSize;
  const w = startAnswer(total, res.header, headerSize);
  if (res.prevKv !== undefined) {
    // a present message is written even when every field is zero, as the generated encoder does
    w.tag(2, 2);
    w.length(prevSize);
    writeKeyValue(w, res.prevKv);
  }
  return finishAnswer(w, 'PutResponse');
}
