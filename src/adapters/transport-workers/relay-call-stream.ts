// A gRPC call whose HTTP/2 stream lives in a transport worker, as the gRPC layer sees it here: what
// the call sends becomes operations for the worker, and what the worker reads of the stream comes
// back as events. The keepalive policy stays with the connection, in the worker.
import type { CallStream, CallStreamEvents } from '../grpc/call-stream.js';
import type { GrpcStatus } from '../grpc/error-status.js';
import { Down, encodeStatus } from './relay-wire.js';
import { HeldInput } from '../h2/held-input.js';

/** The worker link a relayed call writes through. */
export interface RelayOut {
  op(op: number, id: number, payload?: Buffer): void;
  opCount(op: number, id: number, n: number): void;
  /** The call was answered whole: the worker will not be heard on it again; close it soon (after the answering code returns). */
  answered(call: RelayCallStream): void;
  /** The call took body bytes this turn: `tellConsumed` it with the turn's batch. */
  consumedSoon(call: RelayCallStream): void;
}

export class RelayCallStream implements CallStream {
  private events: CallStreamEvents | undefined;
  private closed = false;
  private ended = false;
  private paused = false;
  /** Request chunks (and the end) that came while paused, delivered on resume. */
  private readonly held = new HeldInput();
  /** Body bytes taken this turn, told to the worker with the turn's batch (it credits the client's windows then). */
  private consumed = 0;
  /** Write callbacks, in order, until the worker says the data left. */
  private readonly unwritten: (() => void)[] = [];

  constructor(
    private readonly out: RelayOut,
    readonly id: number,
  ) {}

  listen(events: CallStreamEvents): void {
    this.events = events;
  }

  get gone(): boolean {
    return this.closed;
  }

  get requestEnded(): boolean {
    return this.ended;
  }

  sendHeaders(): void {
    if (!this.closed) this.out.op(Down.callHeaders, this.id);
  }

  sendData(bytes: Buffer, written: () => void): void {
    if (this.closed) return written();
    this.unwritten.push(written);
    this.out.op(Down.callData, this.id, bytes);
  }

  /**
   * One operation for the whole answer. The worker's stream closes right after it (the client has
   * ended, or is reset), so the worker does not say so and the call closes here, once the answering
   * code has returned.
   */
  sendUnary(framed: Buffer, written: () => void): void {
    if (this.closed) return written();
    this.out.op(Down.callUnary, this.id, framed);
    written();
    this.out.answered(this);
  }

  sendTrailers(status: GrpcStatus | undefined): void {
    if (!this.closed) this.out.op(Down.callTrailers, this.id, encodeStatus(status ?? { code: 0, details: '' }));
  }

  sendTrailersOnly(status: GrpcStatus | undefined, httpStatus = 200, extra?: Readonly<Record<string, string>>): void {
    if (this.closed) return;
    const s = status ?? { code: 0, details: '' };
    this.out.op(Down.callTrailersOnly, this.id, encodeStatus({ code: s.code, details: s.details, httpStatus, ...(extra === undefined ? {} : { extra }) }));
  }

  destroy(): void {
    if (!this.closed) this.out.op(Down.callDestroy, this.id);
  }

  /** Holds what arrives; the client is held back by its HTTP/2 windows, credited only for what was taken. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.held.release(
      () => !this.paused && !this.closed,
      (chunk) => this.deliver(chunk),
      () => this.events?.requestEnded(),
    );
  }

  private deliver(chunk: Buffer): void {
    if (this.consumed === 0) this.out.consumedSoon(this);
    this.consumed += chunk.length;
    this.events?.requestData(chunk);
  }

  /** With the turn's batch; nothing for a call that closed (its stream credits what it had). */
  tellConsumed(): void {
    if (!this.closed && this.consumed > 0) this.out.opCount(Down.callConsumed, this.id, this.consumed);
    this.consumed = 0;
  }

  // ---- from the worker ----

  data(chunk: Buffer): void {
    if (this.paused) this.held.hold(chunk);
    else this.deliver(chunk);
  }

  end(): void {
    this.ended = true;
    if (this.paused) this.held.holdEnd();
    else this.events?.requestEnded();
  }

  written(n: number): void {
    for (let i = 0; i < n; i++) this.unwritten.shift()?.();
  }

  /** The stream is gone in the worker (or the worker is). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.held.clear();
    for (const done of this.unwritten.splice(0)) done();
    this.events?.streamClosed();
  }
}
