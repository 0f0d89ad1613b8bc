// Decides, per HTTP/2 connection, whether node's HTTP/2 server may read the client's socket directly
// or must read it through the :authority shim (authority-shim.ts). Direct is the fast path: the shim
// puts a JS stream between socket and session, so every frame in either direction crosses JS and
// every flush is its own socket write. Only clients that send an `:authority` nghttp2 refuses need
// it, and a client sends the same authority on every stream of a connection, so the first request's
// header block decides.
//
// Go gRPC clients send no request before the server's SETTINGS frame (grpc-go waits for the server
// preface), and the server cannot send that before the connection is handed to it. So when no
// request has come shortly after the client preface, an empty SETTINGS frame is sent here as the
// server preface; the client's ACK of it is taken out of the byte stream before the server sees it,
// and the server's own SETTINGS follow as an ordinary settings update.
import type net from 'node:net';
import { AuthorityFrameFilter, http2ClientPreface } from './authority-frame-filter.js';

export type Http2Path = 'direct' | 'shim';

/** How long a client may take to send its first request before it gets the empty server preface. */
const serverPrefaceAfterMs = 5;
/** A connection that sends no request for this long is handed to the shim, which handles anything. */
const undecidedLimitMs = 1000;

const frameHeaderBytes = 9;
const typeSettings = 0x4;
const flagAck = 0x1;
const emptySettingsFrame = Buffer.from([0, 0, 0, typeSettings, 0, 0, 0, 0, 0]);

/**
 * Reads the start of a connection whose first bytes (the client preface, at least) were pushed back
 * into the paused socket, then calls `route` once, with the socket paused again and every byte it
 * read pushed back (less the ACK of a SETTINGS frame sent here).
 */
export function chooseHttp2Path(socket: net.Socket, route: (path: Http2Path) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  let sentSettings = false;
  /** [start, end) of the client's ACK of the SETTINGS sent here, once read. */
  let ack: [number, number] | undefined;
  let decided = false;

  const finish = (path: Http2Path): void => {
    if (decided) return;
    decided = true;
    clearTimeout(prefaceTimer);
    clearTimeout(idleTimer);
    socket.removeListener('data', onData);
    socket.pause();
    socket.unshift(ack === undefined ? buf : Buffer.concat([buf.subarray(0, ack[0]), buf.subarray(ack[1])]));
    route(path);
  };

  const onData = (chunk: Buffer): void => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    if (sentSettings && ack === undefined) ack = findSettingsAck(buf);
    const probe = new AuthorityFrameFilter();
    try {
      probe.push(buf);
    } catch {
      finish('shim'); // bytes nghttp2 would refuse: the shim closes such connections with a reason
      return;
    }
    if (probe.headerSequences === 0) return;
    // A request before the ACK of our SETTINGS: wait for the ACK, so it can be taken out.
    if (sentSettings && ack === undefined) return;
    finish(probe.rewrittenSequences > 0 ? 'shim' : 'direct');
  };

  const prefaceTimer = setTimeout(() => {
    sentSettings = true;
    socket.write(emptySettingsFrame);
  }, serverPrefaceAfterMs);
  const idleTimer = setTimeout(() => finish('shim'), undecidedLimitMs);
  socket.once('close', () => {
    decided = true;
    clearTimeout(prefaceTimer);
    clearTimeout(idleTimer);
  });
  socket.on('data', onData);
  socket.resume();
}

/** The first SETTINGS frame with the ACK flag among the complete frames after the client preface. */
function findSettingsAck(buf: Buffer): [number, number] | undefined {
  let at = http2ClientPreface.length;
  while (at + frameHeaderBytes <= buf.length) {
    const length = (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
    const end = at + frameHeaderBytes + length;
    if (end > buf.length) return undefined;
    if (buf[at + 3] === typeSettings && (buf[at + 4]! & flagAck) !== 0) return [at, end];
    at = end;
  }
  return undefined;
}
