// The auth header a client's LeaseRevoke is proposed with. With a header the revoke is a type-12 log
// entry around type 6, checked when applied against the keys then attached (etcd's
// authApplierV3.LeaseRevoke). Builds before that cannot decode it: they stop at it, and again at
// every restart. So the header goes on only while every member says it can apply it (the peer
// handshake's log features, src/peer/peer-protocol.ts); until then the revoke is checked here,
// before it is proposed, and logged as plain type 6 (what those builds did).
import type { EtcdErrorKind } from '../core/errors.js';
import type { AuthHeader } from './auth-op.js';

/** What revokeHeaderAsked needs of the auth front. */
export interface AskedRevokeAuth {
  readonly enabled: boolean;
  leaseRefusalAsked(h: AuthHeader, id: bigint): Promise<EtcdErrorKind | undefined>;
  require(refusal: EtcdErrorKind | undefined): void;
}

/**
 * `who`: the caller as resolved for writes (writeHeaderOf). `everyMemberApplies`: every member of the
 * current membership advertises revokeAuthHeaderFeature. Rejects with the refusal when the revoke is
 * checked here (older members present, auth enabled) and the caller may not write the lease's keys,
 * asked of the lease table (which may lag the log: the behaviour before apply-time checks).
 */
export async function revokeHeaderAsked(auth: AskedRevokeAuth | undefined, who: AuthHeader | undefined, leaseId: bigint, everyMemberApplies: boolean): Promise<AuthHeader | undefined> {
  if (auth === undefined || who === undefined) return undefined;
  if (everyMemberApplies) return who;
  if (auth.enabled) auth.require(await auth.leaseRefusalAsked(who, leaseId));
  return undefined;
}
