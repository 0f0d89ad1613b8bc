// Per-listener connection bounds for the client port (lattice.toml [listeners.grpc] max_connections
// and idle_timeout_ms; --max-client-connections, --client-idle-timeout): a connection past the limit
// is closed as it is accepted (node's net.Server.maxConnections), and one with no bytes either way
// for the idle time is closed, whatever protocol it turned out to speak.
import type net from 'node:net';

export interface ConnectionLimits {
  /** Open connections per listener; 0 or undefined: no limit. */
  readonly maxConnections?: number;
  /** Close a connection silent both ways this long; 0 or undefined: never. */
  readonly idleTimeoutMs?: number;
}

/** Applies the limits to a listener (TLS or plain) before it listens. */
export function applyConnectionLimits(server: net.Server, limits: ConnectionLimits | undefined): void {
  const max = limits?.maxConnections ?? 0;
  if (max > 0) server.maxConnections = max;
  const idleMs = limits?.idleTimeoutMs ?? 0;
  if (idleMs > 0) {
    // The raw TCP socket: for TLS, bytes of the handshake and records count as traffic too.
    server.on('connection', (socket: net.Socket) => {
      socket.setTimeout(idleMs, () => socket.destroy());
    });
  }
}
