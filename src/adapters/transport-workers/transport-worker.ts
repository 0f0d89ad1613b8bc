// A transport worker: a child process that serves the plain-text connections the server hands it.
// gRPC connections are framed here on Lattice's own HTTP/2 and each call is relayed to the server
// (its request headers and body chunks up, its answer down); any other connection is relayed byte
// for byte to the server's HTTP handlers. Nothing here knows the store.
import type net from 'node:net';
import { sniffProtocol } from '../protocol-sniff.js';
import { serveH2Connection } from '../grpc/h2-serving.js';
import { H2CallStream } from '../grpc/h2-call-stream.js';
import type { CallStreamEvents } from '../grpc/call-stream.js';
import type { KeepalivePolicy } from '../grpc/keepalive-policy.js';
import type { H2Connection } from '../h2/h2-connection.js';
import type { H2Stream } from '../h2/h2-stream.js';
import { asBuffer, decodeStatus, Down, encodeHeaders, encodePeer, readCount, readRelayBatch, relayCreditBytes, RelayWriter, Up } from './relay-wire.js';
import type { ServerMessage, WorkerLimits, WorkerMessage } from './worker-messages.js';

const writer = new RelayWriter();
let flushScheduled = false;
/** Calls with DATA written since the last batch; their counts go up with it (unless they closed). */
let writtenCalls: RelayedCall[] = [];
const flush = (): void => {
  flushScheduled = false;
  for (const call of writtenCalls) call.tellWritten();
  writtenCalls = [];
  if (!writer.isEmpty && process.connected) process.send?.(writer.take());
};
function scheduleFlush(): void {
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}
function up(op: number, id: number, payload?: Buffer): void {
  writer.op(op, id, payload);
  scheduleFlush();
}
function upCount(op: number, id: number, n: number): void {
  writer.opCount(op, id, n);
  scheduleFlush();
}
function tell(message: WorkerMessage): void {
  if (process.connected) process.send?.(message);
}
const log = (message: string, err: unknown): void => tell({ type: 'log', message, ...(err === undefined ? {} : { error: String(err) }) });

// ---- header sets ----

/**
 * Header sets named so far, by their text, and the bytes they take; both tables (here and on the
 * server) are cleared when either bound is passed. A set larger than `maxKeptSetChars` is sent for
 * its one call only, so a client cannot make either side keep large header lists.
 */
const headerSets = new Map<string, number>();
const maxHeaderSets = 4096;
const maxHeaderSetChars = 1024 * 1024;
const maxKeptSetChars = 4096;
let headerSetChars = 0;
let nextHeaderSet = 1;

function clearHeaderSets(): void {
  headerSets.clear();
  headerSetChars = 0;
  up(Up.headerSetsCleared, 0);
}

function newHeaderSetId(): number {
  const id = nextHeaderSet;
  if (nextHeaderSet < 0xffff_ffff) nextHeaderSet++;
  else {
    // ids come round again: no set kept under an old id may be named by a new one
    nextHeaderSet = 1;
    clearHeaderSets();
  }
  return id;
}

function withoutTimeout(headers: Readonly<Record<string, string>>): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const name in headers) if (name !== 'grpc-timeout') fields[name] = headers[name]!;
  return fields;
}

/** The id of the call's header set (every header but grpc-timeout), defined for the server before the call names it. */
function headerSetOf(headers: Readonly<Record<string, string>>): number {
  // a large key is never flattened (it is not looked up): building it costs no copy of the values
  let key = '';
  for (const name in headers) if (name !== 'grpc-timeout') key += `${name}\0${headers[name]!}\0`;
  const chars = key.length;
  if (chars > maxKeptSetChars) {
    const once = newHeaderSetId();
    up(Up.headerSetOnce, once, encodeHeaders(withoutTimeout(headers)));
    return once;
  }
  const known = headerSets.get(key);
  if (known !== undefined) return known;
  if (headerSets.size >= maxHeaderSets || headerSetChars + chars > maxHeaderSetChars) clearHeaderSets();
  const id = newHeaderSetId();
  up(Up.headerSet, id, encodeHeaders(withoutTimeout(headers)));
  headerSets.set(key, id);
  headerSetChars += chars;
  return id;
}

// ---- calls ----

/** One relayed call: the HTTP/2 stream's events go up; the server's operations come down to `stream`. */
class RelayedCall implements CallStreamEvents {
  private unfinishedWrites = 0;
  /** DATA writes that left since the last batch. */
  private written = 0;
  /** Answered whole (callUnary): the server has closed the call on its side already. */
  answered = false;
  private closed = false;

