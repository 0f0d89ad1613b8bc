// etcdserverpb.SnapshotResponse encoded straight into the frame buffer: the blob is copied once,
// from the image's read buffer to the HTTP/2 write, instead of into a protobuf writer and then
// again into the frame. The bytes are those of the generated encoder (test/maintenance/snapshot-units.test.ts):
//   field 2 remaining_bytes (varint, left out when 0) | field 3 blob (length-delimited, left out when empty)
import { bytesFieldSize, ExactWriter, lengthSize } from '../../core/proto-writer.js';
import type { OutgoingMessage } from './grpc-wire.js';

const remainingBytesField = 2;
const blobField = 3;

export class SnapshotChunkMessage implements OutgoingMessage {
  readonly size: number;

  constructor(
    private readonly remainingBytes: number,
    private readonly blob: Uint8Array,
  ) {
    this.size = (remainingBytes === 0 ? 0 : 1 + lengthSize(remainingBytes)) + bytesFieldSize(blob.length);
  }

  writeTo(buf: Buffer, at: number): void {
    const w = new ExactWriter(buf, at);
    // a count of bytes, never negative: written as a length, without bigint arithmetic
    if (this.remainingBytes !== 0) {
      w.tag(remainingBytesField, 0);
      w.length(this.remainingBytes);
    }
    w.bytesField(blobField, this.blob);
  }
}
