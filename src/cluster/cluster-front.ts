// The Cluster API over the membership: what etcd's EtcdServer does before a conf change reaches Raft
// (AddMember, RemoveMember, UpdateMember, PromoteMember and their may* checks), in etcd's order, then
// the proposal. The change is validated against this member's membership first (a refused change
// costs no log entry) and again where it is applied, since another change may get in between.
import { EtcdError } from '../core/errors.js';
import type { ClusterApi, MemberAddResult } from '../core/cluster-api.js';
import type { ConfChange, NodeId } from '../raft/types.js';
import { normalizeUrl } from '../server/config.js';
import { computeMemberId } from '../server/member-id.js';
import { encodeMembershipChange, type Member, type MembershipChange } from './member.js';
import type { Membership } from './membership.js';
import { readyToAddVoter, readyToPromote, readyToRemoveVoter } from './quorum-checks.js';

/** What the peer transport and the Raft leader know about the other members. */
export interface PeerHealth {
  /**
   * This member itself, or a peer whose connection has been up for at least etcd's HealthInterval
   * (5 s): etcd's isConnectedSince(transport, now - HealthInterval, id).
   */
  isActive(id: NodeId): boolean;
  /**
   * Asked only for a learner member: whether the leader's match index for it is at least 90% of the
   * leader's own (etcd's isLearnerReady). Only the leader knows; etcd forwards a promote to it.
   */
  isLearnerInSync(id: NodeId): boolean;
}

export type MembershipView = Pick<Membership, 'members' | 'member' | 'validate'>;

export interface ClusterFrontDeps {
  readonly selfId: NodeId;
  readonly membership: MembershipView;
  /**
   * Proposes the change and resolves once this member has applied it; rejects with the EtcdError the
   * apply refused it with (membershipError) or the proposal's failure. The node loop provides it.
   */
  proposeConfChange(change: ConfChange): Promise<void>;
  readonly health: PeerHealth;
  /** etcd --strict-reconfig-check (default true): refuse changes that would lose quorum. */
  readonly strictReconfigCheck: boolean;
  /** Member IDs of added members hash the Unix time in seconds, as etcd's NewMember does. */
  nowUnixSeconds(): number;
  /** Resolves once this member has applied everything committed before the call (a read index). */
  readBarrier(): Promise<void>;
  /**
   * A follower hands the promotion of a learner to the leader (only it knows whether the learner is
   * in sync); without it the checks run here.
   */
  readonly promoteAtLeader?: { isLeader(): boolean; forward(id: NodeId): Promise<readonly Member[]> };
}

const byteOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** etcd's types.NewURLs, as v3rpc's MemberAdd runs it: each URL normalised, the list sorted. */
function parsePeerUrls(urls: readonly string[]): string[] {
  if (urls.length === 0) throw new EtcdError('memberBadUrls', 'no valid URLs given');
  try {
    return urls.map(normalizeUrl).sort(byteOrder);
  } catch (e) {
    throw new EtcdError('memberBadUrls', (e as Error).message);
  }
}

export class ClusterFront implements ClusterApi {
  constructor(private readonly deps: ClusterFrontDeps) {}

  async memberList(linearizable: boolean): Promise<readonly Member[]> {
    if (linearizable) await this.deps.readBarrier();
    return this.deps.membership.members();
  }

  async memberAdd(peerUrls: readonly string[], isLearner: boolean): Promise<MemberAddResult> {
    const urls = parsePeerUrls(peerUrls);
    // Checked against every change committed so far, not a membership this member lags behind on.
    await this.deps.readBarrier();
    const member: Member = {
      id: computeMemberId(urls, '', Math.floor(this.deps.nowUnixSeconds())),
      name: '',
      peerUrls: urls,
      clientUrls: [],
      isLearner,
    };
    this.mayAdd(member);
    await this.configure({ type: 'add', member });
    return { member, members: this.deps.membership.members() };
  }

  async memberRemove(id: bigint): Promise<readonly Member[]> {
    await this.deps.readBarrier();
    this.mayRemove(id);
    await this.configure({ type: 'remove', id });
    return this.deps.membership.members();
  }

  /** Peer URLs are stored as given: etcd's MemberUpdate neither checks nor sorts them. */
  async memberUpdate(id: bigint, peerUrls: readonly string[]): Promise<readonly Member[]> {
    await this.deps.readBarrier();
    await this.configure({ type: 'update', id, peerUrls: [...peerUrls] });
    return this.deps.membership.members();
  }

  async memberPromote(id: bigint): Promise<readonly Member[]> {
    await this.deps.readBarrier();
    const atLeader = this.deps.promoteAtLeader;
    if (atLeader !== undefined && !atLeader.isLeader() && this.deps.membership.member(id)?.isLearner === true) return atLeader.forward(id);
    this.mayPromote(id);
    await this.configure({ type: 'promote', id });
    return this.deps.membership.members();
  }

  private async configure(change: MembershipChange): Promise<void> {
    const cc = encodeMembershipChange(change);
    const refused = this.deps.membership.validate(cc);
    if (refused !== undefined) throw new EtcdError(refused);
    await this.deps.proposeConfChange(cc);
  }

  private voters(): Member[] {
    return this.deps.membership.members().filter((m) => !m.isLearner);
  }

  /** etcd's mayAddMember. */
  private mayAdd(member: Member): void {
    if (!this.deps.strictReconfigCheck) return;
    if (!member.isLearner && !readyToAddVoter(this.deps.membership.members())) throw new EtcdError('notEnoughStartedMembers');
    const { selfId, health } = this.deps;
    if (!this.voters().every((m) => m.id === selfId || health.isActive(m.id))) throw new EtcdError('unhealthyCluster');
  }

  /** etcd's mayRemoveMember: a learner goes freely; a voter only if the active quorum survives. */
  private mayRemove(id: NodeId): void {
    if (!this.deps.strictReconfigCheck) return;
    if (this.deps.membership.member(id)?.isLearner === true) return;
    if (!readyToRemoveVoter(this.deps.membership.members(), id)) throw new EtcdError('notEnoughStartedMembers');
    const { selfId, health } = this.deps;
    // A member that is down is not part of the active quorum: removing it costs nothing.
    if (id !== selfId && !health.isActive(id)) return;
    const voters = this.voters();
    const active = voters.filter((m) => m.id === selfId || health.isActive(m.id)).length;
    if (active - 1 < 1 + Math.floor((voters.length - 1) / 2)) throw new EtcdError('unhealthyCluster');
  }

  /**
   * etcd's mayPromoteMember. The sync check is asked only for a learner: for anything else etcd's
   * leader finds it ready (or has no progress for it) and validation answers instead.
   */
  private mayPromote(id: NodeId): void {
    if (this.deps.membership.member(id)?.isLearner === true && !this.deps.health.isLearnerInSync(id)) {
      throw new EtcdError('learnerNotReady');
    }
    if (!this.deps.strictReconfigCheck) return;
    if (!readyToPromote(this.deps.membership.members())) throw new EtcdError('notEnoughStartedMembers');
  }
}
