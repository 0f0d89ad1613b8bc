// One TCP port per listen URL serving gRPC (HTTP/2) and plain HTTP/1.1 together, as etcd's
// embed/serve.go does with cmux: each connection's first bytes decide. The HTTP/2 client preface goes
// to our gRPC server on node:http2 (grpc/grpc-server.ts), directly or, for a client whose first request carries an
// `:authority` nghttp2 would refuse, behind the shim that rewrites it (http2/http2-path.ts, which also
// sends the server preface); anything else goes to a node http.Server. Over TLS, as in etcd, an
// HTTP/2 request that is not gRPC reaches the same HTTP handlers (http2/http2-request-bridge.ts).
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { TlsSide, VerifiedPeer } from '../tls/tls-side.js';
import type { ServerApi } from '../core/kv-api.js';
import { consoleErrorLogger, type ErrorLogger } from './grpc/error-status.js';
import {
  createGrpcServer,
  defaultGrpcServices,
  type GrpcServer,
  defaultKeepaliveIntervalMs,
  defaultKeepaliveTimeoutMs,
  defaultMaxConcurrentStreams,
  defaultMaxRequestBytes,
  defaultMaxTxnOps,
} from './grpc/grpc-server.js';
import type { GrpcServiceModule } from './grpc/service-module.js';
import { sniffProtocol, type Protocol } from './protocol-sniff.js';
import { createHttpRouter, type HttpHandler } from './http/http-router.js';
import { createGatewayHandler, methodsByPath } from './gateway/gateway-handler.js';
import { withAuthorityShim } from './http2/authority-shim.js';
import { chooseHttp2Path } from './http2/http2-path.js';
import { http2RequestBridge } from './http2/http2-request-bridge.js';
import { createApiHandler, type ApiHandler, type ApiOptions } from './api/api-handler.js';
import type { IdentityResolver } from './api/api-identity.js';
import { createConsoleHandler } from './console/console-handler.js';
import type { GrpcServerStats } from '../metrics/grpc-call-stats.js';
import { allowAllHosts, etcdHostCheck, type HostWhitelist } from './http/host-whitelist.js';
import { applyConnectionLimits, type ConnectionLimits } from './connection-limits.js';
import { TransportWorkers } from './transport-workers/transport-workers.js';

export interface ClientPortOptions {
  /** e.g. `http://127.0.0.1:2379`; `localhost` binds 127.0.0.1; port 0 picks a free port. */
  readonly listenUrls: readonly (string | URL)[];
  readonly api: ServerApi;
  /** etcd --max-request-bytes (default 1.5 MiB); gRPC receive limit is this + 512 KiB. */
  readonly maxRequestBytes?: number;
  /** etcd --max-txn-ops (default 128). */
  readonly maxTxnOps?: number;
  /** etcd --max-concurrent-streams (default 2^32-1). */
  readonly maxConcurrentStreams?: number;
  /** etcd --grpc-keepalive-interval / --grpc-keepalive-timeout (default 2h / 20s). */
  readonly keepaliveIntervalMs?: number;
  readonly keepaliveTimeoutMs?: number;
  /** etcd --grpc-keepalive-min-time (default 5 s): clients pinging more often are sent away. */
  readonly keepaliveMinTimeMs?: number;
  /** Defaults to KV, Maintenance, Cluster. */
  readonly grpcServices?: readonly GrpcServiceModule[];
  /** Extra HTTP handlers, consulted after /health and /version (the JSON gateway plugs in here). */
  readonly httpHandlers?: readonly HttpHandler[];
  /** A connection that has not shown whether it speaks HTTP/2 or HTTP/1 by then is dropped. */
  readonly protocolSniffTimeoutMs?: number;
  /** close(): how long open streams get after GOAWAY before every socket is destroyed. */
  readonly closeGraceMs?: number;
  readonly log?: ErrorLogger;
  /** Client TLS (--cert-file/--key-file or --auto-tls): required by https:// URLs, ignored by http:// ones, as etcd does. */
  readonly tls?: TlsSide;
  /** The friendly API under /api (api/api-handler.ts): its browser-origin and auth settings. */
  readonly friendlyApi?: Pick<ApiOptions, 'corsOrigins' | 'identity' | 'watchLimits' | 'bodyTimeoutMs'>;
  /** etcd --host-whitelist (host-whitelist.ts): /api always checks Host, etcd's handlers only for an explicit list. */
  readonly hostWhitelist?: HostWhitelist;
  /** Per-listener connection count and idle time bounds (connection-limits.ts). */
  readonly connectionLimits?: ConnectionLimits;
  /** Builds the /api handler from a maker of plain ones (src/tenants/: one per tenant); default: one over `api`. */
  readonly apiHandler?: (make: (api: ServerApi, identity?: IdentityResolver, routes?: HttpHandler) => ApiHandler) => ApiHandler;
  /** gRPC call counts for /metrics (metrics/grpc-call-stats.ts). */
  readonly grpcStats?: GrpcServerStats;
  /**
   * Child processes that serve the plain-text connections (HTTP/2 framing and the sockets' I/O) and
   * relay their calls here (transport-workers/); 0 or undefined: this process serves them.
   */
  readonly transportWorkers?: number;
}

