// An in-memory RaftStorage (etcd's MemoryStorage): the node loop keeps the durable WAL itself and
// mirrors what it persisted into this, so the state machine can read its stable log synchronously.
import { limitSize } from './entry-size.js';
import type { ConfState, Entry, HardState, RaftStorage, Snapshot, StorageUnavailable } from './types.js';
import { EntryType, noNode } from './types.js';

const compacted: StorageUnavailable = { unavailable: 'compacted' };

/** Why a snapshot or compaction was not taken. */
export type StorageRefusal =
  /** The request is at or below what storage already holds compacted. */
  | { readonly refused: 'snapshotOutOfDate' }
  /** The index is past the last stored entry. */
  | { readonly refused: 'indexBeyondLog'; readonly lastIndex: number };

export interface MemoryRaftStorageOptions {
  /** Membership of a brand-new cluster; stored as the metadata of an empty snapshot at index 0. */
  readonly confState?: ConfState;
  readonly hardState?: HardState;
}

export class MemoryRaftStorage implements RaftStorage {
  private hardStateValue: HardState;
  private snapshotValue: Snapshot;
  /** entries[0] is a placeholder standing for the snapshot's index and term. */
  private entriesValue: Entry[];
  /** Membership newer than the snapshot's, if the node loop records it. */
  private appliedConfState: ConfState | undefined;

  constructor(options: MemoryRaftStorageOptions = {}) {
    this.hardStateValue = options.hardState ?? { term: 0, vote: noNode, commit: 0 };
    this.snapshotValue = {
      metadata: { index: 0, term: 0, confState: options.confState ?? { voters: [], learners: [] } },
      data: new Uint8Array(0),
    };
    this.entriesValue = [placeholder(0, 0)];
  }

  initialState(): { readonly hardState: HardState; readonly confState: ConfState } {
    return { hardState: this.hardStateValue, confState: this.appliedConfState ?? this.snapshotValue.metadata.confState };
  }

  hardState(): HardState {
    return this.hardStateValue;
  }

  setHardState(hardState: HardState): void {
    this.hardStateValue = hardState;
  }

  /**
   * Records the membership as of the applied index, for a node loop that restarts with `applied`
   * past the snapshot instead of re-applying conf changes (initialState() returns it).
   */
  setConfState(confState: ConfState): void {
    // Kept apart from the snapshot: a snapshot sent to a follower must carry its own index's membership.
    this.appliedConfState = confState;
  }

  entries(lo: number, hi: number, maxBytes: number): readonly Entry[] | StorageUnavailable {
    const offset = this.offset();
    if (lo <= offset) return compacted;
    if (hi > this.lastIndex() + 1) {
      throw new RangeError(`entries hi ${hi} is out of bound, last index ${this.lastIndex()}`);
    }
    // Only the placeholder: nothing stored.
    if (this.entriesValue.length === 1) return [];
    return limitSize(this.entriesValue.slice(lo - offset, hi - offset), maxBytes);
  }

  term(index: number): number | StorageUnavailable {
    const offset = this.offset();
    if (index < offset) return compacted;
    if (index - offset >= this.entriesValue.length) {
      throw new RangeError(`term of index ${index} asked past the last index ${this.lastIndex()}`);
    }
    return this.entriesValue[index - offset]!.term;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  lastIndex(): number {
    return this.offset() + this.entriesValue.length - 1;
  }

  snapshot(): Snapshot {
    return this.snapshotValue;
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  applySnapshot(snapshot: Snapshot): StorageRefusal | undefined {
    if (snapshot.metadata.index <= this.snapshotValue.metadata.index) return { refused: 'snapshotOutOfDate' };
    this.snapshotValue = snapshot;
    this.appliedConfState = undefined;
    this.entriesValue = [placeholder(snapshot.metadata.index, snapshot.metadata.term)];
    return undefined;
  }

  /** Records a snapshot of the application at `index` (which must be applied, so stored). */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot | StorageRefusal {
    if (index <= this.snapshotValue.metadata.index) return { refused: 'snapshotOutOfDate' };
    if (index > this.lastIndex()) return { refused: 'indexBeyondLog', lastIndex: this.lastIndex() };
    const term = this.entriesValue[index - this.offset()]!.term;
    this.snapshotValue = { metadata: { index, term, confState }, data };
    return this.snapshotValue;
  }

  /** Drops entries before `index`; entries[index] becomes the placeholder. */
  compact(index: number): StorageRefusal | undefined {
    const offset = this.offset();
    if (index <= offset) return { refused: 'snapshotOutOfDate' };
    if (index > this.lastIndex()) return { refused: 'indexBeyondLog', lastIndex: this.lastIndex() };
    const kept = this.entriesValue.slice(index - offset);
    kept[0] = placeholder(index, kept[0]!.term);
    this.entriesValue = kept;
    return undefined;
  }

  /**
   * Appends entries that must be contiguous with (or overlap) the stored log; a stored tail that
   * conflicts with them is replaced. Entries already compacted are skipped.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const lastNew = entries[0]!.index + entries.length - 1;
    if (lastNew < first) return;
    const fresh = first > entries[0]!.index ? entries.slice(first - entries[0]!.index) : entries;
    const at = fresh[0]!.index - this.offset();
    if (at > this.entriesValue.length) {
      throw new RangeError(`missing log entries: last index ${this.lastIndex()}, appended at ${fresh[0]!.index}`);
    }
    // In place: copying the whole log on every append made appends cost O(log length).
    this.entriesValue.length = at;
    for (const entry of fresh) this.entriesValue.push(entry);
  }

  private offset(): number {
    return this.entriesValue[0]!.index;
  }
}

function placeholder(index: number, term: number): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array(0) };
}
