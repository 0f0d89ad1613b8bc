// The lease calls a member makes to the leader over the peer port (etcd's /leases and
// /leases/internal): their method names, protobuf bodies (etcd's own request and response messages)
// and the refusals the leader answers with.
import {
  LeaseKeepAliveRequest,
  LeaseKeepAliveResponse,
  LeaseLeasesRequest,
  LeaseLeasesResponse,
  LeaseTimeToLiveRequest,
  LeaseTimeToLiveResponse,
} from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';

export const leaseCallMethods = {
  renew: 'lease-renew',
  timeToLive: 'lease-time-to-live',
  leases: 'lease-leases',
} as const;

export type LeaseCallMethod = (typeof leaseCallMethods)[keyof typeof leaseCallMethods];

/**
 * 'leaseNotFound': final (the caller answers TTL 0 or -1); 'notLeader': the callee is not the
 * primary lessor (any more); 'timeout': the callee could not catch up in time. The last two are retried.
 */
export type LeaseCallRefusal = 'leaseNotFound' | 'notLeader' | 'timeout';

export const leaseCallRefusalText: Readonly<Record<LeaseCallRefusal, string>> = {
  leaseNotFound: 'lease not found',
  notLeader: 'not the primary lessor',
  timeout: 'waiting for node to catch up its applied index has timed out',
};

export const isLeaseCallRefusal = (code: string): code is LeaseCallRefusal => Object.hasOwn(leaseCallRefusalText, code);

/** Each method's request and answer codecs. */
export const leaseCallCodecs = {
  renew: { request: LeaseKeepAliveRequest, answer: LeaseKeepAliveResponse },
  timeToLive: { request: LeaseTimeToLiveRequest, answer: LeaseTimeToLiveResponse },
  leases: { request: LeaseLeasesRequest, answer: LeaseLeasesResponse },
} as const;
