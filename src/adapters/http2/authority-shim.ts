// Puts an AuthorityFrameFilter between a client's TCP socket and node's HTTP/2 server. The server
// then reads a JS stream instead of the socket's handle: bytes from the client go through the
// filter, bytes to the client are written to the socket unchanged.
//
// Why: clientv3 3.4 dials an endpoint given as `http://host:port` with exactly that as `:authority`
// (Maintenance.Status and friends, as used by `etcdctl endpoint status`). nghttp2 fails such a
// stream with PROTOCOL_ERROR, and node offers no way to relax the check; Go's server, and so etcd,
// accepts it.
import { Duplex } from 'node:stream';
import type net from 'node:net';
import { AuthorityFrameFilter, type AuthorityFrameFilterOptions } from './authority-frame-filter.js';
import { Http2ShimError } from './http2-shim-error.js';

export interface AuthorityShimOptions extends AuthorityFrameFilterOptions {
  /** Told why a connection was dropped for bytes nghttp2 would refuse too. */
  readonly onRejected?: (err: Http2ShimError) => void;
}

/**
 * Returns the duplex to hand to the HTTP/2 server in place of `socket`, which must have been read
 * from only with bytes pushed back (unshift) and be paused. Pass `serverPrefaceSent` when the server
 * preface went out ahead of the server (http2-path.ts). The shim owns the socket from now on:
 * destroying either destroys both.
 */
export function withAuthorityShim(socket: net.Socket, options: AuthorityShimOptions = {}): Duplex {
  const filter = new AuthorityFrameFilter(options);
  // the HTTP/2 session sets this on sockets it reads directly; it cannot reach this one
  socket.setNoDelay(true);
  let drainWaiter: (() => void) | undefined;
  const onDrain = (): void => {
    const waiter = drainWaiter;
    drainWaiter = undefined;
    waiter?.();
  };
  const shim = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      // done once the socket has taken it; its own buffer beyond its highWaterMark makes us wait
      if (socket.write(chunk)) callback();
      else drainWaiter = () => callback();
    },
    writev(chunks, callback) {
      socket.cork();
      let ok = true;
      for (const { chunk } of chunks) ok = socket.write(chunk as Buffer);
      socket.uncork();
      if (ok) callback();
      else drainWaiter = () => callback();
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(err, callback) {
      socket.destroy();
      callback(err);
    },
  });
  socket.on('drain', onDrain);
  socket.on('data', (chunk: Buffer) => {
    let parts: Buffer[];
    try {
      parts = filter.push(chunk);
    } catch (err) {
      if (err instanceof Http2ShimError) options.onRejected?.(err);
      shim.destroy();
      return;
    }
    let full = false;
    for (const part of parts) if (!shim.push(part)) full = true;
    if (full) socket.pause();
  });
  socket.on('end', () => shim.push(null));
  socket.on('error', (err) => shim.destroy(err));
  socket.on('close', () => shim.destroy());
  return shim;
}
