// The server's side of its transport workers (`--transport-workers N`): N child processes that take
// the plain-text connections of the client port as they are accepted, round robin, and relay their
// calls here. Node's worker threads cannot share a listening socket or take a connection (only a
// child process can be handed one), so the workers are processes; the server accepts without
// reading (`pauseOnConnect`), so no byte of a connection is ever read on this side of the hand-over.
// A worker that dies takes its connections with it (their calls end as cancelled) and is replaced.
import { fork, type ChildProcess } from 'node:child_process';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { IncomingHttpHeaders } from 'node:http2';
import type { CallStream } from '../grpc/call-stream.js';
import type { ErrorLogger } from '../grpc/error-status.js';
import { RelayCallStream } from './relay-call-stream.js';
import { RelayedSocket } from './relayed-socket.js';
import { asBuffer, decodeHeaders, decodePeer, readCallOpen, readCount, readRelayBatch, RelayWriter, Up } from './relay-wire.js';
import type { ServerMessage, WorkerLimits, WorkerMessage } from './worker-messages.js';

const workerFile = new URL('./transport-worker.js', import.meta.url);
/** How long a new worker may take to load before the server gives up on starting. */
const readyTimeoutMs = 30_000;

export interface TransportWorkersOptions {
  readonly count: number;
  readonly limits: WorkerLimits;
  /** Runs a relayed gRPC call (GrpcServer.serveRelayed). */
  readonly serveCall: (stream: CallStream, headers: IncomingHttpHeaders, timeout: string | undefined) => void;
  /** Serves a relayed HTTP/1 connection (emits it into the HTTP server). */
  readonly serveHttp: (socket: Duplex) => void;
  readonly log: ErrorLogger;
}

const noHeaders: IncomingHttpHeaders = {};

/** One worker process and what runs through it. */
class WorkerLink {
  readonly calls = new Map<number, RelayCallStream>();
  readonly sockets = new Map<number, RelayedSocket>();
  /** Connections handed over and not yet closed, with what to tell when they close. */
  readonly connections = new Map<number, () => void>();
  /** The request headers calls name by id (relay-wire.ts, Up.headerSet); shared by those calls, never changed. */
  private readonly headerSets = new Map<number, IncomingHttpHeaders>();
  private answeredCalls: RelayCallStream[] = [];
  ready = false;
  exited = false;
  private readonly writer = new RelayWriter();
  private flushScheduled = false;
  readonly exitedPromise: Promise<void>;

  constructor(
    readonly child: ChildProcess,
    private readonly options: TransportWorkersOptions,
  ) {
    this.exitedPromise = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  op(op: number, id: number, payload?: Buffer): void {
    if (this.exited) return;
    this.writer.op(op, id, payload);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  opCount(op: number, id: number, n: number): void {
    if (this.exited) return;
    this.writer.opCount(op, id, n);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.writer.isEmpty) return;
    const batch = this.writer.take();
    if (this.child.connected) this.child.send(batch);
  };

  send(message: ServerMessage): void {
    if (this.child.connected) this.child.send(message);
  }

  /** Hands `socket` to the worker, or closes it if the worker is going. */
  handOff(id: number, socket: net.Socket, closed: () => void): void {
    if (!this.child.connected) {
      socket.destroy();
      return closed();
    }
    this.connections.set(id, closed);
    this.child.send({ type: 'socket', id } satisfies ServerMessage, socket);
  }

  onBatch(batch: Buffer): void {
    try {
      readRelayBatch(batch, this.onUp);
    } catch (err) {
      // a worker that sends what it should not is not trusted with its connections any more
      this.options.log('transport worker sent a malformed batch; stopping it', err);
      this.child.kill('SIGKILL');
    }
  }

  answered(call: RelayCallStream): void {
    this.calls.delete(call.id);
    if (this.answeredCalls.push(call) === 1) queueMicrotask(this.closeAnswered);
  }

  private readonly closeAnswered = (): void => {
    const answered = this.answeredCalls;
    this.answeredCalls = [];
    for (const call of answered) call.close();
  };

  private readonly onUp = (op: number, id: number, batch: Buffer, start: number, end: number): void => {
    switch (op) {
      case Up.callOpen: {
        const o = readCallOpen(batch, start);
        const stream = new RelayCallStream(this, id);
        this.calls.set(id, stream);
        this.options.serveCall(stream, this.headerSets.get(o.headerSet) ?? noHeaders, o.timeout);
        if (o.bodyStart < end) stream.data(batch.subarray(o.bodyStart, end));
        if (o.ended) stream.end();
        return;
      }
      case Up.callData:
        return this.calls.get(id)?.data(batch.subarray(start, end));
      case Up.callEnd:
        return this.calls.get(id)?.end();
      case Up.callClosed: {
        const stream = this.calls.get(id);
        this.calls.delete(id);
        return stream?.close();
      }
      case Up.callWritten:
        return this.calls.get(id)?.written(readCount(batch, start));
      case Up.headerSet:
        this.headerSets.set(id, decodeHeaders(batch.subarray(start, end)));
        return;
      case Up.headerSetsCleared:
        this.headerSets.clear();
        return;
      case Up.httpOpen: {
        const socket = new RelayedSocket(this, id, decodePeer(batch.subarray(start, end)));
        this.sockets.set(id, socket);
        socket.on('error', () => undefined);
        this.options.serveHttp(socket);
        return;
      }
      case Up.httpData:
        return this.sockets.get(id)?.relayedData(batch.subarray(start, end));
      case Up.httpEnd:
        return this.sockets.get(id)?.relayedEnd();
      case Up.httpWritten:
        return this.sockets.get(id)?.relayedWritten(readCount(batch, start));
      case Up.connClosed: {
        const socket = this.sockets.get(id);
        this.sockets.delete(id);
        socket?.relayedClose();
        const closed = this.connections.get(id);
        this.connections.delete(id);
        closed?.();
        return;
      }
    }
  };

  /** The process is gone: everything that ran through it ends. */
  gone(): void {
    this.exited = true;
    for (const s of this.calls.values()) s.close();
    this.calls.clear();
    for (const s of this.sockets.values()) s.relayedClose();
    this.sockets.clear();
    for (const closed of this.connections.values()) closed();
    this.connections.clear();
  }
}

export class TransportWorkers {
  private readonly links: WorkerLink[] = [];
  private next = 0;
  private nextConnectionId = 1;
  private closing = false;