  constructor(
    readonly id: number,
    readonly stream: H2CallStream,
    /** Its body is credited to the client as the server takes it (`creditLater`). */
    private readonly h2: H2Stream,
    readonly policy: KeepalivePolicy,
  ) {}

  requestData(chunk: Buffer): void {
    if (!writer.extendOpen(this.id, chunk)) up(Up.callData, this.id, chunk);
  }

  requestEnded(): void {
    if (!writer.endOpen(this.id)) up(Up.callEnd, this.id);
  }

  streamClosed(): void {
    this.closed = true;
    calls.delete(this.id);
    while (this.unfinishedWrites > 0) this.writeFinished();
    this.policy.streamClosed();
    if (!this.answered) up(Up.callClosed, this.id);
  }

  /** The server took `bytes` of the body: the client may send as many more. */
  taken(bytes: number): void {
    this.h2.credit(bytes);
  }

  /** Answered whole: the server took what it wanted of the body; the rest is credited too. */
  answer(framed: Buffer): void {
    this.answered = true;
    this.h2.creditAll();
    this.policy.responded();
    this.stream.sendHeaders();
    this.send(framed, false);
    this.stream.sendTrailers(undefined);
  }

  send(bytes: Buffer, told: boolean): void {
    this.policy.responded();
    this.unfinishedWrites++;
    this.policy.writeStarted();
    this.stream.sendData(bytes, told ? this.onWrittenTold : this.onWritten);
  }

  /** The written count of this turn goes up with the batch; a call closed by then needs none. */
  tellWritten(): void {
    if (!this.closed && this.written > 0) writer.opCount(Up.callWritten, this.id, this.written);
    this.written = 0;
  }

  private writeFinished(): void {
    this.unfinishedWrites--;
    this.policy.writeFinished();
  }

  private readonly onWritten = (): void => {
    if (this.unfinishedWrites > 0) this.writeFinished(); // else released when the stream closed
  };

  private readonly onWrittenTold = (): void => {
    if (this.unfinishedWrites === 0) return;
    this.writeFinished();
    if (this.written++ === 0) writtenCalls.push(this);
    scheduleFlush();
  };
}

const calls = new Map<number, RelayedCall>();
/** Every connection handed over and not closed, whatever its protocol or whether it has shown one yet. */
const sockets = new Set<net.Socket>();
const h2Connections = new Set<H2Connection>();
const httpSockets = new Map<number, net.Socket>();
/** Input of each HTTP connection relayed and not yet taken by the server (see relayCreditBytes). */
const httpUntaken = new Map<number, number>();
let nextCallId = 1;
let limits: WorkerLimits | undefined;
/** After `drain`, a connection handed over late is closed, as the server closes one it accepts then. */
let draining = false;

/** A call id not in use (ids come round after 2^32 calls; a long watch may still hold one). */
function newCallId(): number {
  for (;;) {
    const id = nextCallId;
    nextCallId = nextCallId >= 0xffff_ffff ? 1 : nextCallId + 1;
    if (!calls.has(id)) return id;
  }
}

function startCall(stream: H2Stream, policy: KeepalivePolicy): void {
  const id = newCallId();
  stream.creditLater = true;
  const call = new RelayedCall(id, new H2CallStream(stream), stream, policy);
  const headerSet = headerSetOf(stream.headers);
  writer.openCall(id, headerSet, stream.headers['grpc-timeout'] ?? '');
  scheduleFlush();
  calls.set(id, call);
  policy.streamOpened();
  call.stream.listen(call);
}

function serveGrpc(socket: net.Socket, connId: number, l: WorkerLimits): void {
  // small frames answer small calls: Nagle's delay would hold each behind the client's delayed ACK
  socket.setNoDelay(true);
  const conn = serveH2Connection(socket, l, startCall, log, (c) => {
    h2Connections.delete(c);
    up(Up.connClosed, connId);
  });
  if (conn !== undefined) h2Connections.add(conn);
  socket.resume();
}

