// Reassembles length-prefixed gRPC messages from the DATA chunks of one request stream. A message may
// span chunks and a chunk may hold many messages. The length is checked against the receive limit
// before any of the body is buffered, so an oversized message costs nothing but its prefix.
//
// Reading pauses between messages: a paused reader keeps the unread rest of its chunk and goes on
// from there when resumed, so a consumer that pauses after a message gets no more until it resumes
// (pausing the HTTP/2 stream alone stops new chunks, not the messages of the one being read).
import { Status } from './grpc-codes.js';
import type { GrpcStatus } from './error-status.js';
import { messagePrefixBytes } from './grpc-wire.js';

export interface MessageReaderEvents {
  /** A whole message in a buffer of its own (decoded views into it keep only it alive). */
  message(bytes: Buffer): void;
  /** The stream broke gRPC's framing or a limit; nothing more is read. */
  failed(status: GrpcStatus): void;
}

export class MessageReader {
  /** Made only when a prefix is split across chunks. */
  private prefix: Buffer | undefined;
  private prefixBytes = 0;
  private body: Buffer | undefined;
  private bodyBytes = 0;
  private broken = false;
  private paused = false;
  /** The rest of a chunk not read because the reader was paused. */
  private unread: Buffer | undefined;

  constructor(
    private readonly maxMessageBytes: number,
    private readonly events: MessageReaderEvents,
  ) {}

  /** True while a message has begun and not ended: the request ending now truncates it. */
  get midMessage(): boolean {
    return this.prefixBytes > 0 || this.body !== undefined || this.unread !== undefined;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Stops after the message being delivered; the rest of the chunk waits for resume. */
  pause(): void {
    this.paused = true;
  }

  /** Reads on from where pause stopped (it may pause again on the way). */
  resume(): void {
    this.paused = false;
    const rest = this.unread;
    this.unread = undefined;
    if (rest !== undefined) this.push(rest);
  }

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.broken) {
      if (this.paused) {
        // a copy: the chunk may be a view of a much larger buffer (a socket read, a relay batch),
        // which a reader paused for long would keep alive
        this.unread = Buffer.from(chunk.subarray(at));
        return;
      }
      if (this.body === undefined) {
        if (this.prefixBytes === 0 && chunk.length - at >= messagePrefixBytes) {
          // the common case: the whole prefix is in this chunk
          const flag = chunk[at] ?? 0;
          const length = chunk.readUInt32BE(at + 1);
          at += messagePrefixBytes;
          if (!this.startMessage(flag, length)) return;
          continue;
        }
        const prefix = (this.prefix ??= Buffer.alloc(messagePrefixBytes));
        const take = Math.min(messagePrefixBytes - this.prefixBytes, chunk.length - at);
        chunk.copy(prefix, this.prefixBytes, at, at + take);
        this.prefixBytes += take;
        at += take;
        if (this.prefixBytes < messagePrefixBytes) return;
        this.prefixBytes = 0;
        if (!this.startMessage(prefix[0] ?? 0, prefix.readUInt32BE(1))) return;
        continue;
      }
      const take = Math.min(this.body.length - this.bodyBytes, chunk.length - at);
      chunk.copy(this.body, this.bodyBytes, at, at + take);
      this.bodyBytes += take;
      at += take;
      if (this.bodyBytes === this.body.length) this.endMessage();
    }
  }

  private startMessage(flag: number, length: number): boolean {
    // The request carried no grpc-encoding other than identity (others are refused before reading),
    // so a compressed message is a framing error, as grpc-go's checkRecvPayload says.
    if (flag === 1) return this.fail({ code: Status.INTERNAL, details: 'grpc: compressed flag set with identity or empty encoding' });
    if (flag !== 0) return this.fail({ code: Status.INTERNAL, details: `grpc: received unexpected payload format ${flag}` });
    if (length > this.maxMessageBytes) {
      return this.fail({ code: Status.RESOURCE_EXHAUSTED, details: `grpc: received message larger than max (${length} vs. ${this.maxMessageBytes})` });
    }
    this.body = Buffer.allocUnsafe(length);
    this.bodyBytes = 0;
    if (length === 0) this.endMessage();
    return true;
  }

  private endMessage(): void {
    const body = this.body;
    this.body = undefined;
    if (body !== undefined) this.events.message(body);
  }

  private fail(status: GrpcStatus): false {
    this.broken = true;
    this.body = undefined;
    this.events.failed(status);
    return false;
  }
}
