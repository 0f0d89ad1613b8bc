// etcd's --strict-reconfig-check rules (membership.IsReadyToAddVotingMember / ...RemoveVotingMember /
// ...PromoteMember): a reconfiguration is refused when, right after it, fewer voters than a quorum
// would ever have started. "Started" is etcd's: the member has published its name, whether or not it
// is reachable now (reachability is the separate "unhealthy cluster" check, see cluster-front.ts).
import { isStarted, type Member } from './member.js';
import type { NodeId } from '../raft/types.js';

const quorum = (voters: number): number => Math.floor(voters / 2) + 1;

const votersOf = (members: readonly Member[]): Member[] => members.filter((m) => !m.isLearner);

/** Adding one more voter keeps a started quorum; 1 started of 2 is allowed (etcd's restore-from-backup case). */
export function readyToAddVoter(members: readonly Member[]): boolean {
  const voters = votersOf(members);
  const total = voters.length + 1;
  const started = voters.filter(isStarted).length;
  if (started === 1 && total === 2) return true;
  return started >= quorum(total);
}

/** Removing voter `id` leaves a started quorum among the others. */
export function readyToRemoveVoter(members: readonly Member[], id: NodeId): boolean {
  const others = votersOf(members).filter((m) => m.id !== id);
  return others.filter(isStarted).length >= quorum(others.length);
}

/** Promoting a learner (counted as started) keeps a started quorum. */
export function readyToPromote(members: readonly Member[]): boolean {
  const voters = votersOf(members);
  return voters.filter(isStarted).length + 1 >= quorum(voters.length + 1);
}
