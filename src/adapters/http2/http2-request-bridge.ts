// HTTP requests that arrive on an HTTP/2 connection whose streams the gRPC server owns (the client
// port over TLS, where curl and browsers choose h2 by ALPN as they do against etcd). etcd routes
// such a request by content type (embed/serve.go grpcHandlerFunc): application/grpc to gRPC,
// anything else to its HTTP mux. The HTTP handlers here are written against node's HTTP/1 request
// and response; node's HTTP/2 compatibility API provides the same surface over a stream. Its
// request/response pair is made by an HTTP/2 server on its 'stream' event, so the bridge keeps one
// such server that never listens and hands it each stream as node's own server would.
import http2 from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Serves one HTTP/2 stream that is not a gRPC call, with the arguments of node's 'stream' event. */
export type Http2RequestSink = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => void;

type Http1StyleListener = (req: IncomingMessage, res: ServerResponse) => void;

/** etcd's test (strings.Contains on Content-Type) for a request the gRPC server takes. */
export const isGrpcRequest = (headers: http2.IncomingHttpHeaders): boolean => (headers['content-type'] ?? '').includes('application/grpc');

export function http2RequestBridge(listener: Http1StyleListener): Http2RequestSink {
  const compat = http2.createServer();
  // The compatibility pair offers what the handlers use of node's HTTP/1 pair (headers, status,
  // write/end, 'close', flushHeaders); it is not that class, hence the one cast here.
  compat.on('request', listener as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  return (stream, headers, flags, rawHeaders) => {
    // Go's HTTP/2 server gives r.Host from :authority; the Host checks here read the host header
    if (headers.host === undefined && typeof headers[':authority'] === 'string') headers.host = headers[':authority'];
    compat.emit('stream', stream, headers, flags, rawHeaders);
  };
}
