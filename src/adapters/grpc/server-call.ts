// One gRPC call on one HTTP/2 stream, owned here from its request headers to its trailers: reading
// the request messages, the deadline, cancellation, the response headers, batched response writes
// with their backlog, and exactly one status at the end.
//
// Response writes are batched per tick: every message queued in one tick goes out in one HTTP/2
// write, each framed straight into that write's buffers as it is queued (framed-batch.ts). A watch
// stream that gets a revision for 100 watchers makes one write, not 100 (docs/design.md, "Encode
// once, write once").
import type { IncomingHttpHeaders } from 'node:http2';
import { Status } from './grpc-codes.js';
import { toGrpcStatus, type ErrorLogger, type GrpcStatus } from './error-status.js';
import type { FramedMessages, OutgoingMessage } from './grpc-wire.js';
import { FramedBatch } from './framed-batch.js';
import { MessageReader, type MessageReaderEvents } from './message-reader.js';
import type { CallObserver } from '../../metrics/grpc-call-stats.js';
import type { CallStream, CallStreamEvents } from './call-stream.js';
import { CallDeadlines } from './call-deadlines.js';

/** What a handler knows of its call besides the request. */
export interface CallContext {
  /** The request headers (gRPC metadata), names in lower case: `token`, `hasleader`, ... */
  readonly metadata: IncomingHttpHeaders;
  /** When the client's `grpc-timeout` runs out (ms since the epoch), if it sent one. */
  readonly deadline: number | undefined;
  /** The Common Name of the client's verified TLS certificate, if it presented one (etcd --client-cert-auth: the user when no token is sent). */
  readonly verifiedCommonName?: string;
  /** Aborted when the call ends before its handler finished: client cancel, deadline, shutdown. */
  readonly signal: AbortSignal;
  /** Stops taking request messages; HTTP/2 flow control then holds the client back. */
  pauseReading(): void;
  resumeReading(): void;
}

/** Hooks of the connection a call runs on (keepalive-policy.ts). */
export interface ConnectionHooks {
  /** The server sent headers or data: the client's next PING is not held against it (grpc-go resets its strikes on every write). */
  responded(): void;
  /** A write of DATA was handed to node; writeFinished when all of it has left (or the stream is gone). */
  writeStarted(): void;
  writeFinished(): void;
  streamClosed(): void;
}

/**
 * The longest delay setTimeout honours (2^31 - 1 ms, 24.8 days); node runs a longer one after 1 ms.
 * A grpc-timeout past it (grpc-go sends a 30-day deadline as `2592000S`) gets no timer: the call
 * cannot reasonably outlive it, and `deadline` still tells handlers when it is.
 */
export const maxTimerDelayMs = 2 ** 31 - 1;

const cancelledByClient: GrpcStatus = { code: Status.CANCELLED, details: 'context canceled' };
const deadlineExceeded: GrpcStatus = { code: Status.DEADLINE_EXCEEDED, details: 'context deadline exceeded' };

function flushCall(call: ServerCall): void {
  call.flushQueued();
}

/** Every call's deadline, under one timer. */
const callDeadlines = new CallDeadlines<ServerCall>((call) => call.cancel(deadlineExceeded));

/**
 * Calls whose deadline timer is armed at the end of this event-loop turn, not at their start: most
 * unary calls (a serializable get) have ended by then and never make a timer. Drained every turn, so
 * it holds at most the calls one turn started.
 */
let deadlinesToArm: ServerCall[] = [];
function armDeadlines(): void {
  const calls = deadlinesToArm;
  deadlinesToArm = [];
  for (const call of calls) call.armDeadline();
}

/** Where a call's message reader delivers: one object per call instead of a closure per event. */
class ReaderEvents implements MessageReaderEvents {
  constructor(
    private readonly call: ServerCall,
    private readonly deliver: (bytes: Buffer) => void,
    private readonly observer: CallObserver | undefined,
  ) {}
  message(bytes: Buffer): void {
    this.observer?.received();
    this.deliver(bytes);
  }
  failed(status: GrpcStatus): void {
    this.call.end(status);
  }
}

export interface ServerCallOptions {
  /** The largest request message accepted (etcd: max-request-bytes + 512 KiB). */
  readonly maxReceiveMessageBytes: number;
  readonly log: ErrorLogger;
  readonly connection: ConnectionHooks | undefined;
  /** The CN of the connection's verified client certificate (TLS), if any. */
  readonly verifiedCommonName?: string | undefined;
  /** Counts this call's messages and its status (metrics/grpc-call-stats.ts). */
  readonly observer?: CallObserver | undefined;
  /** Called once when the call's stream has closed (the server's count of open calls). */
  readonly closed?: () => void;
}

