// A simulated cluster: members, the network between them, the client and the invariant checker,
// advanced one step at a time. One step: deliver the messages due, tick every running member,
// then run each member's node loop until its core has nothing ready; then check what can only be
// checked with every member's Ready handled (leader completeness, whole-log matching).
import {
  ConfChangeType,
  EntryType,
  MessageType,
  SnapshotStatus,
  type ConfChange,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type ReadState,
} from '../../../src/raft/types.js';
import { recordOf, type AppliedRecord } from './applied-record.js';
import { InvariantChecker } from './invariants.js';
import { createPrng, type Prng } from './prng.js';
import { SimClient } from './sim-client.js';
import { SimDisk } from './sim-disk.js';
import { SimMember, SnapshotStore, type CoreUnderTest, type MemberEnv, type MemberTuning } from './sim-member.js';
import { SimNetwork, describeMessage, type InFlight, type LostMessage } from './sim-network.js';

/** Trace lines kept for a failure report (the latest ones). */
export const maxTraceLines = 400;
/** Transport reports (snapshot status, unreachable) waiting for their sender; beyond it they are lost. */
export const maxPendingReports = 10_000;
/** Steps between whole-log comparisons of every pair of members (the per-append check runs always). */
export const logMatchEverySteps = 50;

export const defaultTuning: MemberTuning = {
  electionTicks: 10,
  heartbeatTicks: 1,
  maxSizePerMsg: 1024 * 1024,
  maxInflightMsgs: 256,
  maxUncommittedEntriesSize: 1 << 30,
  checkQuorum: true,
  preVote: true,
  compactEveryEntries: 1_000_000,
  entriesKeptAfterCompaction: 0,
  appliedPersistChance: 1,
  leaderSyncsAfterSend: false,
  restartFromSnapshot: false,
  mergeSnapshotOnSend: true,
  snapshotUnavailableChance: 0,
  mirrorMemoryStorage: true,
};

export interface ClusterOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly core: CoreUnderTest;
  readonly tuning?: Partial<MemberTuning>;
  /** Keep a trace of messages and events (costs time; a failing seed is replayed with it on). */
  readonly trace?: boolean;
}

type Report = { readonly to: NodeId; readonly incarnation: number; readonly apply: (member: SimMember) => void };

export class SimCluster {
  readonly prng: Prng;
  readonly network: SimNetwork;
  readonly checker: InvariantChecker;
  readonly client: SimClient;
  readonly members = new Map<NodeId, SimMember>();
  readonly tuning: MemberTuning;
  now = 0;
  /** Scenario switch: with false, no member ticks (elections only by campaign()). */
  ticking = true;
  /** Probability that a member misses a tick in a step (its clock runs slow). */
  tickSkipChance = 0;
  /** Probability that a lost message is reported to its sender as unreachable (as a broken stream is). */
  unreachableReportChance = 0.3;
  /** Conf changes applied by some member, in order: what an operator would see. */
  readonly confChanges: { readonly index: number; readonly change: ConfChange }[] = [];
  private readonly snapshots = new SnapshotStore();
  private readonly traceLines: string[] = [];
  private readonly tracing: boolean;
  private reports: Report[] = [];
  /** Messages whose `from` is not the member that sent them (forwarded proposals and reads). */
  forwardedWithOtherSender = 0;
  private retiring: NodeId[] = [];
  private readonly memberPrng: Prng;
  private readonly env: MemberEnv;

  constructor(private readonly options: ClusterOptions) {
    this.prng = createPrng(options.seed);
    this.memberPrng = this.prng.fork();
    this.network = new SimNetwork(this.prng.fork());
    this.client = new SimClient(this.prng.fork(), `s${options.seed}v`);
    this.tuning = { ...defaultTuning, ...options.tuning };
    this.tracing = options.trace ?? false;
    const voters = Array.from({ length: options.nodes }, (_, i) => BigInt(i + 1));
    const confState: ConfState = { voters, learners: [] };
    // Founders start as etcd bootstraps a new cluster: their logs hold one committed AddNode per
    // founder (term 1), already applied; a member added later replays them from the leader's log.
    const bootstrapEntries: Entry[] = voters.map((id, i) => ({
      index: i + 1,
      term: 1,
      type: EntryType.ConfChange,
      data: options.core.encodeConfChange({ type: ConfChangeType.AddNode, nodeId: id, context: new Uint8Array(0) }),
    }));
    const bootstrapRecords = bootstrapEntries.map(recordOf);
    this.checker = new InvariantChecker((id) => this.members.get(id), bootstrapRecords, confState);
    const cluster = this;
    this.env = {
      core: options.core,
      checker: this.checker,
      snapshots: this.snapshots,
      now: () => cluster.now,
      trace: (line) => cluster.trace(line),
      send: (from, messages) => cluster.send(from, messages),
      onApplied: (member, record) => cluster.client.onApplied(member, record, cluster.now),
      onConfChangeApplied: (member, index, change, conf) => cluster.onConfChangeApplied(member, index, change, conf),
      onReadState: (member, readState: ReadState) => cluster.client.onReadState(member, readState),
    };
    const founded = {
      entries: bootstrapEntries,
      hardState: { term: 1, vote: 0n, commit: voters.length },
      mark: { applied: voters.length, confState },
    };
    for (const id of voters) this.addMember(id, new SimDisk(founded), bootstrapRecords);
  }

