// One seeded random run of the simulation: a chaos phase (message loss, delay, reordering and
// duplication, partitions both ways and one way, crashes losing unsynced writes, pauses, membership
// changes, a client proposing and reading) with every invariant checked at every step, then a calm
// phase in which everything heals and the cluster must elect a leader and apply everything that was
// acknowledged, on every member, within a bounded number of ticks.
import { ConfChangeType, type ConfChange, type NodeId } from '../../../src/raft/types.js';
import { createPrng, type Prng } from './prng.js';
import { SimCluster } from './sim-cluster.js';
import type { CoreUnderTest, MemberTuning } from './sim-member.js';
import type { NetworkFaults } from './sim-network.js';
import { SimViolation } from './sim-violation.js';

export const defaultChaosSteps = 300;
/** After healing, a leader known to every member must be there within this many election timeouts. */
export const leaderWithinElectionTimeouts = 30;
/**
 * ... and then every member must apply a value proposed after healing, never going this many
 * election timeouts without progress: something applied, or the leader's match or next index for
 * a follower moved. (A follower with a long divergent tail is repaired one entry per round trip,
 * as in etcd 3.4, so a whole catch-up has no small fixed bound.) ...
 */
export const applyProgressWithinElectionTimeouts = 30;
/** ... and all of it within this many election timeouts. */
export const applyWithinElectionTimeouts = 300;
/** A conf change not applied this many steps after it was proposed is proposed again. */
const confChangeRetrySteps = 150;

export interface RunOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly steps?: number;
  readonly core: CoreUnderTest;
  readonly trace?: boolean;
}

interface Profile {
  readonly tuning: MemberTuning;
  readonly faults: NetworkFaults;
  readonly crashChance: number;
  readonly pauseChance: number;
  readonly partitionChance: number;
  readonly tickSkipChance: number;
  /** Per step: the operator asks the leader to hand leadership to another voter. */
  readonly transferChance: number;
  readonly proposeChance: number;
  readonly readChance: number;
  readonly membership: boolean;
}

export interface RunStats {
  steps: number;
  elections: number;
  committed: number;
  proposals: number;
  acknowledged: number;
  readsServed: number;
  crashes: number;
  pauses: number;
  partitions: number;
  confChanges: number;
  transfers: number;
  messagesSent: number;
  messagesDropped: number;
  stepsToLeaderAfterHeal: number;
  stepsToApplyAfterHeal: number;
}

export interface RunResult {
  readonly seed: number;
  readonly nodes: number;
  readonly profile: string;
  readonly violation: SimViolation | undefined;
  readonly stats: RunStats;
  readonly members: readonly string[];
  readonly trace: readonly string[];
}

export const replayCommand = (seed: number, nodes: number, steps = defaultChaosSteps): string =>
  `npm run raft-sim -- --seed ${seed} --nodes ${nodes}${steps === defaultChaosSteps ? '' : ` --steps ${steps}`}`;

function chooseProfile(prng: Prng, electionTicks: number): Profile {
  const membership = prng.chance(0.3);
  // Without check-quorum a member that does not yet know it was promoted, pushed to a higher term
  // by a removed member's campaign, ignores the leader forever and cannot campaign itself (etcd
  // behaves the same; its server always runs with check-quorum). So membership runs use it.
  const checkQuorum = membership || prng.chance(0.6);
  return {
    tuning: {
      electionTicks,
      heartbeatTicks: prng.pick([1, 1, 2, 3]),
      maxSizePerMsg: prng.pick([1, 64, 1024 * 1024]),
      maxInflightMsgs: prng.pick([1, 4, 256]),
      maxUncommittedEntriesSize: prng.pick([64, 1 << 30, 1 << 30]),
      checkQuorum,
      preVote: prng.chance(0.7),
      compactEveryEntries: prng.pick([4, 10, 30, 1_000_000]),
      entriesKeptAfterCompaction: prng.pick([0, 1, 5, 20]),
      appliedPersistChance: prng.pick([0.1, 0.5, 1]),
      leaderSyncsAfterSend: prng.chance(0.5),
      restartFromSnapshot: prng.chance(0.5),
      mergeSnapshotOnSend: prng.chance(0.5),
      snapshotUnavailableChance: prng.pick([0, 0, 0.3]),
      mirrorMemoryStorage: prng.chance(0.5),
    },
    faults: {
      dropRate: prng.pick([0, 0.01, 0.05, 0.2]),
      duplicateRate: prng.pick([0, 0.01, 0.1]),
      maxDelaySteps: prng.pick([1, 2, 4, 8]),
    },
    crashChance: prng.pick([0, 0.005, 0.02, 0.05]),
    pauseChance: prng.pick([0, 0.005, 0.02]),
    partitionChance: prng.pick([0, 0.01, 0.03]),
    tickSkipChance: prng.pick([0, 0.05]),
    transferChance: prng.pick([0, 0, 0.01, 0.03]),
    proposeChance: prng.pick([0.1, 0.3, 0.6]),
    readChance: prng.pick([0, 0.05, 0.2]),
    membership,
  };
}

