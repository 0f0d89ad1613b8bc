// What the protocol adapters call for etcd's Lease service, in etcd's own message shapes. The
// keepalive stream's logic lives here too (serveKeepAlive), so an adapter only decodes, calls and
// encodes. Failures reject with EtcdError; the adapter maps them once.
import type {
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseKeepAliveRequest,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  LeaseTimeToLiveRequest,
  LeaseTimeToLiveResponse,
  ResponseHeader,
} from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { AuthHeader } from '../auth/auth-op.js';

export interface LeaseApi {
  /** ID 0 lets the server choose one. Rejects with leaseExists, leaseTtlTooLarge. */
  grant(req: LeaseGrantRequest): Promise<LeaseGrantResponse>;
  /**
   * Rejects with leaseNotFound. `auth`: the caller as revokeHeaderAsked gives it, checked when the revoke
   * is applied: write on every key then attached to the lease (etcd's authApplierV3.LeaseRevoke).
   * Undefined: unchecked at apply, a plain entry every build reads.
   */
  revoke(req: LeaseRevokeRequest, auth: AuthHeader | undefined): Promise<LeaseRevokeResponse>;
  /** The TTL a keepalive answers: the granted TTL, or 0 when the lease is unknown or expired. */
  renew(id: bigint): Promise<bigint>;
  /** An unknown lease answers TTL -1, as etcd's gRPC layer does. */
  timeToLive(req: LeaseTimeToLiveRequest): Promise<LeaseTimeToLiveResponse>;
  leases(): Promise<LeaseLeasesResponse>;
  /** A complete header at the current revision. */
  header(): ResponseHeader;
}

/** Where a keepalive stream's answers go. */
export interface KeepAliveSink {
  /** Queues one answer; false when the transport wants the sender to wait for `drained`. */
  send(res: LeaseKeepAliveResponse): boolean;
  drained(): Promise<void>;
}

/**
 * etcd's leaseKeepAlive loop: requests are answered one at a time, in order, each with the lease's
 * TTL (0 for a lease that does not exist or has expired). Ends when the requests end; rejects on a
 * failure that ends the stream with a status (the server stopping). A slow reader stops the loop from
 * taking requests, so nothing piles up here.
 */
export async function serveKeepAlive(api: LeaseApi, requests: AsyncIterable<LeaseKeepAliveRequest>, sink: KeepAliveSink): Promise<void> {
  for await (const req of requests) {
    const header = api.header();
    const TTL = await api.renew(req.ID);
    if (!sink.send({ header, ID: req.ID, TTL })) await sink.drained();
  }
}