export interface ListenAddress {
  /** The URL as configured. */
  readonly url: string;
  readonly host: string;
  /** The bound port (the real one when the URL asked for 0). */
  readonly port: number;
}

export interface ClientPort {
  readonly addresses: readonly ListenAddress[];
  /** Stops accepting, ends streams and closes every socket; resolves within about closeGraceMs. */
  close(): Promise<void>;
  /** gRPC calls whose stream is still open (grpc-server.ts). */
  readonly openGrpcCalls: number;
}

const defaultProtocolSniffTimeoutMs = 10_000;
const defaultCloseGraceMs = 1_000;

interface ParsedListenUrl {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** https: TLS first. */
  readonly secure: boolean;
}

/** Parses an etcd listen URL: http or https (no unix sockets). */
export function parseListenUrl(u: string | URL): ParsedListenUrl {
  const url = typeof u === 'string' ? new URL(u) : u;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`listen URL ${url.href}: scheme ${url.protocol} is not supported (only http and https)`);
  }
  if (url.port === '' && !/:\d+$/.test(url.host)) {
    throw new Error(`listen URL ${url.href}: missing port`);
  }
  let host = url.hostname;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === 'localhost') host = '127.0.0.1';
  const port = url.port === '' ? 0 : Number(url.port);
  return { url: typeof u === 'string' ? u : u.href, host, port, secure: url.protocol === 'https:' };
}

/** Binds the server and resolves with the port it got (0 asks for a free one). */
export function listen(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.removeListener('error', onError);
      const addr = server.address();
      if (addr === null || typeof addr === 'string') reject(new Error(`unexpected address ${String(addr)}`));
      else resolve(addr.port);
    });
  });
}

const closeNetServer = (server: net.Server): Promise<void> =>
  new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });

