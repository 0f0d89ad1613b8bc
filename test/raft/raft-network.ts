// An in-memory network of RaftCores for tests: each node persists its Ready into a MemoryRaftStorage,
// applies committed entries (conf changes included), and messages are delivered until quiet.
import { decodeConfChange, isConfChangeDecodeError } from '../../src/raft/conf-change-codec.js';
import { MemoryRaftStorage } from '../../src/raft/memory-storage.js';
import { createRaftCore } from '../../src/raft/raft-core.js';
import {
  EntryType,
  MessageType,
  RaftRole,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type RaftConfig,
  type RaftCore,
  type ReadState,
  type Snapshot,
} from '../../src/raft/types.js';

import { seededRandom } from '../helpers/seeded-random.js';
export { seededRandom };

export interface TestNode {
  readonly id: NodeId;
  core: RaftCore;
  storage: MemoryRaftStorage;
  /** Committed entries in the order they were applied. */
  readonly applied: Entry[];
  readonly readStates: ReadState[];
  confState: ConfState;
  /** Snapshots this node installed from a leader. */
  readonly installedSnapshots: Snapshot[];
}

export type ConfigOverrides = Partial<Omit<RaftConfig, 'id' | 'storage'>>;

/** A delivery loop that does not go quiet within this many rounds is a livelock in the test. */
const maxDeliveryRounds = 10_000;

export const defaultTestConfig = {
  electionTicks: 10,
  heartbeatTicks: 1,
  applied: 0,
  maxSizePerMsg: 1024 * 1024,
  maxInflightMsgs: 256,
  maxUncommittedEntriesSize: 1 << 30,
  checkQuorum: false,
  preVote: false,
} as const;

export const n = (value: number): NodeId => BigInt(value);

export class RaftNetwork {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Every message delivered (or dropped), for assertions about traffic. */
  readonly trace: Message[] = [];
  private readonly cutLinks = new Set<string>();
  private pending: Message[] = [];
  /** Returns false to drop a message (on top of cut links). */
  filter: (message: Message) => boolean = () => true;
  /** Changes a message in flight (e.g. to strip entries). */
  rewrite: (message: Message) => Message = (message) => message;

  constructor(
    voters: readonly number[],
    private readonly overrides: ConfigOverrides = {},
    learners: readonly number[] = [],
    seed = 1,
  ) {
    const confState: ConfState = { voters: voters.map(n), learners: learners.map(n) };
    for (const [i, id] of [...voters, ...learners].entries()) this.addNode(n(id), confState, seed + i);
  }

  /** Adds a node with an empty log (or one a test prepared) and the given membership. */
  addNode(id: NodeId, confState: ConfState, seed: number, storage?: MemoryRaftStorage, overrides: ConfigOverrides = {}): TestNode {
    const store = storage ?? new MemoryRaftStorage({ confState });
    const core = createRaftCore({
      ...defaultTestConfig,
      random: seededRandom(seed),
      ...this.overrides,
      ...overrides,
      id,
      storage: store,
    });
    const node: TestNode = { id, core, storage: store, applied: [], readStates: [], confState, installedSnapshots: [] };
    this.nodes.set(id, node);
    return node;
  }

  node(id: number | NodeId): TestNode {
    const node = this.nodes.get(typeof id === 'number' ? n(id) : id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  core(id: number): RaftCore {
    return this.node(id).core;
  }

  /** Persists, sends and applies one Ready of every node that has one; true if any had. */
  processReadies(): boolean {
    let any = false;
    for (const node of this.nodes.values()) {
      if (!node.core.hasReady()) continue;
      any = true;
      const ready = node.core.ready();
      if (ready.snapshot) {
        node.storage.applySnapshot(ready.snapshot);
        node.installedSnapshots.push(ready.snapshot);
        node.confState = ready.snapshot.metadata.confState;
      }
      node.storage.append(ready.entries);
      if (ready.hardState) node.storage.setHardState(ready.hardState);
      this.pending.push(...ready.messages);
      for (const entry of ready.committedEntries) {
        node.applied.push(entry);
        if (entry.type === EntryType.ConfChange) {
          const change = decodeConfChange(entry.data);
          if (isConfChangeDecodeError(change)) throw new Error(`bad conf change at ${entry.index}: ${change.malformed}`);
          node.confState = node.core.applyConfChange(change);
        }
      }
      node.readStates.push(...ready.readStates);
      node.core.advance(ready);
    }
    return any;
  }

  /** Delivers messages (and processes Readies) until nothing moves. */
  deliverAll(): void {
    for (let round = 0; round < maxDeliveryRounds; round++) {
      const hadReady = this.processReadies();
      const batch = this.pending;
      this.pending = [];
      if (!hadReady && batch.length === 0) return;
      for (const message of batch) this.deliver(message);
    }
    throw new Error(`network did not go quiet within ${maxDeliveryRounds} rounds`);
  }

  /** Collects the messages nodes want to send without delivering them. */
  takeMessages(): Message[] {
    this.processReadies();
    const batch = this.pending;
    this.pending = [];
    return batch;
  }

  deliver(sent: Message): void {
    const message = this.rewrite(sent);
    this.trace.push(message);
    if (!this.filter(message) || this.cutLinks.has(linkKey(message.from, message.to))) return;
    this.nodes.get(message.to)?.core.step(message);
  }

  /** Injects a message as if it came over the network, then runs until quiet. */
  send(message: Message): void {
    this.deliver(message);
    this.deliverAll();
  }

  tick(id: number, times = 1): void {
    for (let i = 0; i < times; i++) this.core(id).tick();
  }

  /** Ticks every node once and delivers, `times` times. */
  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const node of this.nodes.values()) node.core.tick();
      this.deliverAll();
    }
  }

  campaign(id: number): void {
    this.core(id).campaign();
    this.deliverAll();
  }

  cut(a: number, b: number): void {
    this.cutLinks.add(linkKey(n(a), n(b)));
    this.cutLinks.add(linkKey(n(b), n(a)));
  }

  isolate(id: number): void {
    for (const other of this.nodes.keys()) if (other !== n(id)) this.cut(id, Number(other));
  }

  heal(): void {
    this.cutLinks.clear();
    this.filter = () => true;
    this.rewrite = (message) => message;
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((node) => node.core.status().softState.role === RaftRole.Leader).map((node) => node.id);
  }

  role(id: number): RaftRole {
    return this.core(id).status().softState.role;
  }

  term(id: number): number {
    return this.core(id).status().hardState.term;
  }

  committed(id: number): number {
    return this.core(id).status().hardState.commit;
  }

  /** Payloads a node applied, as strings, skipping empty no-ops and conf changes. */
  appliedData(id: number): string[] {
    return this.node(id)
      .applied.filter((entry) => entry.type === EntryType.Normal && entry.data.byteLength > 0)
      .map((entry) => new TextDecoder().decode(entry.data));
  }

  propose(id: number, data: string): ReturnType<RaftCore['propose']> {
    const result = this.core(id).propose(new TextEncoder().encode(data));
    this.deliverAll();
    return result;
  }
}

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}->${to}`;
}

export function message(fields: Partial<Message> & Pick<Message, 'type' | 'from' | 'to'>): Message {
  return {
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: new Uint8Array(0),
    ...fields,
  };
}

export function entry(index: number, term: number, data = ''): Entry {
  return { index, term, type: EntryType.Normal, data: new TextEncoder().encode(data) };
}

export const text = (value: string): Uint8Array => new TextEncoder().encode(value);
export { MessageType, RaftRole };
