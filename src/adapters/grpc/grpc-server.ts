// etcd's gRPC API on node:http2: the method table of the registered service modules, etcd's limits
// (etcdserver/api/v3rpc/grpc.go, embed/config.go, embed/etcd.go), per-connection keepalive, and
// shutdown. Each request's headers pick the method; server-call.ts runs the call.
//
// The same `attach` serves h2c (the client port hands over sockets) and TLS: an
// `http2.createSecureServer({ ALPNProtocols: ['h2'], ...streamResetLimits, ... })` attached here
// serves the same table.
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { clusterServiceModule } from './cluster-service.js';
import { kvServiceModule } from './kv-service.js';
import { leaseServiceModule } from './lease-service.js';
import { lockServiceModule } from './lock-service.js';
import { electionServiceModule } from './election-service.js';
import { maintenanceServiceModule } from './maintenance-service.js';
import { Status } from './grpc-codes.js';
import type { ErrorLogger, GrpcStatus } from './error-status.js';
import { parseGrpcTimeout } from './grpc-wire.js';
import { KeepalivePolicy, defaultKeepaliveMinTimeMs } from './keepalive-policy.js';
import { grpcOverheadBytes } from './request-size-limit.js';
import { ServerCall } from './server-call.js';
import { NodeCallStream, type CallStream, type CallStreamEvents } from './call-stream.js';
import { H2CallStream } from './h2-call-stream.js';
import type { H2Connection } from '../h2/h2-connection.js';
import { serveH2Connection } from './h2-serving.js';
import { streamResetLimits, streamResetLimitsSupported } from './stream-reset-limit.js';
import type { GrpcMethod, GrpcServiceContext, GrpcServiceModule } from './service-module.js';
import { watchServiceModule } from './watch-service.js';
import { CallAdmission } from './call-admission.js';
import { authServiceModule } from './auth-service.js';
import type { GrpcServerStats } from '../../metrics/grpc-call-stats.js';
import { isGrpcRequest, type Http2RequestSink } from '../http2/http2-request-bridge.js';

/** etcd: embed.DefaultMaxRequestBytes (1.5 MiB). */
export const defaultMaxRequestBytes = 1.5 * 1024 * 1024;
/** etcd: embed.DefaultMaxTxnOps. */
export const defaultMaxTxnOps = 128;
/** etcd: embed.DefaultMaxConcurrentStreams = math.MaxUint32. */
export const defaultMaxConcurrentStreams = 2 ** 32 - 1;
/** etcd: embed.DefaultGRPCKeepAliveInterval (2h) and DefaultGRPCKeepAliveTimeout (20s). */
export const defaultKeepaliveIntervalMs = 2 * 60 * 60 * 1000;
export const defaultKeepaliveTimeoutMs = 20 * 1000;
/**
 * nghttp2's per-session memory cap (node's maxSessionMemory, in MiB; its default is 10). Past it
 * the session refuses new streams; 1,000 clients with 1.5 MiB requests on one connection need more.
 */
const maxSessionMemoryMiB = 512;

/** HTTP/2 connection troubles logged per window; the rest are counted and reported with the next window's first. */
const connectionLogBurst = 10;
const connectionLogWindowMs = 10_000;

/** A log for connection-level events, which a misbehaving client could otherwise make flood the log. */
function rateLimitedLog(log: ErrorLogger): ErrorLogger {
  let windowStartMs = 0;
  let logged = 0;
  let suppressed = 0;
  return (message, err) => {
    const now = Date.now();
    if (now - windowStartMs >= connectionLogWindowMs) {
      windowStartMs = now;
      logged = 0;
    }
    if (logged >= connectionLogBurst) {
      suppressed++;
      return;
    }
    logged++;
    const dropped = suppressed > 0 ? ` (${suppressed} similar messages not logged before this one)` : '';
    suppressed = 0;
    log(`${message}${dropped}`, err);
  };
}

let resetLimitWarned = false;
/** Tells once per process, when node's HTTP/2 first serves a connection, if node ignores the stream reset limits (it keeps nghttp2's 1,000 then 33/s). */
function warnIfResetLimitsIgnored(log: ErrorLogger): void {
  if (resetLimitWarned) return;
  resetLimitWarned = true;
  void streamResetLimitsSupported().then((supported) => {
    if (!supported) {
      log(
        `node ${process.version} ignores streamResetBurst/streamResetRate: a TLS connection whose client cancels more than 1,000 calls at once, then 33 a second, is closed with GOAWAY INTERNAL_ERROR (docs/limitations.md)`,
        undefined,
      );
    }
  });
}

