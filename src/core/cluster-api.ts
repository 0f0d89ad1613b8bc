// What the Cluster service adapter calls (etcdserverpb.Cluster). Members are etcd's records, sorted by
// ID; failures reject with EtcdError (memberNotFound, memberExists, peerUrlExists, memberNotLearner,
// tooManyLearners, memberBadUrls, notEnoughStartedMembers, learnerNotReady, unhealthyCluster, …).
import type { Member } from '../cluster/member.js';

export type { Member };

export interface MemberAddResult {
  /** The new member: its ID, sorted peer URLs and learner flag; no name or client URLs yet. */
  readonly member: Member;
  /** Every member once the change is applied. */
  readonly members: readonly Member[];
}

export interface ClusterApi {
  /** `linearizable` (etcd 3.5's MemberListRequest field; 3.4 clients never set it) waits for a read barrier first. */
  memberList(linearizable: boolean): Promise<readonly Member[]>;
  memberAdd(peerUrls: readonly string[], isLearner: boolean): Promise<MemberAddResult>;
  memberRemove(id: bigint): Promise<readonly Member[]>;
  memberUpdate(id: bigint, peerUrls: readonly string[]): Promise<readonly Member[]>;
  memberPromote(id: bigint): Promise<readonly Member[]>;
}
