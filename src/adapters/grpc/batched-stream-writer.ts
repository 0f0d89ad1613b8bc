// Writes the messages of one server-streaming gRPC call in batches: every message queued in one tick
// goes out in one HTTP/2 write, each written straight into that write's buffer (a message only says
// how large it is and how to write itself, so no buffer is made per message). grpc-js writes each message separately and waits for its write
// callback before taking the next, so a revision that fans out to 100 watchers of one stream cost 100
// write round trips through the HTTP/2 session (and, behind the :authority shim, 100 socket writes).
// Measured on the kvbench watch runs (docs/design.md). The framing is gRPC's own: a zero
// compression flag and a 4-byte big-endian length before each message.
import { Metadata, type ServerDuplexStream } from '@grpc/grpc-js';

/** A message that writes its own encoding when the batch is assembled. */
export interface OutgoingMessage {
  readonly size: number;
  writeTo(buf: Buffer, at: number): void;
}

/** A message already encoded. */
export class EncodedMessage implements OutgoingMessage {
  constructor(private readonly bytes: Buffer) {}
  get size(): number {
    return this.bytes.length;
  }
  writeTo(buf: Buffer, at: number): void {
    this.bytes.copy(buf, at);
  }
}

/** The part of node's ServerHttp2Stream used here. */
interface RawStream {
  write(chunk: Buffer, callback: (err?: Error | null) => void): boolean;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
}

/**
 * The HTTP/2 stream under a grpc-js server call. grpc-js does not expose it: this reads the field
 * its call object keeps it in (call.call.stream, grpc-js 1.x without server interceptors) and returns
 * null when that shape is not there, in which case messages go through grpc-js one by one.
 */
function rawStreamOf(call: object): RawStream | null {
  const inner = (call as { call?: { stream?: unknown } }).call;
  const stream = inner?.stream as Partial<RawStream> | undefined;
  if (stream === undefined || typeof stream.write !== 'function' || typeof stream.destroyed !== 'boolean') return null;
  return stream as RawStream;
}

export class BatchedStreamWriter {
  private readonly raw: RawStream | null;
  private pending: OutgoingMessage[] = [];
  private pendingBytes = 0;
  private inFlightBytes = 0;
  private flushScheduled = false;
  private headersSent = false;

  /** onDrained: every queued byte has been written out (the backlog is back to 0). */
  constructor(
    private readonly call: ServerDuplexStream<unknown, Buffer>,
    private readonly onDrained: () => void,
  ) {
    this.raw = rawStreamOf(call);
  }

  /** Bytes queued or handed to the HTTP/2 stream and not yet written out. */
  get backlogBytes(): number {
    return this.pendingBytes + this.inFlightBytes;
  }

  write(message: OutgoingMessage): void {
    if (this.raw === null) {
      const bytes = Buffer.allocUnsafe(message.size);
      message.writeTo(bytes, 0);
      this.inFlightBytes += bytes.length;
      this.call.write(bytes, () => this.written(bytes.length));
      return;
    }
    this.pending.push(message);
    this.pendingBytes += 5 + message.size;
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const raw = this.raw;
    if (raw === null || this.pending.length === 0) return;
    const total = this.pendingBytes;
    const out = Buffer.allocUnsafe(total);
    let at = 0;
    for (const m of this.pending) {
      const size = m.size;
      out[at] = 0;
      out.writeUInt32BE(size, at + 1);
      m.writeTo(out, at + 5);
      at += 5 + size;
    }
    this.pending = [];
    this.pendingBytes = 0;
    // The call ended (status sent, or the client went away): a write now would be an error event.
    if (raw.destroyed || raw.writableEnded) return;
    if (!this.headersSent) {
      // grpc-js sends the response headers before its first message; raw writes must too.
      this.headersSent = true;
      this.call.sendMetadata(new Metadata());
    }
    this.inFlightBytes += total;
    raw.write(out, () => this.written(total));
  }

  private written(bytes: number): void {
    this.inFlightBytes -= bytes;
    if (this.backlogBytes === 0) this.onDrained();
  }
}