const describeProfile = (p: Profile): string =>
  [
    `cq=${p.tuning.checkQuorum} pv=${p.tuning.preVote} hb=${p.tuning.heartbeatTicks} msg=${p.tuning.maxSizePerMsg} inflight=${p.tuning.maxInflightMsgs}`,
    `uncommitted=${p.tuning.maxUncommittedEntriesSize} leaderSyncsAfterSend=${p.tuning.leaderSyncsAfterSend} restartFromSnapshot=${p.tuning.restartFromSnapshot} mergeSnapshot=${p.tuning.mergeSnapshotOnSend} snapshotUnavailable=${p.tuning.snapshotUnavailableChance} mirror=${p.tuning.mirrorMemoryStorage} compact=${p.tuning.compactEveryEntries}/${p.tuning.entriesKeptAfterCompaction} persistApplied=${p.tuning.appliedPersistChance}`,
    `drop=${p.faults.dropRate} dup=${p.faults.duplicateRate} delay<=${p.faults.maxDelaySteps} crash=${p.crashChance} pause=${p.pauseChance} partition=${p.partitionChance} skew=${p.tickSkipChance} transfer=${p.transferChance}`,
    `propose=${p.proposeChance} read=${p.readChance} membership=${p.membership}`,
  ].join(' ');

/** Crashes, pauses and partitions with their scheduled ends. */
class ChaosDriver {
  private readonly restartAt = new Map<NodeId, number>();
  private readonly resumeAt = new Map<NodeId, number>();
  private healAt = 0;

  constructor(
    private readonly cluster: SimCluster,
    private readonly profile: Profile,
    private readonly prng: Prng,
    private readonly stats: RunStats,
  ) {}

  act(): void {
    const { cluster, prng, profile } = this;
    const now = cluster.now;
    for (const [id, at] of this.restartAt) if (at <= now) (this.restartAt.delete(id), cluster.restart(id));
    for (const [id, at] of this.resumeAt) if (at <= now) (this.resumeAt.delete(id), cluster.resume(id));
    if (this.healAt !== 0 && this.healAt <= now) {
      this.healAt = 0;
      cluster.heal();
    }
    const up = cluster.active().filter((m) => m.isUp());
    if (up.length > 0 && prng.chance(profile.crashChance)) {
      const victim = prng.pick(up);
      const unsynced = victim.disk.unsyncedWrites();
      cluster.crash(victim.id, prng.chance(0.5) ? 0 : prng.int(0, unsynced));
      this.restartAt.set(victim.id, now + prng.int(1, 60));
      this.resumeAt.delete(victim.id);
      this.stats.crashes++;
    }
    const running = cluster.running();
    if (running.length > 0 && prng.chance(profile.pauseChance)) {
      const sleeper = prng.pick(running);
      cluster.pause(sleeper.id);
      this.resumeAt.set(sleeper.id, now + prng.int(1, 40));
      this.stats.pauses++;
    }
    const leader = cluster.leader();
    if (leader !== undefined && prng.chance(profile.transferChance)) {
      const others = leader.confState.voters.filter((id) => id !== leader.id);
      if (others.length > 0) cluster.transferLeader(leader.id, prng.pick(others));
      this.stats.transfers++;
    }
    if (this.healAt === 0 && prng.chance(profile.partitionChance)) {
      this.partition();
      this.healAt = now + prng.int(5, 80);
      this.stats.partitions++;
    }
  }

  private partition(): void {
    const { cluster, prng } = this;
    const ids = prng.shuffle(cluster.active().map((m) => m.id));
    const kind = prng.pick(['split', 'split', 'one-way', 'isolate-leader'] as const);
    if (kind === 'isolate-leader') {
      const leader = cluster.leader();
      if (leader === undefined) return;
      cluster.partition([[leader.id], ids.filter((id) => id !== leader.id)]);
      return;
    }
    const cut = prng.int(1, Math.max(1, ids.length - 1));
    if (kind === 'split') cluster.partition([ids.slice(0, cut), ids.slice(cut)]);
    else cluster.partitionOneWay(ids.slice(0, cut), ids.slice(cut));
  }

  /** Ends every fault: partitions heal, crashed members restart, paused ones resume. */
  healAll(): void {
    const { cluster } = this;
    cluster.heal();
    for (const member of cluster.active()) {
      if (member.state === 'crashed') cluster.restart(member.id);
      if (member.state === 'paused') cluster.resume(member.id);
    }
    this.restartAt.clear();
    this.resumeAt.clear();
    this.healAt = 0;
  }
}

