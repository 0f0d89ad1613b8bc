// Per-method gRPC call counts kept as plain numbers on the call path; the registry reads them when
// scraped (member-metrics.ts) under go-grpc-prometheus's names. A prom-client child counter hashes
// its labels on every inc(), which costs more than the rest of a small call's bookkeeping.
import type { CallKind } from '../adapters/grpc/service-module.js';

/** What a server call reports about itself: messages each way and its final status code. */
export interface CallObserver {
  received(): void;
  sent(messages: number): void;
  /** Called once, with the gRPC status code the call ended with (1 CANCELLED when the client left). */
  ended(code: number): void;
}

/** go-grpc-prometheus's grpc_type label values. */
export const grpcTypeOf: Readonly<Record<CallKind, string>> = {
  unary: 'unary',
  serverStream: 'server_stream',
  clientStream: 'client_stream',
  bidi: 'bidi_stream',
};

/** gRPC status codes 0..16 and the names go-grpc-prometheus writes in grpc_code (codes.Code.String()). */
export const grpcCodeNames = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
] as const;

export class GrpcMethodStats implements CallObserver {
  started = 0;
  msgReceived = 0;
  msgSent = 0;
  /** Calls handled, by status code (index = code). */
  readonly handled = new Float64Array(grpcCodeNames.length);
  readonly service: string;
  readonly method: string;
  readonly type: string;
  /** The method's label set, and one per status code: built once, read at every scrape. */
  readonly labels: { readonly grpc_type: string; readonly grpc_service: string; readonly grpc_method: string };
  readonly codeLabels: readonly (GrpcMethodStats['labels'] & { readonly grpc_code: string })[];

  constructor(path: string, kind: CallKind) {
    const slash = path.lastIndexOf('/');
    this.service = path.slice(1, slash);
    this.method = path.slice(slash + 1);
    this.type = grpcTypeOf[kind];
    this.labels = { grpc_type: this.type, grpc_service: this.service, grpc_method: this.method };
    this.codeLabels = grpcCodeNames.map((grpc_code) => ({ ...this.labels, grpc_code }));
  }

  received(): void {
    this.msgReceived++;
  }

  sent(messages: number): void {
    this.msgSent += messages;
  }

  ended(code: number): void {
    // a code outside 0..16 is counted as Unknown, as grpc-go's codes.Code would print it otherwise
    this.handled[code >= 0 && code < grpcCodeNames.length ? code : 2]!++;
  }
}

/** Handling times of finished calls (the `--metrics extensive` histogram). */
export type HandlingObserver = (stats: GrpcMethodStats, code: number, seconds: number) => void;

/** One observer per call for `--metrics extensive`: the method's counters plus the call's duration. */
class TimedCall implements CallObserver {
  private readonly startedAt = performance.now();
  constructor(
    private readonly stats: GrpcMethodStats,
    private readonly observe: HandlingObserver,
  ) {}
  received(): void {
    this.stats.msgReceived++;
  }
  sent(messages: number): void {
    this.stats.msgSent += messages;
  }
  ended(code: number): void {
    this.stats.ended(code);
    this.observe(this.stats, code, (performance.now() - this.startedAt) / 1000);
  }
}

/** Every method's counters, created when the server registers its method table. */
export class GrpcServerStats {
  private readonly byPath = new Map<string, GrpcMethodStats>();
  private handling: HandlingObserver | undefined;

  /** Registers a method (idempotent); every method is exported with zeros from the start, as go-grpc-prometheus's InitializeMetrics does. */
  register(path: string, kind: CallKind): void {
    if (!this.byPath.has(path)) this.byPath.set(path, new GrpcMethodStats(path, kind));
  }

  /** With `--metrics extensive`: every call's handling time goes to `observe`. */
  timeCalls(observe: HandlingObserver): void {
    this.handling = observe;
  }

  /** Counts a call as started and returns what it reports to; undefined for a path not registered. */
  callStarted(path: string): CallObserver | undefined {
    const stats = this.byPath.get(path);
    if (stats === undefined) return undefined;
    stats.started++;
    return this.handling === undefined ? stats : new TimedCall(stats, this.handling);
  }

  methods(): IterableIterator<GrpcMethodStats> {
    return this.byPath.values();
  }
}
