// Errors are values with a kind, defined once here. Only the adapters turn a kind into a gRPC status
// (etcd's `etcdserver: …` message) or an HTTP status; nothing inside the core matches on messages.

export type EtcdErrorKind =
  // request validation (etcd checks these in its gRPC layer before anything is proposed)
  | 'emptyKey'
  | 'valueProvided'
  | 'leaseProvided'
  | 'tooManyOps'
  | 'duplicateKey'
  | 'requestTooLarge'
  // apply-time (MVCC and lease checks)
  | 'keyNotFound'
  | 'compacted'
  | 'futureRev'
  | 'leaseNotFound'
  | 'leaseExists'
  // Lattice: a lease ID in the range reserved for tenants' leases (src/tenants/tenant-lease-ids.ts)
  | 'leaseIdReserved'
  | 'leaseTtlTooLarge'
  | 'noSpace'
  | 'corrupt'
  // server state
  | 'stopped'
  | 'tooManyRequests'
  | 'timeout'
  // the replicated log: a proposal with no leader to take it, or dropped when leadership moved before it committed
  | 'noLeader'
  | 'notSupportedForLearner'
  | 'leaderChanged'
  // leader transfer (Maintenance.MoveLeader and the transfer a stopping leader makes)
  | 'notLeader'
  | 'badLeaderTransferee'
  | 'leaderTransferTimeout'
  | 'notCapable'
  | 'canceled'
  // the concurrency recipes behind the Lock and Election services (clientv3/concurrency's errors)
  | 'electionNotLeader'
  | 'electionNoLeader'
  | 'missingLeaderKey'
  // cluster membership: etcdserver/api/membership's errors and the server's reconfiguration checks
  | 'memberNotFound'
  | 'memberRemoved'
  | 'memberExists'
  | 'peerUrlExists'
  | 'memberNotLearner'
  | 'tooManyLearners'
  | 'memberBadUrls'
  | 'notEnoughStartedMembers'
  | 'learnerNotReady'
  | 'unhealthyCluster'
  // auth (etcd's auth/store.go errors; src/auth/)
  | 'authRootUserNotExist'
  | 'authRootRoleNotExist'
  | 'authUserAlreadyExist'
  | 'authUserEmpty'
  | 'authUserNotFound'
  | 'authRoleAlreadyExist'
  | 'authRoleNotFound'
  | 'authRoleEmpty'
  | 'authFailed'
  | 'authPermissionDenied'
  | 'authRoleNotGranted'
  | 'authPermissionNotGranted'
  | 'authNotEnabled'
  | 'authInvalidToken'
  | 'authInvalidMgmt'
  | 'authOldRevision';

export class EtcdError extends Error {
  constructor(
    readonly kind: EtcdErrorKind,
    detail?: string,
  ) {
    super(detail ?? kind);
    this.name = 'EtcdError';
  }
}

export const isEtcdError = (e: unknown): e is EtcdError => e instanceof EtcdError;