  get seed(): number {
    return this.options.seed;
  }

  private addMember(id: NodeId, disk: SimDisk, records: readonly AppliedRecord[]): SimMember {
    const member = new SimMember(id, disk, this.tuning, this.memberPrng.fork(), this.env, records);
    this.members.set(id, member);
    return member;
  }

  member(id: NodeId | number): SimMember {
    const member = this.members.get(BigInt(id));
    if (member === undefined) throw new Error(`no member ${id}`);
    return member;
  }

  running(): SimMember[] {
    return [...this.members.values()].filter((m) => m.state === 'running');
  }

  /** Members neither retired nor removed: those that must converge. */
  active(): SimMember[] {
    return [...this.members.values()].filter((m) => m.state !== 'retired');
  }

  /** The leader of the highest term among running members, if any. */
  leader(): SimMember | undefined {
    let best: SimMember | undefined;
    for (const m of this.members.values()) {
      if (m.state === 'running' && m.isLeader() && (best === undefined || m.term() > best.term())) best = m;
    }
    return best;
  }

  trace(line: string | (() => string)): void {
    if (!this.tracing) return;
    this.traceLines.push(`[${this.now}] ${typeof line === 'string' ? line : line()}`);
    if (this.traceLines.length > maxTraceLines) this.traceLines.splice(0, this.traceLines.length - maxTraceLines);
  }

  traceTail(): readonly string[] {
    return this.traceLines;
  }

  // --- faults and operator actions ---

  crash(id: NodeId | number, keptUnsyncedWrites = 0): void {
    const member = this.member(id);
    if (!member.isUp()) return;
    this.trace(`${member.id} CRASHES (${member.disk.unsyncedWrites()} unsynced writes, ${keptUnsyncedWrites} kept): ${member.describe()}`);
    member.crash(keptUnsyncedWrites);
  }

  restart(id: NodeId | number): void {
    const member = this.member(id);
    if (member.state !== 'crashed') return;
    member.restart();
    this.trace(`${member.id} RESTARTS: ${member.describe()}`);
  }

  pause(id: NodeId | number): void {
    const member = this.member(id);
    if (member.state !== 'running') return;
    member.state = 'paused';
    this.trace(`${member.id} PAUSES`);
  }

  resume(id: NodeId | number): void {
    const member = this.member(id);
    if (member.state !== 'paused') return;
    member.state = 'running';
    this.trace(`${member.id} RESUMES`);
  }

  partition(groups: readonly (readonly (NodeId | number)[])[]): void {
    const asIds = groups.map((g) => g.map((id) => BigInt(id)));
    this.network.partition(asIds);
    this.trace(`PARTITION ${asIds.map((g) => `[${g.join(',')}]`).join(' | ')}`);
  }

  partitionOneWay(from: readonly (NodeId | number)[], to: readonly (NodeId | number)[]): void {
    this.network.partitionOneWay(from.map(BigInt), to.map(BigInt));
    this.trace(`ONE-WAY PARTITION [${from.join(',')}] -/-> [${to.join(',')}]`);
  }

  heal(): void {
    this.network.heal();
    this.trace('HEAL');
  }

  propose(id: NodeId | number, value?: string): string | undefined {
    const member = this.member(id);
    const proposed = this.client.propose(member, value);
    this.trace(`client proposes ${proposed ?? '(refused)'} to ${member.id}`);
    return proposed;
  }

  proposeConfChange(id: NodeId | number, change: ConfChange): boolean {
    const member = this.member(id);
    const result = member.guard('proposeConfChange', () => member.raft().proposeConfChange(change));
    this.trace(`operator proposes conf change ${change.type} ${change.nodeId} to ${member.id}: ${result.ok ? 'ok' : result.refusal}`);
    return result.ok;
  }

  transferLeader(id: NodeId | number, to: NodeId): void {
    const member = this.member(id);
    this.trace(`operator asks ${member.id} to transfer leadership to ${to}`);
    member.guard('transferLeader', () => member.raft().transferLeader(to));
  }

