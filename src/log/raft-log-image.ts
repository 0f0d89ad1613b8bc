// The Raft log as a replay of the WAL's records builds it: the one place that says what an entry
// or a snapshot marker does to the log. The reader replays files into it (items are entries);
// the writer keeps one of terms only, to check each save against what the reader will rebuild.
//
// - An entry at index i <= last replaces i and everything after it (a new leader cut an
//   uncommitted tail): the WAL appends, and the reader drops what a later record superseded.
// - An entry at an index the snapshot covers is ignored.
// - A snapshot marker (i, t) newer than the last drops the entries up to i, keeping those after it
//   when the log holds i with term t (a member compacting its own log). Otherwise the log after i
//   is not this snapshot's history (a stale tail, or none) and all of it goes, as Raft's restore
//   discards the log when it takes a snapshot it cannot match.
// - The entries may start anywhere when older segments were released (`anchored` false), and an
//   entry below that start replaces them all (a tail cut that reached into a released segment):
//   the snapshot marker that released those segments comes later and covers what came before,
//   which gap() checks once everything is replayed.

export interface LogImageOptions<T> {
  readonly termOf: (item: T) => number;
  /** False when the log's start was released: entries may start at any index until a snapshot covers them. */
  readonly anchored: boolean;
}

export class RaftLogImage<T> {
  /** Index of items[0]. */
  private start = 1;
  private items: T[] = [];
  private anchored: boolean;
  snapshotIndex = 0;
  snapshotTerm = 0;

  constructor(private readonly options: LogImageOptions<T>) {
    this.anchored = options.anchored;
  }

  /** Index of the last entry, or the snapshot's when no entry follows it. */
  get lastIndex(): number {
    return this.items.length > 0 ? this.start + this.items.length - 1 : this.snapshotIndex;
  }

  /** Index of the first entry held (lastIndex + 1 when none). */
  get firstIndex(): number {
    return this.items.length > 0 ? this.start : this.snapshotIndex + 1;
  }

  get entries(): readonly T[] {
    return this.items;
  }

  termAt(index: number): number | undefined {
    if (index === this.snapshotIndex && index > 0) return this.snapshotTerm;
    const item = this.items[index - this.start];
    return index >= this.start && item !== undefined ? this.options.termOf(item) : undefined;
  }

  /** Why an entry at index cannot be put now, or undefined when it can (see put). */
  refusal(index: number): string | undefined {
    if (index <= this.snapshotIndex) return undefined;
    if (this.items.length === 0) {
      return !this.anchored || index === this.snapshotIndex + 1 ? undefined : `entry ${index} does not follow the snapshot at ${this.snapshotIndex}`;
    }
    if (index < this.start && this.anchored) return `entry ${index} would replace entries before ${this.start}, which were released`;
    if (index > this.lastIndex + 1) return `entry ${index} leaves a gap after entry ${this.lastIndex}`;
    return undefined;
  }

  /** Puts an entry by the rules above; throws when refusal() says why it cannot. */
  put(index: number, item: T): void {
    const refusal = this.refusal(index);
    if (refusal !== undefined) throw new Error(refusal);
    if (index <= this.snapshotIndex) return;
    if (this.items.length === 0 || index < this.start) {
      this.start = index;
      this.items = [];
    } else {
      this.items.length = index - this.start;
    }
    this.items.push(item);
  }

  /** Applies a snapshot marker; returns whether it was newer than the last one (and so taken). */
  snapshot(index: number, term: number): boolean {
    if (index <= this.snapshotIndex) return false;
    if (this.items.length > 0 && this.start > index) {
      // Entries before `start` were released under an older marker: this one covers them.
    } else if (this.termAt(index) === term) {
      this.items.splice(0, index - this.start + 1);
      this.start = index + 1;
    } else {
      this.items = [];
    }
    if (this.items.length === 0) this.start = index + 1;
    this.snapshotIndex = index;
    this.snapshotTerm = term;
    // Anchored once the entries follow a snapshot. Not before: an older marker (a header's copy)
    // can precede the first entries left after a release; the marker that released them follows.
    if (this.items.length > 0 && this.start === index + 1) this.anchored = true;
    return true;
  }

  /** Why the replayed log is not a snapshot followed by consecutive entries, if it is not. */
  gap(): string | undefined {
    if (this.items.length > 0 && this.start !== this.snapshotIndex + 1) {
      return `entries ${this.snapshotIndex + 1}..${this.start - 1} are missing (the log starts at ${this.start}, the snapshot ends at ${this.snapshotIndex})`;
    }
    return undefined;
  }
}