/** Services every client port serves; Auth joins by appending its module. */
export const defaultGrpcServices: readonly GrpcServiceModule[] = [
  kvServiceModule,
  watchServiceModule,
  leaseServiceModule,
  lockServiceModule,
  electionServiceModule,
  maintenanceServiceModule,
  clusterServiceModule,
  authServiceModule,
];

export interface GrpcServerLimits {
  readonly maxRequestBytes: number;
  readonly maxConcurrentStreams: number;
  readonly keepaliveIntervalMs: number;
  readonly keepaliveTimeoutMs: number;
  /** etcd --grpc-keepalive-min-time (default 5 s). */
  readonly keepaliveMinTimeMs?: number;
  /** A connection with no call open and no frame either way this long is closed with GOAWAY; 0: never. */
  readonly idleTimeoutMs?: number;
}

export interface GrpcServer {
  /**
   * Serves one HTTP/2 connection: a socket whose client preface may already have been read and
   * pushed back, or the shim's duplex. With `otherRequests`, a request that is not gRPC (by content
   * type) goes there instead of being refused (the client port over TLS, as etcd serves it).
   */
  handleConnection(connection: Duplex, peer?: { readonly verifiedCommonName: string | undefined }, otherRequests?: Http2RequestSink): void;
  /**
   * Serves one plain-text HTTP/2 connection on Lattice's own HTTP/2 (src/adapters/h2/): every
   * request on it is taken as gRPC. The client preface may have been read and pushed back.
   */
  serveHttp2(connection: Duplex, peer?: { readonly verifiedCommonName: string | undefined }): void;
  /**
   * Runs a call whose HTTP/2 stream is served by a transport worker: its headers as the worker read
   * them, `grpc-timeout` apart (the headers may be shared by many calls; see transport-workers/).
   */
  serveRelayed(stream: CallStream, headers: http2.IncomingHttpHeaders, timeout: string | undefined): void;
  /** Serves the streams of another HTTP/2 server too (TLS: createSecureServer with ALPN h2). */
  attach(server: http2.Http2Server | http2.Http2SecureServer): void;
  /** GOAWAY to every connection now; calls in flight may finish. */
  drain(): void;
  /** Drops every connection, calls in flight or not. */
  destroy(): void;
  /** Calls whose HTTP/2 stream is still open (tests check it returns to its baseline: no call leaks). */
  readonly openCalls: number;
  /** The checks a call passes before its method runs; the JSON gateway's calls pass them too. */
  readonly admission: CallAdmission;
}

/** grpc-go's answer for a request path it cannot route (server.go handleStream). */
function unroutedStatus(path: string, services: ReadonlySet<string>): GrpcStatus {
  const name = path.startsWith('/') ? path.slice(1) : path;
  const slash = name.lastIndexOf('/');
  if (slash < 0) return { code: Status.RESOURCE_EXHAUSTED, details: `malformed method name: "${path}"` };
  const service = name.slice(0, slash);
  const method = name.slice(slash + 1);
  if (!services.has(service)) return { code: Status.UNIMPLEMENTED, details: `unknown service ${service}` };
  return { code: Status.UNIMPLEMENTED, details: `unknown method ${method} for service ${service}` };
}

/** Events of a refused call's stream: nothing to do but let it close. */
const ignoredEvents: CallStreamEvents = { requestData: () => undefined, requestEnded: () => undefined, streamClosed: () => undefined };

function refuse(stream: CallStream, status: GrpcStatus, extra: Readonly<Record<string, string>> = {}, httpStatus = 200): void {
  stream.listen(ignoredEvents);
  if (stream.gone) return;
  stream.sendTrailersOnly(status, httpStatus, extra);
}

/** What a call needs of the connection it came on. */
interface CallConnection {
  readonly policy: KeepalivePolicy | undefined;
  readonly verifiedCommonName: string | undefined;
}

const relayedConnection: CallConnection = { policy: undefined, verifiedCommonName: undefined };

