// One gateway request as a gRPC method sees it: the same MethodCall the HTTP/2 layer gives a method
// (service-module.ts), fed in process. Requests arrive as protobuf bytes the gateway encoded from the
// JSON body; responses leave as protobuf bytes for the gateway to write as JSON. No socket, no
// loopback gRPC call (etcd's gateway dials its own gRPC port for every request).
import type { IncomingHttpHeaders } from 'node:http';
import { Status } from '../grpc/grpc-codes.js';
import { toGrpcStatus, type ErrorLogger, type GrpcStatus } from '../grpc/error-status.js';
import { eachFramedMessage, messagePrefixBytes, type FramedMessages, type OutgoingMessage } from '../grpc/grpc-wire.js';
import type { MethodCall } from '../grpc/service-module.js';
import { maxTimerDelayMs } from '../grpc/server-call.js';

export interface GatewayCallSink {
  /** A response message (protobuf, unframed). */
  message(bytes: Buffer): void;
  /** The call's status; undefined is OK. Called once. */
  end(status: GrpcStatus | undefined): void;
  /** Response bytes written but not yet taken by the client. */
  readonly backlogBytes: number;
  /** Calls `listener` when the backlog has drained; returns its unsubscribe. */
  onDrained(listener: () => void): () => void;
  pauseReading(): void;
  resumeReading(): void;
}

const cancelledByClient: GrpcStatus = { code: Status.CANCELLED, details: 'context canceled' };

const deadlineExceeded: GrpcStatus = { code: Status.DEADLINE_EXCEEDED, details: 'context deadline exceeded' };

export class GatewayCall implements MethodCall {
  deadline: number | undefined = undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** Made when a method first asks for the signal: most unary calls never do. */
  private controller: AbortController | undefined;
  /** The call failed or its client left: its signal is aborted, now or when first asked for. */
  private aborted = false;
  private ended = false;
  private endListener: ((cancelled: boolean) => void) | undefined;
  private onMessage: ((bytes: Buffer) => void) | undefined;
  private onRequestsEnd: ((truncated: boolean) => void) | undefined;
  /** Requests delivered before the method asked for them (bounded by the gateway's reader). */
  private early: Buffer[] = [];
  private earlyEnd = false;

  constructor(
    readonly metadata: IncomingHttpHeaders,
    private readonly sink: GatewayCallSink,
    private readonly log: ErrorLogger,
    /** The CN of the request connection's verified TLS client certificate, if any. */
    readonly verifiedCommonName?: string,
  ) {}

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.aborted && !this.controller.signal.aborted) this.controller.abort();
    return this.controller.signal;
  }

  private abort(): void {
    this.aborted = true;
    this.controller?.abort();
  }
  get isEnded(): boolean {
    return this.ended;
  }
  get backlogBytes(): number {
    return this.sink.backlogBytes;
  }

  receive(message: (bytes: Buffer) => void, end: (truncated: boolean) => void): void {
    this.onMessage = message;
    this.onRequestsEnd = end;
    const early = this.early;
    this.early = [];
    for (const bytes of early) if (!this.ended) message(bytes);
    if (this.earlyEnd && !this.ended) end(false);
  }

  /** grpc-gateway's `Grpc-Timeout`: the call ends with DEADLINE_EXCEEDED when it runs out. */
  startDeadline(timeoutMs: number): void {
    this.deadline = Date.now() + timeoutMs;
    // past setTimeout's range the call cannot reasonably outlive it (server-call.ts does the same)
    if (timeoutMs > maxTimerDelayMs) return;
    this.deadlineTimer = setTimeout(() => this.expire(), timeoutMs);
  }

  private expire(): void {
    if (this.ended) return;
    this.end(deadlineExceeded);
  }

  /** The gateway's side: one request message. */
  deliver(bytes: Buffer): void {
    if (this.ended) return;
    if (this.onMessage === undefined) this.early.push(bytes);
    else this.onMessage(bytes);
  }

  /** The gateway's side: no more requests (grpc-gateway's CloseSend). */
  finishRequests(): void {
    if (this.ended) return;
    if (this.onRequestsEnd === undefined) this.earlyEnd = true;
    else this.onRequestsEnd(false);
  }

  pauseReading(): void {
    this.sink.pauseReading();
  }
  resumeReading(): void {
    this.sink.resumeReading();
  }

  sendUnary(framed: Buffer): void {
    if (this.ended) return;
    this.sink.message(framed.subarray(messagePrefixBytes));
    this.end();
  }

  write(message: OutgoingMessage): void {
    if (this.ended) return;
    const bytes = Buffer.allocUnsafe(message.size);
    message.writeTo(bytes, 0);
    this.sink.message(bytes);
  }

  writeAll(run: FramedMessages): void {
    if (this.ended) return;
    eachFramedMessage(run, (bytes) => this.sink.message(bytes));
  }

  onDrained(listener: () => void): () => void {
    return this.sink.onDrained(listener);
  }

  onEnd(listener: (cancelled: boolean) => void): void {
    this.endListener = listener;
  }

  end(status?: GrpcStatus): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.deadlineTimer);
    this.sink.end(status === undefined || status.code === Status.OK ? undefined : status);
    if (status !== undefined && status.code !== Status.OK) this.abort();
    this.endListener?.(false);
  }

  fail(err: unknown): void {
    this.end(toGrpcStatus(err, this.log));
  }

  /** The HTTP client went away before the call ended. */
  cancel(): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.deadlineTimer);
    this.sink.end(cancelledByClient);
    this.abort();
    this.endListener?.(true);
  }
}
