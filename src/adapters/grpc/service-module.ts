// What every gRPC service module shares: the context it is built with, the `unary` wrapper that
// guarantees a status reaches the client, header filling, and etcd-style answers for methods a
// module does not implement yet. A new service (Watch, Lease, Auth) is one more GrpcServiceModule.
import {
  status as Status,
  type Server,
  type ServerUnaryCall,
  type ServiceDefinition,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
  type handleUnaryCall,
  type sendUnaryData,
} from '@grpc/grpc-js';
import type { ServerApi } from '../../core/kv-api.js';
import type { ResponseHeader } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { OversizeRequest } from './request-size-limit.js';
import { toGrpcStatus, toServiceError, type ErrorLogger, type GrpcStatus } from './error-status.js';

export interface GrpcServiceContext {
  readonly api: ServerApi;
  /** etcd --max-request-bytes: the largest raft entry a write may produce. */
  readonly maxRequestBytes: number;
  /** etcd --max-txn-ops: per branch (and compare list) of one txn. */
  readonly maxTxnOps: number;
  readonly log: ErrorLogger;
}

export interface GrpcServiceModule {
  /** Fully qualified service name, e.g. `etcdserverpb.KV`. */
  readonly name: string;
  register(server: Server, ctx: GrpcServiceContext): void;
}

/**
 * Wraps an async handler so that a result, a throw or a rejection always ends the call with a
 * response or a status (grpc-js never reports a rejected handler; the client would wait for its
 * deadline). The callback is invoked exactly once.
 */
export function unary<Req, Res>(
  log: ErrorLogger,
  fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    let result: Promise<Res>;
    try {
      const request: unknown = call.request;
      if (request instanceof OversizeRequest) throw request.toError();
      result = fn(call.request, call);
    } catch (err) {
      result = Promise.reject(err);
    }
    Promise.resolve(result).then(
      (res) => callback(null, res),
      (err: unknown) => callback(toServiceError(toGrpcStatus(err, log))),
    );
  };
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

/** grpc-go's answer for a method the server does not know (`unknown method X for service Y`). */
export function unknownMethodStatus(path: string): GrpcStatus {
  const [, service = '', method = ''] = /^\/([^/]*)\/([^/]*)$/.exec(path) ?? [];
  return { code: Status.UNIMPLEMENTED, details: `unknown method ${method} for service ${service}` };
}

interface StreamLike {
  emit(event: 'error', err: Error): boolean;
}

function unimplementedHandler(path: string, requestStream: boolean, responseStream: boolean): UntypedHandleCall {
  const err = (): Error => toServiceError(unknownMethodStatus(path));
  if (!requestStream && !responseStream) {
    return ((_call: unknown, callback: sendUnaryData<unknown>) => callback(err())) as UntypedHandleCall;
  }
  if (requestStream && !responseStream) {
    return ((_call: unknown, callback: sendUnaryData<unknown>) => callback(err())) as UntypedHandleCall;
  }
  return ((call: StreamLike) => {
    call.emit('error', err());
  }) as UntypedHandleCall;
}

/**
 * The implementation for `definition` with every method missing from `partial` answering
 * UNIMPLEMENTED the way etcd's grpc-go would for a method it did not register.
 */
export function withUnimplemented(
  definition: ServiceDefinition,
  partial: UntypedServiceImplementation,
): UntypedServiceImplementation {
  const impl: UntypedServiceImplementation = { ...partial };
  for (const [name, method] of Object.entries(definition)) {
    if (impl[name] === undefined) {
      impl[name] = unimplementedHandler(method.path, method.requestStream, method.responseStream);
    }
  }
  return impl;
}
