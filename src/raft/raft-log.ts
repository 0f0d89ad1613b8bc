// The replicated log as the state machine sees it: storage's stable prefix plus the unstable tail,
// with the commit and apply cursors (etcd's raftLog).
import { limitSize } from './entry-size.js';
import type { Entry, RaftStorage, Snapshot, StorageUnavailable } from './types.js';
import { UnstableLog } from './unstable-log.js';

export type Compacted = 'compacted';

/** No byte limit (reads that must be whole). */
export const noLimitBytes = Number.MAX_SAFE_INTEGER;

function isUnavailable<T>(value: T | StorageUnavailable): value is StorageUnavailable {
  return typeof value === 'object' && value !== null && 'unavailable' in value;
}

export class RaftLog {
  readonly storage: RaftStorage;
  readonly unstable: UnstableLog;
  committed: number;
  applied: number;
  /** Byte bound of the committed entries one Ready hands out. */
  private readonly maxCommittedSizePerReadyBytes: number;

  constructor(storage: RaftStorage, maxCommittedSizePerReadyBytes: number) {
    this.storage = storage;
    this.maxCommittedSizePerReadyBytes = maxCommittedSizePerReadyBytes;
    const firstIndex = storage.firstIndex();
    this.unstable = new UnstableLog(storage.lastIndex() + 1);
    this.committed = firstIndex - 1;
    this.applied = firstIndex - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    if (term === undefined) throw new Error(`term of the last index ${this.lastIndex()} is unavailable`);
    return term;
  }

  /** The term at index, or undefined when it is compacted or past the end of the log. */
  term(index: number): number | undefined {
    const dummyIndex = this.firstIndex() - 1;
    if (index < dummyIndex || index > this.lastIndex()) return undefined;
    const unstableTerm = this.unstable.maybeTerm(index);
    if (unstableTerm !== undefined) return unstableTerm;
    const stored = this.storage.term(index);
    return isUnavailable(stored) ? undefined : stored;
  }

  termOrZero(index: number): number {
    return this.term(index) ?? 0;
  }

  matchTerm(index: number, term: number): boolean {
    const known = this.term(index);
    return known !== undefined && known === term;
  }

  isUpToDate(lastIndex: number, term: number): boolean {
    const ourTerm = this.lastTerm();
    return term > ourTerm || (term === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * A leader's append after entry (index, logTerm): returns the last index the message covers when
   * the log matches there, undefined when it does not (the follower must reject).
   */
  maybeAppend(index: number, logTerm: number, committed: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNewIndex = index + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      if (conflict <= this.committed) {
        throw new Error(`entry ${conflict} conflicts with committed entry (committed ${this.committed})`);
      }
      this.append(entries.slice(conflict - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNewIndex));
    return lastNewIndex;
  }

  /** The first entry whose term differs from ours (or that we lack); 0 when all are present. */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  append(entries: readonly Entry[]): number {
    const first = entries[0];
    if (!first) return this.lastIndex();
    if (first.index - 1 < this.committed) {
      throw new Error(`append after ${first.index - 1} is below committed ${this.committed}`);
    }
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  unstableEntries(): readonly Entry[] {
    return this.unstable.entries.length === 0 ? [] : [...this.unstable.entries];
  }

  /** Committed entries not yet applied, bounded by the per-Ready byte limit. */
  nextEntries(): readonly Entry[] {
    const from = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed + 1 <= from) return [];
    const entries = this.slice(from, this.committed + 1, this.maxCommittedSizePerReadyBytes);
    if (entries === 'compacted') throw new Error(`unapplied committed entries from ${from} are compacted`);
    return entries;
  }

  hasNextEntries(): boolean {
    return this.committed + 1 > Math.max(this.applied + 1, this.firstIndex());
  }

  snapshot(): Snapshot | StorageUnavailable {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  commitTo(index: number): void {
    if (this.committed >= index) return;
    if (this.lastIndex() < index) {
      throw new Error(`commit ${index} is out of range [last index ${this.lastIndex()}]`);
    }
    this.committed = index;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    if (this.committed < index || index < this.applied) {
      throw new Error(`applied ${index} is out of range [applied ${this.applied}, committed ${this.committed}]`);
    }
    this.applied = index;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  /** Commits up to maxIndex if that entry is of `term`: a leader only counts its own term (figure 8). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.termOrZero(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  restore(snapshot: Snapshot): void {
    this.committed = snapshot.metadata.index;
    this.unstable.restore(snapshot);
  }

  /** Entries from index on, for a MsgApp; 'compacted' when the leader must send a snapshot. */
  entries(index: number, maxBytes: number): readonly Entry[] | Compacted {
    if (index > this.lastIndex()) return [];
    return this.slice(index, this.lastIndex() + 1, maxBytes);
  }

  slice(lo: number, hi: number, maxBytes: number): readonly Entry[] | Compacted {
    if (lo > hi) throw new RangeError(`invalid slice ${lo} > ${hi}`);
    if (lo < this.firstIndex()) return 'compacted';
    if (hi > this.lastIndex() + 1) {
      throw new RangeError(`slice [${lo}, ${hi}) out of bound [${this.firstIndex()}, ${this.lastIndex()}]`);
    }
    if (lo === hi) return [];
    let result: Entry[] = [];
    const offset = this.unstable.offset;
    if (lo < offset) {
      const storedHi = Math.min(hi, offset);
      const stored = this.storage.entries(lo, storedHi, maxBytes);
      if (isUnavailable(stored)) {
        if (stored.unavailable === 'compacted') return 'compacted';
        throw new Error(`entries [${lo}, ${storedHi}) unavailable from storage`);
      }
      // Storage stopped early at the byte limit: the unstable part would not fit either.
      if (stored.length < storedHi - lo) return stored;
      result = [...stored];
    }
    if (hi > offset) {
      const fromUnstable = this.unstable.slice(Math.max(lo, offset), hi);
      result = result.length === 0 ? fromUnstable : result.concat(fromUnstable);
    }
    return limitSize(result, maxBytes);
  }
}
