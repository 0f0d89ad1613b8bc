// One simulated member: a RaftCore, its simulated disk, and the node loop around them (persist, sync
// when asked, send, apply, advance), plus the applied state machine: a list of applied records.
import {
  EntryType,
  MessageType,
  RaftRole,
  type ConfChange,
  type ConfState,
  type HardState,
  type Message,
  type NodeId,
  type RaftConfig,
  type RaftCore,
  type ReadState,
  type Ready,
  type Snapshot,
  type SoftState,
} from '../../../src/raft/types.js';
import { describeRecord, recordOf, sameRecord, type AppliedRecord } from './applied-record.js';
import type { InvariantChecker } from './invariants.js';
import type { Prng } from './prng.js';
import { SimDisk } from './sim-disk.js';
import { StorageMirror } from './storage-mirror.js';
import { SimViolation } from './sim-violation.js';

/**
 * Readys a member handles in one step; the rest wait for the next (a restart that replays a long
 * log one entry per Ready, with a tiny maxSizePerMsg, spans several steps, as a real loop would).
 */
export const maxReadyRoundsPerStep = 100;

export interface CoreUnderTest {
  createCore(config: RaftConfig): RaftCore;
  encodeConfChange(change: ConfChange): Uint8Array;
  decodeConfChange(data: Uint8Array): ConfChange;
}

export interface MemberTuning {
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly maxSizePerMsg: number;
  readonly maxInflightMsgs: number;
  readonly maxUncommittedEntriesSize: number;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  /** A member snapshots its applied state once it is this many entries past its last snapshot. */
  readonly compactEveryEntries: number;
  /** Entries kept below the snapshot point, so a slightly lagging follower needs no snapshot. */
  readonly entriesKeptAfterCompaction: number;
  /** Probability that the state machine persists its applied index after an apply round. */
  readonly appliedPersistChance: number;
  /**
   * A leader sends its Ready's messages and syncs its own new entries only before its next Ready,
   * as etcd's leader writes its WAL in parallel with replication: a crash in between loses them.
   */
  readonly leaderSyncsAfterSend: boolean;
  /**
   * Restart etcd's way: the core gets the snapshot's membership and `applied` = the snapshot index,
   * and the node loop replays the entries after it, skipping those its state machine already holds
   * (but calling applyConfChange again). Otherwise the core gets the applied index and membership
   * the state machine persisted.
   */
  readonly restartFromSnapshot: boolean;
  /** A MsgSnap carries the sender's current state (etcd's server) rather than its stored snapshot. */
  readonly mergeSnapshotOnSend: boolean;
  /** Probability that storage answers a snapshot request with snapshotTemporarilyUnavailable. */
  readonly snapshotUnavailableChance: number;
  /** Run Lattice's MemoryRaftStorage beside the simulated disk and compare them after every write. */
  readonly mirrorMemoryStorage: boolean;
}

/** The application's snapshot payloads, streamed beside MsgSnap as etcd streams its backend. */
export class SnapshotStore {
  private readonly byToken = new Map<string, readonly AppliedRecord[]>();
  private readonly decoder = new TextDecoder();

  put(records: readonly AppliedRecord[], owner: NodeId, index: number): Uint8Array {
    const token = `${owner}@${index}#${this.byToken.size}`;
    this.byToken.set(token, records.slice(0, index));
    return new TextEncoder().encode(token);
  }

  get(data: Uint8Array): readonly AppliedRecord[] | undefined {
    return this.byToken.get(this.decoder.decode(data));
  }
}

export interface MemberEnv {
  readonly core: CoreUnderTest;
  readonly checker: InvariantChecker;
  readonly snapshots: SnapshotStore;
  now(): number;
  trace(line: string): void;
  send(from: SimMember, messages: readonly Message[]): void;
  onApplied(member: SimMember, record: AppliedRecord): void;
  onConfChangeApplied(member: SimMember, index: number, change: ConfChange, confState: ConfState): void;
  onReadState(member: SimMember, readState: ReadState): void;
}

const isEmpty = (rd: Ready): boolean =>
  rd.softState === undefined &&
  rd.hardState === undefined &&
  rd.snapshot === undefined &&
  rd.entries.length === 0 &&
  rd.committedEntries.length === 0 &&
  rd.messages.length === 0 &&
  rd.readStates.length === 0;

export type MemberState = 'running' | 'paused' | 'crashed' | 'retired';

