// A gRPC call's stream on Lattice's own HTTP/2 (src/adapters/h2/): the response's header blocks are
// encoded once and reused; only an error status is encoded per call.
import type { GrpcStatus } from './error-status.js';
import { statusFields, type CallStream, type CallStreamEvents } from './call-stream.js';
import { ErrorCode } from '../h2/frames.js';
import type { H2Stream, H2StreamEvents } from '../h2/h2-stream.js';
import { encodeHeaderBlock } from '../h2/hpack-encoder.js';

const responseHeaderBlock = encodeHeaderBlock([
  [':status', '200'],
  ['content-type', 'application/grpc'],
]);
const okTrailerBlock = encodeHeaderBlock([['grpc-status', '0']]);
const okTrailersOnlyBlock = encodeHeaderBlock([
  [':status', '200'],
  ['content-type', 'application/grpc'],
  ['grpc-status', '0'],
]);

function trailerBlock(status: GrpcStatus | undefined): Buffer {
  if (status === undefined || status.code === 0) return okTrailerBlock;
  return encodeHeaderBlock(Object.entries(statusFields(status)));
}

export class H2CallStream implements CallStream, H2StreamEvents {
  private events: CallStreamEvents | undefined;

  constructor(private readonly stream: H2Stream) {
    stream.resetWhenAnswered = true;
  }

  listen(events: CallStreamEvents): void {
    this.events = events;
    this.stream.events = this;
  }

  get gone(): boolean {
    return this.stream.closed;
  }

  get requestEnded(): boolean {
    return this.stream.remoteEnded;
  }

  sendHeaders(): void {
    this.stream.respond(responseHeaderBlock, false);
  }

  sendData(bytes: Buffer, written: () => void): void {
    this.stream.write(bytes, written);
  }

  sendTrailers(status: GrpcStatus | undefined): void {
    this.stream.endWithTrailers(trailerBlock(status));
  }

  sendTrailersOnly(status: GrpcStatus | undefined, httpStatus = 200, extra: Readonly<Record<string, string>> = {}): void {
    const ok = (status === undefined || status.code === 0) && httpStatus === 200 && Object.keys(extra).length === 0;
    const block = ok ? okTrailersOnlyBlock : encodeHeaderBlock([[':status', String(httpStatus)], ['content-type', 'application/grpc'], ...Object.entries(extra), ...Object.entries(statusFields(status))]);
    this.stream.respond(block, true);
  }

  destroy(): void {
    this.stream.reset(ErrorCode.internalError);
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  // H2StreamEvents, forwarded to the call
  data(chunk: Buffer): void {
    this.events?.requestData(chunk);
  }

  end(): void {
    this.events?.requestEnded();
  }

  close(): void {
    this.events?.streamClosed();
  }
}
