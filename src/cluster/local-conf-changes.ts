// Conf changes for a single member before Raft: applied to the membership at once, without a log
// (the node loop replaces this with propose → commit → apply on every member). Without a peer
// transport no other member can ever start, so a change that would make another member count
// towards quorum (adding or promoting a voter) or remove this one would leave the server unable to
// commit anything; those are refused with etcd's answer for a quorum that could not start. Learners
// are not counted in quorum: adding, updating and removing them is harmless.
import { EtcdError } from '../core/errors.js';
import type { ConfChange, NodeId } from '../raft/types.js';
import { decodeConfChange, type MembershipChange } from './member.js';
import { membershipError, type ApplyOutcome, type Membership } from './membership.js';

/** Rejects with the membership's error when the apply refused the change (for whoever awaits a proposal). */
export function throwIfRefused(outcome: ApplyOutcome): void {
  if (outcome.type === 'refused') throw membershipError(outcome.error);
}

/** Whether a change needs a quorum this lone member cannot have. */
export function needsOtherVoters(change: MembershipChange, selfId: NodeId): boolean {
  switch (change.type) {
    case 'add':
      return !change.member.isLearner;
    case 'promote':
      return true;
    case 'remove':
      return change.id === selfId;
    case 'update':
      return false;
  }
}

export function localConfChanges(
  membership: Membership,
  selfId: NodeId,
  onRefused: (change: MembershipChange) => void = () => undefined,
): (cc: ConfChange) => Promise<void> {
  return async (cc) => {
    const change = decodeConfChange(cc);
    if (needsOtherVoters(change, selfId)) {
      onRefused(change);
      throw new EtcdError('notEnoughStartedMembers', 'a single member without Raft cannot change its voters');
    }
    throwIfRefused(await membership.apply(cc, 'unlogged'));
  };
}
