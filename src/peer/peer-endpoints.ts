// The one place where peer listeners and peer connections are made. Peer TLS plugs in here: an
// https URL gets a TLS listener in front of the same HTTP/2 server, and a TLS connect, with the
// member's peer certificate (--peer-cert-file or --peer-auto-tls); nothing else changes.
import http2 from 'node:http2';
import type net from 'node:net';
import tls from 'node:tls';
import { parseListenUrl, type ListenAddress } from '../adapters/client-port.js';
import type { TlsSide } from '../tls/tls-side.js';

/** The peer side's TLS as the transport sees it: absent when no peer TLS is configured. */
export type PeerTls = TlsSide | undefined;

export interface PeerHttp2Limits {
  /** Streams one peer connection may have open at once (a message stream, a snapshot, a probe, /members). */
  readonly maxConcurrentStreams: number;
  /** Per-stream receive window: how much one stream may send ahead of our reading it. */
  readonly streamWindowBytes: number;
  /** Whole-connection receive window. */
  readonly connectionWindowBytes: number;
  /** Header block size accepted (handshake headers are a few hundred bytes). */
  readonly maxHeaderListBytes: number;
  /** nghttp2's own buffering per session, in MiB (node's maxSessionMemory). */
  readonly maxSessionMemoryMiB: number;
}

export const defaultPeerHttp2Limits: PeerHttp2Limits = {
  maxConcurrentStreams: 8,
  streamWindowBytes: 1024 * 1024,
  connectionWindowBytes: 4 * 1024 * 1024,
  maxHeaderListBytes: 16 * 1024,
  maxSessionMemoryMiB: 32,
};

const settingsOf = (limits: PeerHttp2Limits): http2.Settings => ({
  maxConcurrentStreams: limits.maxConcurrentStreams,
  initialWindowSize: limits.streamWindowBytes,
  maxHeaderListSize: limits.maxHeaderListBytes,
  enablePush: false,
});

/** The session may already be gone when 'connect' is delivered (destroyed in the same turn). */
function widenConnectionWindow(session: http2.Http2Session, limits: PeerHttp2Limits): void {
  if (!session.destroyed) session.setLocalWindowSize(limits.connectionWindowBytes);
}

export interface PeerListener {
  readonly address: ListenAddress;
  /** What listens: the HTTP/2 server itself, or (https) the TLS server in front of it. */
  readonly server: net.Server;
}

/**
 * Listens on one peer URL. `maxConnections` bounds concurrent TCP connections (each member needs
 * about two: its message session and, now and then, a snapshot session).
 */
export function listenPeerUrl(
  url: string,
  limits: PeerHttp2Limits,
  maxConnections: number,
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
  onSession: (session: http2.ServerHttp2Session) => void,
  peerTls?: PeerTls,
): Promise<PeerListener> {
  const parsed = parseListenUrl(url);
  const h2 = http2.createServer({ settings: settingsOf(limits), maxSessionMemory: limits.maxSessionMemoryMiB });
  h2.on('stream', onStream);
  h2.on('session', (session) => {
    session.on('connect', () => widenConnectionWindow(session, limits));
    onSession(session);
  });
  const server: net.Server = parsed.secure ? secureFront(url, h2, peerTls) : h2;
  server.maxConnections = maxConnections;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: parsed.host, port: parsed.port }, () => {
      server.removeListener('error', reject);
      const addr = server.address();
      if (addr === null || typeof addr === 'string') {
        server.close();
        reject(new Error(`peer listener ${url}: unexpected address ${String(addr)}`));
        return;
      }
      resolve({ address: { url, host: parsed.host, port: addr.port }, server });
    });
  });
}

/**
 * TLS in front of the HTTP/2 server: the handshake (client certificate verified when
 * --peer-client-cert-auth or a trusted CA is set), then etcd's allowed-CN/hostname check, then the
 * socket goes to the HTTP/2 server as a plain one does. The server follows reloaded files.
 */
function secureFront(url: string, h2: http2.Http2Server, peerTls: PeerTls): tls.Server {
  if (peerTls === undefined) throw new Error(`TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url ${url} with HTTPS scheme`);
  const server = tls.createServer(peerTls.serverOptions(['h2']), (socket) => {
    const verdict = peerTls.check(socket);
    if (!verdict.ok) return peerTls.refuse(`peer TLS connection from ${socket.remoteAddress ?? '?'} refused: ${verdict.reason}`, undefined, socket);
    h2.emit('connection', socket);
  });
  const unfollow = peerTls.follow(server);
  server.on('close', unfollow);
  server.on('tlsClientError', (err, socket) => peerTls.refuse(`peer TLS handshake from ${socket.remoteAddress ?? '?'} failed`, err, socket));
  return server;
}

/** The checks a dialing member makes on a peer's certificate: the host name, then etcd's allowed CN/hostname. */
function peerServerIdentity(peerTls: TlsSide): (host: string, cert: tls.PeerCertificate) => Error | undefined {
  return (host, cert) => {
    const standard = tls.checkServerIdentity(host, cert);
    if (standard !== undefined) return standard;
    const { allowedCn, allowedHostname } = peerTls.security;
    const cn: unknown = (cert.subject as unknown as Record<string, unknown> | undefined)?.['CN'];
    if (allowedCn !== '' && cn !== allowedCn) return new Error(`peer certificate CN ${JSON.stringify(cn ?? '')} is not the allowed CN ${JSON.stringify(allowedCn)}`);
    if (allowedHostname !== '' && tls.checkServerIdentity(allowedHostname, cert) !== undefined) {
      return new Error(`peer certificate is not valid for the allowed hostname ${JSON.stringify(allowedHostname)}`);
    }
    return undefined;
  };
}

/** Opens a session to a peer URL; the caller watches 'connect', 'error' and 'close'. */
export function dialPeer(url: string, limits: PeerHttp2Limits, peerTls?: PeerTls): http2.ClientHttp2Session {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`peer URL ${url}: scheme ${u.protocol} is not supported (only http and https)`);
  const secure = u.protocol === 'https:' && peerTls !== undefined ? { ...peerTls.clientOptions(), checkServerIdentity: peerServerIdentity(peerTls) } : {};
  const session = http2.connect(u.origin, { settings: settingsOf(limits), maxSessionMemory: limits.maxSessionMemoryMiB, ...secure });
  session.on('connect', () => widenConnectionWindow(session, limits));
  return session;
}