  private constructor(private readonly options: TransportWorkersOptions) {}

  /** Starts `count` workers and resolves once every one is ready for connections. */
  static async start(options: TransportWorkersOptions): Promise<TransportWorkers> {
    const workers = new TransportWorkers(options);
    try {
      await Promise.all(Array.from({ length: options.count }, (_, i) => workers.spawn(i)));
    } catch (err) {
      await workers.close();
      throw err;
    }
    return workers;
  }

  /** Connections handed over and still open. */
  get openConnections(): number {
    let n = 0;
    for (const l of this.links) n += l.connections.size;
    return n;
  }

  /** Calls relayed and still open. */
  get openCalls(): number {
    let n = 0;
    for (const l of this.links) n += l.calls.size;
    return n;
  }

  /** Hands an accepted connection, of which nothing has been read, to the next ready worker. */
  handOff(socket: net.Socket, closed: () => void): void {
    const link = this.pick();
    if (link === undefined || this.closing) {
      socket.destroy();
      return closed();
    }
    const id = this.nextConnectionId;
    this.nextConnectionId = id >= 0xffff_ffff ? 1 : id + 1;
    link.handOff(id, socket, closed);
  }

  /** GOAWAY on every gRPC connection; HTTP connections close with the HTTP server. */
  drain(): void {
    for (const l of this.links) l.send({ type: 'drain' });
  }

  /** Drops every connection now. */
  destroyConnections(): void {
    for (const l of this.links) l.send({ type: 'destroy' });
  }

  /** Ends the workers (their connections with them). */
  async close(): Promise<void> {
    this.closing = true;
    for (const l of this.links) {
      if (l.child.connected) l.child.disconnect();
      else if (!l.exited) l.child.kill();
    }
    const timer = setTimeout(() => {
      for (const l of this.links) if (!l.exited) l.child.kill('SIGKILL');
    }, 5_000);
    await Promise.all(this.links.map((l) => l.exitedPromise));
    clearTimeout(timer);
  }

  private pick(): WorkerLink | undefined {
    for (let i = 0; i < this.links.length; i++) {
      const link = this.links[(this.next + i) % this.links.length]!;
      if (link.ready && !link.exited) {
        this.next = (this.next + i + 1) % this.links.length;
        return link;
      }
    }
    return undefined;
  }

  private spawn(slot: number): Promise<void> {
    const child = fork(workerFile, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const link = new WorkerLink(child, this.options);
    this.links[slot] = link;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`transport worker ${slot} did not start in ${readyTimeoutMs} ms`)), readyTimeoutMs);
      child.on('message', (message: unknown) => {
        const batch = asBuffer(message);
        if (batch !== undefined) return link.onBatch(batch);
        const m = message as WorkerMessage;
        if (m.type === 'ready') {
          link.send({ type: 'init', limits: this.options.limits });
          link.ready = true;
          clearTimeout(timer);
          resolve();
        } else if (m.type === 'log') this.options.log(`transport worker ${slot}: ${m.message}`, m.error);
      });
      child.on('error', (err) => this.options.log(`transport worker ${slot}`, err));
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        link.gone();
        if (!link.ready) return reject(new Error(`transport worker ${slot} exited before it was ready (${signal ?? code})`));
        if (this.closing) return;
        this.options.log(`transport worker ${slot} exited (${signal ?? code}); its connections are closed; starting another`, undefined);
        this.spawn(slot).catch((err: unknown) => this.options.log(`transport worker ${slot} could not be restarted`, err));
      });
    });
  }
}
