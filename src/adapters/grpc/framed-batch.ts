// The response messages a streaming call queues in one tick, framed (the 5-byte gRPC prefix) as each
// is written, into a few buffers that go out as that tick's HTTP/2 write. A message is encoded during
// write, so it holds nothing once queued: a watch revision fanned out to 10,000 watchers leaves 10,000
// bytes-in-place, not 10,000 objects alive until the flush for the garbage collector to copy.
//
// The buffers grow with the batch, so a stream holds about what it sends: plain buffers doubling from
// about the size of the stream's last batch, then pooled 64 KiB slabs (slab-pool.ts) once a batch
// reaches 16 KiB, the bytes so far moved up each time so the tick stays one chunk. A revision reaching
// 5,000 streams with one small answer each must not take 5,000 slabs at once (every batch of a tick is
// built before any is flushed); a revision reaching 100 streams with 33 KB each reuses 100 slabs
// instead of making 100 large buffers that V8 counts against its heap.
import { messagePrefixBytes, type FramedMessages, type OutgoingMessage } from './grpc-wire.js';
import { largeSlabs, type Slab } from '../slab-pool.js';

/** Bytes ready for the transport, and what to call once they have left (a slab's release, or nothing). */
export interface FramedChunk {
  readonly bytes: Buffer;
  readonly release: () => void;
}

const noop = (): void => {};
/** The smallest buffer a batch starts with (Node's shared pool serves it). */
const minBufferBytes = 1024;
/**
 * A batch expected to reach this size goes into a pooled slab; smaller ones into plain buffers of
 * about their size, so a revision reaching thousands of streams with a small answer each holds about
 * what it sends (every batch of a tick is built before any is flushed).
 */
const slabFromBytes = 16 * 1024;

export class FramedBatch {
  /** Bytes framed since the last take. */
  bytes = 0;
  private current: Buffer | undefined;
  private slab: Slab | undefined;
  private used = 0;
  private filled: FramedChunk[] = [];
  private lastBatchBytes = 0;

  /** Frames `message` into the batch now; the message object is not kept. */
  add(message: OutgoingMessage): void {
    const size = message.size;
    const need = messagePrefixBytes + size;
    let buf = this.current;
    if (buf === undefined || buf.length - this.used < need) buf = this.makeRoom(need);
    const at = this.used;
    buf[at] = 0;
    buf.writeUInt32BE(size, at + 1);
    message.writeTo(buf, at + messagePrefixBytes);
    this.used = at + need;
    this.bytes += need;
  }

  /** Writes a run of messages, prefixes included, into the batch now; the run is not kept. */
  addFramed(run: FramedMessages): void {
    const need = run.framedSize;
    let buf = this.current;
    if (buf === undefined || buf.length - this.used < need) buf = this.makeRoom(need);
    run.writeFramed(buf, this.used);
    this.used += need;
    this.bytes += need;
  }

  /** Everything framed since the last take, in order; the batch starts empty again. */
  take(): FramedChunk[] {
    this.seal();
    const out = this.filled;
    this.filled = [];
    this.lastBatchBytes = this.bytes;
    this.bytes = 0;
    return out;
  }

  /** Drops what was framed (the stream is gone); the slabs go back to the pool. */
  clear(): void {
    for (const chunk of this.take()) chunk.release();
  }

  private makeRoom(need: number): Buffer {
    const current = this.current;
    const used = this.used;
    if (current !== undefined && this.slab === undefined && used > 0 && used + need <= largeSlabs.slabBytes) {
      // grow: the bytes so far move into a buffer twice as large (or a slab), so the tick stays one chunk
      const next = this.takeBuffer(Math.max(used + need, current.length * 2));
      current.copy(next, 0, 0, used);
      return next;
    }
    this.seal();
    const first = this.filled.length === 0;
    this.takeBuffer(first ? Math.max(need, Math.min(this.lastBatchBytes, largeSlabs.slabBytes)) : need);
    this.used = 0;
    return this.current!;
  }

  /** A buffer of at least `bytes` as the current one (used is left to the caller). */
  private takeBuffer(bytes: number): Buffer {
    let slab: Slab | undefined;
    let buf: Buffer;
    if (bytes > largeSlabs.slabBytes) buf = Buffer.allocUnsafe(bytes);
    else if (bytes >= slabFromBytes) {
      slab = largeSlabs.take();
      buf = slab.buf;
    } else buf = Buffer.allocUnsafe(Math.max(bytes, minBufferBytes));
    this.slab = slab;
    this.current = buf;
    return buf;
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
    if (slab === undefined) {
      if (used > 0) this.filled.push({ bytes: buf.subarray(0, used), release: noop });
    } else if (used === 0) slab.release();
    else if (used < buf.length / 4) {
      // a slab mostly empty is copied out: a slowly read stream may hold many chunks, and each must
      // not pin a whole slab for a small answer
      const copy = Buffer.allocUnsafe(used);
      buf.copy(copy, 0, 0, used);
      slab.release();
      this.filled.push({ bytes: copy, release: noop });
    } else this.filled.push({ bytes: buf.subarray(0, used), release: slab.release });
  }
}
