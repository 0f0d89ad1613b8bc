// Misbehaving peers for the bad-input fault tests: raw HTTP/2 (or bare TCP) connections to a running
// member's peer port that send what no Lattice member would. Each call reports what the member did
// with the connection, so a test can check that it was refused or dropped.
import http2 from 'node:http2';
import net from 'node:net';

/** The handshake headers of src/peer/peer-protocol.ts, spelled out so that a change there is noticed here. */
export function peerHandshake(clusterId: bigint, from: bigint, to: bigint): Record<string, string> {
  return {
    ':method': 'POST',
    ':path': '/lattice/peer/messages',
    'x-etcd-cluster-id': clusterId.toString(16),
    'x-server-from': from.toString(16),
    'x-raft-to': to.toString(16),
    'x-lattice-peer-protocol': '1',
  };
}

export interface StreamOutcome {
  /** The response status, if headers came. */
  readonly status: number | undefined;
  /** The response body, if any. */
  readonly body: string;
  /** How the connection ended: the member closed it, or it was still open at the deadline. */
  readonly closedBy: 'member' | 'deadline';
  readonly elapsedMs: number;
}

/**
 * Opens a message stream with `headers`, writes `payload` (and keeps the stream open unless
 * endStream), then waits up to deadlineMs for the member to answer or drop the connection.
 */
export function sendPeerStream(peerUrl: string, headers: Record<string, string>, payload: Uint8Array, deadlineMs: number, endStream = false): Promise<StreamOutcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const session = http2.connect(peerUrl);
    let status: number | undefined;
    let body = '';
    let settled = false;
    const finish = (closedBy: StreamOutcome['closedBy']): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      resolve({ status, body, closedBy, elapsedMs: Date.now() - started });
    };
    const timer = setTimeout(() => finish('deadline'), deadlineMs);
    session.on('error', () => finish('member'));
    session.on('close', () => finish('member'));
    session.on('goaway', () => undefined);
    const stream = session.request(headers, { endStream: false });
    stream.on('response', (h) => {
      status = Number(h[':status']);
    });
    stream.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    stream.on('error', () => finish('member'));
    stream.on('close', () => finish('member'));
    stream.write(payload);
    if (endStream) stream.end();
  });
}

/** A 4-byte big-endian length followed by body (the peer framing of src/peer/frame-reader.ts). */
export function frame(length: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, length);
  out.set(body, 4);
  return out;
}

/** Connects over bare TCP, sends nothing, and reports when the member closes the connection (or the deadline). */
export function connectAndStall(host: string, port: number, deadlineMs: number): Promise<StreamOutcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let settled = false;
    const finish = (closedBy: StreamOutcome['closedBy']): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: undefined, body: '', closedBy, elapsedMs: Date.now() - started });
    };
    const timer = setTimeout(() => finish('deadline'), deadlineMs);
    socket.on('data', () => undefined);
    socket.on('error', () => finish('member'));
    socket.on('close', () => finish('member'));
  });
}

/** Opens an HTTP/2 session and never sends a request; reports when the member closes it (or the deadline). */
export function openIdleSession(peerUrl: string, deadlineMs: number): Promise<StreamOutcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const session = http2.connect(peerUrl);
    let settled = false;
    const finish = (closedBy: StreamOutcome['closedBy']): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      resolve({ status: undefined, body: '', closedBy, elapsedMs: Date.now() - started });
    };
    const timer = setTimeout(() => finish('deadline'), deadlineMs);
    session.on('error', () => finish('member'));
    session.on('close', () => finish('member'));
  });
}