export async function startClientPort(options: ClientPortOptions): Promise<ClientPort> {
  const log = options.log ?? consoleErrorLogger;
  const maxRequestBytes = options.maxRequestBytes ?? defaultMaxRequestBytes;
  const idleTimeoutMs = options.connectionLimits?.idleTimeoutMs ?? 0;
  // A connection that has said nothing yet is idle too.
  const sniffTimeoutMs = Math.min(options.protocolSniffTimeoutMs ?? defaultProtocolSniffTimeoutMs, idleTimeoutMs > 0 ? idleTimeoutMs : Infinity);
  const closeGraceMs = options.closeGraceMs ?? defaultCloseGraceMs;
  const urls = options.listenUrls.map(parseListenUrl);
  if (urls.length === 0) throw new Error('startClientPort: no listen URLs');

  const services = options.grpcServices ?? defaultGrpcServices;
  const serviceContext = { api: options.api, maxRequestBytes, maxTxnOps: options.maxTxnOps ?? defaultMaxTxnOps, log };
  const grpcServer: GrpcServer = createGrpcServer(
    {
      maxRequestBytes,
      maxConcurrentStreams: options.maxConcurrentStreams ?? defaultMaxConcurrentStreams,
      keepaliveIntervalMs: options.keepaliveIntervalMs ?? defaultKeepaliveIntervalMs,
      keepaliveTimeoutMs: options.keepaliveTimeoutMs ?? defaultKeepaliveTimeoutMs,
      keepaliveMinTimeMs: options.keepaliveMinTimeMs,
      idleTimeoutMs,
    },
    serviceContext,
    services,
    options.grpcStats,
  );
  // etcd's JSON gateway, served by the same method objects as gRPC, in process
  const gateway = createGatewayHandler({
    methods: methodsByPath(services.flatMap((s) => s.methods(serviceContext))),
    maxRequestBytes,
    log,
    admission: grpcServer.admission,
    ...(options.api.auth === undefined ? {} : { auth: options.api.auth }),
  });
  // Lattice's own /api and the console at /ui, ahead of etcd's CORS-for-everyone: they set their own origin rules
  const hostWhitelist = options.hostWhitelist ?? allowAllHosts;
  const makeApi = (api: ServerApi, identity?: IdentityResolver, routes?: HttpHandler): ApiHandler =>
    createApiHandler({ ...options.friendlyApi, ...(identity === undefined ? {} : { identity }), ...(routes === undefined ? {} : { routes }), hostWhitelist, api, maxRequestBytes, maxTxnOps: serviceContext.maxTxnOps, log });
  const friendlyApi = options.apiHandler?.(makeApi) ?? makeApi(options.api);
  const router = createHttpRouter({ api: options.api, preHandlers: [friendlyApi.handle, createConsoleHandler({ hostWhitelist }), etcdHostCheck(hostWhitelist)], handlers: [gateway, ...(options.httpHandlers ?? [])], log });
  const httpServer = http.createServer(router);
  // the HTTP/2 bridge times a request body out as the HTTP/1 server does (node's requestTimeout)
  const http2Requests = http2RequestBridge(router, { requestTimeoutMs: httpServer.requestTimeout });
  httpServer.on('clientError', (_err, socket) => socket.destroy());
  // HTTP/1: a kept-alive connection with no request for the idle time is closed (node's default: 5 s).
  if (idleTimeoutMs > 0) httpServer.keepAliveTimeout = idleTimeoutMs;
  httpServer.on('upgrade', (req, socket, head: Buffer) => {
    if (!friendlyApi.upgrade(req, socket, head)) socket.destroy();
  });

  const workerCount = options.transportWorkers ?? 0;
  const workers =
    workerCount > 0
      ? await TransportWorkers.start({
          count: workerCount,
          limits: {
            maxConcurrentStreams: options.maxConcurrentStreams ?? defaultMaxConcurrentStreams,
            keepaliveIntervalMs: options.keepaliveIntervalMs ?? defaultKeepaliveIntervalMs,
            keepaliveTimeoutMs: options.keepaliveTimeoutMs ?? defaultKeepaliveTimeoutMs,
            ...(options.keepaliveMinTimeMs === undefined ? {} : { keepaliveMinTimeMs: options.keepaliveMinTimeMs }),
            idleTimeoutMs,
            sniffTimeoutMs,
          },
          serveCall: grpcServer.serveRelayed,
          serveHttp: (socket) => httpServer.emit('connection', socket),
          log,
        })
      : undefined;

  const sockets = new Set<net.Socket>();
  let closing = false;
  const route = (protocol: Protocol, socket: net.Socket, peer?: VerifiedPeer): void => {
    if (closing) {
      socket.destroy();
      return;
    }
    if (protocol === 'grpc' && !(socket instanceof tls.TLSSocket)) {
      // Plain-text HTTP/2 is gRPC's alone (etcd serves HTTP over h2 on TLS only): Lattice's own
      // HTTP/2 takes it, `:authority` whatever it is, as Go's server does
      // small frames answer small calls: Nagle's delay would hold each behind the client's delayed ACK
      socket.setNoDelay(true);
      grpcServer.serveHttp2(socket, peer);
      socket.resume();
    } else if (protocol === 'grpc') {
      // Straight to the HTTP/2 server, or through the shim that rewrites an `:authority` nghttp2
      // would refuse (clientv3's `http://host:port`); either reads what was pushed back first.
      // node's HTTP/2 server refuses a TLS socket that did not agree on h2 by ALPN; such a client
      // (HTTP/2 with prior knowledge over TLS) goes through the shim, which is no TLS socket.
      const direct = (path: string): boolean => path === 'direct' && (!(socket instanceof tls.TLSSocket) || socket.alpnProtocol === 'h2');
      chooseHttp2Path(socket, (path) => {
        if (closing) socket.destroy();
        else if (!direct(path)) grpcServer.handleConnection(withAuthorityShim(socket, { serverPrefaceSent: true }), peer);
        // etcd serves HTTP over h2 on TLS only (plain h2c is gRPC's); the handlers find the client
        // certificate on the TLS socket, which the shim's duplex is not
        else grpcServer.handleConnection(socket, peer, socket instanceof tls.TLSSocket ? http2Requests : undefined);
      });
    } else {
      httpServer.emit('connection', socket);
      // node's http server consumes the handle directly; resume() replays the pushed-back bytes
      // and restarts reading
      socket.resume();
    }
  };
  const onConnection = (socket: net.Socket): void => {
    if (closing) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // errors after hand-off also reach the owner's listeners; this one only keeps an early reset
    // from becoming an uncaught 'error'
    socket.on('error', () => undefined);
    sniffProtocol(socket, sniffTimeoutMs, route);
  };
  // With transport workers a plain-text connection is handed over as it is accepted, unread (the
  // listener pauses on connect), and counted here against the listener's limit until the worker
  // says it closed: node's own count forgets a socket once it is handed to another process.
  // That count also says when such a listener has stopped: node's `close` callback waits for the
  // workers a listener handed sockets to, and never comes if those workers have all died.
  const relayedListeners = new Map<net.Server, () => Promise<void>>();
  const relayTo = (pool: TransportWorkers): net.Server => {
    const max = options.connectionLimits?.maxConnections ?? 0;
    let open = 0;
    let allClosed: (() => void) | undefined;
    const closed = (): void => {
      open--;
      if (open === 0) allClosed?.();
    };
    const server = net.createServer({ pauseOnConnect: true }, (socket: net.Socket): void => {
      if (closing || (max > 0 && open >= max)) {
        socket.destroy();
        return;
      }
      open++;
      pool.handOff(socket, closed);
    });
    relayedListeners.set(server, () => {
      if (server.listening) server.close();
      return open === 0 ? Promise.resolve() : new Promise<void>((resolve) => (allClosed = resolve));
    });
    return server;
  };
  const clientTls = options.tls;
  const onSecureConnection = (socket: tls.TLSSocket): void => {
    if (closing || clientTls === undefined) {
      socket.destroy();
      return;
    }
    const verdict = clientTls.check(socket);
    if (!verdict.ok) return clientTls.refuse(`client TLS connection from ${socket.remoteAddress ?? '?'} refused: ${verdict.reason}`, undefined, socket);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    sniffProtocol(socket, sniffTimeoutMs, (protocol, s) => route(protocol, s, verdict.peer));
  };
  const unfollow: (() => void)[] = [];

  // TLS first, then the same sniffing: gRPC and HTTP share an https port as they share an http one
  function secureListener(url: string): tls.Server {
    if (clientTls === undefined) throw new Error(`TLS key/cert (--cert-file, --key-file) must be provided for client url ${url} with HTTPS scheme`);
    // etcd's order (Go's server preference): h2 for every client that offers it, gRPC or not
    const server = tls.createServer(clientTls.serverOptions(['h2', 'http/1.1']), onSecureConnection);
    unfollow.push(clientTls.follow(server));
    server.on('connection', (raw: net.Socket) => {
      if (closing) return raw.destroy();
      sockets.add(raw);
      raw.on('close', () => sockets.delete(raw));
    });
    server.on('tlsClientError', (err, socket) => clientTls.refuse(`client TLS handshake from ${socket.remoteAddress ?? '?'} failed`, err, socket));
    return server;
  }

  const netServers: net.Server[] = [];
  const addresses: ListenAddress[] = [];
  const closeAll = async (): Promise<void> => {
    closing = true;
    for (const u of unfollow) u();
    const stopped = Promise.all(netServers.map((s) => relayedListeners.get(s)?.() ?? closeNetServer(s)));
    // GOAWAY to gRPC sessions and idle HTTP connections go now; busy ones get closeGraceMs
    grpcServer.drain();
    workers?.drain();
    friendlyApi.close();
    httpServer.close();
    httpServer.closeIdleConnections();
    let forced = false;
    const force = (): void => {
      if (forced) return;
      forced = true;
      grpcServer.destroy();
      workers?.destroyConnections();
      httpServer.closeAllConnections();
      for (const s of sockets) s.destroy();
    };
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, closeGraceMs);
    });
    await Promise.race([stopped, graceOver]);
    clearTimeout(timer);
    force();
    // the listeners close once the workers have closed the connections handed to them (node asks
    // each worker); a worker that ends takes its connections with it
    await Promise.all([stopped, workers?.close()]);
  };

  try {
    for (const u of urls) {
      const server = u.secure ? secureListener(u.url) : workers === undefined ? net.createServer(onConnection) : relayTo(workers);
      server.on('error', (err) => log(`client listener ${u.url} failed`, err));
      applyConnectionLimits(server, options.connectionLimits);
      netServers.push(server);
      const port = await listen(server, u.host, u.port);
      addresses.push({ url: u.url, host: u.host, port });
    }
  } catch (err) {
    await closeAll();
    throw err;
  }

  let closed: Promise<void> | undefined;
  return {
    addresses,
    close: () => (closed ??= closeAll()),
    get openGrpcCalls() {
      return grpcServer.openCalls;
    },
  };
}
