// One client-initiated HTTP/2 stream as the server sees it: its request headers, the request body as
// it arrives (held while paused), and the response queued behind flow control. The connection owns
// the framing and the windows; a stream only keeps its own state and queue.
import type { RequestHeaders } from './request-headers.js';
import { HeldInput } from './held-input.js';

/** What a stream tells its owner (the gRPC call). One object per stream, no closures per event. */
export interface H2StreamEvents {
  /** A chunk of the request body (a DATA frame's payload without padding). */
  data(chunk: Buffer): void;
  /** The client ended its side (END_STREAM), after every chunk. */
  end(): void;
  /** The stream is gone: both sides ended, or a reset either way, or the connection closed. */
  close(): void;
}

/** What a stream asks of its connection. */
export interface StreamHost {
  sendHeaders(stream: H2Stream, block: Buffer, endStream: boolean): void;
  /** `queuedBytes` more of DATA (or trailers, 0) are queued on `stream`: send what the windows allow. */
  schedule(stream: H2Stream, queuedBytes: number): void;
  /** `bytes` of the request body were taken by the owner: the client may send as many more. */
  consumed(stream: H2Stream, bytes: number): void;
  reset(stream: H2Stream, code: number): void;
}

export interface QueuedData {
  readonly bytes: Buffer;
  offset: number;
  readonly written: (() => void) | undefined;
}

export class H2Stream {
  events: H2StreamEvents | undefined;
  /** The client sent END_STREAM. */
  remoteEnded = false;
  /** END_STREAM was queued by the server (it goes out after the queued data). */
  localEnded = false;
  closed = false;
  /**
   * Once the whole response is out, a client still sending is told to stop with RST_STREAM
   * NO_ERROR (grpc-go's finishStream), so the stream does not stay half open.
   */
  resetWhenAnswered = false;
  headersSent = false;
  /** This side's send window (the client's INITIAL_WINDOW_SIZE, then its WINDOW_UPDATEs). */
  sendWindow: number;
  /** How much more DATA the client may send before a WINDOW_UPDATE. */
  receiveWindow: number;
  /** Body bytes consumed since the last WINDOW_UPDATE for this stream. */
  receiveUnacked = 0;
  readonly queue: QueuedData[] = [];
  queuedBytes = 0;
  /** The request's content-length (-1 when none) and the body octets received so far, to hold one to the other. */
  contentLength = -1;
  bodyBytes = 0;
  /** Trailers to send once the queue is empty (ends the stream). */
  trailers: Buffer | undefined;
  /** Body chunks that arrived while paused, and END_STREAM if it came behind them. */
  private readonly held = new HeldInput();
  private paused = false;
  /**
   * Delivered body bytes are credited back to the client (its windows topped up) when the owner says
   * so with `credit`, not on delivery: a relayed call's bytes are taken in another process.
   */
  creditLater = false;
  /** Delivered and not yet credited (creditLater). */
  private uncredited = 0;

  constructor(
    readonly id: number,
    readonly headers: RequestHeaders,
    /** The request had no body: END_STREAM came on its HEADERS. */
    readonly endAfterHeaders: boolean,
    private readonly host: StreamHost,
    sendWindow: number,
    receiveWindow: number,
  ) {
    this.sendWindow = sendWindow;
    this.receiveWindow = receiveWindow;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  respond(block: Buffer, endStream: boolean): void {
    // one response HEADERS per stream; trailers go through endWithTrailers
    if (this.closed || this.localEnded || this.headersSent) return;
    this.headersSent = true;
    if (endStream) this.localEnded = true;
    this.host.sendHeaders(this, block, endStream);
  }

  /** Queues DATA; `written` is called once all of it has been handed to the socket (or the stream is gone). */
  write(bytes: Buffer, written?: () => void): void {
    if (this.closed || this.localEnded) {
      written?.();
      return;
    }
    this.queue.push({ bytes, offset: 0, written });
    this.queuedBytes += bytes.length;
    this.host.schedule(this, bytes.length);
  }

  /** Ends the response with trailers, after every queued DATA frame. */
  endWithTrailers(block: Buffer): void {
    if (this.closed || this.localEnded) return;
    this.localEnded = true;
    this.trailers = block;
    this.host.schedule(this, 0);
  }

  reset(code: number): void {
    if (!this.closed) this.host.reset(this, code);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.held.release(
      () => !this.paused && !this.closed,
      (chunk) => this.deliver(chunk),
      () => this.events?.end(),
    );
  }

  /** From the connection: a DATA payload for this stream. */
  received(chunk: Buffer): void {
    if (this.paused) this.held.hold(chunk);
    else this.deliver(chunk);
  }

  /** From the connection: END_STREAM; held while paused, as the body is. */
  receivedEnd(): void {
    this.remoteEnded = true;
    if (this.paused) this.held.holdEnd();
    else this.events?.end();
  }

  /**
   * From the connection, once: the stream is gone. Queued writes are released; returns the body bytes
   * it still held. A write partly framed already has frames waiting for the socket that still point
   * into its bytes: its `written` goes to `afterSent`, which calls it once those frames have left.
   */
  closedByConnection(afterSent?: (written: () => void) => void): number {
    if (this.closed) return 0;
    this.closed = true;
    // what was delivered and not credited goes back to the connection's window with what was held
    const heldBytes = this.uncredited + this.held.clear();
    this.uncredited = 0;
    for (const q of this.queue) {
      if (q.written === undefined) continue;
      if (q.offset > 0 && afterSent !== undefined) afterSent(q.written);
      else q.written();
    }
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.events?.close();
    return heldBytes;
  }

  private deliver(chunk: Buffer): void {
    if (this.creditLater) this.uncredited += chunk.length;
    else this.host.consumed(this, chunk.length);
    this.events?.data(chunk);
  }

  /** `bytes` delivered earlier were taken (creditLater); at most what is still uncredited. */
  credit(bytes: number): void {
    const n = Math.min(bytes, this.uncredited);
    if (n <= 0 || this.closed) return;
    this.uncredited -= n;
    this.host.consumed(this, n);
  }

  /** Everything delivered counts as taken (a relayed call that was answered). */
  creditAll(): void {
    this.credit(this.uncredited);
  }
}
