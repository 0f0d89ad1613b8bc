// HTTP requests that arrive on an HTTP/2 connection whose streams the gRPC server owns (the client
// port over TLS, where curl and browsers choose h2 by ALPN as they do against etcd). etcd routes
// such a request by content type (embed/serve.go grpcHandlerFunc): application/grpc to gRPC,
// anything else to its HTTP mux. The HTTP handlers here are written against node's HTTP/1 request
// and response; node's HTTP/2 compatibility API provides the same surface over a stream. Its
// request/response pair is made by an HTTP/2 server on its 'stream' event, so the bridge keeps one
// such server that never listens and hands it each stream as node's own server would.
//
// What node's HTTP/1 server does for the handlers the bridge does per stream: a request whose body
// has not all arrived within the request timeout is answered 408 (or cut off when its answer has
// begun), and a stream whose answer is complete while the client still sends (an oversized body
// refused unread) is reset with NO_ERROR, as Go's HTTP/2 server does, instead of staying half open.
import http2 from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Serves one HTTP/2 stream that is not a gRPC call, with the arguments of node's 'stream' event. */
export type Http2RequestSink = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => void;

type Http1StyleListener = (req: IncomingMessage, res: ServerResponse) => void;

export interface Http2RequestBridgeOptions {
  /**
   * A request whose body has not ended this long after its headers is timed out (0: never). The
   * client port passes its HTTP/1 server's requestTimeout, so both protocols give a body as long.
   */
  readonly requestTimeoutMs: number;
}

/** etcd's test (strings.Contains on Content-Type) for a request the gRPC server takes. */
export const isGrpcRequest = (headers: http2.IncomingHttpHeaders): boolean => (headers['content-type'] ?? '').includes('application/grpc');

/** The client sent END_STREAM, whether or not the handler read the body up to it. */
const clientDone = (stream: http2.ServerHttp2Stream): boolean => stream.endAfterHeaders || stream.readableEnded || stream.state.remoteClose === 1;

/** After the answer, a client still sending is told to stop; a turn later, so an END_STREAM already on its way is left alone. */
function resetIfClientStillSending(stream: http2.ServerHttp2Stream): void {
  if (!stream.closed && !stream.destroyed && !clientDone(stream)) stream.close(http2.constants.NGHTTP2_NO_ERROR);
}

function guardStream(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse, requestTimeoutMs: number): void {
  const stream = res.stream;
  // the stream's own 'finish': the response's waits for the client's side to end as well
  stream.once('finish', () => setImmediate(resetIfClientStillSending, stream));
  if (requestTimeoutMs <= 0 || clientDone(stream)) return;
  const timer = setTimeout(() => {
    if (stream.closed || stream.destroyed || clientDone(stream)) return;
    // as node's HTTP/1 server does once requestTimeout passes, answer begun or not
    if (res.headersSent) {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      return;
    }
    res.writeHead(408, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('request body not received in time\n');
  }, requestTimeoutMs);
  timer.unref();
  const done = (): void => clearTimeout(timer);
  // 'end' needs the body read; a handler that stopped reading is covered by clientDone when the timer fires
  req.once('end', done);
  stream.once('close', done);
}

export function http2RequestBridge(listener: Http1StyleListener, options: Http2RequestBridgeOptions): Http2RequestSink {
  const compat = http2.createServer();
  compat.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    guardStream(req, res, options.requestTimeoutMs);
    // The compatibility pair offers what the handlers use of node's HTTP/1 pair (headers, status,
    // write/end, 'close', flushHeaders); it is not that class, hence the one cast here.
    (listener as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void)(req, res);
  });
  return (stream, headers, flags, rawHeaders) => {
    // Go's HTTP/2 server takes r.Host from :authority (a Host header only stands in when it is
    // missing), so Host and origin checks see the authority
    if (typeof headers[':authority'] === 'string') headers.host = headers[':authority'];
    compat.emit('stream', stream, headers, flags, rawHeaders);
  };
}
