// etcdserverpb.Lease: decode → the core's LeaseApi → encode. The keepalive stream's loop is the
// core's serveKeepAlive; this module only hands it the call's requests and a sink over its responses.
import {
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseRevokeResponse,
  LeaseService,
  type LeaseKeepAliveRequest,
} from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { sharedEncoder } from '../../core/shared-proto-writer.js';
import { frameLeaseGrantResponse } from './lease-grant-response-encoder.js';
import { serveKeepAlive, type KeepAliveSink } from '../../core/lease-api.js';
import { requestQueue } from './request-stream.js';
import { bidi, completeHeader, serviceMethods, unary, type GrpcMethod, type GrpcServiceContext, type GrpcServiceModule, type ResponseStream } from './service-module.js';
import { drained } from './stream-drained.js';
import { callerOf, enabledAuth, serveCheckedAnswer, writeHeaderOf } from './auth-guard.js';
import { keysReadRefusal } from '../../auth/request-permissions.js';
import { revokeHeaderAsked } from '../../auth/revoke-header.js';
import { revokeAuthHeaderFeature } from '../../peer/peer-protocol.js';

// The calls a lease workload makes by the thousand: a grant's answer written by hand, the others
// through the shared writer.
const grantMethod = { ...LeaseService.leaseGrant, responseFrame: frameLeaseGrantResponse };
const revokeMethod = { ...LeaseService.leaseRevoke, responseSerialize: sharedEncoder(LeaseRevokeResponse.encode) };
const keepAliveMethod = { ...LeaseService.leaseKeepAlive, responseSerialize: sharedEncoder(LeaseKeepAliveResponse.encode) };

function keepAliveSink(out: ResponseStream<LeaseKeepAliveResponse>, signal: AbortSignal): KeepAliveSink {
  return { send: (res) => out.send(res), drained: () => drained(out, signal) };
}

export function createLeaseMethods(ctx: GrpcServiceContext): GrpcMethod[] {
  const { api } = ctx;
  const lease = api.lease;
  // the core's answer is this call's own object: completed in place, not copied
  const completeGrantHeader = (res: LeaseGrantResponse): LeaseGrantResponse => {
    res.header = completeHeader(api, res.header);
    return res;
  };
  return serviceMethods(LeaseService, {
    // Every grant passes here: no async frame, and without a token no wait for the caller.
    leaseGrant: unary(grantMethod, (req, call) => {
      // nothing is checked against the caller, but a token sent must be valid (etcd's raftRequest)
      const who = writeHeaderOf(api, call);
      const res = who instanceof Promise ? who.then(() => lease.grant(req)) : lease.grant(req);
      return res.then(completeGrantHeader);
    }),
    leaseRevoke: unary(revokeMethod, async (req, call) => {
      // etcd checks write on the lease's keys when the revoke is applied, against the keys then
      // attached and the auth state then in force: the entry carries the caller (a token is checked
      // here) once every member can apply that; before, it is checked here (revokeHeaderAsked).
      const who = await writeHeaderOf(api, call);
      const res = await lease.revoke(req, await revokeHeaderAsked(api.auth, who, req.ID, api.everyMemberApplies?.(revokeAuthHeaderFeature) ?? true));
      return { ...res, header: completeHeader(api, res.header) };
    }),
    leaseKeepAlive: bidi(keepAliveMethod, (call, out) => {
      const queue = requestQueue<LeaseKeepAliveRequest>(call);
      serveKeepAlive(lease, queue.requests, keepAliveSink(out, call.signal)).then(
        () => out.end(),
        (err: unknown) => out.fail(err),
      );
      return queue;
    }),
    leaseTimeToLive: unary(LeaseService.leaseTimeToLive, async (req, call) => {
      // etcd 3.4.26+ (CVE-2023-32082): the attached key names only for a caller who may read them
      // all (permission denied otherwise); without keys, only that a token sent is valid. Checked on
      // the keys answered: a follower answers with the leader's table, which its own may lag.
      if (req.keys) {
        const res = await serveCheckedAnswer(api, call, (check, h, answer) => keysReadRefusal(check, h, answer.keys), () => lease.timeToLive(req));
        return { ...res, header: completeHeader(api, res.header) };
      }
      if (enabledAuth(api) !== undefined) await callerOf(api, call);
      const res = await lease.timeToLive(req);
      return { ...res, header: completeHeader(api, res.header) };
    }),
    leaseLeases: unary(LeaseService.leaseLeases, async () => {
      const res = await lease.leases();
      return { ...res, header: completeHeader(api, res.header) };
    }),
  });
}

export const leaseServiceModule: GrpcServiceModule = {
  name: 'etcdserverpb.Lease',
  methods: createLeaseMethods,
};