  campaign(id: NodeId | number): void {
    const member = this.member(id);
    member.guard('campaign', () => member.raft().campaign());
  }

  // --- the step ---

  step(): void {
    this.now++;
    for (const id of this.retiring.splice(0)) {
      const member = this.members.get(id);
      if (member !== undefined && member.state !== 'retired') {
        this.trace(`${id} RETIRES (removed from the cluster)`);
        member.retire();
      }
    }
    const reports = this.reports.splice(0);
    for (const report of reports) {
      const sender = this.members.get(report.to);
      if (sender === undefined || sender.incarnation !== report.incarnation) continue;
      if (sender.state === 'running') report.apply(sender);
      else if (sender.state === 'paused') this.reports.push(report);
    }
    const { deliver, lost } = this.network.due(this.now, (item) => {
      const to = this.members.get(item.message.to);
      if (to === undefined || to.state === 'crashed' || to.state === 'retired') return 'lose';
      return to.state === 'paused' ? 'hold' : 'deliver';
    });
    for (const loss of lost) this.onLost(loss);
    for (const item of deliver) {
      const to = this.member(item.message.to);
      if (to.state !== 'running') continue;
      this.trace(() => describeMessage(item.message));
      to.step(item.message);
      if (item.message.type === MessageType.Snap) this.report(item, `snapshot to ${item.message.to} finished`, (sender) =>
          sender.raft().reportSnapshot(item.message.to, SnapshotStatus.Finish),
        );
    }
    if (this.ticking) {
      for (const member of this.running()) if (!this.prng.chance(this.tickSkipChance)) member.tick();
    }
    for (const member of this.prng.shuffle(this.running())) member.processReady();
    this.client.serveReads(this.members, this.now);
    for (const member of this.members.values()) {
      if (!member.becameLeader) continue;
      member.becameLeader = false;
      if (member.state === 'running' && member.isLeader()) {
        this.trace(() => `${member.id} is LEADER in term ${member.term()}`);
        this.checker.checkLeaderCompleteness(member);
      }
    }
    if (this.now % logMatchEverySteps === 0) this.checkLogs();
  }

  checkLogs(): void {
    this.checker.checkLogsMatch([...this.members.values()]);
  }

  /** Steps until `done` holds; returns the steps taken, or undefined when maxSteps ran out. */
  runUntil(done: () => boolean, maxSteps: number): number | undefined {
    for (let taken = 0; taken < maxSteps; taken++) {
      if (done()) return taken;
      this.step();
    }
    return done() ? maxSteps : undefined;
  }

  run(steps: number): void {
    for (let i = 0; i < steps; i++) this.step();
  }

  private send(from: SimMember, messages: readonly Message[]): void {
    for (const message of messages) {
      if (message.from !== from.id) this.forwardedWithOtherSender++;
      const loss = this.network.send(message, from.id, this.now, from.incarnation);
      if (loss !== undefined) this.onLost(loss);
    }
  }

  private onLost({ item, reason }: LostMessage): void {
    const m = item.message;
    this.trace(() => `lost (${reason}): ${describeMessage(m)}`);
    if (m.type === MessageType.Snap) this.report(item, `snapshot to ${m.to} failed`, (sender) => sender.raft().reportSnapshot(m.to, SnapshotStatus.Failure));
    else if (this.prng.chance(this.unreachableReportChance)) this.report(item, `${m.to} unreachable`, (sender) => sender.raft().reportUnreachable(m.to));
  }

  /** Reports reach the sender at the start of the next step, as a transport's callbacks would. */
  private report(item: InFlight, what: string, action: (sender: SimMember) => void): void {
    if (this.reports.length >= maxPendingReports) return;
    this.trace(() => `report to ${item.sender}: ${what}`);
    this.reports.push({
      to: item.sender,
      incarnation: item.senderIncarnation,
      apply: (sender) => sender.guard('report', () => action(sender)),
    });
  }

  private onConfChangeApplied(member: SimMember, index: number, change: ConfChange, confState: ConfState): void {
    const first = this.confChanges.every((c) => c.index !== index);
    if (!first) return;
    this.confChanges.push({ index, change });
    this.trace(`${member.id} applies conf change ${change.type} ${change.nodeId} at ${index}: voters [${confState.voters.join(',')}] learners [${confState.learners.join(',')}]`);
    const id = change.nodeId;
    if ((change.type === ConfChangeType.AddLearnerNode || change.type === ConfChangeType.AddNode) && !this.members.has(id)) {
      this.addMember(id, new SimDisk(), []);
      this.trace(`${id} STARTS as a new member`);
    }
    if (change.type === ConfChangeType.RemoveNode && this.members.has(id)) this.retiring.push(id);
  }
}
