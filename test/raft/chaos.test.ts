// Seeded chaos: five cores under random message loss, duplication, reordering, partitions, crashes,
// restarts and log compaction. After every step: at most one leader per term, and every node that
// applied index i reached the same state there (state machine safety). At the end, once healed,
// the cluster commits a new proposal everywhere. A failure names the seed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryRaftStorage } from '../../src/raft/memory-storage.js';
import { createRaftCore } from '../../src/raft/raft-core.js';
import { decodeConfChange, isConfChangeDecodeError } from '../../src/raft/conf-change-codec.js';
import { ConfChangeType, EntryType, MessageType, RaftRole, SnapshotStatus, type ConfChange, type ConfState, type Message, type NodeId, type RaftCore } from '../../src/raft/types.js';
import { defaultTestConfig, n, seededRandom } from './raft-network.js';

const test = suite('raft: seeded chaos');

/** RAFT_CHAOS_SEEDS widens a run for a deeper search; the suite's default stays fast. */
const seeds = Number(process.env.RAFT_CHAOS_SEEDS ?? 24);
const firstSeed = Number(process.env.RAFT_CHAOS_FIRST_SEED ?? 1);
const stepsPerSeed = 1500;
/** Messages in flight beyond this are dropped, oldest first (a bounded network). */
const maxInFlightMessages = 2000;
const voterIds = [1, 2, 3, 4, 5].map(n);
/** Started with the initial membership but outside it, until a conf change adds them. */
const spareIds = [6, 7, 8].map(n);
const initialConfState: ConfState = { voters: voterIds, learners: [] };

interface ChaosNode {
  readonly id: NodeId;
  core: RaftCore | undefined;
  readonly storage: MemoryRaftStorage;
  appliedIndex: number;
  state: string;
  seedOffset: number;
  /** The membership as of appliedIndex. */
  confState: ConfState;
  /** Applied its own removal: stopped for good, as etcd stops a removed member. */
  removed: boolean;
}

/** The state after applying data at index on top of `previous` (a cheap chained digest). */
function nextState(previous: string, index: number, data: Uint8Array): string {
  let hash = 0x811c9dc5;
  for (const char of previous) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  for (const byte of data) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return `${index}:${hash.toString(16)}`;
}

class Chaos {
  readonly random: () => number;
  readonly nodes: ChaosNode[];
  inFlight: Message[] = [];
  /** Node -> partition group; messages cross groups only when equal. */
  group = new Map<NodeId, number>();
  readonly stateByIndex = new Map<number, string>();
  readonly leaderByTerm = new Map<number, NodeId>();
  proposals = 0;
  confChanges = 0;
  readonly everRemoved = new Set<NodeId>();

  constructor(
    readonly seed: number,
    readonly options: { preVote: boolean; checkQuorum: boolean },
  ) {
    this.random = seededRandom(seed);
    this.nodes = [...voterIds, ...spareIds].map((id) => ({
      id,
      core: undefined,
      storage: new MemoryRaftStorage({ confState: initialConfState }),
      appliedIndex: 0,
      state: '0:',
      seedOffset: 0,
      confState: initialConfState,
      removed: false,
    }));
    for (const node of this.nodes) this.start(node);
  }

