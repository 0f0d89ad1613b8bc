// The first bytes of a connection decide its protocol, as etcd's cmux does: the HTTP/2 client preface
// is gRPC's (over plain text), anything else is HTTP/1.
import type net from 'node:net';
import { clientPreface } from './h2/frames.js';

export type Protocol = 'grpc' | 'http';

/**
 * Reads until the first bytes decide the protocol, then gives the socket (paused, with those bytes
 * pushed back) to `route`. Bytes that still match a prefix of the preface mean: wait for more.
 */
export function sniffProtocol(
  socket: net.Socket,
  timeoutMs: number,
  route: (protocol: Protocol, socket: net.Socket) => void,
): void {
  let head: Buffer = Buffer.alloc(0);
  const cleanup = (): void => {
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('end', onEndBeforeDecided);
    socket.removeListener('close', cleanup);
  };
  const timer = setTimeout(() => {
    cleanup();
    socket.destroy();
  }, timeoutMs);
  const onEndBeforeDecided = (): void => {
    cleanup();
    socket.destroy();
  };
  const onData = (chunk: Buffer): void => {
    socket.pause();
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    const n = Math.min(head.length, clientPreface.length);
    let protocol: Protocol | undefined;
    if (!head.subarray(0, n).equals(clientPreface.subarray(0, n))) protocol = 'http';
    else if (head.length >= clientPreface.length) protocol = 'grpc';
    if (protocol === undefined) {
      socket.resume();
      return;
    }
    cleanup();
    socket.unshift(head);
    route(protocol, socket);
  };
  socket.on('data', onData);
  socket.on('end', onEndBeforeDecided);
  // a socket closed before it spoke (port closing) must not leave the timer holding the process
  socket.once('close', cleanup);
}

