// etcdserverpb.Lease: decode → the core's LeaseApi → encode. The keepalive stream's loop is the
// core's serveKeepAlive; this module only adapts the grpc-js call to its request iterable and sink.
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { LeaseService, type LeaseKeepAliveRequest, type LeaseKeepAliveResponse, type LeaseServer } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { serveKeepAlive, type KeepAliveSink, type LeaseApi } from '../../core/lease-api.js';
import { toGrpcStatus, toServiceError, type ErrorLogger } from './error-status.js';
import { requestStream } from './request-stream.js';
import { completeHeader, unary, type GrpcServiceContext, type GrpcServiceModule } from './service-module.js';

type KeepAliveCall = ServerDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse>;

function keepAliveSink(call: KeepAliveCall): KeepAliveSink {
  return {
    send: (res) => call.write(res),
    drained: () =>
      new Promise<void>((resolve) => {
        const done = (): void => {
          call.off('drain', done);
          call.off('close', done);
          resolve();
        };
        call.on('drain', done);
        call.on('close', done);
      }),
  };
}

function serveKeepAliveCall(call: KeepAliveCall, lease: LeaseApi, log: ErrorLogger): void {
  serveKeepAlive(lease, requestStream<LeaseKeepAliveRequest>(call), keepAliveSink(call)).then(
    () => {
      if (!call.cancelled && !call.destroyed) call.end();
    },
    (err: unknown) => {
      if (!call.cancelled && !call.destroyed) call.emit('error', toServiceError(toGrpcStatus(err, log)));
    },
  );
}

export function createLeaseHandlers(ctx: GrpcServiceContext): LeaseServer {
  const { api, log } = ctx;
  const lease = api.lease;
  return {
    leaseGrant: unary(log, async (req) => {
      const res = await lease.grant(req);
      return { ...res, header: completeHeader(api, res.header) };
    }),
    leaseRevoke: unary(log, async (req) => {
      const res = await lease.revoke(req);
      return { ...res, header: completeHeader(api, res.header) };
    }),
    leaseKeepAlive: (call: KeepAliveCall) => serveKeepAliveCall(call, lease, log),
    leaseTimeToLive: unary(log, async (req) => {
      const res = await lease.timeToLive(req);
      return { ...res, header: completeHeader(api, res.header) };
    }),
    leaseLeases: unary(log, async () => {
      const res = await lease.leases();
      return { ...res, header: completeHeader(api, res.header) };
    }),
  };
}

export const leaseServiceModule: GrpcServiceModule = {
  name: 'etcdserverpb.Lease',
  register(server, ctx) {
    server.addService(LeaseService, createLeaseHandlers(ctx));
  },
};
