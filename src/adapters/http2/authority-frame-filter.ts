// The client-to-server half of an HTTP/2 connection, frame by frame: every frame passes through as the
// same bytes (views of the chunks read, no copies) except a HEADERS(+CONTINUATION) sequence whose
// header block carries an `:authority` nghttp2 would reject; that one is rebuilt with the value
// rewritten (see hpack-authority-tracker.ts). When the server preface was sent ahead of the server
// (http2-path.ts), the client's ACK of it is taken out too. Pure: bytes in, bytes out, no I/O.
import { applyRewrites, HpackAuthorityTracker, type HpackAuthorityTrackerOptions } from './hpack-authority-tracker.js';
import { Http2ShimError } from './http2-shim-error.js';
import { clientPreface, writeFrameHeader } from '../h2/frames.js';

/** The client preface (HTTP/2's own, kept in h2/frames.ts). */
export const http2ClientPreface: Buffer = clientPreface;
/** Bound on one HEADERS+CONTINUATION sequence as sent (frame headers, padding and all). */
export const defaultMaxHeaderSequenceBytes = 64 * 1024;
/** Rebuilt frames stay within RFC 7540's minimum SETTINGS_MAX_FRAME_SIZE, which every server accepts. */
export const rebuiltFramePayloadBytes = 16_384;

const frameHeaderBytes = 9;
const typeHeaders = 0x1;
const typeSettings = 0x4;
const typePing = 0x6;
const typeContinuation = 0x9;
const flagEndStream = 0x1;
const flagAck = 0x1;
const flagEndHeaders = 0x4;
const flagPadded = 0x8;
const flagPriority = 0x20;
const priorityFieldBytes = 5;

export interface AuthorityFrameFilterOptions extends HpackAuthorityTrackerOptions {
  readonly maxHeaderSequenceBytes?: number;
  /**
   * An empty SETTINGS frame went to the client as the server preface before the HTTP/2 server took
   * the connection (http2-path.ts). The client's first SETTINGS ACK answers it, so it is taken out:
   * the server would count it as the ACK of its own SETTINGS and then fail the connection with
   * PROTOCOL_ERROR ("unexpected ACK") when the real one comes.
   */
  readonly serverPrefaceSent?: boolean;
}

export class AuthorityFrameFilter {
  private readonly tracker: HpackAuthorityTracker;
  private readonly maxSequenceBytes: number;
  private prefaceLeft = http2ClientPreface.length;
  /** Payload bytes of the current pass-through frame still to come. */
  private passLeft = 0;
  /** The start of a unit (frame header or header sequence) that the chunks so far did not complete. */
  private pending: Buffer | undefined;
  // resumable measurement of a header sequence: bytes of whole frames seen, and its stream
  private seqMeasured = 0;
  private seqStreamId = 0;
  /** Whether the client's ACK of the server preface sent ahead is still to be taken out. */
  private prefaceAckOwed: boolean;
  /** Complete header sequences seen so far, and how many of them were rebuilt. */
  headerSequences = 0;
  rewrittenSequences = 0;
  /** PING frames (not ACKs) seen so far: each one waits for the server's answer. */
  pings = 0;

  constructor(options: AuthorityFrameFilterOptions = {}) {
    this.tracker = new HpackAuthorityTracker(options);
    this.maxSequenceBytes = options.maxHeaderSequenceBytes ?? defaultMaxHeaderSequenceBytes;
    this.prefaceAckOwed = options.serverPrefaceSent ?? false;
  }

  /** The start of an unfinished frame or header sequence held back until the rest comes, as read. */
  get heldBack(): Buffer | undefined {
    return this.pending;
  }

  /** True once the ACK of a server preface sent ahead has been taken out (or when none was sent). */
  get prefaceAckTaken(): boolean {
    return !this.prefaceAckOwed;
  }