export class ServerCall implements CallContext, CallStreamEvents {
  /** No more status may be sent: one was, or the stream is gone. */
  private ended = false;
  private headersSent = false;
  private controller: AbortController | undefined;
  /** Place in callDeadlines (-1: not queued). */
  deadlineIndex = -1;
  /** The deadline on the monotonic clock, for callDeadlines. */
  expiresAt: number | undefined;
  private endListener: ((cancelled: boolean) => void) | undefined;
  /** Several parties may wait for the backlog (a handler, stream-drained.ts): each its own listener. */
  private drainListeners: Set<() => void> | undefined;
  /** Made by the first write: a unary call never needs it. */
  private batch: FramedBatch | undefined;
  private inFlightBytes = 0;
  /** This call's writes counted by the connection as unfinished; released at the latest when the stream closes. */
  private unfinishedWrites = 0;
  private flushScheduled = false;
  private reader: MessageReader | undefined;
  /** receive's `end`, for when the client half-closes. */
  private requestEnd: ((truncated: boolean) => void) | undefined;
  /** The client half-closed while the reader still held unread messages: `end` waits for them. */
  private endWhenRead: (() => void) | undefined;
  private closeHook: (() => void) | undefined;
  deadline: number | undefined;
  readonly verifiedCommonName?: string;

