// Decodes a PutRequest, which every put arrives as, without the generated decoder's reader object,
// its two fresh empty buffers per message, its copies of key and value and its recursion bookkeeping. Only the forms a client
// sends are read here (each field at most a short varint or a length-delimited copy); anything else
// (an unknown field, another wire type, a negative or long lease, a truncated message) goes to the
// generated decoder from the start, so rare forms and malformed input decode or fail exactly as
// before. test/adapters pins it against the generated decoder.
import { PutRequest } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';

/** Shared by requests without a key or value: nothing writes into a request's bytes. */
const EMPTY = Buffer.alloc(0);
/** A varint longer than this is left to the generated decoder (a lease up to 2^49, a length up to 2^28). */
const maxVarintBytes = 7;

export function decodePutRequest(bytes: Buffer): PutRequest {
  let key: Buffer = EMPTY;
  let value: Buffer = EMPTY;
  let lease = 0n;
  let prevKv = false;
  let ignoreValue = false;
  let ignoreLease = false;
  const end = bytes.length;
  let at = 0;
  while (at < end) {
    const tag = bytes[at++]!;
    if (tag === 10 || tag === 18 || tag === 24) {
      // a length (key, value) or the lease: a varint of up to maxVarintBytes
      let n = 0;
      let scale = 1;
      let b = 0x80;
      for (let i = 0; b >= 0x80; i++) {
        if (at >= end || i === maxVarintBytes) return PutRequest.decode(bytes);
        b = bytes[at++]!;
        n += (b & 0x7f) * scale;
        scale *= 128;
      }
      if (tag === 24) {
        lease = BigInt(n);
        continue;
      }
      if (n > end - at) return PutRequest.decode(bytes);
      // A view, not a copy: the message arrives in a buffer of its own (message-reader.ts), which
      // the request keeps anyway (its received encoding).
      const field = bytes.subarray(at, at + n);
      at += n;
      if (tag === 10) key = field;
      else value = field;
      continue;
    }
    if (tag === 32 || tag === 40 || tag === 48) {
      if (at >= end || bytes[at]! >= 0x80) return PutRequest.decode(bytes);
      const flag = bytes[at++] !== 0;
      if (tag === 32) prevKv = flag;
      else if (tag === 40) ignoreValue = flag;
      else ignoreLease = flag;
      continue;
    }
    return PutRequest.decode(bytes);
  }
  return { key, value, lease, prevKv, ignoreValue, ignoreLease };
}
