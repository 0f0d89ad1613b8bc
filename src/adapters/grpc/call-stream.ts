// What a gRPC call needs of its HTTP/2 stream, whichever HTTP/2 carries it: Lattice's own
// (src/adapters/h2/, plain-text connections) or node's (TLS connections, for now).
import { constants as http2Constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { GrpcStatus } from './error-status.js';
import { percentEncodeGrpcMessage } from './grpc-wire.js';

/** Where a stream's events go: the call, one object, no closures per event. */
export interface CallStreamEvents {
  requestData(chunk: Buffer): void;
  /** The client half-closed, after every chunk. */
  requestEnded(): void;
  /** The stream is gone (trailers sent and the client done, a reset, or the connection closed). */
  streamClosed(): void;
}

export interface CallStream {
  listen(events: CallStreamEvents): void;
  /** Nothing can be sent any more. */
  readonly gone: boolean;
  /** The client's END_STREAM has been read. */
  readonly requestEnded: boolean;
  sendHeaders(): void;
  /** One write of DATA; `written` once it has left (or cannot any more). */
  sendData(bytes: Buffer, written: () => void): void;
  /** The status after the data; a client still sending then is reset with NO_ERROR, as grpc-go does. */
  sendTrailers(status: GrpcStatus | undefined): void;
  /**
   * A whole unary answer: headers, the one message and an OK status, where the stream can send them
   * as one (a relayed call); absent, the call sends the three in turn.
   */
  sendUnary?(framed: Buffer, written: () => void): void;
  /** The status alone, as the only HEADERS frame (Trailers-Only). */
  sendTrailersOnly(status: GrpcStatus | undefined, httpStatus?: number, extra?: Readonly<Record<string, string>>): void;
  destroy(): void;
  pause(): void;
  resume(): void;
}

const okStatus: GrpcStatus = { code: 0, details: '' };

/** The trailer fields of a status: grpc-status, and grpc-message unless OK. */
export function statusFields(status: GrpcStatus | undefined): Record<string, string> {
  const s = status ?? okStatus;
  if (s.code === 0) return { 'grpc-status': '0' };
  return { 'grpc-status': String(s.code), 'grpc-message': percentEncodeGrpcMessage(s.details) };
}

// ---- node's http2 ----

const responseHeaders: OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc' };
/** sendDate: gRPC has no use for a `date` header and it costs a string per response. */
const respondOptions = { waitForTrailers: true, sendDate: false };
const trailersOnlyOptions = { endStream: true, sendDate: false };

const owner = Symbol('callStream');
interface OwnedStream extends ServerHttp2Stream {
  [owner]?: NodeCallStream;
}

/**
 * After the status, a client still sending (an oversized message's body, a stream the server ended)
 * is told to stop with RST_STREAM NO_ERROR, as grpc-go's finishStream does; a turn later, so that a
 * client whose END_STREAM is already here is left alone.
 */
export function resetIfClientStillSending(stream: ServerHttp2Stream): void {
  if (!stream.closed && !stream.destroyed && !stream.readableEnded) stream.close(http2Constants.NGHTTP2_NO_ERROR);
}

// Listeners shared by all calls (`this` is the stream), so no closures are made per call.
function onWantTrailers(this: OwnedStream): void {
  const s = this[owner];
  this.sendTrailers(statusFields(s?.trailers));
  // a client whose END_STREAM is already here needs no reset: no immediate for it (every unary call)
  if (!this.readableEnded) setImmediate(resetIfClientStillSending, this);
}
function onClose(this: OwnedStream): void {
  this[owner]?.events?.streamClosed();
}
function onData(this: OwnedStream, chunk: Buffer): void {
  this[owner]?.events?.requestData(chunk);
}
function onEnd(this: OwnedStream): void {
  this[owner]?.events?.requestEnded();
}
function onError(): void {
  // RST_STREAM from the client or a broken session; 'close' follows and ends the call.
}

export class NodeCallStream implements CallStream {
  events: CallStreamEvents | undefined;
  trailers: GrpcStatus | undefined;

  constructor(readonly stream: ServerHttp2Stream) {}

  listen(events: CallStreamEvents): void {
    this.events = events;
    const s = this.stream as OwnedStream;
    s[owner] = this;
    s.on('close', onClose);
    s.on('error', onError);
    s.on('data', onData);
    s.on('end', onEnd);
  }

  get gone(): boolean {
    return this.stream.destroyed || this.stream.closed;
  }

  get requestEnded(): boolean {
    return this.stream.readableEnded;
  }

  sendHeaders(): void {
    this.stream.respond(responseHeaders, respondOptions);
    this.stream.once('wantTrailers', onWantTrailers);
  }

  sendData(bytes: Buffer, written: () => void): void {
    if (this.stream.writableEnded) return written();
    this.stream.write(bytes, written);
  }

  sendTrailers(status: GrpcStatus | undefined): void {
    this.trailers = status;
    this.stream.end();
  }

  sendTrailersOnly(status: GrpcStatus | undefined, httpStatus = 200, extra: Readonly<Record<string, string>> = {}): void {
    this.stream.respond({ ':status': httpStatus, 'content-type': 'application/grpc', ...extra, ...statusFields(status) }, trailersOnlyOptions);
    setImmediate(resetIfClientStillSending, this.stream);
  }

  destroy(): void {
    this.stream.destroy();
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }
}
