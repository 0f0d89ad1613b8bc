// Per-listener connection bounds for the client port (lattice.toml [listeners.grpc] max_connections
// and idle_timeout_ms; --max-client-connections, --client-idle-timeout): a connection past the limit
// is closed as it is accepted (node's net.Server.maxConnections). The idle time is applied where the
// protocol is known (client-port.ts): to a connection that has sent nothing, to an HTTP/1 connection
// between requests, and to an HTTP/2 connection with no call open (grpc-server.ts).
import type net from 'node:net';

export interface ConnectionLimits {
  /** Open connections per listener; 0 or undefined: no limit. */
  readonly maxConnections?: number;
  /** Close a connection idle this long (see above); 0 or undefined: never. */
  readonly idleTimeoutMs?: number;
}

/** Applies the connection count limit to a listener (TLS or plain) before it listens. */
export function applyConnectionLimits(server: net.Server, limits: ConnectionLimits | undefined): void {
  const max = limits?.maxConnections ?? 0;
  if (max > 0) server.maxConnections = max;
}
