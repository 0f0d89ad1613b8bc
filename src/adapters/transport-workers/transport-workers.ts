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
import { RelayCallStream, type RelayOut } from './relay-call-stream.js';
import { RelayedSocket } from './relayed-socket.js';
import { asBuffer, decodeHeaders, decodePeer, Down, readCallOpen, readCount, readRelayBatch, RelayWriter, Up } from './relay-wire.js';
import type { ServerMessage, WorkerLimits, WorkerMessage } from './worker-messages.js';

const workerFile = new URL('./transport-worker.js', import.meta.url);
/** How long a new worker may take to load. */
const readyTimeoutMs = 30_000;
/** A worker that dies is replaced after this, doubled for each death in a row up to the maximum. */
const restartDelayMs = 100;
const maxRestartDelayMs = 10_000;
/** A worker that lived this long resets the delay. */
const healthyAfterMs = 30_000;
/**
 * How long a hand-over may wait for the worker to say it has the connection. Node drops a handle the
 * child cannot take (no free descriptor, three refusals) without telling either side; past this the
 * connection is given up (closed and uncounted) and the next one goes.
 */
const handOffTimeoutMs = 5_000;

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

interface HandOff {
  readonly id: number;
  readonly socket: net.Socket;
  readonly closed: () => void;
}

/** One worker process and what runs through it. */
class WorkerLink implements RelayOut {
  readonly calls = new Map<number, RelayCallStream>();
  readonly sockets = new Map<number, RelayedSocket>();
  /** Connections handed over and not yet closed, with what to tell when they close. */
  readonly connections = new Map<number, () => void>();
  /** The request headers calls name by id (relay-wire.ts, Up.headerSet); shared by those calls, never changed. */
  private readonly headerSets = new Map<number, IncomingHttpHeaders>();
  /** A set for the one call that follows it (Up.headerSetOnce). */
  private onceSet: { readonly id: number; readonly headers: IncomingHttpHeaders } | undefined;
  private answeredCalls: RelayCallStream[] = [];
  private consumingCalls: RelayCallStream[] = [];
  /**
   * Connections wait here while one is on its way: node queues every later message (relay batches
   * included) behind a handle until the child acknowledges it, and forgets the queued handles if the
   * child dies; one at a time, none is forgotten and batches wait for one hand-over at most.
   */
  private readonly handOffs: HandOff[] = [];
  private handOffInFlight: HandOff | undefined;
  private handOffTimer: NodeJS.Timeout | undefined;
  ready = false;
  exited = false;
  readonly startedAt = Date.now();
  private readonly writer = new RelayWriter();
  private flushScheduled = false;
  readonly exitedPromise: Promise<void>;

