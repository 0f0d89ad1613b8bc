// What the leader knows of one follower's log (etcd's tracker.Progress) and the bounded window of
// MsgApps it has in flight to it (tracker.Inflights).
import { ProgressState, type PeerProgress } from './types.js';

/** In-flight MsgApps to one follower, each remembered by its last index; at most `capacity`. */
export class Inflights {
  private readonly ring: number[];
  private start = 0;
  private countValue = 0;

  constructor(readonly capacity: number) {
    this.ring = new Array<number>(Math.max(capacity, 1)).fill(0);
  }

  count(): number {
    return this.countValue;
  }

  full(): boolean {
    return this.countValue >= this.capacity;
  }

  add(lastIndex: number): void {
    if (this.full()) throw new Error('cannot add to a full inflights window');
    this.ring[(this.start + this.countValue) % this.ring.length] = lastIndex;
    this.countValue++;
  }

  /** Frees every message whose last index is at or below `index` (they were acknowledged). */
  freeLE(index: number): void {
    while (this.countValue > 0 && this.ring[this.start]! <= index) {
      this.start = (this.start + 1) % this.ring.length;
      this.countValue--;
    }
    if (this.countValue === 0) this.start = 0;
  }

  freeFirstOne(): void {
    if (this.countValue > 0) this.freeLE(this.ring[this.start]!);
  }

  reset(): void {
    this.start = 0;
    this.countValue = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = ProgressState.Probe;
  /** The snapshot index being sent while in the Snapshot state. */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** In Probe: one MsgApp is out and unanswered, so wait (or for a heartbeat response). */
  probeSent = false;
  isLearner: boolean;
  readonly inflights: Inflights;

  constructor(options: { next: number; match?: number; maxInflightMsgs: number; isLearner: boolean; recentActive?: boolean }) {
    this.next = options.next;
    this.match = options.match ?? 0;
    this.isLearner = options.isLearner;
    this.recentActive = options.recentActive ?? false;
    this.inflights = new Inflights(options.maxInflightMsgs);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // Leaving Snapshot: probe after the snapshot, which the follower has (or will) apply.
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /** An acknowledgement up to index; false when it was stale. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < index + 1) this.next = index + 1;
    return updated;
  }

  optimisticUpdate(index: number): void {
    this.next = index + 1;
  }

  /**
   * A rejection of the MsgApp after `rejected`; the follower's last index is `lastIndex`. False when
   * the rejection is stale (out of order); otherwise next is moved back.
   */
  maybeDecrTo(rejected: number, lastIndex: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, lastIndex + 1), 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }

  view(): PeerProgress {
    return { match: this.match, next: this.next, state: this.state, isLearner: this.isLearner, recentActive: this.recentActive };
  }
}
