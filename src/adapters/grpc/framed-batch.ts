// The response messages a streaming call queues in one tick, framed (the 5-byte gRPC prefix) as each
// is written, into a few buffers that go out as that tick's HTTP/2 write. A message is encoded during
// write, so it holds nothing once queued: a watch revision fanned out to 10,000 watchers leaves 10,000
// bytes-in-place, not 10,000 objects alive until the flush for the garbage collector to copy. The
// buffers are pooled slabs (slab-pool.ts), handed back by the transport once written.
import { messagePrefixBytes, type OutgoingMessage } from './grpc-wire.js';
import { Slab, slabBytes } from '../slab-pool.js';

/** Bytes ready for the transport, and what to call once they have left (a slab's release, or nothing). */
export interface FramedChunk {
  readonly bytes: Buffer;
  readonly release: () => void;
}

const noop = (): void => {};
/**
 * A slab less full than this is copied out and goes back to the pool at once: a stream whose client
 * reads slowly may hold many chunks, and each must not pin a whole slab for a small answer.
 */
const copyBelowBytes = slabBytes / 4;

export class FramedBatch {
  /** Bytes framed since the last take. */
  bytes = 0;
  private current: Buffer | undefined;
  private slab: Slab | undefined;
  private used = 0;
  private filled: FramedChunk[] = [];

  /** Frames `message` into the batch now; the message object is not kept. */
  add(message: OutgoingMessage): void {
    const size = message.size;
    const need = messagePrefixBytes + size;
    let buf = this.current;
    if (buf === undefined || buf.length - this.used < need) buf = this.nextBuffer(need);
    const at = this.used;
    buf[at] = 0;
    buf.writeUInt32BE(size, at + 1);
    message.writeTo(buf, at + messagePrefixBytes);
    this.used = at + need;
    this.bytes += need;
  }

  /** Everything framed since the last take, in order; the batch starts empty again. */
  take(): FramedChunk[] {
    this.seal();
    const out = this.filled;
    this.filled = [];
    this.bytes = 0;
    return out;
  }

  /** Drops what was framed (the stream is gone); the slabs go back to the pool. */
  clear(): void {
    for (const chunk of this.take()) chunk.release();
  }

  private nextBuffer(need: number): Buffer {
    this.seal();
    if (need <= slabBytes) {
      const slab = Slab.take();
      this.slab = slab;
      this.current = slab.buf;
    } else this.current = Buffer.allocUnsafe(need);
    this.used = 0;
    return this.current;
  }

  /** The buffer being filled joins the finished chunks. */
  private seal(): void {
    const buf = this.current;
    const slab = this.slab;
    const used = this.used;
    this.current = undefined;
    this.slab = undefined;
    this.used = 0;
    if (buf === undefined) return;
    if (slab === undefined) this.filled.push({ bytes: buf.subarray(0, used), release: noop });
    else if (used === 0) slab.release();
    else if (used < copyBelowBytes) {
      const copy = Buffer.allocUnsafe(used);
      buf.copy(copy, 0, 0, used);
      slab.release();
      this.filled.push({ bytes: copy, release: noop });
    } else this.filled.push({ bytes: buf.subarray(0, used), release: slab.release });
  }
}
