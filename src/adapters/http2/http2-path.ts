// Decides, per HTTP/2 connection, whether node's HTTP/2 server may read the client's socket directly
// or must read it through the :authority shim (authority-shim.ts). Direct is the fast path: the shim
// puts a JS stream between socket and session, so every frame in either direction crosses JS and
// every flush is its own socket write. Only clients that send an `:authority` nghttp2 refuses need
// it, and a client sends the same authority on every stream of a connection, so the first request's
// header block decides.
//
// gRPC clients (grpc-go, grpc-js) send no request before the server's SETTINGS frame, and the server
// cannot send that before the connection is handed to it. So the server preface is sent here, at
// once, as any HTTP/2 server sends it: an empty SETTINGS frame; the server's own SETTINGS follow
// later as an ordinary settings update. The client's ACK of it must never reach the server (which
// would take it for the ACK of its own SETTINGS, then fail the connection on the real one): the
// direct path is taken only once the ACK has been read and cut out here, and the shim takes it out
// whenever it comes. The ACK may come after the first request and its body: grpc-go marks the
// connection ready on reading our SETTINGS before it queues the ACK.
//
// A connection may stay quiet for long between its handshake and its first request (clientv3 dials
// in New and calls later): it waits here, undecided, so that it too gets the direct path. While
// undecided nothing answers it, which a quiet client does not need, except a PING (keepalive without
// streams): a PING sends the connection through the shim at once, and the server answers it there.
import type net from 'node:net';
import { AuthorityFrameFilter, defaultMaxHeaderSequenceBytes } from './authority-frame-filter.js';

export type Http2Path = 'direct' | 'shim';

/** The server preface: an empty SETTINGS frame (all values at their defaults until the server's own). */
export const serverPrefaceFrame: Buffer = Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0]);

/** How long after its first request a client may take to ACK the preface before it goes through the shim. */
export const defaultPrefaceAckLimitMs = 1000;
/** RFC 7540's initial flow-control window: the most DATA a client sends before the server grants more. */
const initialWindowBytes = 65_535;
/**
 * Bytes read before a decision; past this the connection goes to the shim (no unbounded buffering).
 * Room for a first request's header block and a full initial window of its body ahead of the ACK.
 */
const maxUndecidedBytes = defaultMaxHeaderSequenceBytes + initialWindowBytes;

export interface Http2PathOptions {
  readonly prefaceAckLimitMs?: number;
}

/**
 * Sends the server preface on a connection whose first bytes (the client preface, at least) were
 * pushed back into the paused socket, reads on until the path is known, then calls `route` once with
 * the socket paused again and the bytes read pushed back: for 'direct' less the client's ACK of the
 * preface, for 'shim' all of them (the shim, made with `serverPrefaceSent`, takes the ACK out).
 */
export function chooseHttp2Path(socket: net.Socket, route: (path: Http2Path) => void, options: Http2PathOptions = {}): void {
  const chunks: Buffer[] = [];
  /** The bytes the direct path gets: the probe's output, i.e. the chunks less the preface's ACK. */
  const passed: Buffer[] = [];
  let bytes = 0;
  const probe = new AuthorityFrameFilter({ serverPrefaceSent: true });
  let decided = false;
  let ackTimer: NodeJS.Timeout | undefined;

  const finish = (path: Http2Path): void => {
    if (decided) return;
    decided = true;
    clearTimeout(ackTimer);
    socket.removeListener('data', onData);
    socket.pause();
    const held = probe.heldBack;
    socket.unshift(Buffer.concat(path === 'shim' ? chunks : held === undefined ? passed : [...passed, held]));
    route(path);
  };

  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    bytes += chunk.length;
    try {
      passed.push(...probe.push(chunk));
    } catch {
      finish('shim'); // bytes nghttp2 would refuse: the shim closes such connections with a reason
      return;
    }
    if (probe.rewrittenSequences > 0) finish('shim');
    else if (probe.headerSequences > 0 && probe.prefaceAckTaken) finish('direct'); // the server answers any PING read
    else if (probe.pings > 0 || bytes > maxUndecidedBytes) finish('shim');
    else if (probe.headerSequences > 0 && ackTimer === undefined) {
      // a client that never ACKs is broken; the shim serves it whatever it does
      ackTimer = setTimeout(() => finish('shim'), options.prefaceAckLimitMs ?? defaultPrefaceAckLimitMs);
    }
  };

  socket.once('close', () => {
    decided = true;
    clearTimeout(ackTimer);
  });
  socket.on('data', onData);
  socket.write(serverPrefaceFrame);
  socket.resume();
}
