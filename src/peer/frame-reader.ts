// Length-prefixed frames on a peer stream: a 4-byte big-endian length, then that many bytes. A
// zero-length frame is the link heartbeat that keeps an idle stream from timing out (etcd's
// linkHeartbeatMessage). The reader holds only bytes that actually arrived (chunks are kept as they
// come and joined once a frame is complete), so a peer that announces a large frame and then stalls
// holds no more memory than it sent, until the stall timeout drops it.

export const frameHeaderBytes = 4;

export type FrameReadError = { readonly kind: 'oversized'; readonly length: number; readonly maxFrameBytes: number };

export type FrameReadResult = { readonly ok: true; readonly frames: Uint8Array[] } | { readonly ok: false; readonly error: FrameReadError };

export function writeFrameHeader(into: Uint8Array, payloadLength: number): void {
  new DataView(into.buffer, into.byteOffset, frameHeaderBytes).setUint32(0, payloadLength);
}

export const linkHeartbeatFrame: Uint8Array = new Uint8Array(frameHeaderBytes);

export class FrameReader {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  /** Payload length of the frame being read, once its header is complete. */
  private expected: number | undefined;
  private failed: FrameReadError | undefined;

  constructor(private readonly maxFrameBytes: number) {}

  /** Bytes held for an incomplete frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /**
   * Feeds a chunk; returns the frames it completed (heartbeats included, as empty payloads), at most
   * maxFrames of them: bytes after the last one stay buffered (see drainRemainder).
   */
  push(chunk: Uint8Array, maxFrames = Number.POSITIVE_INFINITY): FrameReadResult {
    if (this.failed) return { ok: false, error: this.failed };
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Uint8Array[] = [];
    while (frames.length < maxFrames) {
      if (this.expected === undefined) {
        if (this.buffered < frameHeaderBytes) break;
        const header = this.take(frameHeaderBytes);
        const length = new DataView(header.buffer, header.byteOffset, frameHeaderBytes).getUint32(0);
        if (length > this.maxFrameBytes) {
          this.failed = { kind: 'oversized', length, maxFrameBytes: this.maxFrameBytes };
          this.chunks = [];
          this.buffered = 0;
          return { ok: false, error: this.failed };
        }
        this.expected = length;
      }
      if (this.buffered < this.expected) break;
      frames.push(this.take(this.expected));
      this.expected = undefined;
    }
    return { ok: true, frames };
  }

  /** Whatever was read past the last complete frame (the snapshot body after its header frame). */
  drainRemainder(): Uint8Array[] {
    const rest = this.chunks;
    this.chunks = [];
    this.buffered = 0;
    return rest;
  }

  /** True when nothing of a partial frame is held. */
  get atFrameBoundary(): boolean {
    return this.expected === undefined && this.buffered === 0;
  }

  private take(n: number): Uint8Array {
    const first = this.chunks[0];
    if (first !== undefined && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return out;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0] as Uint8Array;
      const use = Math.min(c.length, n - filled);
      out.set(c.subarray(0, use), filled);
      filled += use;
      if (use === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(use);
    }
    this.buffered -= n;
    return out;
  }
}
