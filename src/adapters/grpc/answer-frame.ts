// What the hand-written unary answer encoders share: one buffer of exactly the framed answer's size,
// the 5-byte gRPC prefix, then the response header as field 1, the first field of every etcd answer.
import type { ResponseHeader } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { ExactWriter, lengthSize } from '../../core/proto-writer.js';
import { messagePrefixBytes } from './grpc-wire.js';
import { headerFieldsSize, writeHeaderFields } from './range-response-encoder.js';

/** The header's own encoded size, -1 when the answer has none. */
export const headerSizeOf = (header: ResponseHeader | undefined): number => (header === undefined ? -1 : headerFieldsSize(header));

/** Bytes field 1 takes in the answer (tag, length, header), given headerSizeOf. */
export const headerFieldBytes = (headerSize: number): number => (headerSize < 0 ? 0 : 1 + lengthSize(headerSize) + headerSize);

/** A writer over a new buffer for an answer of `total` bytes, its prefix and its header already written. */
export function startAnswer(total: number, header: ResponseHeader | undefined, headerSize: number): ExactWriter {
  const out = Buffer.allocUnsafe(messagePrefixBytes + total);
  out[0] = 0;
  out.writeUInt32BE(total, 1);
  const w = new ExactWriter(out, messagePrefixBytes);
  if (header !== undefined) {
    w.tag(1, 2);
    w.length(headerSize);
    writeHeaderFields(w, header);
  }
  return w;
}

/** The finished answer: throws when the sizes computed beforehand do not match what was written. */
export function finishAnswer(w: ExactWriter, what: string): Buffer {
  if (w.offset !== w.buf.length) throw new Error(`${what} encoder wrote ${w.offset - messagePrefixBytes} of ${w.buf.length - messagePrefixBytes} bytes`);
  return w.buf as Buffer;
}
