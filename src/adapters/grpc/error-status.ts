// The one place where an error becomes a gRPC status. Codes and messages are etcd 3.4's, copied from
// etcdserver/api/v3rpc/rpctypes/error.go (ErrGRPC*) and the mapping in v3rpc/util.go (togRPCError).
import { Status } from './grpc-codes.js';
import { isEtcdError, type EtcdErrorKind } from '../../core/errors.js';

export interface GrpcStatus {
  readonly code: Status;
  readonly details: string;
}

/**
 * Kinds the adapter itself can produce on top of the core's. `invalidSortOption` is etcd 3.5's answer
 * (rpctypes.ErrGRPCInvalidSortOption) for a sort target etcd 3.4 would crash on (see validate.ts).
 */
export type AdapterErrorKind = EtcdErrorKind | 'invalidSortOption';

export const statusByKind: Readonly<Record<AdapterErrorKind, GrpcStatus>> = {
  emptyKey: { code: Status.INVALID_ARGUMENT, details: 'etcdserver: key is not provided' },
  keyNotFound: { code: Status.INVALID_ARGUMENT, details: 'etcdserver: key not found' },
  valueProvided: { code: Status.INVALID_ARGUMENT, details: 'etcdserver: value is provided' },
  leaseProvided: { code: Status.INVALID_ARGUMENT, details: 'etcdserver: lease is provided' },
  tooManyOps: { code: Status.INVALID_ARGUMENT, details: 'etcdserver: too many operations in txn request' },
  duplicateKey: { code: Status.INVALID_ARGUMENT, details: 'etcdserver: duplicate key given in txn request' },
  requestTooLarge: { code: Status.INVALID_ARGUMENT, details: 'etcdserver: request is too large' },
  compacted: { code: Status.OUT_OF_RANGE, details: 'etcdserver: mvcc: required revision has been compacted' },
  futureRev: { code: Status.OUT_OF_RANGE, details: 'etcdserver: mvcc: required revision is a future revision' },
  noSpace: { code: Status.RESOURCE_EXHAUSTED, details: 'etcdserver: mvcc: database space exceeded' },
  corrupt: { code: Status.DATA_LOSS, details: 'etcdserver: corrupt cluster' },
  leaseNotFound: { code: Status.NOT_FOUND, details: 'etcdserver: requested lease not found' },
  leaseExists: { code: Status.FAILED_PRECONDITION, details: 'etcdserver: lease already exists' },
  leaseIdReserved: { code: Status.INVALID_ARGUMENT, details: 'lattice: lease IDs with bit 62 set are reserved for tenants' },
  leaseTtlTooLarge: { code: Status.OUT_OF_RANGE, details: 'etcdserver: too large lease TTL' },
  stopped: { code: Status.UNAVAILABLE, details: 'etcdserver: server stopped' },
  timeout: { code: Status.UNAVAILABLE, details: 'etcdserver: request timed out' },
  noLeader: { code: Status.UNAVAILABLE, details: 'etcdserver: no leader' },
  notSupportedForLearner: { code: Status.UNAVAILABLE, details: 'etcdserver: rpc not supported for learner' },
  leaderChanged: { code: Status.UNAVAILABLE, details: 'etcdserver: leader changed' },
  notLeader: { code: Status.FAILED_PRECONDITION, details: 'etcdserver: not leader' },
  badLeaderTransferee: { code: Status.FAILED_PRECONDITION, details: 'etcdserver: bad leader transferee' },
  // etcd's ErrTimeoutLeaderTransfer has no gRPC mapping: togRPCError sends it as UNKNOWN.
  leaderTransferTimeout: { code: Status.UNKNOWN, details: 'etcdserver: request timed out, leader transfer took too long' },
  tooManyRequests: { code: Status.RESOURCE_EXHAUSTED, details: 'etcdserver: too many requests' },
  notCapable: { code: Status.UNAVAILABLE, details: 'etcdserver: not capable' },
  canceled: { code: Status.CANCELLED, details: 'context canceled' },
  // etcd's Lock and Election servers return these as plain Go errors: grpc-go sends them as UNKNOWN.
  electionNotLeader: { code: Status.UNKNOWN, details: 'election: not leader' },
  electionNoLeader: { code: Status.UNKNOWN, details: 'election: no leader' },
  missingLeaderKey: { code: Status.UNKNOWN, details: '"leader" field must be provided' },
  invalidSortOption: { code: Status.INVALID_ARGUMENT, details: 'etcdserver: invalid sort option' },
  // Cluster API. etcd answers a removed ID as an unknown one; "not enough started members" is wrapped
  // in rpctypes.EtcdError, which is no gRPC status, so grpc-go sends it as UNKNOWN.
  memberNotFound: { code: Status.NOT_FOUND, details: 'etcdserver: member not found' },
  memberRemoved: { code: Status.NOT_FOUND, details: 'etcdserver: member not found' },
  memberExists: { code: Status.FAILED_PRECONDITION, details: 'etcdserver: member ID already exist' },
  peerUrlExists: { code: Status.FAILED_PRECONDITION, details: 'etcdserver: Peer URLs already exists' },
  memberNotLearner: { code: Status.FAILED_PRECONDITION, details: 'etcdserver: can only promote a learner member' },
  tooManyLearners: { code: Status.FAILED_PRECONDITION, details: 'etcdserver: too many learner members in cluster' },
  memberBadUrls: { code: Status.INVALID_ARGUMENT, details: 'etcdserver: given member URLs are invalid' },
  notEnoughStartedMembers: { code: Status.UNKNOWN, details: 'etcdserver: re-configuration failed due to not enough started members' },
  learnerNotReady: { code: Status.FAILED_PRECONDITION, details: 'etcdserver: can only promote a learner member which is in sync with leader' },
  unhealthyCluster: { code: Status.UNAVAILABLE, details: 'etcdserver: unhealthy cluster' },
  // Auth: rpctypes.ErrGRPC* as v3rpc/util.go maps auth's errors.
  authRootUserNotExist: { code: Status.FAILED_PRECONDITION, details: 'etcdserver: root user does not exist' },
  authRootRoleNotExist: { code: Status.FAILED_PRECONDITION, details: 'etcdserver: root user does not have root role' },
  authUserAlreadyExist: { code: Status.FAILED_PRECONDITION, details: 'etcdserver: user name already exists' },
  authUserEmpty: { code: Status.INVALID_ARGUMENT, details: 'etcdserver: user name is empty' },
  authUserNotFound: { code: Status.FAILED_PRECONDITION, details: 'etcdserver: user name not found' },
  authRoleAlreadyExist: { code: Status.FAILED_PRECONDITION, details: 'etcdserver: role name already exists' },
  authRoleNotFound: { code: Status.FAILED_PRECONDITION, details: 'etcdserver: role name not found' },
  authRoleEmpty: { code: Status.INVALID_ARGUMENT, details: 'etcdserver: role name is empty' },
  authFailed: { code: Status.INVALID_ARGUMENT, details: 'etcdserver: authentication failed, invalid user ID or password' },
  authPermissionDenied: { code: Status.PERMISSION_DENIED, details: 'etcdserver: permission denied' },
  authRoleNotGranted: { code: Status.FAILED_PRECONDITION, details: 'etcdserver: role is not granted to the user' },
  authPermissionNotGranted: { code: Status.FAILED_PRECONDITION, details: 'etcdserver: permission is not granted to the role' },
  authNotEnabled: { code: Status.FAILED_PRECONDITION, details: 'etcdserver: authentication is not enabled' },
  authInvalidToken: { code: Status.UNAUTHENTICATED, details: 'etcdserver: invalid auth token' },
  authInvalidMgmt: { code: Status.INVALID_ARGUMENT, details: 'etcdserver: invalid auth management' },
  authOldRevision: { code: Status.INVALID_ARGUMENT, details: 'etcdserver: revision of auth store is old' },
};