  /**
   * Takes the next bytes read from the client; returns the bytes to hand to the server, in order
   * (usually `[chunk]` itself). Throws Http2ShimError when the client's bytes are not acceptable HTTP/2.
   */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    const end = chunk.length;
    let pos = 0;
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, end);
      const at = http2ClientPreface.length - this.prefaceLeft;
      if (!chunk.subarray(0, n).equals(http2ClientPreface.subarray(at, at + n))) {
        throw new Http2ShimError('frame', 'bad HTTP/2 client preface');
      }
      this.prefaceLeft -= n;
      pos = n;
    }
    // preface bytes, if any, start the run; a completed pending unit was already put in `out`
    let runStart = 0;
    if (this.pending !== undefined) {
      pos = this.completePending(chunk, pos, out);
      if (this.pending !== undefined) return out;
      runStart = pos;
    }
    while (pos < end) {
      if (this.passLeft > 0) {
        const n = Math.min(this.passLeft, end - pos);
        this.passLeft -= n;
        pos += n;
        continue;
      }
      // at a frame boundary
      this.seqMeasured = 0;
      if (end - pos >= frameHeaderBytes) {
        const type = chunk[pos + 3]!;
        if (type !== typeHeaders && type !== typeContinuation) {
          if (this.takesPrefaceAck(chunk, pos)) {
            if (runStart < pos) out.push(chunk.subarray(runStart, pos));
            pos += frameHeaderBytes;
            runStart = pos;
            continue;
          }
          this.countPing(chunk, pos);
          this.passLeft = frameLength(chunk, pos);
          pos += frameHeaderBytes;
          continue;
        }
        const measured = this.measureSequence(chunk, pos);
        if (measured > 0) {
          const rebuilt = this.filterSequence(chunk, pos, pos + measured);
          if (rebuilt !== undefined) {
            if (runStart < pos) out.push(chunk.subarray(runStart, pos));
            out.push(rebuilt);
            runStart = pos + measured;
          }
          pos += measured;
          continue;
        }
      }
      // the unit continues in the next chunk
      if (runStart < pos) out.push(chunk.subarray(runStart, pos));
      this.pending = chunk.subarray(pos);
      return out;
    }
    if (runStart < end) out.push(runStart === 0 ? chunk : chunk.subarray(runStart));
    return out;
  }

  /** Tops up `pending` from chunk[pos..] one step at a time; returns the new position in chunk. */
  private completePending(chunk: Buffer, pos: number, out: Buffer[]): number {
    for (;;) {
      const pending = this.pending!;
      let need: number;
      let inSequence = false;
      if (pending.length < frameHeaderBytes) {
        need = frameHeaderBytes - pending.length;
      } else {
        const type = pending[3]!;
        if (type !== typeHeaders && type !== typeContinuation) {
          // a pass-through frame's header (exactly 9 bytes, as it is topped up by what is needed)
          this.pending = undefined;
          if (this.takesPrefaceAck(pending, 0)) return pos;
          this.countPing(pending, 0);
          out.push(pending);
          this.passLeft = frameLength(pending, 0);
          return pos;
        }
        const measured = this.measureSequence(pending, 0);
        if (measured > 0) {
          const sequence = pending.subarray(0, measured);
          out.push(this.filterSequence(sequence, 0, measured) ?? sequence);
          this.pending = undefined;
          // Bytes taken past the sequence's end came from this chunk: hand them back.
          return pos - (pending.length - measured);
        }
        need = -measured;
        inSequence = true;
      }
      // Inside a header sequence take everything this chunk has (within the bound) in one copy:
      // topping up one frame at a time would copy the buffered sequence again for every small
      // CONTINUATION, quadratic in their number.
      const want = inSequence ? Math.max(need, this.maxSequenceBytes + frameHeaderBytes - pending.length) : need;
      const take = Math.min(want, chunk.length - pos);
      if (take === 0) return pos;
      this.pending = Buffer.concat([pending, chunk.subarray(pos, pos + take)]);
      pos += take;
    }
  }

  private countPing(buf: Buffer, at: number): void {
    if (buf[at + 3] === typePing && (buf[at + 4]! & flagAck) === 0) this.pings++;
  }

  /** Whether the frame header at buf[at] is the preface's ACK, which is then owed no longer. */
  private takesPrefaceAck(buf: Buffer, at: number): boolean {
    // an ACK with a payload is malformed: it passes, for the server to refuse
    if (!this.prefaceAckOwed || buf[at + 3] !== typeSettings || (buf[at + 4]! & flagAck) === 0) return false;
    if (frameLength(buf, at) !== 0) return false;
    this.prefaceAckOwed = false;
    return true;
  }

  /**
   * Walks a HEADERS frame and its CONTINUATIONs from buf[start] (resuming after `seqMeasured` bytes).
   * Returns the sequence's length when it is complete in buf, else minus the bytes still needed to
   * take the next step.
   */
  private measureSequence(buf: Buffer, start: number): number {
    let at = start + this.seqMeasured;
    for (;;) {
      const have = buf.length - at;
      if (have < frameHeaderBytes) return -(frameHeaderBytes - have);
      const length = frameLength(buf, at);
      const type = buf[at + 3]!;
      const streamId = buf.readUInt32BE(at + 5) & 0x7fffffff;
      if (at === start) {
        if (type !== typeHeaders) throw new Http2ShimError('frame', 'CONTINUATION without HEADERS');
        this.seqStreamId = streamId;
      } else if (type !== typeContinuation || streamId !== this.seqStreamId) {
        throw new Http2ShimError('frame', 'header block not continued by CONTINUATION on the same stream');
      }
      if (at + frameHeaderBytes + length - start > this.maxSequenceBytes) {
        throw new Http2ShimError('too-large', `header block over ${this.maxSequenceBytes} bytes`);
      }
      if (have - frameHeaderBytes < length) return -(length - (have - frameHeaderBytes));
      const flags = buf[at + 4]!;
      at += frameHeaderBytes + length;
      this.seqMeasured = at - start;
      if (flags & flagEndHeaders) return at - start;
    }
  }

  /** Decodes the complete sequence buf[start, end); returns rebuilt frames, or undefined to pass it as is. */
  private filterSequence(buf: Buffer, start: number, end: number): Buffer | undefined {
    const firstFlags = buf[start + 4]!;
    const streamId = buf.readUInt32BE(start + 5) & 0x7fffffff;
    let priority: Buffer | undefined;
    let block: Buffer | undefined;
    let fragments: Buffer[] | undefined;
    for (let at = start; at < end; ) {
      const length = frameLength(buf, at);
      let from = at + frameHeaderBytes;
      let to = from + length;
      if (at === start) {
        let padding = 0;
        if (firstFlags & flagPadded) {
          if (length < 1) throw new Http2ShimError('frame', 'PADDED HEADERS without a pad length');
          padding = buf[from]!;
          from += 1;
        }
        if (firstFlags & flagPriority) {
          if (to - from < priorityFieldBytes) throw new Http2ShimError('frame', 'HEADERS too short for its priority');
          priority = buf.subarray(from, from + priorityFieldBytes);
          from += priorityFieldBytes;
        }
        if (padding > to - from) throw new Http2ShimError('frame', 'HEADERS padding longer than the frame');
        to -= padding;
      }
      const fragment = buf.subarray(from, to);
      if (block === undefined) block = fragment;
      else (fragments ??= [block]).push(fragment);
      at += frameHeaderBytes + length;
    }
    if (fragments !== undefined) block = Buffer.concat(fragments);
    const rewrites = this.tracker.scanBlock(block!);
    this.headerSequences++;
    if (rewrites === undefined) return undefined;
    this.rewrittenSequences++;
    return buildHeaderFrames(streamId, firstFlags & flagEndStream, priority, applyRewrites(block!, rewrites));
  }
}

