// The leader's view of the membership: voters, learners, each member's Progress and the votes of
// the current election (etcd's tracker.ProgressTracker, single majority config only).
import { Progress } from './progress.js';
import { committedIndex, voteResult, type VoteResult } from './quorum.js';
import type { ConfState, NodeId } from './types.js';

export function compareNodeIds(a: NodeId, b: NodeId): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class ProgressTracker {
  readonly voters = new Set<NodeId>();
  readonly learners = new Set<NodeId>();
  readonly progress = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();

  constructor(readonly maxInflightMsgs: number) {}

  /** Members in ascending ID order, so every run sends its messages in the same order. */
  ids(): NodeId[] {
    return [...this.progress.keys()].sort(compareNodeIds);
  }

  visit(fn: (id: NodeId, progress: Progress) => void): void {
    // A single member (every proposal of a one-member cluster visits) has no order to sort.
    if (this.progress.size === 1) {
      for (const [id, progress] of this.progress) fn(id, progress);
      return;
    }
    for (const id of this.ids()) fn(id, this.progress.get(id)!);
  }

  committed(): number {
    // A single voter commits what it holds: committedIndex's answer without its array and sort.
    if (this.voters.size === 1) {
      for (const id of this.voters) return this.progress.get(id)?.match ?? 0;
    }
    return committedIndex(this.voters, (id) => this.progress.get(id)?.match);
  }

  /** Whether a majority of voters were heard from since the last check. */
  quorumActive(): boolean {
    const active = new Map<NodeId, boolean>();
    for (const [id, progress] of this.progress) {
      if (!progress.isLearner) active.set(id, progress.recentActive);
    }
    return voteResult(this.voters, active) === 'won';
  }

  isSingleton(): boolean {
    return this.voters.size === 1;
  }

  resetVotes(): void {
    this.votes.clear();
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const vote = this.votes.get(id);
      if (vote === true) granted++;
      else if (vote === false) rejected++;
    }
    return { granted, rejected, result: voteResult(this.voters, this.votes) };
  }

  /** Tallies acknowledgements (e.g. of a read's heartbeat round) among the voters. */
  voteResultOf(acks: ReadonlySet<NodeId>): VoteResult {
    const votes = new Map<NodeId, boolean>();
    for (const id of acks) votes.set(id, true);
    return voteResult(this.voters, votes);
  }

  confState(): ConfState {
    return {
      voters: [...this.voters].sort(compareNodeIds),
      learners: [...this.learners].sort(compareNodeIds),
    };
  }
}
