// One RaftCore driven by hand, for tests that read the exact messages it sends (as etcd's
// raft_paper_test does): Readies are persisted into its MemoryRaftStorage and advanced.
import { MemoryRaftStorage } from '../../src/raft/memory-storage.js';
import { createRaftCore } from '../../src/raft/raft-core.js';
import {
  MessageType,
  RaftRole,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type RaftCore,
  type Ready,
} from '../../src/raft/types.js';
import { defaultTestConfig, message, n, seededRandom, type ConfigOverrides } from './raft-network.js';

export interface SingleCoreOptions {
  readonly entries?: readonly Entry[];
  readonly hardState?: Partial<HardState>;
  readonly learners?: readonly number[];
  readonly overrides?: ConfigOverrides;
  readonly seed?: number;
}

export class SingleCore {
  readonly core: RaftCore;
  readonly storage: MemoryRaftStorage;
  readonly committed: Entry[] = [];

  constructor(
    readonly id: number,
    readonly voters: readonly number[],
    options: SingleCoreOptions = {},
  ) {
    this.storage = new MemoryRaftStorage({ confState: { voters: voters.map(n), learners: (options.learners ?? []).map(n) } });
    if (options.entries) this.storage.append(options.entries);
    if (options.hardState) this.storage.setHardState({ term: 0, vote: 0n, commit: 0, ...options.hardState });
    this.core = createRaftCore({
      ...defaultTestConfig,
      random: seededRandom(options.seed ?? id),
      ...options.overrides,
      id: n(id),
      storage: this.storage,
    });
  }

  /** Persists and advances one Ready; returns it. */
  readyAndAdvance(): Ready {
    const ready = this.core.ready();
    if (ready.snapshot) this.storage.applySnapshot(ready.snapshot);
    this.storage.append(ready.entries);
    if (ready.hardState) this.storage.setHardState(ready.hardState);
    this.committed.push(...ready.committedEntries);
    this.core.advance(ready);
    return ready;
  }

  /** The messages the core wants to send now (its Ready is persisted and advanced). */
  messages(): Message[] {
    const out: Message[] = [];
    while (this.core.hasReady()) out.push(...this.readyAndAdvance().messages);
    return out;
  }

  step(fields: Partial<Message> & Pick<Message, 'type'>): void {
    this.core.step(message({ from: n(2), to: n(this.id), ...fields }));
  }

  /** Campaigns and collects every other voter's vote: the core leads the next term. */
  becomeLeader(): void {
    this.core.campaign();
    this.messages();
    const term = this.term();
    for (const voter of this.voters) {
      if (voter !== this.id) this.step({ type: MessageType.VoteResp, from: n(voter), term });
    }
    if (this.role() !== RaftRole.Leader) throw new Error('did not become leader');
  }

  /** As becomeLeader, then every follower acknowledges the no-op, so all are replicating. */
  becomeLeaderWithFollowersReplicating(): void {
    this.becomeLeader();
    this.messages();
    const last = this.core.status().progress?.get(n(this.id))?.match ?? 0;
    for (const voter of this.voters) {
      if (voter !== this.id) this.step({ type: MessageType.AppResp, from: n(voter), term: this.term(), index: last });
    }
    this.messages();
  }

  term(): number {
    return this.core.status().hardState.term;
  }

  role(): RaftRole {
    return this.core.status().softState.role;
  }

  lead(): NodeId {
    return this.core.status().softState.lead;
  }

  commit(): number {
    return this.core.status().hardState.commit;
  }

  /** Every entry in the log (stable and unstable), as index/term pairs. */
  log(): Array<[number, number]> {
    // Entries not yet persisted show up in a Ready; persist them so storage has the whole log.
    while (this.core.hasReady()) this.readyAndAdvance();
    const first = this.storage.firstIndex();
    const last = this.storage.lastIndex();
    if (last < first) return [];
    const entries = this.storage.entries(first, last + 1, Number.MAX_SAFE_INTEGER);
    if ('unavailable' in entries) throw new Error('log compacted');
    return entries.map((e) => [e.index, e.term]);
  }
}

export function ofType(messages: readonly Message[], type: MessageType): Message[] {
  return messages.filter((m) => m.type === type);
}