  constructor(
    private readonly stream: CallStream,
    readonly metadata: IncomingHttpHeaders,
    private readonly options: ServerCallOptions,
  ) {
    if (options.verifiedCommonName !== undefined) this.verifiedCommonName = options.verifiedCommonName;
    stream.listen(this);
    // Nothing is read before receive(): a handler may take its time to start reading (tenant
    // routing asks first), and meanwhile HTTP/2 flow control holds the client back.
    stream.pause();
  }

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.ended && !this.controller.signal.aborted) this.controller.abort();
    return this.controller.signal;
  }

  /** True once the call has its status or lost its stream; later writes are dropped. */
  get isEnded(): boolean {
    return this.ended;
  }

  /** Bytes queued or handed to the HTTP/2 stream and not yet written out. */
  get backlogBytes(): number {
    return (this.batch?.bytes ?? 0) + this.inFlightBytes;
  }

  /** Called once the call's stream has closed, after the options' `closed`. */
  afterClose(hook: () => void): void {
    this.closeHook = hook;
  }

  /** Called once when the call ends; `cancelled` when it ended without its handler's status. */
  onEnd(listener: (cancelled: boolean) => void): void {
    this.endListener = listener;
  }

  /** Calls `listener` each time the backlog goes back to 0, until the returned function is called. */
  onDrained(listener: () => void): () => void {
    // a wrapper, so the same function registered twice is two listeners and each unsubscribe removes its own
    const entry = (): void => listener();
    const listeners = (this.drainListeners ??= new Set());
    listeners.add(entry);
    return () => {
      listeners.delete(entry);
    };
  }

  startDeadline(timeoutMs: number): void {
    this.deadline = Date.now() + timeoutMs;
    this.expiresAt = performance.now() + timeoutMs;
    if (timeoutMs > maxTimerDelayMs) return;
    if (deadlinesToArm.length === 0) setImmediate(armDeadlines);
    deadlinesToArm.push(this);
  }

  /** Queues the deadline (its timer runs for the time left), unless the call has ended meanwhile. */
  armDeadline(): void {
    if (this.ended || this.expiresAt === undefined) return;
    callDeadlines.add(this);
  }

  /**
   * Reads the request messages: `message` for each whole one, `end` when the client half-closed
   * between messages. A broken frame or an oversized message ends the call with its status.
   */
  receive(message: (bytes: Buffer) => void, end: (truncated: boolean) => void): void {
    this.reader = new MessageReader(this.options.maxReceiveMessageBytes, new ReaderEvents(this, message, this.options.observer));
    this.requestEnd = end;
    this.stream.resume();
  }

  /** A DATA chunk of the request (CallStreamEvents). */
  requestData(chunk: Buffer): void {
    if (!this.ended) this.reader?.push(chunk);
  }

  /** The client half-closed (CallStreamEvents): `end` now, or once a paused reader has delivered the rest. */
  requestEnded(): void {
    const reader = this.reader;
    const end = this.requestEnd;
    if (reader === undefined || end === undefined) return;
    const ended = (): void => {
      if (!this.ended) end(reader.midMessage);
    };
    if (reader.isPaused) this.endWhenRead = ended;
    else ended();
  }

  /** Stops after the current request message: the rest of its chunk waits, and the stream stops reading. */
  pauseReading(): void {
    this.reader?.pause();
    this.stream.pause();
  }

  resumeReading(): void {
    const reader = this.reader;
    reader?.resume();
    if (reader?.isPaused === true || this.ended) return;
    const endWhenRead = this.endWhenRead;
    this.endWhenRead = undefined;
    endWhenRead?.();
    this.stream.resume();
  }

  /** The one response of a unary call, already framed, then the OK status. */
  sendUnary(framed: Buffer): void {
    if (this.ended) return;
    this.ended = true;
    callDeadlines.remove(this);
    const stream = this.stream;
    if (stream.gone) {
      // the client went away first: the call still ends, as canceled, in the handled counts
      this.options.observer?.ended(Status.CANCELLED);
      this.endListener?.(true);
      return;
    }
    this.writeStarted();
    if (stream.sendUnary !== undefined) {
      this.headersSent = true;
      this.options.connection?.responded();
      stream.sendUnary(framed, this.onWriteFinished);
    } else {
      this.sendHeaders();
      stream.sendData(framed, this.onWriteFinished);
      // a client still sending after its answer is reset, as grpc-go's WriteStatus does
      stream.sendTrailers(undefined);
    }
    this.options.observer?.sent(1);
    this.options.observer?.ended(Status.OK);
    this.endListener?.(false);
  }

  /** Queues one response message of a stream, encoded now; it goes out with the rest of this tick's. */
  write(message: OutgoingMessage): void {
    if (this.ended) return;
    (this.batch ??= new FramedBatch()).add(message);
    this.options.observer?.sent(1);
    this.scheduleFlush();
  }

  /** Queues a run of response messages, framed now, as write does for one. */
  writeAll(run: FramedMessages): void {
    if (this.ended || run.count === 0) return;
    (this.batch ??= new FramedBatch()).addFramed(run);
    this.options.observer?.sent(run.count);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // a function outside: an arrow here would make every write allocate a context for `this`
    process.nextTick(flushCall, this);
  }

  /** Ends the call with `status` (OK by default) after every queued message. */
  end(status?: GrpcStatus): void {
    if (this.ended) return;
    this.ended = true;
    callDeadlines.remove(this);
    try {
      this.sendStatus(status);
    } catch (err) {
      // node refused the frame (the session is going away): the client learns of it as a reset
      this.options.log('could not send a gRPC status', err);
      this.stream.destroy();
    }
    if (this.controller !== undefined && status !== undefined && status.code !== Status.OK) this.controller.abort();
    this.options.observer?.ended(status?.code ?? Status.OK);
    this.endListener?.(false);
  }

  private sendStatus(status: GrpcStatus | undefined): void {
    const stream = this.stream;
    if (!stream.gone) {
      if (!this.headersSent && (this.batch?.bytes ?? 0) === 0) {
        // Trailers-Only: one HEADERS frame with the status.
        stream.sendTrailersOnly(status);
        this.options.connection?.responded();
      } else {
        this.flushNow();
        stream.sendTrailers(status);
      }
    }
  }

  /** Ends the call with the status for a handler's failure (logged when it is not an etcd error). */
  fail(err: unknown): void {
    this.end(toGrpcStatus(err, this.options.log));
  }

  /** Ends a call its handler has not finished: the status goes out if the stream still can take it. */
  cancel(status: GrpcStatus): void {
    if (this.ended) return;
    this.end(status);
    this.controller?.abort();
  }

  /** The HTTP/2 stream is gone (RST_STREAM, the connection closed, or after the trailers). */
  streamClosed(): void {
    this.options.closed?.();
    this.closeHook?.();
    while (this.unfinishedWrites > 0) this.onWriteFinished();
    this.options.connection?.streamClosed();
    callDeadlines.remove(this);
    // what was framed and never handed to the stream (even by a call that had ended: its status may
    // have found the stream gone) goes back to the pool
    this.batch?.clear();
    if (this.ended) return;
    this.ended = true;
    this.controller?.abort(cancelledByClient.details);
    this.options.observer?.ended(Status.CANCELLED);
    this.endListener?.(true);
  }

  private sendHeaders(): void {
    this.headersSent = true;
    this.stream.sendHeaders();
    this.options.connection?.responded();
  }

  /** The tick's writes, queued by write(). */
  flushQueued(): void {
    this.flushScheduled = false;
    if (!this.ended) this.flushNow();
  }

  private flushNow(): void {
    const batch = this.batch;
    if (batch === undefined || batch.bytes === 0) {
      if (!this.headersSent) this.sendHeaders();
      return;
    }
    const total = batch.bytes;
    const stream = this.stream;
    if (stream.gone) {
      batch.clear();
      return;
    }
    const out = batch.take();
    if (!this.headersSent) this.sendHeaders();
    // grpc-go clients answer data with a BDP PING: data sent clears the ping strikes, as in grpc-go
    else this.options.connection?.responded();
    this.inFlightBytes += total;
    this.writeStarted();
    // the stream sends in order, so the last buffer's callback means all of them have left
    const last = out.length - 1;
    for (let i = 0; i < last; i++) stream.sendData(out[i]!.bytes, out[i]!.release);
    const release = out[last]!.release;
    stream.sendData(out[last]!.bytes, () => {
      release();
      this.written(total);
    });
  }

  private writeStarted(): void {
    this.unfinishedWrites++;
    this.options.connection?.writeStarted();
  }

  /** A write's data has left (or cannot any more); a bound method, made once per call. */
  private readonly onWriteFinished = (): void => {
    if (this.unfinishedWrites === 0) return; // already released when the stream closed
    this.unfinishedWrites--;
    this.options.connection?.writeFinished();
  };

  private written(bytes: number): void {
    this.onWriteFinished();
    this.inFlightBytes -= bytes;
    if (this.backlogBytes === 0 && this.drainListeners !== undefined) for (const listener of [...this.drainListeners]) listener();
  }
}
