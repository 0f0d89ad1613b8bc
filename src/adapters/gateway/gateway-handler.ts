// etcd's JSON gateway (`/v3/…`, `/v3beta/…`) on the client port's HTTP/1.1 side. Each request is
// routed by the protos' google.api.http bindings, its JSON body read the way grpc-gateway reads it
// (one JSON value per request message, whatever the Content-Type), and served by the very gRPC
// method object the HTTP/2 layer uses, in process (gateway-call.ts). Unary answers are one JSON
// object; streaming ones (watch, lease keepalive, election observe) one `{"result":…}` line each,
// flushed as it is made, until the call ends or the client leaves.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import { toBinary, type DescMessage } from '@bufbuild/protobuf';
import { Status } from '../grpc/grpc-codes.js';
import { verifiedCommonNameOf } from '../../tls/verified-common-name.js';
import type { ErrorLogger, GrpcStatus } from '../grpc/error-status.js';
import { grpcOverheadBytes } from '../grpc/request-size-limit.js';
import type { CallAdmission } from '../grpc/call-admission.js';
import type { GrpcMethod } from '../grpc/service-module.js';
import type { HttpHandler } from '../http/http-router.js';
import { GatewayCall } from './gateway-call.js';
import { GatewayResponseSink, sendError } from './gateway-response-sink.js';
import { GatewayRouter } from './gateway-routing.js';
import { gatewayRoutes, type GatewayRoute } from './gateway-schema.js';
import { decodeNextValue } from './go-json.js';
import { JsonpbError, assignedOf, messageOf } from './jsonpb-decode.js';
import { jsonpbWire } from './jsonpb-wire.js';
import { gatewayCallMark } from '../../auth/auth-front.js';

export interface GatewayOptions {
  /** Every gRPC method the client port serves, by path (`/etcdserverpb.KV/Range`). */
  readonly methods: ReadonlyMap<string, GrpcMethod>;
  /** etcd --max-request-bytes: requests over it + 512 KiB are refused as gRPC refuses them. */
  readonly maxRequestBytes: number;
  readonly log: ErrorLogger;
  /** The gRPC server's checks (require-leader, learner): etcd's gateway calls pass them too. */
  readonly admission?: CallAdmission;
  /** Defaults to every binding in proto/. */
  readonly routes?: readonly GatewayRoute[];
  /** Streaming calls (watch, keepalive, observe) one client address may hold open at once. */
  readonly maxStreamsPerClientAddress?: number;
  /** The auth front's flags, for etcd's refusal of client certificates with a CN (refusesCommonName). */
  readonly auth?: { readonly enabled: boolean; readonly clientCertAuth: boolean };
}

/** etcd's answer (embed/serve.go) to a gateway request whose verified client certificate has a CN. */
export const gatewayCommonNameRefusal = 'CommonName of client sending a request against gateway will be ignored and not used as expected';

/**
 * etcd's accessController: with --client-cert-auth and auth enabled, a `/v3/` (or `/v3beta/`)
 * request over TLS whose verified certificate has a Common Name is refused outright, token or not,
 * so no client expects the CN to name its user there (the gateway's calls never take it: gatewayCallMark).
 */
function refusesCommonName(auth: GatewayOptions['auth'], req: IncomingMessage, path: string): boolean {
  if (auth === undefined || !auth.clientCertAuth || !auth.enabled) return false;
  if (!path.startsWith('/v3/') && !path.startsWith('/v3beta/')) return false;
  const cn = verifiedCommonNameOf(req.socket);
  return cn !== undefined && cn !== '';
}

/** Enough for any real client; a runaway one is refused before it costs a socket and a watch stream each. */
export const defaultMaxStreamsPerClientAddress = 1000;

/**
 * An unfinished request message in a body may be this many times the gRPC receive limit (base64 and
 * field names make JSON larger than protobuf); past it the request is refused and not read further.
 */
export const maxBodyToMessageRatio = 2;

/**
 * grpc-gateway forwards Authorization and `Grpc-Metadata-*` headers as gRPC metadata, and Accept as
 * `grpcgateway-accept`, which etcd's AuthInfoFromTLS takes as the mark of a proxied call: the
 * gateway's own certificate (here, the client's: no proxy between) never names the user. Always set,
 * so a client that sends no Accept is not taken for its certificate's CN either.
 */
function metadataOf(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const md: Record<string, string | string[] | undefined> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name === 'authorization') md[name] = value;
    else if (name.startsWith('grpc-metadata-')) md[name.slice('grpc-metadata-'.length)] = value;
  }
  md[gatewayCallMark] = headers.accept ?? '*/*';
  return md;
}

const timeoutUnitMs: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/**
 * grpc-gateway's `Grpc-Timeout` header (runtime.AnnotateContext): a signed integer and a unit;
 * 0 means no deadline; anything else malformed is refused before the body is read.
 */