/** Adds a learner, promotes it, removes a founding voter; each change once the one before is applied. */
class MembershipDriver {
  private plan: ConfChange[];
  private proposedAt = -Infinity;
  private nextAt: number;

  constructor(
    private readonly cluster: SimCluster,
    private readonly prng: Prng,
    nodes: number,
  ) {
    const joiner = BigInt(nodes + 1);
    const removed = BigInt(prng.int(1, nodes));
    const none = new Uint8Array(0);
    this.plan = [
      { type: ConfChangeType.AddLearnerNode, nodeId: joiner, context: none },
      { type: ConfChangeType.AddNode, nodeId: joiner, context: none },
      { type: ConfChangeType.RemoveNode, nodeId: removed, context: none },
    ];
    this.nextAt = prng.int(10, 100);
  }

  act(): void {
    const next = this.plan[0];
    if (next === undefined || this.cluster.now < this.nextAt) return;
    const applied = this.cluster.confChanges.some((c) => c.change.type === next.type && c.change.nodeId === next.nodeId);
    if (applied) {
      this.plan = this.plan.slice(1);
      this.proposedAt = -Infinity;
      this.nextAt = this.cluster.now + this.prng.int(10, 80);
      return;
    }
    if (this.cluster.now - this.proposedAt < confChangeRetrySteps) return;
    const target = this.cluster.leader();
    if (target === undefined) return;
    if (this.cluster.proposeConfChange(target.id, next)) this.proposedAt = this.cluster.now;
  }
}

function emptyStats(): RunStats {
  return {
    steps: 0,
    elections: 0,
    committed: 0,
    proposals: 0,
    acknowledged: 0,
    readsServed: 0,
    crashes: 0,
    pauses: 0,
    partitions: 0,
    confChanges: 0,
    transfers: 0,
    messagesSent: 0,
    messagesDropped: 0,
    stepsToLeaderAfterHeal: 0,
    stepsToApplyAfterHeal: 0,
  };
}

export function runSeed(options: RunOptions): RunResult {
  const chaosSteps = options.steps ?? defaultChaosSteps;
  const setup = createPrng(options.seed ^ 0x5bd1e995);
  const profile = chooseProfile(setup, 10);
  const cluster = new SimCluster({ seed: options.seed, nodes: options.nodes, core: options.core, tuning: profile.tuning, trace: options.trace });
  const stats = emptyStats();
  const chaos = new ChaosDriver(cluster, profile, setup.fork(), stats);
  const membership = profile.membership ? new MembershipDriver(cluster, setup.fork(), options.nodes) : undefined;
  const clientPrng = setup.fork();
  let violation: SimViolation | undefined;
  try {
    cluster.network.faults = { ...profile.faults };
    cluster.tickSkipChance = profile.tickSkipChance;
    for (let i = 0; i < chaosSteps; i++) {
      chaos.act();
      membership?.act();
      actAsClient(cluster, profile, clientPrng);
      cluster.step();
    }
    cluster.trace('--- all faults heal ---');
    chaos.healAll();
    cluster.network.faults = { dropRate: 0, duplicateRate: 0, maxDelaySteps: Math.min(profile.faults.maxDelaySteps, 2) };
    cluster.tickSkipChance = 0;
    checkLiveness(cluster, membership, stats);
    cluster.checkLogs();
  } catch (error) {
    if (!(error instanceof SimViolation)) throw error;
    violation = error;
  }
  stats.steps = cluster.now;
  stats.elections = cluster.checker.elections;
  stats.committed = cluster.checker.committedIndex();
  stats.proposals = cluster.client.proposals();
  stats.acknowledged = cluster.client.acknowledged.size;
  stats.readsServed = cluster.client.readsServed;
  stats.confChanges = cluster.confChanges.length;
  stats.messagesSent = cluster.network.sent;
  stats.messagesDropped = cluster.network.dropped;
  return {
    seed: options.seed,
    nodes: options.nodes,
    profile: describeProfile(profile),
    violation,
    stats,
    members: [...cluster.members.values()].map((m) => m.describe()),
    trace: cluster.traceTail(),
  };
}

function actAsClient(cluster: SimCluster, profile: Profile, prng: Prng): void {
  const running = cluster.running();
  if (prng.chance(profile.proposeChance)) {
    const target = cluster.client.pickTarget(running);
    if (target !== undefined) cluster.propose(target.id);
  }
  if (prng.chance(profile.readChance)) {
    const target = cluster.client.pickTarget(running);
    if (target !== undefined) cluster.client.read(target, cluster.now);
  }
}