function frameLength(buf: Buffer, at: number): number {
  return (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
}

/** A HEADERS frame (unpadded) and as many CONTINUATIONs as the block needs, in one buffer. */
export function buildHeaderFrames(
  streamId: number,
  endStreamFlag: number,
  priority: Buffer | undefined,
  block: Buffer,
): Buffer {
  const priorityBytes = priority === undefined ? 0 : priorityFieldBytes;
  const firstFragment = Math.min(block.length, rebuiltFramePayloadBytes - priorityBytes);
  const continuations = Math.ceil((block.length - firstFragment) / rebuiltFramePayloadBytes);
  const out = Buffer.allocUnsafe(frameHeaderBytes * (1 + continuations) + priorityBytes + block.length);
  let flags = endStreamFlag | (continuations === 0 ? flagEndHeaders : 0) | (priority === undefined ? 0 : flagPriority);
  writeFrameHeader(out, 0, priorityBytes + firstFragment, typeHeaders, flags, streamId);
  let at = frameHeaderBytes;
  if (priority !== undefined) {
    out.set(priority, at);
    at += priorityBytes;
  }
  out.set(block.subarray(0, firstFragment), at);
  at += firstFragment;
  for (let from = firstFragment; from < block.length; from += rebuiltFramePayloadBytes) {
    const length = Math.min(rebuiltFramePayloadBytes, block.length - from);
    flags = from + length === block.length ? flagEndHeaders : 0;
    writeFrameHeader(out, at, length, typeContinuation, flags, streamId);
    at += frameHeaderBytes;
    out.set(block.subarray(from, from + length), at);
    at += length;
  }
  return out;
}