export function createGrpcServer(
  limits: GrpcServerLimits,
  ctx: GrpcServiceContext,
  services: readonly GrpcServiceModule[],
  /** Per-method call counts for /metrics; absent: nothing is counted. */
  stats?: GrpcServerStats,
): GrpcServer {
  const log: ErrorLogger = ctx.log;
  const table = new Map<string, GrpcMethod>();
  const serviceNames = new Set<string>();
  for (const s of services) {
    if (serviceNames.has(s.name)) throw new Error(`gRPC service ${s.name} registered twice`);
    serviceNames.add(s.name);
    for (const m of s.methods(ctx)) {
      if (!m.path.startsWith(`/${s.name}/`)) throw new Error(`service ${s.name} lists method ${m.path}`);
      table.set(m.path, m);
      stats?.register(m.path, m.kind);
    }
  }
  const maxReceiveMessageBytes = limits.maxRequestBytes + grpcOverheadBytes;
  const connectionLog = rateLimitedLog(log);
  const admission = new CallAdmission(ctx.api);
  const policies = new WeakMap<http2.Http2Session, KeepalivePolicy>();
  const sessions = new Set<http2.ServerHttp2Session>();
  // The client certificate's CN of a TLS connection, known to handleConnection and needed per call.
  // node's HTTP/2 server makes the session and emits 'session' synchronously inside
  // emit('connection'), so the value set around that emit reaches exactly that session.
  const commonNames = new WeakMap<http2.Http2Session, string>();
  let connectingCommonName: string | undefined;
  const otherSinks = new WeakMap<http2.Http2Session, Http2RequestSink>();
  let connectingOtherSink: Http2RequestSink | undefined;
  let openCalls = 0;
  const callClosed = (): void => {
    openCalls--;
  };

  const onStream = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]): void => {
    const other = otherSinks.get(stream.session as http2.Http2Session);
    if (other !== undefined && !isGrpcRequest(headers)) return serveOther(stream, headers, flags, rawHeaders, other);
    const session = stream.session as http2.Http2Session;
    startCall(new NodeCallStream(stream), headers, { policy: policies.get(session), verifiedCommonName: commonNames.get(session) });
  };

  const startCall = (stream: CallStream, headers: http2.IncomingHttpHeaders, connection: CallConnection, timeout = headers['grpc-timeout']): void => {
    const contentType = headers['content-type'];
    if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
      // grpc-go (1.40 on, http2_server.go operateHeaders) answers 415 before it looks up the method,
      // so a plain HTTP request on a gRPC-only connection (h2c, or TLS through the authority shim)
      // is told it is not gRPC rather than given a routing status under HTTP 200
      return refuse(stream, { code: Status.INVALID_ARGUMENT, details: `invalid gRPC request content-type ${JSON.stringify(contentType ?? '')}` }, {}, 415);
    }
    const path = headers[':path'] ?? '';
    const method = table.get(path);
    if (method === undefined) return refuse(stream, unroutedStatus(path, serviceNames));
    const encoding = headers['grpc-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      return refuse(
        stream,
        { code: Status.UNIMPLEMENTED, details: `grpc: Decompressor is not installed for grpc-encoding "${String(encoding)}"` },
        { 'grpc-accept-encoding': 'identity' },
      );
    }
    const policy = connection.policy;
    policy?.streamOpened();
    const call = new ServerCall(stream, headers, {
      maxReceiveMessageBytes,
      log,
      connection: policy,
      verifiedCommonName: connection.verifiedCommonName,
      observer: stats?.callStarted(path),
      closed: callClosed,
    });
    openCalls++;
    if (typeof timeout === 'string') {
      const ms = parseGrpcTimeout(timeout);
      if (typeof ms !== 'number') return call.end(ms);
      call.startDeadline(ms);
    }
    const refused = admission.refusal(path, headers);
    if (refused !== undefined) return call.end(refused);
    if (method.kind !== 'unary') {
      const forget = admission.trackStream(call, headers);
      if (forget !== undefined) call.afterClose(forget);
    }
    try {
      method.serve(call);
    } catch (err) {
      call.fail(err);
    }
  };

  const h2Connections = new Set<H2Connection>();
  const forgetH2 = (conn: H2Connection): void => {
    h2Connections.delete(conn);
  };
  const serveHttp2 = (socket: Duplex, peer?: { readonly verifiedCommonName: string | undefined }): void => {
    const verifiedCommonName = peer?.verifiedCommonName;
    const conn = serveH2Connection(
      socket,
      limits,
      (stream, policy) => startCall(new H2CallStream(stream), stream.headers, { policy, verifiedCommonName }),
      connectionLog,
      forgetH2,
    );
    if (conn !== undefined) h2Connections.add(conn);
  };

  /** A call whose HTTP/2 stream is in a transport worker (src/adapters/transport-workers/); the worker keeps the keepalive policy. */
  const serveRelayed = (stream: CallStream, headers: http2.IncomingHttpHeaders, timeout: string | undefined): void => startCall(stream, headers, relayedConnection, timeout);

  /** An HTTP request on the connection: it counts as an open stream, so an idle timeout leaves a streaming answer (a watch) alone. */
  const serveOther = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[], sink: Http2RequestSink): void => {
    const policy = policies.get(stream.session as http2.Http2Session);
    if (policy !== undefined) {
      policy.streamOpened();
      stream.once('close', () => policy.streamClosed());
    }
    sink(stream, headers, flags, rawHeaders);
  };

  const onSession = (session: http2.ServerHttp2Session): void => {
    // only node's HTTP/2 (TLS connections) has nghttp2's reset limit; told at the first such session
    warnIfResetLimitsIgnored(log);
    sessions.add(session);
    if (connectingCommonName !== undefined) commonNames.set(session, connectingCommonName);
    if (connectingOtherSink !== undefined) otherSinks.set(session, connectingOtherSink);
    const policy = new KeepalivePolicy(limits.keepaliveMinTimeMs ?? defaultKeepaliveMinTimeMs);
    policies.set(session, policy);
    session.on('error', (err: NodeJS.ErrnoException) => {
      // a client that went away without closing is no trouble worth a line
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') connectionLog('HTTP/2 connection error', err);
    });
    session.on('frameError', (type: number, code: number, id: number) =>
      connectionLog(`HTTP/2 frame not sent (type ${type}, code ${code}, stream ${id})`, undefined),
    );
    session.on('goaway', (code: number, _lastStreamId: number, data?: Buffer) => {
      if (code !== http2.constants.NGHTTP2_NO_ERROR) {
        connectionLog(`client sent GOAWAY code ${code}${data !== undefined && data.length > 0 ? ` (${data.toString()})` : ''}`, undefined);
      }
    });
    let unwatched: NodeJS.Timeout | undefined;
    const onPing = (): void => {
      const verdict = policy.ping(Date.now());
      if (verdict === 'dataFlowing') {
        // the pings of the next min-time cannot be strikes: stop hearing about them until then
        session.off('ping', onPing);
        unwatched = setTimeout(() => {
          if (!session.destroyed) session.on('ping', onPing);
        }, policy.minTimeMs);
        unwatched.unref();
      } else if (verdict === 'tooManyPings' && !session.destroyed) {
        connectionLog('a client sent too many pings; closing its connection with GOAWAY too_many_pings', undefined);
        session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from('too_many_pings'));
        // after the GOAWAY has gone out
        setImmediate(() => session.destroy());
      }
    };
    session.on('ping', onPing);
    // Idle means no call open: a quiet watch or a Lock waiting its turn keeps its connection.
    if ((limits.idleTimeoutMs ?? 0) > 0) {
      // A listener of its own: setTimeout's callback is called once only, and a first timeout may
      // come while a call is open; the timer starts again with the next frame either way.
      session.setTimeout(limits.idleTimeoutMs ?? 0);
      session.on('timeout', () => {
        if (policy.openStreams === 0 && !session.closed && !session.destroyed) session.close();
      });
    }
    // The server's own keepalive: a PING every interval, the connection dropped if not answered in
    // time (0 disables either, as etcd's flags say).
    const keepalive =
      limits.keepaliveIntervalMs > 0
        ? setInterval(() => {
            if (session.destroyed || session.closed) return;
            const unanswered = limits.keepaliveTimeoutMs > 0 ? setTimeout(() => session.destroy(), limits.keepaliveTimeoutMs) : undefined;
            unanswered?.unref();
            const sent = session.ping((err) => {
              clearTimeout(unanswered);
              if (err !== null) session.destroy();
            });
            if (!sent) clearTimeout(unanswered);
          }, limits.keepaliveIntervalMs)
        : undefined;
    keepalive?.unref();
    session.once('close', () => {
      clearInterval(keepalive);
      clearTimeout(unwatched);
      sessions.delete(session);
    });
  };

  const attach = (server: http2.Http2Server | http2.Http2SecureServer): void => {
    server.on('stream', onStream);
    server.on('session', onSession);
    server.on('sessionError', (err) => connectionLog('HTTP/2 session error', err));
  };

  // ServerOptions of node 20 does not list the reset limits; a node that lacks them ignores them
  const serverOptions: http2.ServerOptions & typeof streamResetLimits = {
    ...streamResetLimits,
    maxSessionMemory: maxSessionMemoryMiB,
    settings: {
      maxConcurrentStreams: Math.min(limits.maxConcurrentStreams, 2 ** 32 - 1),
      enablePush: false,
    },
  };
  const h2c = http2.createServer(serverOptions);
  attach(h2c);

  return {
    serveHttp2,
    serveRelayed,
    handleConnection: (connection, peer, otherRequests) => {
      connectingCommonName = peer?.verifiedCommonName;
      connectingOtherSink = otherRequests;
      try {
        h2c.emit('connection', connection);
      } finally {
        connectingCommonName = undefined;
        connectingOtherSink = undefined;
      }
    },
    attach,
    drain: () => {
      for (const s of sessions) if (!s.closed) s.close();
      for (const c of h2Connections) c.goaway();
    },
    destroy: () => {
      for (const s of sessions) s.destroy();
      for (const c of h2Connections) c.destroy();
      admission.close();
    },
    get openCalls() {
      return openCalls;
    },
    admission,
  };
}
