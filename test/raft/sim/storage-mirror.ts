// Lattice's MemoryRaftStorage run beside a simulated disk: every write the node loop makes is also
// made to it (the way the real node loop mirrors its WAL into it), and after each one both must
// answer the same: first and last index, terms, entries, hard state and initial membership. A crash
// rebuilds it from the synced image, as a restarted member would from its WAL.
import { MemoryRaftStorage } from '../../../src/raft/memory-storage.js';
import type { ConfState, Entry, HardState, RaftStorage, Snapshot } from '../../../src/raft/types.js';
import { SimViolation } from './sim-violation.js';

/** Indices compared from each end of the log after a write (the whole log would cost too much). */
const comparedIndicesPerEnd = 4;

export class StorageMirror {
  private storage = new MemoryRaftStorage();

  constructor(private readonly owner: string) {}

  append(entries: readonly Entry[]): void {
    this.storage.append(entries);
  }

  setHardState(hardState: HardState): void {
    this.storage.setHardState(hardState);
  }

  installSnapshot(snapshot: Snapshot): void {
    const refusal = this.storage.applySnapshot(snapshot);
    if (refusal !== undefined) throw new SimViolation('storage contract', `${this.owner}: MemoryRaftStorage refused a snapshot: ${refusal.refused}`);
  }

  compact(snapshot: Snapshot, compactTo: number): void {
    const { index, confState } = snapshot.metadata;
    const made = this.storage.createSnapshot(index, confState, snapshot.data);
    if ('refused' in made) throw new SimViolation('storage contract', `${this.owner}: MemoryRaftStorage refused a snapshot at ${index}: ${made.refused}`);
    if (compactTo >= this.storage.firstIndex()) {
      const refusal = this.storage.compact(compactTo);
      if (refusal !== undefined) throw new SimViolation('storage contract', `${this.owner}: MemoryRaftStorage refused compaction to ${compactTo}: ${refusal.refused}`);
    }
  }

  setConfState(confState: ConfState): void {
    this.storage.setConfState(confState);
  }

  /** After a crash: a fresh storage holding what the synced image holds. */
  rebuild(image: { offset: number; offsetTerm: number; entries: readonly Entry[]; snapshot: Snapshot; hardState: HardState; confState: ConfState }): void {
    this.storage = new MemoryRaftStorage();
    if (image.offset > 0) {
      this.installSnapshot({ metadata: { index: image.offset, term: image.offsetTerm, confState: image.snapshot.metadata.confState }, data: image.snapshot.data });
    }
    this.storage.append(image.entries);
    if (image.snapshot.metadata.index > image.offset) this.compact(image.snapshot, image.offset);
    this.storage.setHardState(image.hardState);
    this.storage.setConfState(image.confState);
  }

  /** Both storages must answer alike. */
  compare(expected: RaftStorage, what: string): void {
    const fail = (detail: string): never => {
      throw new SimViolation('storage contract', `${this.owner}: after ${what}, MemoryRaftStorage ${detail}`);
    };
    const first = expected.firstIndex();
    const last = expected.lastIndex();
    if (this.storage.firstIndex() !== first || this.storage.lastIndex() !== last) {
      fail(`holds ${this.storage.firstIndex()}..${this.storage.lastIndex()}, the simulated disk ${first}..${last}`);
    }
    const state = this.storage.initialState();
    const want = expected.initialState();
    if (state.hardState.term !== want.hardState.term || state.hardState.vote !== want.hardState.vote || state.hardState.commit !== want.hardState.commit) {
      fail(`has hard state ${JSON.stringify(state.hardState, (_, v) => (typeof v === 'bigint' ? `${v}` : v))}`);
    }
    const indices = new Set<number>();
    for (let k = 0; k < comparedIndicesPerEnd; k++) {
      indices.add(first - 1 + k);
      indices.add(last - k);
    }
    for (const index of indices) {
      if (index < first - 1 || index > last) continue;
      const a = this.storage.term(index);
      const b = expected.term(index);
      if (JSON.stringify(a) !== JSON.stringify(b)) fail(`answers term(${index}) = ${JSON.stringify(a)}, the simulated disk ${JSON.stringify(b)}`);
    }
    if (last >= first) {
      const lo = Math.max(first, last - comparedIndicesPerEnd + 1);
      const a = this.storage.entries(lo, last + 1, Number.MAX_SAFE_INTEGER);
      const b = expected.entries(lo, last + 1, Number.MAX_SAFE_INTEGER);
      if ('unavailable' in a || 'unavailable' in b || a.length !== b.length || a.some((e, i) => e !== b[i] && (e.index !== b[i]?.index || e.term !== b[i]?.term))) {
        fail(`answers entries(${lo}, ${last + 1}) differently`);
      }
    }
  }
}
