// What a gRPC service module is on our HTTP/2 layer: a table of methods, each its path, its kind, how
// its request is decoded and its response encoded (both from the ts-proto generated service
// definition), and a handler. The builders below turn a handler of each kind into a method that
// serves calls; a module lists its methods with `serviceMethods`, which answers every method of the
// definition the module leaves out the way grpc-go answers a method it does not know.
//
//   export const leaseServiceModule: GrpcServiceModule = {
//     name: 'etcdserverpb.Lease',
//     methods: (ctx) => serviceMethods(LeaseService, {
//       leaseGrant: unary(LeaseService.leaseGrant, async (req, call) => ...),
//       leaseKeepAlive: bidi(LeaseService.leaseKeepAlive, (call, out) => ({ message(req) { out.send(...) } })),
//     }),
//   };
//
// Every handler's failure (throw or rejection) becomes the call's status (error-status.ts).
import { Status } from './grpc-codes.js';
import type { ServerApi } from '../../core/kv-api.js';
import type { ResponseHeader } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { ErrorLogger, GrpcStatus } from './error-status.js';
import { rememberEncoding } from '../../core/received-encoding.js';
import { EncodedMessage, frameBytes, type FramedMessages, type OutgoingMessage } from './grpc-wire.js';
import type { CallContext } from './server-call.js';

export interface GrpcServiceContext {
  readonly api: ServerApi;
  /** etcd --max-request-bytes: the largest raft entry a write may produce. */
  readonly maxRequestBytes: number;
  /** etcd --max-txn-ops: per branch (and compare list) of one txn. */
  readonly maxTxnOps: number;
  readonly log: ErrorLogger;
}

export type CallKind = 'unary' | 'serverStream' | 'clientStream' | 'bidi';

/** One method of a ts-proto generated service definition (the fields used here). */
export interface MethodDefinition<Req, Res> {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestDeserialize: (bytes: Buffer) => Req;
  readonly responseSerialize: (res: Res) => Buffer;
  /** The response already framed (prefix and encoding in one buffer); absent: responseSerialize, then a copy behind the prefix. */
  readonly responseFrame?: (res: Res) => Buffer;
  /** A write whose size is checked (and a put, whose log entry may reuse them): decoding keeps its bytes (core/received-encoding.ts). */
  readonly keepsEncoding?: boolean;
}

/**
 * One call as a method serves it: server-call.ts's ServerCall on HTTP/2, or the JSON gateway's
 * in-process call (gateway/gateway-call.ts), so both run the very same handlers.
 */
export interface MethodCall extends CallContext {
  /** Hands each whole request message (protobuf bytes) to `message`; `end` when no more will come. */
  receive(message: (bytes: Buffer) => void, end: (truncated: boolean) => void): void;
  /** The one response of a unary call, framed (5-byte prefix), then OK. */
  sendUnary(framed: Buffer): void;
  write(message: OutgoingMessage): void;
  /** Several response messages of a stream at once (a watch revision's answers to one stream's watchers). */
  writeAll(run: FramedMessages): void;
  readonly backlogBytes: number;
  onDrained(listener: () => void): () => void;
  onEnd(listener: (cancelled: boolean) => void): void;
  end(status?: GrpcStatus): void;
  fail(err: unknown): void;
}

/** A method ready to serve: what the server's table holds. */
export interface GrpcMethod {
  readonly path: string;
  readonly kind: CallKind;
  serve(call: MethodCall): void;
}

export interface GrpcServiceModule {
  /** Fully qualified service name, e.g. `etcdserverpb.KV`. */
  readonly name: string;
  methods(ctx: GrpcServiceContext): readonly GrpcMethod[];
}

/** The responses of a streaming call. */
export interface ResponseStream<Res> {
  /** Queues a response; false once the backlog is past the stream's bound: wait for onDrained. */
  send(res: Res): boolean;
  /** Queues a response already able to encode itself (watch answers). */
  write(message: OutgoingMessage): boolean;
  /** Queues a run of responses framed together (a watch revision's answers to this stream's watchers). */
  writeAll(run: FramedMessages): boolean;
  /** Bytes queued or in the HTTP/2 stream, not yet taken by the client's flow-control window. */
  readonly backlogBytes: number;
  /** Calls `listener` each time the backlog goes back to 0; listeners add up. Returns its unsubscribe. */
  onDrained(listener: () => void): () => void;
  /** Called once when the call ends; `cancelled` when it ended before the handler ended it. */
  onEnd(listener: (cancelled: boolean) => void): void;
  /** Ends the call with OK, or with `status`, after the queued responses. */
  end(status?: GrpcStatus): void;
  /** Ends the call with the status for `err`. */
  fail(err: unknown): void;
}

