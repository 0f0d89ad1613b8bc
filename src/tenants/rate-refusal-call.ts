// A tenant's rate-limited call whose refusal for the tenant's rate (TenantRateRefusal) is held like an early one
// (delayed-refusals.ts). The early check only reads the tenant's bucket, so when many calls of one
// caller pass it together, all but the first few are refused by the tenant's admit on the full path;
// without this those refusals went back at once and the hammering loops came straight back.
import type { IncomingHttpHeaders } from 'node:http';
import type { GrpcStatus } from '../adapters/grpc/error-status.js';
import type { FramedMessages, OutgoingMessage } from '../adapters/grpc/grpc-wire.js';
import type { MethodCall } from '../adapters/grpc/service-module.js';
import { TenantRateRefusal } from './tenant-state.js';

export class RateRefusalHoldingCall implements MethodCall {
  constructor(
    private readonly call: MethodCall,
    private readonly holdRefusal: (call: MethodCall) => void,
  ) {}

  get metadata(): IncomingHttpHeaders {
    return this.call.metadata;
  }
  get deadline(): number | undefined {
    return this.call.deadline;
  }
  get verifiedCommonName(): string | undefined {
    return this.call.verifiedCommonName;
  }
  get signal(): AbortSignal {
    return this.call.signal;
  }
  get backlogBytes(): number {
    return this.call.backlogBytes;
  }
  pauseReading(): void {
    this.call.pauseReading();
  }
  resumeReading(): void {
    this.call.resumeReading();
  }
  receive(message: (bytes: Buffer) => void, end: (truncated: boolean) => void): void {
    this.call.receive(message, end);
  }
  sendUnary(framed: Buffer): void {
    this.call.sendUnary(framed);
  }
  write(message: OutgoingMessage): void {
    this.call.write(message);
  }
  writeAll(run: FramedMessages): void {
    this.call.writeAll(run);
  }
  onDrained(listener: () => void): () => void {
    return this.call.onDrained(listener);
  }
  onEnd(listener: (cancelled: boolean) => void): void {
    this.call.onEnd(listener);
  }
  end(status?: GrpcStatus): void {
    this.call.end(status);
  }
  fail(err: unknown): void {
    // only the tenant's own rate refusal: the server's tooManyRequests (an apply backlog) goes at once
    if (err instanceof TenantRateRefusal) this.holdRefusal(this.call);
    else this.call.fail(err);
  }
}