export class SimMember {
  state: MemberState = 'running';
  /** Bumped on every start, so reports for an earlier incarnation's core are not delivered. */
  incarnation = 0;
  softState: SoftState = { lead: 0n, role: RaftRole.Follower };
  /** Records for indices 1..applied (index k at position k - 1). */
  applied: AppliedRecord[] = [];
  confState: ConfState;
  /** Set when this member reported itself leader during the current step (checked at its end). */
  becameLeader = false;
  private core: RaftCore | undefined;
  /** A leader's entries written but not yet synced (see leaderSyncsAfterSend). */
  private syncOwed = false;
  /** The last index the core handed out for applying (below appliedIndex while replaying after a restart). */
  private coreApplied = 0;

  constructor(
    readonly id: NodeId,
    readonly disk: SimDisk,
    private readonly tuning: MemberTuning,
    private readonly prng: Prng,
    private readonly env: MemberEnv,
    initialRecords: readonly AppliedRecord[],
  ) {
    this.applied = initialRecords.slice();
    this.confState = disk.appliedMark().confState;
    if (tuning.mirrorMemoryStorage) disk.mirrorInto(new StorageMirror(`member ${id}`));
    this.start();
  }

  get appliedIndex(): number {
    return this.applied.length;
  }

  isLeader(): boolean {
    return this.state !== 'crashed' && this.state !== 'retired' && this.softState.role === RaftRole.Leader;
  }

  term(): number {
    return this.disk.hardState().term;
  }

  isUp(): boolean {
    return this.state === 'running' || this.state === 'paused';
  }

  private start(): void {
    const mark = this.disk.appliedMark();
    this.applied.length = Math.min(this.applied.length, mark.applied);
    if (this.applied.length !== mark.applied) {
      throw new Error(`member ${this.id}: durable applied ${mark.applied} but only ${this.applied.length} records kept`);
    }
    this.confState = mark.confState;
    this.softState = { lead: 0n, role: RaftRole.Follower };
    this.incarnation++;
    this.coreApplied = this.tuning.restartFromSnapshot ? this.disk.snapshotIndex() : mark.applied;
    this.disk.initialConfState = this.tuning.restartFromSnapshot ? 'snapshot' : 'appliedMark';
    const busy = this.prng.fork();
    this.disk.snapshotBusy = () => busy.chance(this.tuning.snapshotUnavailableChance);
    const random = this.prng.fork();
    this.core = this.guard('createRaftCore', () =>
      this.env.core.createCore({
        id: this.id,
        electionTicks: this.tuning.electionTicks,
        heartbeatTicks: this.tuning.heartbeatTicks,
        storage: this.disk,
        applied: this.coreApplied,
        maxSizePerMsg: this.tuning.maxSizePerMsg,
        maxInflightMsgs: this.tuning.maxInflightMsgs,
        maxUncommittedEntriesSize: this.tuning.maxUncommittedEntriesSize,
        checkQuorum: this.tuning.checkQuorum,
        preVote: this.tuning.preVote,
        random: () => random.next(),
      }),
    );
  }

  /** Power loss: the core and every unsynced write are gone; `keptWrites` of those survive anyway. */
  crash(keptWrites: number): void {
    this.disk.crash(keptWrites);
    this.syncOwed = false;
    this.core = undefined;
    this.state = 'crashed';
    this.softState = { lead: 0n, role: RaftRole.Follower };
  }

  restart(): void {
    this.state = 'running';
    this.start();
  }

  retire(): void {
    this.core = undefined;
    this.state = 'retired';
    this.softState = { lead: 0n, role: RaftRole.Follower };
  }

  /** The running core; throws when the member is down (a harness bug, not the core's). */
  raft(): RaftCore {
    if (this.core === undefined) throw new Error(`member ${this.id} is ${this.state}`);
    return this.core;
  }

  guard<T>(what: string, action: () => T): T {
    try {
      return action();
    } catch (error) {
      if (error instanceof SimViolation) throw error;
      const text = error instanceof Error ? (error.stack ?? error.message).split('\n').slice(0, 6).join('\n') : String(error);
      throw new SimViolation('core exception', `member ${this.id} ${what}: ${text}`);
    }
  }

  tick(): void {
    const core = this.raft();
    this.guard('tick', () => core.tick());
  }

  step(message: Message): void {
    const core = this.raft();
    this.guard('step', () => core.step(message));
  }