/** What a bidi handler does with each request and with the client's half-close. */
export interface RequestListener<Req> {
  message(req: Req): void;
  /** The client half-closed; a bidi stream may go on sending (etcd's Watch does). */
  end?(): void;
}

/** A response backlog past this makes `send` return false (the handler should wait for onDrained). */
export const streamBacklogHighWaterBytes = 1024 * 1024;

type Decode<Req> = (bytes: Buffer) => Req;

/** Decodes one request message, or ends the call with grpc-go's unmarshalling status. */
function decodeOrFail<Req>(call: MethodCall, decode: Decode<Req>, bytes: Buffer, keepsEncoding = false): Req | undefined {
  try {
    const req = decode(bytes);
    if (keepsEncoding && typeof req === 'object' && req !== null) rememberEncoding(req, bytes);
    return req;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    call.end({ code: Status.INTERNAL, details: `grpc: error unmarshalling request: ${reason}` });
    return undefined;
  }
}

/** Sends a unary answer, or grpc-go's marshalling status when the response does not encode. */
function sendOrFail<Res>(call: MethodCall, frame: (res: Res) => Buffer, res: Res): void {
  let framed: Buffer;
  try {
    framed = frame(res);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    call.end({ code: Status.INTERNAL, details: `grpc: error while marshaling: ${reason}` });
    return;
  }
  call.sendUnary(framed);
}

/** grpc-go's status for a request stream that ended where a message was due: io.EOF or io.ErrUnexpectedEOF. */
function missingRequest(truncated: boolean): GrpcStatus {
  return { code: Status.UNKNOWN, details: truncated ? 'unexpected EOF' : 'EOF' };
}

/**
 * A call's responses as a handler sees them. A class, not an object literal: a literal with a getter
 * gets a map of its own per call, and the watch hub reads `backlogBytes` of every stream per revision.
 */
class CallResponseStream<Res> implements ResponseStream<Res> {
  constructor(
    private readonly call: MethodCall,
    private readonly encode: (res: Res) => Buffer,
  ) {}

  send(res: Res): boolean {
    this.call.write(new EncodedMessage(this.encode(res)));
    return this.call.backlogBytes < streamBacklogHighWaterBytes;
  }

  write(message: OutgoingMessage): boolean {
    this.call.write(message);
    return this.call.backlogBytes < streamBacklogHighWaterBytes;
  }

  writeAll(run: FramedMessages): boolean {
    this.call.writeAll(run);
    return this.call.backlogBytes < streamBacklogHighWaterBytes;
  }

  get backlogBytes(): number {
    return this.call.backlogBytes;
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
    this.call.fail(err);
  }
}

/**
 * Runs `handler` so that a throw and a rejection both reach `failed`, and so does a throw of `done`
 * (a response that does not encode): nothing is left to become an unhandled rejection.
 */
function settle<T>(run: () => Promise<T> | T, done: (value: T) => void, failed: (err: unknown) => void): void {
  const finish = (value: T): void => {
    try {
      done(value);
    } catch (err) {
      failed(err);
    }
  };
  let result: Promise<T> | T;
  try {
    result = run();
  } catch (err) {
    failed(err);
    return;
  }
  if (result instanceof Promise) result.then(finish, failed);
  else finish(result);
}

/**
 * Reads the one request of a unary or server-streaming call (later ones are ignored); a stream that
 * ends without one ends the call with grpc-go's status.
 */
function receiveOne<Req>(call: MethodCall, decode: Decode<Req>, onRequest: (req: Req) => void, keepsEncoding = false): void {
  let received = false;
  call.receive(
    (bytes) => {
      if (received) return;
      received = true;
      const req = decodeOrFail(call, decode, bytes, keepsEncoding);
      if (req !== undefined) onRequest(req);
    },
    (truncated) => {
      if (!received) call.end(missingRequest(truncated));
    },
  );
}

export function unary<Req, Res>(
  def: MethodDefinition<Req, Res>,
  handler: (req: Req, call: CallContext) => Promise<Res> | Res,
): GrpcMethod {
  const decode = def.requestDeserialize;
  const encode = def.responseSerialize;
  const frame = def.responseFrame ?? ((res: Res): Buffer => frameBytes(encode(res)));
  const keepsEncoding = def.keepsEncoding === true;
  return {
    path: def.path,
    kind: 'unary',
    serve(call) {
      receiveOne(call, decode, (req) => answerUnary(call, handler, frame, req), keepsEncoding);
    },
  };
}

/**
 * settle() for a unary handler, with two closures per call instead of four (every unary call passes
 * here): a throw, a rejection and a response that does not encode all end the call with a status.
 */