function relayHttp(socket: net.Socket, connId: number): void {
  // as node's HTTP server sets its sockets
  socket.setNoDelay(true);
  httpSockets.set(connId, socket);
  up(
    Up.httpOpen,
    connId,
    encodePeer({ remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, remoteFamily: socket.remoteFamily, localAddress: socket.localAddress, localPort: socket.localPort }),
  );
  httpUntaken.set(connId, 0);
  socket.on('data', (chunk: Buffer) => {
    up(Up.httpData, connId, chunk);
    const untaken = (httpUntaken.get(connId) ?? 0) + chunk.length;
    httpUntaken.set(connId, untaken);
    if (untaken >= relayCreditBytes) socket.pause();
  });
  socket.on('end', () => up(Up.httpEnd, connId));
  socket.resume();
}

function serveSocket(socket: net.Socket, connId: number): void {
  const l = limits;
  if (l === undefined || draining) {
    socket.destroy();
    return up(Up.connClosed, connId);
  }
  let isGrpc = false;
  sockets.add(socket);
  socket.on('error', () => undefined);
  socket.once('close', () => {
    sockets.delete(socket);
    httpSockets.delete(connId);
    httpUntaken.delete(connId);
    // a gRPC connection tells its own close, after its streams'
    if (!isGrpc) up(Up.connClosed, connId);
  });
  sniffProtocol(socket, l.sniffTimeoutMs, (protocol, s) => {
    if (draining) return void s.destroy();
    if (protocol === 'grpc') {
      isGrpc = true;
      serveGrpc(s, connId, l);
    } else relayHttp(s, connId);
  });
}

function onDown(op: number, id: number, batch: Buffer, start: number, end: number): void {
  if (op >= Down.httpWrite) return onHttpDown(op, id, batch, start, end);
  const call = calls.get(id);
  if (call === undefined) return; // the stream closed meanwhile; the server hears of it
  switch (op) {
    case Down.callUnary:
      return call.answer(batch.subarray(start, end));
    case Down.callHeaders:
      call.policy.responded();
      return call.stream.sendHeaders();
    case Down.callData:
      return call.send(batch.subarray(start, end), true);
    case Down.callTrailers:
      call.policy.responded();
      return call.stream.sendTrailers(decodeStatus(batch.subarray(start, end)));
    case Down.callTrailersOnly: {
      call.policy.responded();
      const s = decodeStatus(batch.subarray(start, end));
      return call.stream.sendTrailersOnly(s, s.httpStatus, s.extra);
    }
    case Down.callDestroy:
      return call.stream.destroy();
    case Down.callConsumed:
      return call.taken(readCount(batch, start));
  }
}

function onHttpDown(op: number, id: number, batch: Buffer, start: number, end: number): void {
  const socket = httpSockets.get(id);
  if (socket === undefined) return;
  switch (op) {
    case Down.httpWrite:
      socket.write(batch.subarray(start, end), () => upCount(Up.httpWritten, id, 1));
      return;
    case Down.httpEnd:
      socket.end();
      return;
    case Down.httpDestroy:
      socket.destroy();
      return;
    case Down.httpConsumed: {
      const untaken = Math.max(0, (httpUntaken.get(id) ?? 0) - readCount(batch, start));
      httpUntaken.set(id, untaken);
      if (untaken < relayCreditBytes) socket.resume();
    }
  }
}

/** An operation that fails ends only what it was for. */
function onDownGuarded(op: number, id: number, batch: Buffer, start: number, end: number): void {
  try {
    onDown(op, id, batch, start, end);
  } catch (err) {
    log(`relay operation ${op} failed; closing what it was for`, err);
    if (op >= Down.httpWrite) httpSockets.get(id)?.destroy();
    else calls.get(id)?.stream.destroy();
  }
}

process.on('message', (message: unknown, handle: unknown) => {
  const batch = asBuffer(message);
  if (batch !== undefined) return readRelayBatch(batch, onDownGuarded);
  if (message === null || typeof message !== 'object') return;
  const m = message as ServerMessage;
  switch (m.type) {
    case 'init':
      limits = m.limits;
      return;
    case 'socket':
      tell({ type: 'taken', id: m.id });
      // node sends the message without its handle when the socket closed meanwhile
      if (handle !== undefined && handle !== null) serveSocket(handle as net.Socket, m.id);
      else up(Up.connClosed, m.id);
      return;
    case 'drain':
      draining = true;
      for (const c of h2Connections) c.goaway();
      return;
    case 'destroy':
      for (const c of h2Connections) c.destroy();
      for (const s of sockets) s.destroy();
      return;
  }
});
// the server went away: so do its connections
process.on('disconnect', () => process.exit(0));
tell({ type: 'ready' });