export function grpcTimeoutOf(req: IncomingMessage): number | GrpcStatus | undefined {
  const header = req.headers['grpc-timeout'];
  const raw = Array.isArray(header) ? header[0] : header;
  if (raw === undefined || raw === '') return undefined;
  const unit = timeoutUnitMs[raw.slice(-1)];
  const digits = raw.slice(0, -1);
  if (raw.length < 2 || unit === undefined || !/^[+-]?\d+$/.test(digits)) {
    return { code: Status.INVALID_ARGUMENT, details: `invalid grpc-timeout: ${raw}` };
  }
  return Number(digits) * unit;
}

/** Go's http.Error, which grpc-gateway's mux uses for 404 and 405. */
function goHttpError(res: ServerResponse, status: number, text: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.end(`${text}\n`);
}

/** How the body feeds the call: the first request message decides whether the call starts at all. */
interface BodyReader {
  /** Each complete JSON value as a request message; `first` is undefined for an empty body. */
  start(
    onFirst: (first: Buffer | undefined) => void,
    onMore: (bytes: Buffer) => void,
    onEnd: () => void,
    onError: (status: GrpcStatus, bodyTooLarge: boolean) => void,
  ): void;
}

export function createGatewayHandler(options: GatewayOptions): HttpHandler {
  const router = new GatewayRouter(options.routes ?? gatewayRoutes());
  const receiveLimitBytes = options.maxRequestBytes + grpcOverheadBytes;
  const maxBodyBytes = maxBodyToMessageRatio * receiveLimitBytes;
  const services = new Set([...options.methods.keys()].map((p) => p.slice(1, p.lastIndexOf('/'))));
  const maxStreamsPerAddress = options.maxStreamsPerClientAddress ?? defaultMaxStreamsPerClientAddress;
  const openStreamsByAddress = new Map<string, number>();
  /** Counts a streaming call against its client's address until the response closes; false when over the bound. */
  const admitStream = (req: IncomingMessage, res: ServerResponse): boolean => {
    const address = req.socket.remoteAddress ?? '';
    const open = openStreamsByAddress.get(address) ?? 0;
    if (open >= maxStreamsPerAddress) return false;
    openStreamsByAddress.set(address, open + 1);
    res.once('close', () => {
      const left = (openStreamsByAddress.get(address) ?? 1) - 1;
      if (left <= 0) openStreamsByAddress.delete(address);
      else openStreamsByAddress.set(address, left);
    });
    return true;
  };

  /** The request message for one JSON value, as protobuf bytes, or the status grpc-gateway/gRPC answer. */
  const encodeRequest = (input: DescMessage, text: string, from: number, atEnd: boolean) => {
    const r = decodeNextValue(text, from, atEnd);
    if (r.kind !== 'value') return r;
    try {
      const assigned = assignedOf(input, r.value);
      const bytes = jsonpbWire(input, assigned) ?? Buffer.from(toBinary(input, messageOf(input, assigned)));
      if (bytes.length > receiveLimitBytes) {
        const status: GrpcStatus = { code: Status.RESOURCE_EXHAUSTED, details: `grpc: received message larger than max (${bytes.length} vs. ${receiveLimitBytes})` };
        return { kind: 'status' as const, status, end: r.end };
      }
      return { kind: 'bytes' as const, bytes, end: r.end };
    } catch (err) {
      if (err instanceof JsonpbError) return { kind: 'error' as const, message: err.message };
      // messages nested thousands deep (txn in txn) outrun the JS stack: refused, not a crash
      if (err instanceof RangeError) return { kind: 'error' as const, message: `request nested too deeply: ${err.message}` };
      throw err;
    }
  };

  const bodyReader = (req: IncomingMessage, input: DescMessage, clientStreaming: boolean): BodyReader => ({
    start(onFirst, onMore, onEnd, onError) {
      const decoder = new StringDecoder('utf8');
      let text = '';
      let from = 0;
      let pendingBytes = 0;
      let first = true;
      let done = false;
      const pump = (atEnd: boolean): void => {
        while (!done) {
          const r = encodeRequest(input, text, from, atEnd);
          if (r.kind === 'incomplete') return;
          if (r.kind === 'eof') {
            if (!atEnd) return;
            done = true;
            if (first) onFirst(undefined);
            onEnd();
            return;
          }
          if (r.kind === 'error' || r.kind === 'status') {
            done = true;
            // grpc-gateway wraps a unary body's decode error as InvalidArgument; a request stream's
            // error goes back unwrapped, which its error handler reports as Unknown
            const decodeFailed = clientStreaming ? Status.UNKNOWN : Status.INVALID_ARGUMENT;
            const status = r.kind === 'status' ? r.status : { code: decodeFailed, details: r.message };
            // after the first message grpc-gateway stops sending quietly; the first one fails the request
            if (first || r.kind === 'status') onError(status, false);
            else onEnd();
            return;
          }
          // drop what was consumed so the buffer holds at most one unfinished value
          text = text.slice(r.end);
          from = 0;
          if (first) {
            first = false;
            // a unary call takes one message; the rest of its body is ignored, as grpc-gateway does
            if (!clientStreaming) done = true;
            onFirst(r.bytes);
          } else {
            onMore(r.bytes);
          }
        }
      };
      req.on('data', (chunk: Buffer) => {
        if (done) return;
        // what is buffered is at most one unfinished request message
        pendingBytes = text.length + chunk.length;
        if (pendingBytes > maxBodyBytes) {
          done = true;
          onError({ code: Status.RESOURCE_EXHAUSTED, details: `http: request body too large (over ${maxBodyBytes} bytes)` }, true);
          return;
        }
        const added = decoder.write(chunk);
        text += added;
        // a request message (an object) can only have been completed by a chunk that closes something;
        // skipping the others keeps a large body arriving in many chunks from being rescanned each time
        if (added.includes('}') || added.includes(']')) guarded(() => pump(false));
      });
      req.on('end', () => {
        if (done) return;
        text += decoder.end();
        guarded(() => pump(true));
      });
      // a bug here must cost this request, never the process (these run in stream callbacks)
      const guarded = (run: () => void): void => {
        try {
          run();
        } catch (err) {
          done = true;
          options.log('JSON gateway request failed', err);
          onError({ code: Status.INTERNAL, details: 'internal error' }, true);
        }
      };
    },
  });

  const serve = (req: IncomingMessage, res: ServerResponse, route: GatewayRoute): void => {
    const timeout = grpcTimeoutOf(req);
    if (timeout !== undefined && typeof timeout !== 'number') return sendError(res, timeout);
    const method = options.methods.get(route.grpcPath);
    const streaming = route.method.methodKind !== 'unary';
    if (streaming && !admitStream(req, res)) {
      return sendError(res, { code: Status.RESOURCE_EXHAUSTED, details: `too many open streams from ${req.socket.remoteAddress ?? 'this address'} (limit ${maxStreamsPerAddress})` });
    }
    const sink = new GatewayResponseSink(req, res, route.method.output, streaming, options.log);
    let call: GatewayCall | undefined;

    res.on('close', () => call?.cancel());
    // a write racing the client's disconnect must not become an uncaught 'error'
    res.on('error', () => undefined);
    const clientStreaming = route.method.methodKind === 'client_streaming' || route.method.methodKind === 'bidi_streaming';
    bodyReader(req, route.method.input, clientStreaming).start(
      (first) => {
        if (method === undefined) {
          const service = route.grpcPath.slice(1, route.grpcPath.lastIndexOf('/'));
          const name = route.grpcPath.slice(route.grpcPath.lastIndexOf('/') + 1);
          return sendError(res, {
            code: Status.UNIMPLEMENTED,
            details: services.has(service) ? `unknown method ${name} for service ${service}` : `unknown service ${service}`,
          });
        }
        const metadata = metadataOf(req.headers);
        call = new GatewayCall(metadata, sink, options.log, verifiedCommonNameOf(req.socket));
        sink.call = call;
        const refused = options.admission?.refusal(route.grpcPath, metadata);
        if (refused !== undefined) return call.end(refused);
        if (streaming) {
          const forget = options.admission?.trackStream(call, metadata);
          if (forget !== undefined) res.once('close', forget);
        }
        if (timeout !== undefined && timeout !== 0) {
          // a deadline already past fails the call before it is made, as a Go context would
          if (timeout < 0) return call.end({ code: Status.DEADLINE_EXCEEDED, details: 'context deadline exceeded' });
          call.startDeadline(timeout);
        }
        method.serve(call);
        // an empty body is an empty request for a unary call; a stream simply gets no request
        if (first !== undefined) call.deliver(first);
        else if (!streaming) call.deliver(Buffer.alloc(0));
        if (!streaming) call.finishRequests();
      },
      (more) => call?.deliver(more),
      () => call?.finishRequests(),
      (status, bodyTooLarge) => {
        // the rest of an oversized body is not worth reading: the connection goes after the answer
        // (HTTP/2 has no Connection header: the bridge resets the stream once the answer is out)
        if (bodyTooLarge && !res.headersSent && req.httpVersionMajor !== 2) res.setHeader('Connection', 'close');
        if (call !== undefined) call.end(status);
        else sendError(res, status);
      },
    );
  };

  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const decision = router.decide(req.method ?? 'GET', path, q === -1 ? '' : url.slice(q));
    if (decision.kind !== 'notGateway' && refusesCommonName(options.auth, req, path)) {
      goHttpError(res, 400, gatewayCommonNameRefusal);
      return true;
    }
    switch (decision.kind) {
      case 'notGateway':
        return false;
      case 'redirect':
        res.statusCode = 301;
        res.setHeader('Location', decision.location);
        if (req.method === 'GET' || req.method === 'HEAD') res.setHeader('Content-Type', 'text/html; charset=utf-8');
        res.end(req.method === 'GET' ? `<a href="${decision.location}">Moved Permanently</a>.\n\n` : undefined);
        return true;
      case 'notFound':
        goHttpError(res, 404, 'Not Found');
        return true;
      case 'methodNotAllowed':
        goHttpError(res, 405, 'Method Not Allowed');
        return true;
      case 'route':
        serve(req, res, decision.route);
        return true;
    }
  };
}

/** The gRPC methods of `modules` by path, as the gateway dispatches to them. */
export function methodsByPath(methods: readonly GrpcMethod[]): Map<string, GrpcMethod> {
  return new Map(methods.map((m) => [m.path, m]));
}