  /** Runs the node loop until the core has nothing more to hand out. */
  processReady(): void {
    if (this.state !== 'running') return;
    const core = this.raft();
    for (let round = 0; round < maxReadyRoundsPerStep && this.guard('hasReady', () => core.hasReady()); round++) {
      const ready = this.guard('ready', () => core.ready());
      if (isEmpty(ready)) throw new SimViolation('core exception', `member ${this.id}: hasReady() but ready() holds nothing`);
      this.handle(core, ready);
      if (this.state !== 'running') return;
    }
  }

  private handle(core: RaftCore, rd: Ready): void {
    if (this.syncOwed) {
      this.disk.sync();
      this.syncOwed = false;
    }
    const checker = this.env.checker;
    const before: HardState = this.disk.hardState();
    // 1. persist: snapshot, entries, hard state; fsync when asked.
    if (rd.snapshot !== undefined) {
      const index = rd.snapshot.metadata.index;
      if (index <= this.disk.snapshotIndex() || index <= this.appliedIndex) {
        throw new SimViolation(
          'storage contract',
          `member ${this.id}: Ready snapshot at ${index} is not newer than its snapshot ${this.disk.snapshotIndex()} / applied ${this.appliedIndex}`,
        );
      }
      this.disk.installSnapshot(rd.snapshot);
    }
    if (rd.entries.length > 0) checker.onAppend(this, this.disk.append(rd.entries));
    if (rd.hardState !== undefined) {
      checker.onHardState(this, before, rd.hardState);
      this.disk.setHardState(rd.hardState);
    }
    const termOrVoteChanged = rd.hardState !== undefined && (rd.hardState.term !== before.term || rd.hardState.vote !== before.vote);
    if ((rd.entries.length > 0 || termOrVoteChanged) && !rd.mustSync) {
      throw new SimViolation('durable state', `member ${this.id}: Ready with entries, term or vote changes not marked mustSync`);
    }
    const leading = (rd.softState ?? this.softState).role === RaftRole.Leader;
    if (this.tuning.leaderSyncsAfterSend && leading && rd.snapshot === undefined && !termOrVoteChanged) this.syncOwed ||= rd.mustSync;
    else if (rd.mustSync || rd.snapshot !== undefined) this.disk.sync();
    const commit = this.disk.hardState().commit;
    if (commit > this.disk.lastIndex()) {
      throw new SimViolation('durable state', `member ${this.id}: commit ${commit} past its last index ${this.disk.lastIndex()}`);
    }
    if (rd.softState !== undefined) {
      const wasLeader = this.softState.role === RaftRole.Leader;
      this.softState = rd.softState;
      if (rd.softState.role === RaftRole.Leader) {
        checker.onLeader(this, this.disk.hardState().term);
        if (!wasLeader) this.becameLeader = true;
      }
    }
    // 2. send.
    for (const m of rd.messages) {
      if (m.to === this.id || m.to === 0n) {
        throw new SimViolation('message contract', `member ${this.id} sent a message from ${m.from} to ${m.to}`);
      }
    }
    if (rd.messages.length > 0) this.env.send(this, rd.messages.map((m) => (m.type === MessageType.Snap && this.tuning.mergeSnapshotOnSend ? this.mergedSnapshot(m) : m)));
    // 3. apply: the snapshot first, then the committed entries in order.
    let confChanged = false;
    if (rd.snapshot !== undefined) this.restoreSnapshot(rd.snapshot);
    for (const entry of rd.committedEntries) {
      if (entry.index !== this.coreApplied + 1) {
        throw new SimViolation(
          'state machine safety',
          `member ${this.id}: committed entry ${entry.index}@${entry.term} handed out after ${this.coreApplied}`,
        );
      }
      if (entry.index > commit) {
        throw new SimViolation('state machine safety', `member ${this.id}: entry ${entry.index} applied past commit ${commit}`);
      }
      this.coreApplied = entry.index;
      const record = recordOf(entry);
      if (entry.index <= this.appliedIndex) {
        this.replay(core, entry.index, record);
        continue;
      }
      checker.onApply(this, record);
      this.applied.push(record);
      if (entry.type === EntryType.ConfChange) {
        const change = this.env.core.decodeConfChange(entry.data);
        this.confState = this.guard('applyConfChange', () => core.applyConfChange(change));
        confChanged = true;
        checker.onConfState(this, entry.index, this.confState);
        this.env.onConfChangeApplied(this, entry.index, change, this.confState);
      }
      this.env.onApplied(this, record);
      if (this.state !== 'running') break;
    }
    for (const readState of rd.readStates) this.env.onReadState(this, readState);
    if (rd.committedEntries.length > 0 && (confChanged || this.prng.chance(this.tuning.appliedPersistChance))) this.persistApplied();
    // 4. advance.
    this.guard('advance', () => core.advance(rd));
    if (this.state === 'running') this.maybeCompact();
  }

