// The grpc-js server with etcd's limits (etcdserver/api/v3rpc/grpc.go, embed/config.go, embed/etcd.go)
// and the registered service modules.
import { Server, type ServerOptions } from '@grpc/grpc-js';
import { clusterServiceModule } from './cluster-service.js';
import { kvServiceModule } from './kv-service.js';
import { leaseServiceModule } from './lease-service.js';
import { lockServiceModule } from './lock-service.js';
import { electionServiceModule } from './election-service.js';
import { maintenanceServiceModule } from './maintenance-service.js';
import type { GrpcServiceContext, GrpcServiceModule } from './service-module.js';
import { grpcOverheadBytes, limitRequestSize, receiveHardCapExtraBytes } from './request-size-limit.js';
import { watchServiceModule } from './watch-service.js';

/** etcd: embed.DefaultMaxRequestBytes (1.5 MiB). */
export const defaultMaxRequestBytes = 1.5 * 1024 * 1024;
/** etcd: embed.DefaultMaxTxnOps. */
export const defaultMaxTxnOps = 128;
/** etcd: v3rpc maxSendBytes = math.MaxInt32. */
export const maxSendMessageBytes = 2 ** 31 - 1;
/** etcd: embed.DefaultMaxConcurrentStreams = math.MaxUint32. */
export const defaultMaxConcurrentStreams = 2 ** 32 - 1;
/** etcd: embed.DefaultGRPCKeepAliveInterval (2h) and DefaultGRPCKeepAliveTimeout (20s). */
export const defaultKeepaliveIntervalMs = 2 * 60 * 60 * 1000;
export const defaultKeepaliveTimeoutMs = 20 * 1000;

/** Services every client port serves; Auth joins by appending its module. */
export const defaultGrpcServices: readonly GrpcServiceModule[] = [
  kvServiceModule,
  watchServiceModule,
  leaseServiceModule,
  lockServiceModule,
  electionServiceModule,
  maintenanceServiceModule,
  clusterServiceModule,
];

export interface GrpcServerLimits {
  readonly maxRequestBytes: number;
  readonly maxConcurrentStreams: number;
  readonly keepaliveIntervalMs: number;
  readonly keepaliveTimeoutMs: number;
}

/**
 * Not reproduced: etcd's keepalive enforcement policy (MinTime 5s, PermitWithoutStream false), which
 * grpc-js has no option for; and grpc's standard health service (grpc.health.v1), not generated yet.
 */
export function createGrpcServer(
  limits: GrpcServerLimits,
  ctx: GrpcServiceContext,
  services: readonly GrpcServiceModule[],
): Server {
  const options: ServerOptions = {
    'grpc.max_receive_message_length': limits.maxRequestBytes + grpcOverheadBytes + receiveHardCapExtraBytes,
    'grpc.max_send_message_length': maxSendMessageBytes,
    'grpc.max_concurrent_streams': limits.maxConcurrentStreams,
    'grpc.keepalive_time_ms': limits.keepaliveIntervalMs,
    'grpc.keepalive_timeout_ms': limits.keepaliveTimeoutMs,
  };
  const server = new Server(options);
  // Every service registered here gets etcd's receive limit, checked with etcd's exact status text.
  const addService = server.addService.bind(server);
  server.addService = (service, implementation) =>
    addService(limitRequestSize(service, limits.maxRequestBytes + grpcOverheadBytes), implementation);
  const seen = new Set<string>();
  for (const s of services) {
    if (seen.has(s.name)) throw new Error(`gRPC service ${s.name} registered twice`);
    seen.add(s.name);
    s.register(server, ctx);
  }
  return server;
}