/** Changes whenever a member applies something or the leader's progress for a follower moves. */
function progressSignature(cluster: SimCluster): string {
  const applied = cluster.active().reduce((total, m) => total + m.appliedIndex, 0);
  const leader = cluster.leader();
  if (leader === undefined) return `${applied}`;
  const progress = leader.guard('status', () => leader.raft().status().progress);
  let view = '';
  if (progress !== undefined) for (const [id, p] of progress) view += `${id}:${p.match}/${p.next}/${p.state} `;
  return `${applied} ${leader.id} ${view}`;
}

function checkLiveness(cluster: SimCluster, membership: MembershipDriver | undefined, stats: RunStats): void {
  const electionTicks = cluster.tuning.electionTicks;
  const agreedLeader = (): boolean => {
    const leader = cluster.leader();
    return leader !== undefined && cluster.active().every((m) => m.softState.lead === leader.id);
  };
  const leaderSteps = cluster.runUntil(() => (membership?.act(), agreedLeader()), leaderWithinElectionTimeouts * electionTicks);
  if (leaderSteps === undefined) {
    throw new SimViolation(
      'liveness',
      `no leader known to every member ${leaderWithinElectionTimeouts * electionTicks} ticks after all faults healed: ${cluster
        .active()
        .map((m) => m.describe())
        .join('; ')}`,
    );
  }
  stats.stepsToLeaderAfterHeal = leaderSteps;
  // A barrier value: once every member applied it, each holds everything committed before it.
  const started = cluster.now;
  let barrier: string | undefined;
  let proposedAt = -Infinity;
  const applyBound = applyWithinElectionTimeouts * electionTicks;
  const progressBound = applyProgressWithinElectionTimeouts * electionTicks;
  let lastProgress = cluster.now;
  let appliedSum = '';
  const barrierApplied = (): boolean => {
    membership?.act();
    const sum = progressSignature(cluster);
    if (sum !== appliedSum) {
      appliedSum = sum;
      lastProgress = cluster.now;
    }
    if (cluster.now - lastProgress > progressBound) return true;
    const acked = barrier === undefined ? undefined : cluster.client.acknowledged.get(barrier);
    if (acked !== undefined) {
      const needed = Math.max(acked.index, cluster.client.maxAckedIndex);
      return cluster.active().every((m) => m.state === 'running' && m.appliedIndex >= needed);
    }
    if (cluster.now - proposedAt >= 4 * electionTicks) {
      const leader = cluster.leader();
      if (leader !== undefined) {
        barrier = cluster.propose(leader.id, `barrier-${cluster.now}`) ?? barrier;
        proposedAt = cluster.now;
      }
    }
    return false;
  };
  const members = (): string =>
    cluster
      .active()
      .map((m) => m.describe())
      .join('; ');
  if (cluster.runUntil(barrierApplied, applyBound) === undefined) {
    throw new SimViolation('liveness', `a value proposed after healing was not applied on every member within ${applyBound} ticks: ${members()}`);
  }
  if (cluster.now - lastProgress > progressBound) {
    throw new SimViolation(
      'liveness',
      `after healing nothing was applied and the leader's view of its followers did not change for ${progressBound} ticks, and not all have applied a new value: ${members()}`,
    );
  }
  stats.stepsToApplyAfterHeal = cluster.now - started;
  for (const member of cluster.active()) {
    for (const [value, acked] of cluster.client.acknowledged) {
      const record = member.applied[acked.index - 1];
      if (record?.value !== value) {
        throw new SimViolation(
          'committed never lost',
          `acknowledged ${value} at ${acked.index} (step ${acked.step}) but member ${member.id} applied ${record === undefined ? 'nothing' : `${record.kind} ${record.value}`} there`,
        );
      }
    }
  }
}

/** Runs a seed; on a violation runs it again with the trace on (runs are deterministic) for the report. */
export function runSeedWithTraceOnFailure(options: RunOptions): RunResult {
  const result = runSeed(options);
  if (result.violation === undefined || options.trace === true) return result;
  return runSeed({ ...options, trace: true });
}

export function formatFailure(result: RunResult, steps = defaultChaosSteps, traceLines = 80): string {
  return [
    `seed ${result.seed}, ${result.nodes} nodes: ${result.violation?.message ?? 'no violation'}`,
    `replay: ${replayCommand(result.seed, result.nodes, steps)}`,
    `profile: ${result.profile}`,
    'members:',
    ...result.members.map((m) => `  ${m}`),
    `last ${Math.min(traceLines, result.trace.length)} trace lines:`,
    ...result.trace.slice(-traceLines).map((l) => `  ${l}`),
  ].join('\n');
}
