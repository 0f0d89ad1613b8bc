// Majority arithmetic over one set of voters (etcd's quorum.MajorityConfig; no joint configs).
import type { NodeId } from './types.js';

export type VoteResult = 'won' | 'lost' | 'pending';

/** The highest index acknowledged by a majority; voters without an acknowledgement count as 0. */
export function committedIndex(voters: ReadonlySet<NodeId>, acked: (id: NodeId) => number | undefined): number {
  // No voters: nothing restricts commitment (etcd's convention), though no leader is left to use it.
  if (voters.size === 0) return Number.MAX_SAFE_INTEGER;
  const indexes: number[] = [];
  for (const id of voters) indexes.push(acked(id) ?? 0);
  indexes.sort((a, b) => b - a);
  return indexes[majority(voters.size) - 1]!;
}

/** Won once a majority said yes, lost once a majority can no longer say yes. */
export function voteResult(voters: ReadonlySet<NodeId>, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.size === 0) return 'won';
  let yes = 0;
  let missing = 0;
  for (const id of voters) {
    const vote = votes.get(id);
    if (vote === undefined) missing++;
    else if (vote) yes++;
  }
  const needed = majority(voters.size);
  if (yes >= needed) return 'won';
  if (yes + missing >= needed) return 'pending';
  return 'lost';
}

export function majority(size: number): number {
  return Math.floor(size / 2) + 1;
}