  /** An entry the state machine applied before the restart: it must be the same; a conf change is applied to the core again. */
  private replay(core: RaftCore, index: number, record: AppliedRecord): void {
    const held = this.applied[index - 1];
    if (held === undefined || !sameRecord(held, record)) {
      throw new SimViolation(
        'state machine safety',
        `member ${this.id} replays ${describeRecord(record)} where it applied ${held === undefined ? 'nothing' : describeRecord(held)} before restarting`,
      );
    }
    if (record.kind !== 'conf') return;
    const entryData = Buffer.from(record.value, 'hex');
    const confState = this.guard('applyConfChange', () => core.applyConfChange(this.env.core.decodeConfChange(entryData)));
    this.env.checker.onConfState(this, index, confState);
  }

  /**
   * A snapshot goes out as the state machine is now, not as it was when storage last snapshotted
   * (etcd's createMergedSnapshotMessage): a member added since the stored snapshot must find
   * itself in the membership it receives, or it could never install one.
   */
  private mergedSnapshot(m: Message): Message {
    const applied = this.appliedIndex;
    const term = this.disk.liveTerm(applied);
    if (m.snapshot === undefined || term === undefined || applied <= m.snapshot.metadata.index) return m;
    const data = this.env.snapshots.put(this.applied, this.id, applied);
    return { ...m, snapshot: { metadata: { index: applied, term, confState: this.confState }, data } };
  }

  /** The state machine persists its applied index (and membership), after the Raft disk is synced. */
  private persistApplied(): void {
    this.disk.setAppliedMark({ applied: this.appliedIndex, confState: this.confState });
    this.disk.sync();
  }

  private restoreSnapshot(snapshot: Snapshot): void {
    const records = this.env.snapshots.get(snapshot.data);
    if (records === undefined || records.length !== snapshot.metadata.index) {
      throw new SimViolation('storage contract', `member ${this.id}: snapshot at ${snapshot.metadata.index} carries no state the simulation made`);
    }
    this.env.trace(`${this.id} restores snapshot ${snapshot.metadata.index}@${snapshot.metadata.term}`);
    for (const record of records.slice(this.appliedIndex)) this.env.checker.onApply(this, record);
    this.applied = records.slice();
    this.coreApplied = snapshot.metadata.index;
    this.confState = snapshot.metadata.confState;
    this.env.checker.onConfState(this, snapshot.metadata.index, this.confState);
  }

  private maybeCompact(): void {
    const applied = this.appliedIndex;
    // While replaying after a restart the core has yet to hand out entries the state machine holds:
    // compacting them away would make it skip them (as etcd's would).
    if (this.coreApplied < applied) return;
    if (applied - this.disk.snapshotIndex() < this.tuning.compactEveryEntries) return;
    const term = this.disk.liveTerm(applied);
    if (term === undefined) return;
    this.persistApplied();
    const data = this.env.snapshots.put(this.applied, this.id, applied);
    const snapshot: Snapshot = { metadata: { index: applied, term, confState: this.confState }, data };
    const compactTo = Math.max(this.disk.firstIndex() - 1, applied - this.tuning.entriesKeptAfterCompaction);
    this.disk.compact(snapshot, compactTo);
    this.disk.sync();
    this.env.trace(`${this.id} snapshots at ${applied}, log from ${compactTo + 1}`);
  }

  describe(): string {
    const role = ['follower', 'candidate', 'leader', 'precandidate'][this.softState.role] ?? '?';
    const hs = this.disk.hardState();
    const last = this.applied.at(-1);
    return `${this.id} ${this.state} ${role} t${hs.term} v${hs.vote} c${hs.commit} log ${this.disk.firstIndex()}..${this.disk.lastIndex()} applied ${this.appliedIndex}${last === undefined ? '' : ` (${describeRecord(last)})`}`;
  }
}
