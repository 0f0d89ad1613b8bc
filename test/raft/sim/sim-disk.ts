// A member's simulated disk: the RaftStorage its core reads, holding what the node loop wrote. Writes
// land in the "page cache" at once (what the core reads) and become durable only at sync(); a crash
// keeps the synced image plus, at most, an in-order prefix of the writes since (as a real disk may
// have flushed some of them on its own), and the restarted member reads only that.
import type { ConfState, Entry, HardState, RaftStorage, Snapshot, StorageUnavailable } from '../../../src/raft/types.js';
import { limitSize } from '../../../src/raft/entry-size.js';
import { SimViolation } from './sim-violation.js';
import type { StorageMirror } from './storage-mirror.js';

/** Unsynced writes a disk holds before it flushes on its own (as a page cache's writeback would). */
export const maxUnsyncedWrites = 10_000;

const compacted: StorageUnavailable = { unavailable: 'compacted' };
const emptyHardState: HardState = { term: 0, vote: 0n, commit: 0 };
const emptyConfState: ConfState = { voters: [], learners: [] };

/** What the application had applied when it last persisted its state (etcd's consistent index). */
export interface AppliedMark {
  readonly applied: number;
  /** The membership as of `applied`: what initialState() answers on a restart. */
  readonly confState: ConfState;
}

type DiskWrite =
  | { readonly kind: 'append'; readonly entries: readonly Entry[] }
  | { readonly kind: 'hardState'; readonly hardState: HardState }
  | { readonly kind: 'installSnapshot'; readonly snapshot: Snapshot }
  | { readonly kind: 'compact'; readonly snapshot: Snapshot; readonly compactTo: number }
  | { readonly kind: 'applied'; readonly mark: AppliedMark };

/** One version of the disk's content. Entry k of `entries` has index offset + 1 + k. */
class DiskImage {
  constructor(
    public offset: number,
    public offsetTerm: number,
    public entries: Entry[],
    public snapshot: Snapshot,
    public hardState: HardState,
    public mark: AppliedMark,
  ) {}

  clone(): DiskImage {
    return new DiskImage(this.offset, this.offsetTerm, this.entries.slice(), this.snapshot, this.hardState, this.mark);
  }

  get lastIndex(): number {
    return this.offset + this.entries.length;
  }

  /** The term at index, or undefined outside offset .. lastIndex. */
  termAt(index: number): number | undefined {
    if (index === this.offset) return this.offsetTerm;
    if (index < this.offset || index > this.lastIndex) return undefined;
    return this.entries[index - this.offset - 1]?.term;
  }

  write(op: DiskWrite): void {
    switch (op.kind) {
      case 'append': {
        const first = op.entries[0];
        if (first === undefined) return;
        const kept = op.entries.filter((e) => e.index > this.offset);
        const start = kept[0];
        if (start === undefined) return;
        this.entries.length = start.index - this.offset - 1;
        this.entries.push(...kept);
        return;
      }
      case 'hardState':
        this.hardState = op.hardState;
        return;
      case 'installSnapshot': {
        const { index, term, confState } = op.snapshot.metadata;
        this.snapshot = op.snapshot;
        this.offset = index;
        this.offsetTerm = term;
        this.entries = [];
        this.mark = { applied: index, confState };
        return;
      }
      case 'compact': {
        this.snapshot = op.snapshot;
        const term = this.termAt(op.compactTo);
        if (op.compactTo <= this.offset || term === undefined) return;
        this.entries = this.entries.slice(op.compactTo - this.offset);
        this.offset = op.compactTo;
        this.offsetTerm = term;
        return;
      }
      case 'applied':
        this.mark = op.mark;
        return;
    }
  }
}

/** What an append replaced, for the log checks: the term before the new entries and the entries cut off. */
export interface AppendOutcome {
  readonly written: readonly Entry[];
  readonly prevTerm: number | undefined;
  readonly replaced: readonly Entry[];
}

export class SimDisk implements RaftStorage {
  private live: DiskImage;
  private durable: DiskImage;
  private pending: DiskWrite[] = [];
  private mirror: StorageMirror | undefined;
  /** Which membership initialState() reports: the one persisted with the applied index, or the snapshot's. */
  initialConfState: 'appliedMark' | 'snapshot' = 'appliedMark';
  /** Whether a snapshot request now finds one being made (etcd's ErrSnapshotTemporarilyUnavailable). */
  snapshotBusy: () => boolean = () => false;

  /** An empty disk (a member joining a running cluster), or one already holding `initial` (a founder). */
  constructor(initial?: { readonly entries: readonly Entry[]; readonly hardState: HardState; readonly mark: AppliedMark }) {
    const image = new DiskImage(0, 0, [...(initial?.entries ?? [])], emptySnapshot(), initial?.hardState ?? emptyHardState, initial?.mark ?? {
      applied: 0,
      confState: emptyConfState,
    });
    this.durable = image;
    this.live = image.clone();
  }

  // --- RaftStorage (reads the page cache, as the running process does) ---

  initialState(): { readonly hardState: HardState; readonly confState: ConfState } {
    const confState = this.initialConfState === 'snapshot' ? this.live.snapshot.metadata.confState : this.live.mark.confState;
    return { hardState: this.live.hardState, confState };
  }

  entries(lo: number, hi: number, maxBytes: number): readonly Entry[] | StorageUnavailable {
    if (lo <= this.live.offset) return compacted;
    if (hi > this.live.lastIndex + 1 || lo > hi) {
      throw new SimViolation('storage contract', `entries(${lo}, ${hi}) asked beyond lastIndex ${this.live.lastIndex}`);
    }
    const start = lo - this.live.offset - 1;
    return limitSize(this.live.entries.slice(start, start + (hi - lo)), maxBytes);
  }

