// Serializes a RangeResponse into one buffer of exactly its size. The generated serializer grows a
// writer by doubling, copies it on finish() and once more into a Buffer, so a large range held several
// copies of itself at once; this measures first and writes each byte once. Same bytes as the
// generated encoder (field order, proto3 defaults skipped), which test/adapters pins.
import type { ResponseHeader, RangeResponse } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { ExactWriter, intFieldSize, keyValueSize, lengthSize, writeKeyValue } from '../../core/proto-writer.js';
import { messagePrefixBytes } from './grpc-wire.js';

/**
 * The last header encoded, with its encoding: consecutive gets mostly answer with the same member,
 * cluster, revision and term, and the 64-bit IDs are the costly varints. Values, not objects, are compared.
 */
let lastHeader: { clusterId: bigint; memberId: bigint; revision: bigint; raftTerm: bigint; bytes: Buffer } | undefined;

/** The header message's fields, encoded (without its own tag and length). */
export function headerBytes(h: ResponseHeader): Buffer {
  const last = lastHeader;
  if (last !== undefined && last.revision === h.revision && last.raftTerm === h.raftTerm && last.memberId === h.memberId && last.clusterId === h.clusterId) {
    return last.bytes;
  }
  const w = new ExactWriter(Buffer.alloc(headerFieldsSize(h)));
  writeHeaderFields(w, h);
  const bytes = w.buf as Buffer;
  lastHeader = { clusterId: h.clusterId, memberId: h.memberId, revision: h.revision, raftTerm: h.raftTerm, bytes };
  return bytes;
}

/** The last cluster and member IDs encoded (fields 1 and 2 of a header), with their encoding. */
let lastIds: { clusterId: bigint; memberId: bigint; bytes: Buffer } | undefined;

/** A header's cluster and member ID fields, encoded: the same on nearly every answer, and the costly varints. */
function idFieldBytes(h: ResponseHeader): Buffer {
  const last = lastIds;
  if (last !== undefined && last.memberId === h.memberId && last.clusterId === h.clusterId) return last.bytes;
  const w = new ExactWriter(Buffer.alloc(intFieldSize(h.clusterId) + intFieldSize(h.memberId)));
  w.intField(1, h.clusterId);
  w.intField(2, h.memberId);
  const bytes = w.buf as Buffer;
  lastIds = { clusterId: h.clusterId, memberId: h.memberId, bytes };
  return bytes;
}

/** The size of a header message's fields (headerBytes(h).length), for writing it in place with writeHeaderFields. */
export function headerFieldsSize(h: ResponseHeader): number {
  return idFieldBytes(h).length + intFieldSize(h.revision) + intFieldSize(h.raftTerm);
}

/** Writes the header message's fields (the bytes of headerBytes) without a buffer of their own: a write's revision is new on every answer. */
export function writeHeaderFields(w: ExactWriter, h: ResponseHeader): void {
  w.bytes(idFieldBytes(h));
  w.intField(3, h.revision);
  w.intField(4, h.raftTerm);
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
  const header = res.header === undefined ? undefined : headerBytes(res.header);
  const hSize = header === undefined ? -1 : header.length;
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
  if (header !== undefined) {
    // Written even when every field is zero, as the generated encoder does for a present message.
    w.tag(1, 2);
    w.length(hSize);
    w.bytes(header);
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