  /** (Re)starts from storage the etcd way: from the snapshot, re-applying what follows it. */
  start(node: ChaosNode): void {
    const snapshot = node.storage.snapshot();
    node.appliedIndex = snapshot.metadata.index;
    node.state = snapshot.metadata.index === 0 ? '0:' : new TextDecoder().decode(snapshot.data);
    node.confState = snapshot.metadata.confState;
    node.seedOffset++;
    node.core = createRaftCore({
      ...defaultTestConfig,
      ...this.options,
      maxSizePerMsg: 64,
      maxInflightMsgs: 4,
      id: node.id,
      storage: node.storage,
      applied: node.appliedIndex,
      random: seededRandom(this.seed * 1000 + Number(node.id) * 10 + node.seedOffset),
    });
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  fail(why: string): never {
    throw new Error(`seed ${this.seed}: ${why}`);
  }

  processReadies(): void {
    for (const node of this.nodes) {
      const core = node.core;
      if (!core) continue;
      while (core.hasReady()) {
        const ready = core.ready();
        if (ready.snapshot) {
          node.storage.applySnapshot(ready.snapshot);
          const state = new TextDecoder().decode(ready.snapshot.data);
          node.appliedIndex = ready.snapshot.metadata.index;
          node.state = state;
          node.confState = ready.snapshot.metadata.confState;
          this.checkState(node);
        }
        node.storage.append(ready.entries);
        if (ready.hardState) node.storage.setHardState(ready.hardState);
        for (const message of ready.messages) this.inFlight.push(message);
        for (const entry of ready.committedEntries) {
          if (entry.index !== node.appliedIndex + 1) this.fail(`node ${node.id} applies ${entry.index} after ${node.appliedIndex}`);
          node.state = nextState(node.state, entry.index, entry.data);
          node.appliedIndex = entry.index;
          this.checkState(node);
          if (entry.type === EntryType.ConfChange) {
            const change = decodeConfChange(entry.data);
            if (isConfChangeDecodeError(change)) this.fail(`bad conf change at ${entry.index}: ${change.malformed}`);
            node.confState = core.applyConfChange(change);
            const self = node.confState.voters.includes(node.id) || node.confState.learners.includes(node.id);
            if (change.type === ConfChangeType.RemoveNode && change.nodeId === node.id && !self) node.removed = true;
          }
        }
        core.advance(ready);
        if (node.removed) {
          node.core = undefined;
          break;
        }
      }
      if (!node.core) continue;
      const status = core.status();
      if (status.softState.role === RaftRole.Leader) {
        const known = this.leaderByTerm.get(status.hardState.term);
        if (known !== undefined && known !== node.id) this.fail(`two leaders in term ${status.hardState.term}: ${known} and ${node.id}`);
        this.leaderByTerm.set(status.hardState.term, node.id);
      }
    }
    if (this.inFlight.length > maxInFlightMessages) {
      const dropped = this.inFlight.splice(0, this.inFlight.length - maxInFlightMessages);
      for (const lost of dropped) if (lost.type === MessageType.Snap) this.reportSnapshot(lost, false);
    }
  }

  checkState(node: ChaosNode): void {
    const known = this.stateByIndex.get(node.appliedIndex);
    if (known === undefined) this.stateByIndex.set(node.appliedIndex, node.state);
    else if (known !== node.state) this.fail(`node ${node.id} diverged at index ${node.appliedIndex}`);
  }

  connected(from: NodeId, to: NodeId): boolean {
    return (this.group.get(from) ?? 0) === (this.group.get(to) ?? 0);
  }

  deliver(message: Message): void {
    const target = this.nodes.find((node) => node.id === message.to);
    const delivered = target?.core !== undefined && this.connected(message.from, message.to);
    if (delivered) target!.core!.step(message);
    if (message.type === MessageType.Snap) this.reportSnapshot(message, delivered);
  }

  /** The node loop's duty: tell the sender how a snapshot transfer ended, or it waits forever. */
  reportSnapshot(message: Message, delivered: boolean): void {
    const sender = this.nodes.find((node) => node.id === message.from)?.core;
    sender?.reportSnapshot(message.to, delivered ? SnapshotStatus.Finish : SnapshotStatus.Failure);
  }

  step(): void {
    const roll = this.random();
    if (roll < 0.45) {
      if (this.inFlight.length === 0) return;
      const at = Math.floor(this.random() * this.inFlight.length);
      const [message] = this.inFlight.splice(at, 1);
      const fate = this.random();
      if (fate < 0.05) {
        if (message!.type === MessageType.Snap) this.reportSnapshot(message!, false);
        return; // lost
      }
      this.deliver(message!);
      if (fate > 0.97) this.deliver(message!); // duplicated
    } else if (roll < 0.8) {
      this.pick(this.nodes).core?.tick();
    } else if (roll < 0.9) {
      const node = this.pick(this.nodes);
      node.core?.propose(new TextEncoder().encode(`p${this.proposals++}`));
    } else if (roll < 0.93) {
      this.group = new Map(voterIds.map((id) => [id, this.random() < 0.5 ? 0 : 1]));
    } else if (roll < 0.96) {
      this.group.clear();
    } else if (roll < 0.968) {
      const node = this.pick(this.nodes);
      node.core = undefined; // crash: whatever it had not persisted is gone (nothing, here)
      for (const lost of this.inFlight.filter((m) => m.to === node.id && m.type === MessageType.Snap)) this.reportSnapshot(lost, false);
      this.inFlight = this.inFlight.filter((m) => m.to !== node.id);
    } else if (roll < 0.975) {
      const node = this.pick(this.nodes.filter((candidate) => !candidate.core && !candidate.removed).concat(this.nodes[0]!));
      if (!node.core && !node.removed) this.start(node);
    } else if (roll < 0.99) {
      this.proposeConfChange();
    } else {
      const node = this.pick(this.nodes);
      if (node.core && node.appliedIndex > node.storage.firstIndex()) {
        const snapshot = node.storage.createSnapshot(node.appliedIndex, node.confState, new TextEncoder().encode(node.state));
        if ('refused' in snapshot) this.fail(`snapshot refused: ${snapshot.refused}`);
        node.storage.compact(node.appliedIndex);
      }
    }
    this.processReadies();
  }

  /** A random single-step change proposed on a current leader: add or promote a spare, remove a voter. */
  proposeConfChange(): void {
    const leader = this.nodes.find((node) => node.core?.status().softState.role === RaftRole.Leader);
    if (!leader?.core) return;
    const { voters, learners } = leader.confState;
    const choices: ConfChange[] = [];
    for (const id of spareIds) {
      if (this.everRemoved.has(id)) continue;
      if (!learners.includes(id) && !voters.includes(id)) choices.push({ type: ConfChangeType.AddLearnerNode, nodeId: id, context: new Uint8Array(0) });
      if (!voters.includes(id)) choices.push({ type: ConfChangeType.AddNode, nodeId: id, context: new Uint8Array(0) });
    }
    if (voters.length > 3) {
      for (const id of voters) choices.push({ type: ConfChangeType.RemoveNode, nodeId: id, context: new Uint8Array(0) });
    }
    for (const id of learners) choices.push({ type: ConfChangeType.RemoveNode, nodeId: id, context: new Uint8Array(0) });
    if (choices.length === 0) return;
    const change = this.pick(choices);
    const result = leader.core.proposeConfChange(change);
    // A removed ID is never added back (etcd refuses that too).
    if (result.ok && change.type === ConfChangeType.RemoveNode) this.everRemoved.add(change.nodeId);
    if (result.ok) this.confChanges++;
  }

  /** Heals everything and runs with full delivery until a final proposal is applied everywhere. */
  settle(): void {
    this.group.clear();
    for (const node of this.nodes) if (!node.core && !node.removed) this.start(node);
    const marker = new TextEncoder().encode('final');
    let proposedAt = -1;
    for (let round = 0; round < 400; round++) {
      // A member that is not in the leader's membership is stopped (etcd's peers reject it).
      const current = this.nodes.find((node) => node.core?.status().softState.role === RaftRole.Leader)?.confState;
      if (current) {
        for (const node of this.nodes) {
          if (node.core && !current.voters.includes(node.id) && !current.learners.includes(node.id) && !spareIds.includes(node.id)) node.core = undefined;
        }
      }
      for (const node of this.nodes) node.core?.tick();
      this.processReadies();
      for (let i = 0; i < 50 && this.inFlight.length > 0; i++) {
        const batch = this.inFlight;
        this.inFlight = [];
        for (const message of batch) this.deliver(message);
        this.processReadies();
      }
      const leader = this.nodes.find((node) => node.core?.status().softState.role === RaftRole.Leader);
      if (leader && proposedAt < 0) {
        const result = leader.core!.propose(marker);
        if (result.ok) proposedAt = leader.core!.status().hardState.commit;
      }
      if (proposedAt >= 0 && leader) {
        const members = this.nodes.filter((node) => leader.confState.voters.includes(node.id) || leader.confState.learners.includes(node.id));
        const target = leader.core!.status().hardState.commit;
        if (target > proposedAt && members.every((node) => node.core && node.appliedIndex === target)) return;
      }
    }
    const detail = this.nodes.map((node) => {
      if (!node.core) return `${node.id}: stopped${node.removed ? ' (removed)' : ''}`;
      const status = node.core.status();
      const progress = status.progress ? [...status.progress].map(([id, p]) => `${id}:${p.match}/${p.next}/s${p.state}/a${p.recentActive}`).join(' ') : '';
      return `${node.id}: role ${status.softState.role} term ${status.hardState.term} commit ${status.hardState.commit} applied ${node.appliedIndex} first ${node.storage.firstIndex()} last ${node.storage.lastIndex()} conf ${node.confState.voters}/${node.confState.learners} ${progress}`;
    });
    this.fail(`cluster did not converge:\n${detail.join('\n')}`);
  }
}

test(`${seeds} seeds of ${stepsPerSeed} random steps (with membership changes) keep one leader per term and identical applied states, then converge`, () => {
  let totalConfChanges = 0;
  for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
    const chaos = new Chaos(seed, { preVote: seed % 2 === 0, checkQuorum: seed % 3 !== 0 });
    for (let step = 0; step < stepsPerSeed; step++) chaos.step();
    chaos.settle();
    assert.ok(chaos.leaderByTerm.size > 0, `seed ${seed}: no leader ever`);
    totalConfChanges += chaos.confChanges;
  }
  if (process.env.RAFT_CHAOS_VERBOSE) console.log(`membership changes proposed: ${totalConfChanges}`);
  assert.ok(totalConfChanges >= seeds, `only ${totalConfChanges} membership changes were exercised`);
});

test.run();
