// etcd 3.4's single-step membership changes applied to the tracker: one voter or learner added,
// promoted or removed at a time, so a majority of the old and the new config always overlap.
import { Progress } from './progress.js';
import type { ProgressTracker } from './progress-tracker.js';
import { ConfChangeType, type ConfChange, type ConfState, type NodeId } from './types.js';

export type ConfChangeOutcome = 'applied' | 'unchanged' | 'wouldRemoveLastVoter';

/**
 * Applies one change; `lastIndex` is the log's last index, where a new member is first probed.
 * Removing the last voter is refused (etcd refuses it too, by panicking), the tracker unchanged.
 */
export function applyChange(tracker: ProgressTracker, change: ConfChange, lastIndex: number): ConfChangeOutcome {
  switch (change.type) {
    case ConfChangeType.AddNode:
      return makeVoter(tracker, change.nodeId, lastIndex);
    case ConfChangeType.AddLearnerNode:
      return makeLearner(tracker, change.nodeId, lastIndex);
    case ConfChangeType.RemoveNode:
      return remove(tracker, change.nodeId);
    case ConfChangeType.UpdateNode:
      // Only the application's member record changes (carried in context).
      return 'unchanged';
  }
}

/** Rebuilds the tracker from a snapshot's (or storage's) ConfState. */
export function restoreConfState(tracker: ProgressTracker, confState: ConfState, lastIndex: number): void {
  tracker.voters.clear();
  tracker.learners.clear();
  tracker.progress.clear();
  for (const id of confState.voters) makeVoter(tracker, id, lastIndex);
  for (const id of confState.learners) makeLearner(tracker, id, lastIndex);
}

function makeVoter(tracker: ProgressTracker, id: NodeId, lastIndex: number): ConfChangeOutcome {
  const existing = tracker.progress.get(id);
  if (existing && !existing.isLearner) return 'unchanged';
  if (existing) {
    // Promotion keeps what the leader knows of the learner's log.
    existing.isLearner = false;
    tracker.learners.delete(id);
  } else {
    tracker.progress.set(id, newProgress(tracker, lastIndex, false));
  }
  tracker.voters.add(id);
  return 'applied';
}

function makeLearner(tracker: ProgressTracker, id: NodeId, lastIndex: number): ConfChangeOutcome {
  const existing = tracker.progress.get(id);
  if (existing && existing.isLearner) return 'unchanged';
  if (existing) {
    if (tracker.voters.size === 1) return 'wouldRemoveLastVoter';
    existing.isLearner = true;
    tracker.voters.delete(id);
  } else {
    tracker.progress.set(id, newProgress(tracker, lastIndex, true));
  }
  tracker.learners.add(id);
  return 'applied';
}

function remove(tracker: ProgressTracker, id: NodeId): ConfChangeOutcome {
  if (!tracker.progress.has(id)) return 'unchanged';
  if (tracker.voters.has(id) && tracker.voters.size === 1) return 'wouldRemoveLastVoter';
  tracker.voters.delete(id);
  tracker.learners.delete(id);
  tracker.progress.delete(id);
  return 'applied';
}

function newProgress(tracker: ProgressTracker, lastIndex: number, isLearner: boolean): Progress {
  // Probing starts at the last index; a new member counts as active so that check-quorum does not
  // depose the leader before the member had a chance to answer.
  return new Progress({ next: Math.max(lastIndex, 1), maxInflightMsgs: tracker.maxInflightMsgs, isLearner, recentActive: true });
}
