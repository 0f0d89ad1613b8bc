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
/** A client that owes the ACK of our SETTINGS gets this much longer before it is handed over anyway. */
const ackLimitMs = 10_000;
/** Bytes read before a decision; past this the connection goes to the shim (no unbounded buffering). */
const maxUndecidedBytes = 64 * 1024;

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
  const chunks: Buffer[] = [];
  let bytes = 0;
  const probe = new AuthorityFrameFilter();
  let sentSettings = false;
  /** [start, end) of the client's ACK of the SETTINGS sent here, once read. */
  let ack: [number, number] | undefined;
  let idle = false;
  let decided = false;

  const stopTimers = (): void => {
    clearTimeout(prefaceTimer);
    clearTimeout(idleTimer);
    clearTimeout(ackTimer);
  };
  const finish = (path: Http2Path): void => {
    if (decided) return;
    decided = true;
    stopTimers();
    socket.removeListener('data', onData);
    socket.pause();
    const buf = Buffer.concat(chunks, bytes);
    socket.unshift(ack === undefined ? buf : Buffer.concat([buf.subarray(0, ack[0]), buf.subarray(ack[1])]));
    route(path);
  };

  // Frame headers are read as the bytes arrive, across chunk boundaries, without joining chunks.
  let prefaceLeft = http2ClientPreface.length;
  let payloadLeft = 0;
  const header = Buffer.alloc(frameHeaderBytes);
  let headerHave = 0;
  /** Absolute offset of the next byte to walk. */
  let at = 0;
  const walk = (chunk: Buffer): void => {
    let pos = 0;
    while (pos < chunk.length) {
      if (prefaceLeft > 0 || payloadLeft > 0) {
        const n = Math.min(prefaceLeft > 0 ? prefaceLeft : payloadLeft, chunk.length - pos);
        if (prefaceLeft > 0) prefaceLeft -= n;
        else payloadLeft -= n;
        pos += n;
        at += n;
        continue;
      }
      const n = Math.min(frameHeaderBytes - headerHave, chunk.length - pos);
      chunk.copy(header, headerHave, pos, pos + n);
      headerHave += n;
      pos += n;
      at += n;
      if (headerHave < frameHeaderBytes) return;
      headerHave = 0;
      payloadLeft = (header[0]! << 16) | (header[1]! << 8) | header[2]!;
      if (sentSettings && ack === undefined && header[3] === typeSettings && (header[4]! & flagAck) !== 0) {
        ack = [at - frameHeaderBytes, at + payloadLeft];
      }
    }
  };

  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    bytes += chunk.length;
    try {
      probe.push(chunk);
    } catch {
      finish('shim'); // bytes nghttp2 would refuse: the shim closes such connections with a reason
      return;
    }
    walk(chunk);
    const ackOwed = sentSettings && ack === undefined;
    // The ACK of our SETTINGS must be taken out before the server reads: wait for it.
    if (!ackOwed && probe.headerSequences > 0) finish(probe.rewrittenSequences > 0 ? 'shim' : 'direct');
    else if (!ackOwed && idle) finish('shim');
    else if (bytes > maxUndecidedBytes) finish('shim');
  };

  const prefaceTimer = setTimeout(() => {
    sentSettings = true;
    socket.write(emptySettingsFrame);
  }, serverPrefaceAfterMs);
  const idleTimer = setTimeout(() => {
    idle = true;
    if (!sentSettings || ack !== undefined) finish('shim');
  }, undecidedLimitMs);
  // A client that never acknowledges SETTINGS is broken; hand it over rather than hold it forever.
  const ackTimer = setTimeout(() => finish('shim'), ackLimitMs);
  socket.once('close', () => {
    decided = true;
    stopTimers();
  });
  socket.on('data', onData);
  socket.resume();
}