function answerUnary<Req, Res>(call: MethodCall, handler: (req: Req, call: CallContext) => Promise<Res> | Res, frame: (res: Res) => Buffer, req: Req): void {
  let result: Promise<Res> | Res;
  try {
    result = handler(req, call);
  } catch (err) {
    call.fail(err);
    return;
  }
  if (result instanceof Promise) result.then((res) => sendAnswer(call, frame, res), (err: unknown) => call.fail(err));
  else sendAnswer(call, frame, result);
}

function sendAnswer<Res>(call: MethodCall, frame: (res: Res) => Buffer, res: Res): void {
  try {
    sendOrFail(call, frame, res);
  } catch (err) {
    call.fail(err);
  }
}

export function serverStream<Req, Res>(
  def: MethodDefinition<Req, Res>,
  handler: (req: Req, call: CallContext, out: ResponseStream<Res>) => Promise<void> | void,
): GrpcMethod {
  const decode = def.requestDeserialize;
  const encode = def.responseSerialize;
  return {
    path: def.path,
    kind: 'serverStream',
    serve(call) {
      receiveOne(call, decode, (req) =>
        settle(
          () => handler(req, call, new CallResponseStream(call, encode)),
          () => call.end(),
          (err) => call.fail(err),
        ),
      );
    },
  };
}

export function bidi<Req, Res>(
  def: MethodDefinition<Req, Res>,
  handler: (call: CallContext, out: ResponseStream<Res>) => RequestListener<Req>,
): GrpcMethod {
  const decode = def.requestDeserialize;
  const encode = def.responseSerialize;
  return {
    path: def.path,
    kind: 'bidi',
    serve(call) {
      let listener: RequestListener<Req>;
      try {
        listener = handler(call, new CallResponseStream(call, encode));
      } catch (err) {
        call.fail(err);
        return;
      }
      receiveRequests(call, decode, listener, () => listener.end?.());
    },
  };
}

/**
 * Hands each decoded request to the listener (a throw ends the call with its status); a stream cut in
 * the middle of a message ends with grpc-go's status, a clean half-close calls onEnd.
 */
function receiveRequests<Req>(call: MethodCall, decode: Decode<Req>, listener: { message(req: Req): void }, onEnd: () => void): void {
  call.receive(
    (bytes) => {
      const req = decodeOrFail(call, decode, bytes);
      if (req === undefined) return;
      try {
        listener.message(req);
      } catch (err) {
        call.fail(err);
      }
    },
    (truncated) => {
      if (truncated) call.end(missingRequest(true));
      else onEnd();
    },
  );
}

/** grpc-go's answer for a method the server does not know (`unknown method X for service Y`). */
export function unknownMethodStatus(path: string): GrpcStatus {
  const [, service = '', method = ''] = /^\/([^/]*)\/([^/]*)$/.exec(path) ?? [];
  return { code: Status.UNIMPLEMENTED, details: `unknown method ${method} for service ${service}` };
}

function unimplemented(path: string, kind: CallKind): GrpcMethod {
  const status = unknownMethodStatus(path);
  return { path, kind, serve: (call) => call.end(status) };
}

function kindOf(def: { readonly requestStream: boolean; readonly responseStream: boolean }): CallKind {
  if (def.requestStream) return def.responseStream ? 'bidi' : 'clientStream';
  return def.responseStream ? 'serverStream' : 'unary';
}

/**
 * The methods of `definition`: those in `implemented`, and for every other one grpc-go's answer for
 * a method it did not register.
 */
export function serviceMethods<D extends Record<string, { readonly path: string; readonly requestStream: boolean; readonly responseStream: boolean }>>(
  definition: D,
  implemented: { readonly [K in keyof D]?: GrpcMethod },
): GrpcMethod[] {
  return Object.entries(definition).map(([name, def]) => {
    const method = implemented[name as keyof D];
    if (method !== undefined && method.path !== def.path) throw new Error(`method ${name} serves ${method.path}, not ${def.path}`);
    return method ?? unimplemented(def.path, kindOf(def));
  });
}

/**
 * A response header as etcd's header.fill leaves it: cluster/member ID and raft term always set,
 * revision kept when the core already set it. A complete header from the core is trusted as is.
 */
export function completeHeader(api: ServerApi, h: ResponseHeader | undefined): ResponseHeader {
  if (h === undefined) return api.header();
  if (h.clusterId !== 0n && h.memberId !== 0n && h.raftTerm !== 0n) return h;
  const base = h.revision !== 0n ? api.header(Number(h.revision)) : api.header();
  return {
    clusterId: h.clusterId !== 0n ? h.clusterId : base.clusterId,
    memberId: h.memberId !== 0n ? h.memberId : base.memberId,
    revision: h.revision !== 0n ? h.revision : base.revision,
    raftTerm: h.raftTerm !== 0n ? h.raftTerm : base.raftTerm,
  };
}
