// The one place where peer listeners and peer connections are made. Peer TLS plugs in here:
// createSecureServer / a secure connect chosen by the URL's scheme, nothing else changes.
import http2 from 'node:http2';
import { parseListenUrl, type ListenAddress } from '../adapters/client-port.js';

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
  readonly server: http2.Http2Server;
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
): Promise<PeerListener> {
  const parsed = parseListenUrl(url);
  const server = http2.createServer({ settings: settingsOf(limits), maxSessionMemory: limits.maxSessionMemoryMiB });
  server.maxConnections = maxConnections;
  server.on('stream', onStream);
  server.on('session', (session) => {
    session.on('connect', () => widenConnectionWindow(session, limits));
    onSession(session);
  });
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

/** Opens a session to a peer URL; the caller watches 'connect', 'error' and 'close'. */
export function dialPeer(url: string, limits: PeerHttp2Limits): http2.ClientHttp2Session {
  const u = new URL(url);
  if (u.protocol !== 'http:') throw new Error(`peer URL ${url}: scheme ${u.protocol} is not supported yet (only http)`);
  const session = http2.connect(u.origin, { settings: settingsOf(limits), maxSessionMemory: limits.maxSessionMemoryMiB });
  session.on('connect', () => widenConnectionWindow(session, limits));
  return session;
}