  constructor(
    readonly child: ChildProcess,
    private readonly options: TransportWorkersOptions,
    private readonly slot: number,
  ) {
    this.exitedPromise = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  // ---- RelayOut ----

  op(op: number, id: number, payload?: Buffer): void {
    if (this.exited) return;
    this.writer.op(op, id, payload);
    this.scheduleFlush();
  }

  opCount(op: number, id: number, n: number): void {
    if (this.exited) return;
    this.writer.opCount(op, id, n);
    this.scheduleFlush();
  }

  answered(call: RelayCallStream): void {
    this.calls.delete(call.id);
    if (this.answeredCalls.push(call) === 1) queueMicrotask(this.closeAnswered);
  }

  consumedSoon(call: RelayCallStream): void {
    this.consumingCalls.push(call);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly closeAnswered = (): void => {
    const answered = this.answeredCalls;
    this.answeredCalls = [];
    for (const call of answered) call.close();
  };

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const consuming = this.consumingCalls;
    this.consumingCalls = [];
    for (const call of consuming) call.tellConsumed();
    if (this.writer.isEmpty) return;
    const batch = this.writer.take();
    if (this.child.connected) this.child.send(batch);
  };

  // ---- control ----

  send(message: ServerMessage): void {
    if (this.child.connected) this.child.send(message);
  }

  handOff(id: number, socket: net.Socket, closed: () => void): void {
    this.handOffs.push({ id, socket, closed });
    this.nextHandOff();
  }

  private nextHandOff(): void {
    while (this.handOffInFlight === undefined) {
      const h = this.handOffs.shift();
      if (h === undefined) return;
      if (!this.child.connected) {
        h.socket.destroy();
        h.closed();
        continue;
      }
      this.handOffInFlight = h;
      this.connections.set(h.id, h.closed);
      this.child.send({ type: 'socket', id: h.id } satisfies ServerMessage, h.socket);
      this.handOffTimer = setTimeout(this.handOffLost, handOffTimeoutMs);
    }
  }

  /** The worker says it has connection `id`. */
  taken(id: number): void {
    if (this.handOffInFlight?.id !== id) return;
    clearTimeout(this.handOffTimer);
    this.handOffInFlight = undefined;
    this.nextHandOff();
  }

  private readonly handOffLost = (): void => {
    const h = this.handOffInFlight;
    if (h === undefined) return;
    this.options.log(`transport worker ${this.slot} did not take a connection in ${handOffTimeoutMs} ms; closing it`, undefined);
    this.handOffInFlight = undefined;
    h.socket.destroy();
    if (this.connections.delete(h.id)) h.closed();
    this.nextHandOff();
  };

  onBatch(batch: Buffer): void {
    // what a worker sent before it exited and is read after: its connections are closed already
    if (this.exited) return;
    try {
      readRelayBatch(batch, this.onUpGuarded);
    } catch (err) {
      // framing that does not add up: the worker is not trusted with its connections any more
      this.options.log(`transport worker ${this.slot} sent a malformed batch; stopping it`, err);
      this.child.kill('SIGKILL');
    }
  }

  /** An operation whose handling throws ends only what it was for. */
  private readonly onUpGuarded = (op: number, id: number, batch: Buffer, start: number, end: number): void => {
    try {
      this.onUp(op, id, batch, start, end);
    } catch (err) {
      this.options.log(`relayed operation ${op} failed; closing what it was for`, err);
      if (op >= Up.httpOpen && op <= Up.httpWritten) this.sockets.get(id)?.destroy();
      else if (op >= Up.callOpen && op <= Up.callWritten) {
        const call = this.calls.get(id);
        // a call that failed as it opened has no stream here yet: the worker's is reset
        if (call === undefined) this.op(Down.callDestroy, id);
        else call.destroy();
      }
    }
  };

  private onUp(op: number, id: number, batch: Buffer, start: number, end: number): void {
    switch (op) {
      case Up.callOpen: {
        const o = readCallOpen(batch, start, end);
        let headers = this.headerSets.get(o.headerSet);
        if (this.onceSet?.id === o.headerSet) {
          headers = this.onceSet.headers;
          this.onceSet = undefined;
        }
        const stream = new RelayCallStream(this, id);
        this.calls.set(id, stream);
        this.options.serveCall(stream, headers ?? noHeaders, o.timeout);
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
      case Up.headerSetOnce:
        this.onceSet = { id, headers: decodeHeaders(batch.subarray(start, end)) };
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
  }

  /** The process is gone: everything that ran through it ends. */
  gone(): void {
    this.exited = true;
    for (const s of this.calls.values()) s.close();
    this.calls.clear();
    for (const s of this.sockets.values()) s.relayedClose();
    this.sockets.clear();
    for (const closed of this.connections.values()) closed();
    this.connections.clear();
    // the one on its way may never have arrived; the ones waiting never left
    clearTimeout(this.handOffTimer);
    this.handOffInFlight?.socket.destroy();
    this.handOffInFlight = undefined;
    for (const h of this.handOffs.splice(0)) {
      h.socket.destroy();
      h.closed();
    }
  }
}

export class TransportWorkers {
  private readonly links: WorkerLink[] = [];
  private next = 0;
  private nextConnectionId = 1;
  private closing = false;
  private readonly restartDelays: number[] = [];
  private readonly restartTimers = new Set<NodeJS.Timeout>();

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

  /** Hands an accepted connection, of which nothing has been read, to the next ready worker. */
  handOff(socket: net.Socket, closed: () => void): void {
    const link = this.pick();
    if (link === undefined || this.closing) {
      socket.destroy();
      return closed();
    }
    let id: number;
    // ids come round after 2^32 connections; a long-lived one may still hold its id
    do {
      id = this.nextConnectionId;
      this.nextConnectionId = id >= 0xffff_ffff ? 1 : id + 1;
    } while (link.connections.has(id));
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
    for (const t of this.restartTimers) clearTimeout(t);
    this.restartTimers.clear();
    for (const l of this.links) {
      if (l === undefined) continue;
      if (l.child.connected) l.child.disconnect();
      else if (!l.exited) l.child.kill();
    }
    const timer = setTimeout(() => {
      for (const l of this.links) if (l !== undefined && !l.exited) l.child.kill('SIGKILL');
    }, 5_000);
    await Promise.all(this.links.map((l) => l?.exitedPromise));
    clearTimeout(timer);
  }

  private pick(): WorkerLink | undefined {
    for (let i = 0; i < this.links.length; i++) {
      const link = this.links[(this.next + i) % this.links.length];
      if (link !== undefined && link.ready && !link.exited) {
        this.next = (this.next + i + 1) % this.links.length;
        return link;
      }
    }
    return undefined;
  }

  private spawn(slot: number): Promise<void> {
    const child = fork(workerFile, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const link = new WorkerLink(child, this.options, slot);
    this.links[slot] = link;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`transport worker ${slot} did not start in ${readyTimeoutMs} ms`));
        child.kill('SIGKILL');
      }, readyTimeoutMs);
      child.on('message', (message: unknown) => {
        const batch = asBuffer(message);
        if (batch !== undefined) return link.onBatch(batch);
        if (message === null || typeof message !== 'object') return;
        const m = message as WorkerMessage;
        if (m.type === 'ready') {
          link.send({ type: 'init', limits: this.options.limits });
          link.ready = true;
          clearTimeout(timer);
          resolve();
        } else if (m.type === 'taken') link.taken(m.id);
        else if (m.type === 'log') this.options.log(`transport worker ${slot}: ${m.message}`, m.error);
      });
      child.on('error', (err) => this.options.log(`transport worker ${slot}`, err));
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        link.gone();
        if (!link.ready) reject(new Error(`transport worker ${slot} exited before it was ready (${signal ?? code})`));
        if (this.closing) return;
        this.options.log(`transport worker ${slot} exited (${signal ?? code}); its connections are closed; starting another`, undefined);
        this.restartLater(slot, Date.now() - link.startedAt >= healthyAfterMs);
      });
    });
  }

  /** Starts the slot's worker again after a delay that grows while its workers keep dying. */
  private restartLater(slot: number, wasHealthy: boolean): void {
    const delay = wasHealthy ? restartDelayMs : Math.min((this.restartDelays[slot] ?? restartDelayMs / 2) * 2, maxRestartDelayMs);
    this.restartDelays[slot] = delay;
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (this.closing) return;
      this.spawn(slot).catch((err: unknown) => this.options.log(`transport worker ${slot} could not be started`, err));
    }, delay);
    this.restartTimers.add(timer);
  }
}
