// One plain-text HTTP/2 connection on Lattice's own HTTP/2, with what a gRPC server keeps per
// connection: the keepalive policy for client PINGs, the server's own PING every interval, and the
// idle timeout. Shared by the gRPC server (calls served in this process) and the transport workers
// (calls relayed to the process that holds the store).
import type { Duplex } from 'node:stream';
import type { ErrorLogger } from './error-status.js';
import { KeepalivePolicy, defaultKeepaliveMinTimeMs } from './keepalive-policy.js';
import { H2Connection, defaultH2ServerSettings } from '../h2/h2-connection.js';
import type { H2Stream } from '../h2/h2-stream.js';
import { ErrorCode } from '../h2/frames.js';

export interface H2ServingLimits {
  readonly maxConcurrentStreams: number;
  readonly keepaliveIntervalMs: number;
  readonly keepaliveTimeoutMs: number;
  /** etcd --grpc-keepalive-min-time (default 5 s). */
  readonly keepaliveMinTimeMs?: number;
  /** A connection with no call open and no frame either way this long is closed with GOAWAY; 0: never. */
  readonly idleTimeoutMs?: number;
}

/**
 * Serves `socket` (its client preface may have been read and pushed back): each request's stream
 * goes to `onStream` with the connection's keepalive policy. Undefined when the connection closed at
 * once; `closed` is called when it goes.
 */
export function serveH2Connection(
  socket: Duplex,
  limits: H2ServingLimits,
  onStream: (stream: H2Stream, policy: KeepalivePolicy) => void,
  connectionLog: ErrorLogger,
  closed: (conn: H2Connection) => void,
): H2Connection | undefined {
  const policy = new KeepalivePolicy(limits.keepaliveMinTimeMs ?? defaultKeepaliveMinTimeMs);
  let keepalive: NodeJS.Timeout | undefined;
  let idle: NodeJS.Timeout | undefined;
  const conn: H2Connection = new H2Connection(
    socket,
    {
      stream: (stream) => onStream(stream, policy),
      ping: () => {
        if (policy.ping(Date.now()) !== 'tooManyPings') return;
        connectionLog('a client sent too many pings; closing its connection with GOAWAY too_many_pings', undefined);
        conn.goaway(ErrorCode.enhanceYourCalm, Buffer.from('too_many_pings'));
      },
      goaway: (code, debug) => {
        if (code !== ErrorCode.noError) connectionLog(`client sent GOAWAY code ${code}${debug.length > 0 ? ` (${debug.toString()})` : ''}`, undefined);
      },
      error: (why) => connectionLog(`HTTP/2 connection error: ${why}`, undefined),
      close: () => {
        clearInterval(keepalive);
        clearTimeout(idle);
        closed(conn);
      },
    },
    { ...defaultH2ServerSettings, maxConcurrentStreams: Math.min(limits.maxConcurrentStreams, 2 ** 32 - 1) },
  );
  if (conn.isClosed) return undefined;
  // The server's own keepalive: a PING every interval, the connection dropped if not answered in
  // time (0 disables either, as etcd's flags say).
  if (limits.keepaliveIntervalMs > 0) {
    keepalive = setInterval(() => {
      const unanswered = limits.keepaliveTimeoutMs > 0 ? setTimeout(() => conn.destroy(), limits.keepaliveTimeoutMs) : undefined;
      unanswered?.unref();
      const sent = conn.ping((err) => {
        clearTimeout(unanswered);
        if (err !== null) conn.destroy();
      });
      if (!sent) clearTimeout(unanswered);
    }, limits.keepaliveIntervalMs);
    keepalive.unref();
  }
  // Idle means no call open and no frame either way: a quiet watch keeps its connection.
  const idleMs = limits.idleTimeoutMs ?? 0;
  if (idleMs > 0) {
    const check = (): void => {
      const quietMs = Date.now() - conn.lastActivityMs;
      if (conn.openStreams === 0 && quietMs >= idleMs) return conn.goaway();
      idle = setTimeout(check, conn.openStreams === 0 ? idleMs - quietMs : idleMs);
      idle.unref();
    };
    idle = setTimeout(check, idleMs);
    idle.unref();
  }
  return conn;
}
