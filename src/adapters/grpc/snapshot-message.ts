// etcdserverpb.SnapshotResponse encoded straight into the frame buffer: the blob is copied once,
// from the image's read buffer to the HTTP/2 write, instead of into a protobuf writer and then
// again into the frame. The bytes are those of the generated encoder (test/adapters/grpc-snapshot-message.test.ts):
//   field 2 remaining_bytes (varint, left out when 0) | field 3 blob (length-delimited, left out when empty)
import type { OutgoingMessage } from './grpc-wire.js';

const remainingBytesTag = 0x10;
const blobTag = 0x1a;

export class SnapshotChunkMessage implements OutgoingMessage {
  readonly size: number;

  constructor(
    private readonly remainingBytes: number,
    private readonly blob: Uint8Array,
  ) {
    this.size =
      (remainingBytes === 0 ? 0 : 1 + varintBytes(remainingBytes)) + (blob.length === 0 ? 0 : 1 + varintBytes(blob.length) + blob.length);
  }

  writeTo(buf: Buffer, at: number): void {
    let pos = at;
    if (this.remainingBytes !== 0) {
      buf[pos++] = remainingBytesTag;
      pos = writeVarint(buf, pos, this.remainingBytes);
    }
    if (this.blob.length !== 0) {
      buf[pos++] = blobTag;
      pos = writeVarint(buf, pos, this.blob.length);
      buf.set(this.blob, pos);
    }
  }
}

/** Bytes of a non-negative safe integer as a protobuf varint. */
function varintBytes(value: number): number {
  let n = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 0x80)) n++;
  return n;
}

function writeVarint(buf: Buffer, at: number, value: number): number {
  let pos = at;
  let v = value;
  while (v >= 0x80) {
    buf[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[pos++] = v;
  return pos;
}