export type ErrorLogger = (message: string, err: unknown) => void;

export const consoleErrorLogger: ErrorLogger = (message, err) => console.error(`lattice: ${message}`, err);

/** A status that a handler may throw when it already knows the exact code and message. */
export class GrpcStatusError extends Error {
  constructor(readonly status: GrpcStatus) {
    super(status.details);
    this.name = 'GrpcStatusError';
  }
}

export const statusError = (kind: AdapterErrorKind): GrpcStatusError => new GrpcStatusError(statusByKind[kind]);

/**
 * etcd's Lock and Election servers call the KV and Lease APIs through an in-process client and return
 * its errors as plain Go errors, so every one reaches the client as UNKNOWN with etcd's message
 * (`Unknown: etcdserver: requested lease not found`).
 */
export function asRecipeError(err: unknown): unknown {
  if (!isEtcdError(err)) return err;
  const known = (statusByKind as Readonly<Record<string, GrpcStatus | undefined>>)[err.kind];
  return known === undefined ? err : new GrpcStatusError({ code: Status.UNKNOWN, details: known.details });
}

/** For `.catch` in the Lock and Election handlers. */
export const rethrowAsRecipeError = (err: unknown): never => {
  throw asRecipeError(err);
};

/**
 * Maps anything a handler threw or rejected with. EtcdError → etcd's status; anything else →
 * UNKNOWN with the error's message (what etcd's togRPCError does for an unmapped error), logged,
 * since it means a bug or a kind the adapter does not know yet.
 */
export function toGrpcStatus(err: unknown, log: ErrorLogger = consoleErrorLogger): GrpcStatus {
  if (err instanceof GrpcStatusError) return err.status;
  if (isEtcdError(err)) {
    const known = (statusByKind as Readonly<Record<string, GrpcStatus | undefined>>)[err.kind];
    if (known !== undefined) return known;
    log(`EtcdError with unmapped kind ${String(err.kind)}`, err);
    return { code: Status.UNKNOWN, details: err.message };
  }
  log('unexpected error in gRPC handler', err);
  const details = err instanceof Error ? err.message : String(err);
  return { code: Status.UNKNOWN, details };
}