  term(index: number): number | StorageUnavailable {
    if (index < this.live.offset) return compacted;
    const term = this.live.termAt(index);
    if (term === undefined) {
      throw new SimViolation('storage contract', `term(${index}) asked beyond lastIndex ${this.live.lastIndex}`);
    }
    return term;
  }

  firstIndex(): number {
    return this.live.offset + 1;
  }

  lastIndex(): number {
    return this.live.lastIndex;
  }

  snapshot(): Snapshot | StorageUnavailable {
    if (this.snapshotBusy()) return { unavailable: 'snapshotTemporarilyUnavailable' };
    return this.live.snapshot;
  }

  /** The stored snapshot, for checks (never busy). */
  storedSnapshot(): Snapshot {
    return this.live.snapshot;
  }

  // --- the node loop's writes ---

  append(entries: readonly Entry[]): AppendOutcome {
    const first = entries[0];
    if (first === undefined) return { written: [], prevTerm: undefined, replaced: [] };
    if (first.index > this.live.lastIndex + 1) {
      throw new SimViolation('storage contract', `append at ${first.index} leaves a gap after lastIndex ${this.live.lastIndex}`);
    }
    for (let k = 1; k < entries.length; k++) {
      if ((entries[k] as Entry).index !== first.index + k) throw new SimViolation('storage contract', `append of non-contiguous entries at ${first.index}`);
    }
    const written = entries.filter((e) => e.index > this.live.offset);
    const start = written[0];
    const prevTerm = start === undefined ? undefined : this.live.termAt(start.index - 1);
    const replaced = start === undefined ? [] : this.live.entries.slice(start.index - this.live.offset - 1);
    this.record({ kind: 'append', entries });
    return { written, prevTerm, replaced };
  }

  setHardState(hardState: HardState): void {
    this.record({ kind: 'hardState', hardState });
  }

  /** A snapshot the core handed over in a Ready: it replaces the whole log. */
  installSnapshot(snapshot: Snapshot): void {
    this.record({ kind: 'installSnapshot', snapshot });
  }

  /** Records a snapshot of the applied state at snapshot.metadata.index and drops entries up to compactTo. */
  compact(snapshot: Snapshot, compactTo: number): void {
    if (snapshot.metadata.index <= this.live.snapshot.metadata.index) return;
    if (compactTo > snapshot.metadata.index) throw new Error(`compaction to ${compactTo} past the snapshot at ${snapshot.metadata.index}`);
    this.record({ kind: 'compact', snapshot, compactTo });
  }

  setAppliedMark(mark: AppliedMark): void {
    this.record({ kind: 'applied', mark });
  }

  private record(op: DiskWrite): void {
    this.live.write(op);
    this.pending.push(op);
    if (this.pending.length >= maxUnsyncedWrites) this.sync();
    if (this.mirror === undefined) return;
    switch (op.kind) {
      case 'append':
        this.mirror.append(op.entries);
        break;
      case 'hardState':
        this.mirror.setHardState(op.hardState);
        break;
      case 'installSnapshot':
        this.mirror.installSnapshot(op.snapshot);
        break;
      case 'compact':
        this.mirror.compact(op.snapshot, op.compactTo);
        break;
      case 'applied':
        this.mirror.setConfState(op.mark.confState);
        break;
    }
    this.mirror.compare(this, op.kind);
  }

  /** Runs MemoryRaftStorage beside this disk from now on, compared after every write. */
  mirrorInto(mirror: StorageMirror): void {
    this.mirror = mirror;
    this.rebuildMirror();
  }

  private rebuildMirror(): void {
    if (this.mirror === undefined) return;
    const image = this.live;
    this.mirror.rebuild({ ...image, confState: image.mark.confState });
    this.mirror.compare(this, 'rebuilding from the synced image');
  }

  sync(): void {
    for (const op of this.pending) this.durable.write(op);
    this.pending = [];
  }

  /** Power loss: the synced image plus the first `keptWrites` unsynced writes survive. */
  crash(keptWrites: number): void {
    for (const op of this.pending.slice(0, keptWrites)) this.durable.write(op);
    this.pending = [];
    this.live = this.durable.clone();
    this.rebuildMirror();
  }

  unsyncedWrites(): number {
    return this.pending.length;
  }

  // --- what the checks read ---

  hardState(): HardState {
    return this.live.hardState;
  }

  appliedMark(): AppliedMark {
    return this.durable.mark;
  }

  snapshotIndex(): number {
    return this.live.snapshot.metadata.index;
  }

  /** Term at index in the synced image; 'compacted' when a durable snapshot covers it. */
  durableTerm(index: number): number | 'compacted' | undefined {
    if (index <= this.durable.snapshot.metadata.index || index < this.durable.offset) return 'compacted';
    return this.durable.termAt(index);
  }

  durableHardState(): HardState {
    return this.durable.hardState;
  }

  /** The entries the page cache holds, from firstIndex. */
  liveEntries(): readonly Entry[] {
    return this.live.entries;
  }

  liveTerm(index: number): number | undefined {
    return this.live.termAt(index);
  }
}

export const emptySnapshot = (confState: ConfState = emptyConfState): Snapshot => ({
  metadata: { index: 0, term: 0, confState },
  data: new Uint8Array(0),
});
