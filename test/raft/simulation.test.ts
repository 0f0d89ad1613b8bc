// Whole-cluster simulation of Lattice's Raft core: seeded random runs (faults of every kind, with
// every invariant checked at every step and liveness after healing), and named scenarios that
// drive the classic dangerous situations on purpose. A failing seed prints its replay command.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfChangeType, MessageType, RaftRole, type NodeId } from '../../src/raft/types.js';
import { latticeCore } from './sim/lattice-core.js';
import { SimCluster } from './sim/sim-cluster.js';
import type { MemberTuning, SimMember } from './sim/sim-member.js';
import { defaultChaosSteps, formatFailure, runSeedWithTraceOnFailure } from './sim/sim-run.js';
import { SimViolation } from './sim/sim-violation.js';

/**
 * Random runs per member count in `npm test`. A run (300 chaos steps, then healing) costs about
 * 5 ms of CPU on the 2-core dev box, so 2 x 6,000 runs take about 65 s on an idle machine.
 * LATTICE_RAFT_SIM_SEEDS changes the count, LATTICE_RAFT_SIM_FIRST_SEED moves the window.
 */
const seedsPerSize = Number(process.env.LATTICE_RAFT_SIM_SEEDS ?? 6_000);
const firstSeed = Number(process.env.LATTICE_RAFT_SIM_FIRST_SEED ?? 1);
/** A busy machine stops early (and says how far it got) rather than nearing the runner's file timeout. */
const randomRunBudgetMs = 90_000;
/** Failures printed in full; the rest are listed by seed. */
const failuresShown = 3;

const electionTicks = 10;

function scenario(nodes: number, tuning: Partial<MemberTuning> = {}, seed = 1): SimCluster {
  return new SimCluster({ seed, nodes, core: latticeCore, tuning, trace: true });
}

/** Runs a scenario body; a violation or failed assertion is reported with the cluster's trace. */
function traced(cluster: SimCluster, body: () => void): void {
  try {
    body();
  } catch (error) {
    const members = [...cluster.members.values()].map((m) => `  ${m.describe()}`).join('\n');
    const trace = cluster.traceTail().slice(-60).map((l) => `  ${l}`).join('\n');
    const what = error instanceof SimViolation ? `violation of ${error.message}` : String(error instanceof Error ? error.message : error);
    throw new Error(`${what}\nmembers:\n${members}\ntrace:\n${trace}`);
  }
}

function waitFor(cluster: SimCluster, done: () => boolean, maxSteps: number, what: string): number {
  const steps = cluster.runUntil(done, maxSteps);
  if (steps === undefined) throw new Error(`${what}: not within ${maxSteps} steps`);
  return steps;
}

function agreedLeader(cluster: SimCluster, among: readonly SimMember[] = cluster.running()): SimMember | undefined {
  const leader = cluster.leader();
  return leader !== undefined && among.every((m) => m.softState.lead === leader.id) ? leader : undefined;
}

function waitForLeader(cluster: SimCluster, maxSteps = 30 * electionTicks): SimMember {
  waitFor(cluster, () => agreedLeader(cluster) !== undefined, maxSteps, 'a leader known to every running member');
  return agreedLeader(cluster) as SimMember;
}

const values = (member: SimMember): string[] => member.applied.filter((r) => r.kind === 'value').map((r) => r.value);
const hasApplied = (member: SimMember, value: string): boolean => member.applied.some((r) => r.kind === 'value' && r.value === value);

function proposeAll(cluster: SimCluster, to: SimMember, count: number, prefix: string): string[] {
  const proposed: string[] = [];
  for (let i = 0; i < count; i++) {
    const value = cluster.propose(to.id, `${prefix}${i}`);
    assert.ok(value !== undefined, `proposal ${prefix}${i} to ${to.id} was refused`);
    proposed.push(value);
  }
  return proposed;
}

function waitApplied(cluster: SimCluster, members: readonly SimMember[], wanted: readonly string[], maxSteps = 40 * electionTicks): void {
  waitFor(cluster, () => members.every((m) => wanted.every((v) => hasApplied(m, v))), maxSteps, `${wanted.length} values applied on ${members.map((m) => m.id).join(',')}`);
}

function assertSameApplied(members: readonly SimMember[]): void {
  const [first, ...rest] = members;
  if (first === undefined) return;
  for (const m of rest) assert.equal(values(m), values(first), `members ${first.id} and ${m.id} applied different values`);
}

// ---------------------------------------------------------------------------------------------
const random = suite('raft simulation: seeded random runs');

for (const nodes of [3, 5]) {
  random(`seeds ${firstSeed}..${firstSeed + seedsPerSize - 1} with ${nodes} members: no invariant broken at any step, and after healing a leader and every acknowledged value on every member`, () => {
    const started = performance.now();
    const failures: string[] = [];
    let ran = 0;
    for (let seed = firstSeed; seed < firstSeed + seedsPerSize; seed++) {
      if (performance.now() - started > randomRunBudgetMs) break;
      ran++;
      const result = runSeedWithTraceOnFailure({ seed, nodes, steps: defaultChaosSteps, core: latticeCore });
      if (result.violation === undefined) continue;
      failures.push(failures.length < failuresShown ? formatFailure(result) : `seed ${seed}, ${nodes} nodes: ${result.violation.message.split('\n')[0]}`);
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(`raft simulation, ${nodes} members: ${ran} seeds in ${seconds.toFixed(1)} s, ${failures.length} failed${ran < seedsPerSize ? ` (time budget spent after ${ran} of ${seedsPerSize})` : ''}`);
    if (failures.length > 0) assert.unreachable(`${failures.length} of ${ran} seeds failed:\n${failures.join('\n\n')}`);
  });
}

random.run();

// ---------------------------------------------------------------------------------------------
const named = suite('raft simulation: scenarios');

named('a crashed leader is replaced within a few election timeouts, the survivors commit, and the old leader catches up after its restart', () => {
  const cluster = scenario(3);
  traced(cluster, () => {
    const old = waitForLeader(cluster);
    const before = proposeAll(cluster, old, 5, 'before');
    waitApplied(cluster, cluster.running(), before);
    const oldTerm = old.term();
    cluster.crash(old.id);
    const steps = waitFor(cluster, () => agreedLeader(cluster) !== undefined, 5 * electionTicks, 'a new leader after the crash');
    const successor = agreedLeader(cluster) as SimMember;
    assert.not.equal(successor.id, old.id);
    assert.ok(successor.term() > oldTerm, `the new leader's term ${successor.term()} is above ${oldTerm}`);
    assert.ok(steps <= 5 * electionTicks);
    const after = proposeAll(cluster, successor, 3, 'after');
    waitApplied(cluster, cluster.running(), after);
    cluster.restart(old.id);
    waitApplied(cluster, [old], [...before, ...after]);
    assertSameApplied(cluster.running());
  });
});

named('a leader cut off with a minority commits nothing, serves no read, and steps down; the majority elects and commits; after healing its entries are replaced', () => {
  const cluster = scenario(5);
  traced(cluster, () => {
    const old = waitForLeader(cluster);
    const base = proposeAll(cluster, old, 3, 'base');
    waitApplied(cluster, cluster.running(), base);
    const companion = cluster.running().find((m) => m.id !== old.id) as SimMember;
    const majority = cluster.running().filter((m) => m !== old && m !== companion);
    const commitBefore = old.disk.hardState().commit;
    cluster.partition([[old.id, companion.id], majority.map((m) => m.id)]);
    const stranded = proposeAll(cluster, old, 3, 'stranded');
    const readsBefore = cluster.client.readsServed;
    assert.ok(cluster.client.read(old, cluster.now), 'the read was not accepted by the old leader');
    waitFor(cluster, () => agreedLeader(cluster, majority) !== undefined && majority.includes(agreedLeader(cluster, majority) as SimMember), 10 * electionTicks, 'a leader on the majority side');
    const successor = cluster.leader() as SimMember;
    const fresh = proposeAll(cluster, successor, 3, 'majority');
    waitApplied(cluster, majority, fresh);
    cluster.run(3 * electionTicks);
    assert.not.equal(old.softState.role, RaftRole.Leader, 'check-quorum made the cut-off leader step down');
    assert.is(old.disk.hardState().commit, commitBefore, 'the cut-off leader advanced its commit index');
    assert.is(cluster.client.readsServed, readsBefore, 'a read was served by the cut-off leader');
    cluster.heal();
    waitApplied(cluster, cluster.running(), fresh);
    for (const m of cluster.running()) for (const v of stranded) assert.not.ok(hasApplied(m, v), `member ${m.id} applied ${v}, proposed to the cut-off leader`);
    assertSameApplied(cluster.running());
  });
});

named('figure 8: an entry of an earlier term on a majority is not committed by counting replicas, and a later leader replaces it safely', () => {
  // One entry per MsgApp and no background elections, so that every step below is forced.
  const cluster = scenario(5, { checkQuorum: false, preVote: false, maxSizePerMsg: 1 });
  const id = (n: number): NodeId => BigInt(n);
  traced(cluster, () => {
    cluster.ticking = false;
    cluster.campaign(1);
    waitFor(cluster, () => cluster.member(1).isLeader(), 20, 'member 1 elected');
    waitFor(cluster, () => cluster.running().every((m) => m.appliedIndex === 6), 20, 'the term-2 no-op applied everywhere');
    // Term 2: X reaches member 2 only, then member 1 crashes.
    cluster.partitionOneWay([1], [3, 4, 5]);
    const x = cluster.propose(1, 'X') as string;
    cluster.run(5);
    assert.is(cluster.member(2).disk.liveTerm(7), 2, 'member 2 holds X at 7 (term 2)');
    cluster.crash(1);
    cluster.heal();
    // Term 3: member 5 wins with 3 and 4, appends its no-op at 7, and crashes before sending it.
    cluster.network.filter = (m) => !(m.from === id(5) && m.type === MessageType.App);
    cluster.campaign(5);
    waitFor(cluster, () => cluster.member(5).isLeader(), 20, 'member 5 elected');
    assert.is(cluster.member(5).disk.liveTerm(7), 3);
    cluster.crash(5);
    // Term 4: member 1 is back and elected; it brings X to member 3 and 4 (a majority holds it),
    // but its own no-op at 8 reaches nobody.
    cluster.network.filter = (m) =>
      !(m.from === id(1) && m.type === MessageType.App && m.entries.some((e) => e.term >= 4) && cluster.member(m.to).disk.liveTerm(7) === 2);
    cluster.restart(1);
    cluster.ticking = true;
    for (let attempt = 0; attempt < 5 && !cluster.member(1).isLeader(); attempt++) {
      cluster.campaign(1);
      cluster.run(5);
    }
    assert.ok(cluster.member(1).isLeader(), 'member 1 elected again');
    cluster.run(3 * electionTicks);
    const holders = [1, 2, 3, 4, 5].filter((n) => cluster.member(n).disk.liveTerm(7) === 2);
    assert.ok(holders.length >= 3, `X on a majority (${holders.join(',')})`);
    for (const m of cluster.members.values()) assert.ok(m.disk.hardState().commit < 7, `member ${m.id} committed index 7 (${m.describe()})`);
    // Term 5: member 5 returns and wins with its term-3 entry; X must give way everywhere.
    cluster.crash(1);
    cluster.network.filter = undefined;
    cluster.ticking = false;
    cluster.restart(5);
    for (let attempt = 0; attempt < 5 && !cluster.member(5).isLeader(); attempt++) {
      cluster.campaign(5);
      cluster.run(5);
    }
    assert.ok(cluster.member(5).isLeader(), 'member 5 elected again');
    cluster.restart(1);
    cluster.ticking = true;
    const y = cluster.propose(5, 'Y') as string;
    waitApplied(cluster, cluster.running(), [y]);
    for (const m of cluster.running()) {
      assert.not.ok(hasApplied(m, x), `member ${m.id} applied X`);
      assert.equal({ index: m.applied[6]?.index, term: m.applied[6]?.term, kind: m.applied[6]?.kind }, { index: 7, term: 3, kind: 'noop' });
    }
  });
});

named('a follower that crashes loses its unsynced commit index and applied state, restarts from its synced disk and applies the same entries again', () => {
  // The state machine never persists its applied index, so everything is applied again.
  const cluster = scenario(3, { appliedPersistChance: 0 });
  traced(cluster, () => {
    const leader = waitForLeader(cluster);
    const first = proposeAll(cluster, leader, 10, 'v');
    waitApplied(cluster, cluster.running(), first);
    cluster.run(2 * electionTicks);
    const follower = cluster.running().find((m) => m !== leader) as SimMember;
    const liveCommit = follower.disk.hardState().commit;
    const syncedCommit = follower.disk.durableHardState().commit;
    assert.ok(follower.disk.unsyncedWrites() > 0, 'the follower holds unsynced writes');
    assert.ok(syncedCommit < liveCommit, `its synced commit ${syncedCommit} is behind ${liveCommit}`);
    const appliedBefore = follower.appliedIndex;
    cluster.crash(follower.id, 0);
    cluster.restart(follower.id);
    assert.is(follower.disk.hardState().commit, syncedCommit, 'the restart reads the synced commit');
    assert.ok(follower.appliedIndex < appliedBefore, 'the applied state restarts from its last persisted point');
    const more = proposeAll(cluster, leader, 3, 'w');
    waitApplied(cluster, cluster.running(), [...first, ...more]);
    assertSameApplied(cluster.running());
  });
});

named('a leader that crashes before syncing entries it already sent loses them from its own log, and the cluster stays consistent', () => {
  const cluster = scenario(3, { leaderSyncsAfterSend: true });
  traced(cluster, () => {
    const leader = waitForLeader(cluster);
    const base = proposeAll(cluster, leader, 3, 'base');
    waitApplied(cluster, cluster.running(), base);
    const lastBefore = leader.disk.lastIndex();
    const tail = proposeAll(cluster, leader, 2, 'tail');
    cluster.step();
    assert.is(leader.disk.lastIndex(), lastBefore + 2, 'the tail is in the page cache');
    assert.ok(leader.disk.unsyncedWrites() > 0, 'and not yet synced');
    cluster.crash(leader.id, 0);
    assert.is(leader.disk.lastIndex(), lastBefore, 'the crash lost the unsynced tail');
    for (const v of tail) assert.not.ok(cluster.client.acknowledged.has(v), `${v} was acknowledged`);
    waitFor(cluster, () => agreedLeader(cluster) !== undefined, 5 * electionTicks, 'a new leader');
    cluster.restart(leader.id);
    const after = proposeAll(cluster, waitForLeader(cluster), 2, 'after');
    waitApplied(cluster, cluster.running(), after);
    assertSameApplied(cluster.running());
  });
});

named('a member down while the others compacted their logs catches up from a snapshot', () => {
  const cluster = scenario(3, { compactEveryEntries: 5, entriesKeptAfterCompaction: 0 });
  traced(cluster, () => {
    const leader = waitForLeader(cluster);
    const sleeper = cluster.running().find((m) => m !== leader) as SimMember;
    cluster.crash(sleeper.id);
    const written: string[] = [];
    for (let batch = 0; batch < 6; batch++) {
      written.push(...proposeAll(cluster, leader, 5, `b${batch}-`));
      cluster.run(5);
    }
    waitApplied(cluster, cluster.running(), written);
    assert.ok(leader.disk.firstIndex() > sleeper.disk.lastIndex() + 1, `the leader's log starts at ${leader.disk.firstIndex()}, past what member ${sleeper.id} has`);
    let snapshotsSent = 0;
    cluster.network.filter = (m) => {
      if (m.type === MessageType.Snap && m.to === sleeper.id) snapshotsSent++;
      return true;
    };
    cluster.restart(sleeper.id);
    waitApplied(cluster, [sleeper], written);
    assert.ok(snapshotsSent >= 1, 'the member was sent a snapshot');
    assert.ok(sleeper.disk.snapshotIndex() > 0, 'and installed one');
    assertSameApplied(cluster.running());
  });
});

named('membership: a learner is added and catches up, is promoted, a voter is removed, and the new configuration commits without it', () => {
  const cluster = scenario(3, { compactEveryEntries: 8, entriesKeptAfterCompaction: 2 });
  const none = new Uint8Array(0);
  traced(cluster, () => {
    let leader = waitForLeader(cluster);
    const first = proposeAll(cluster, leader, 10, 'v');
    waitApplied(cluster, cluster.running(), first);
    assert.ok(cluster.proposeConfChange(leader.id, { type: ConfChangeType.AddLearnerNode, nodeId: 4n, context: none }));
    waitFor(cluster, () => cluster.members.has(4n), 10 * electionTicks, 'member 4 started');
    const learner = cluster.member(4);
    waitApplied(cluster, [learner], first);
    assert.equal([...learner.confState.learners], [4n]);
    assert.ok(cluster.proposeConfChange(leader.id, { type: ConfChangeType.AddNode, nodeId: 4n, context: none }));
    waitFor(cluster, () => cluster.running().every((m) => m.confState.voters.includes(4n)), 10 * electionTicks, 'member 4 promoted everywhere');
    const removed = cluster.running().find((m) => m !== leader && m !== learner) as SimMember;
    assert.ok(cluster.proposeConfChange(leader.id, { type: ConfChangeType.RemoveNode, nodeId: removed.id, context: none }));
    waitFor(cluster, () => removed.state === 'retired', 10 * electionTicks, `member ${removed.id} removed`);
    const remaining = cluster.running();
    assert.is(remaining.length, 3);
    for (const m of remaining) assert.not.ok(m.confState.voters.includes(removed.id), `member ${m.id} still counts ${removed.id}`);
    // Three voters left: one more may fail and the other two still commit.
    const casualty = remaining.find((m) => m !== leader) as SimMember;
    cluster.crash(casualty.id);
    leader = waitForLeader(cluster);
    const later = proposeAll(cluster, leader, 3, 'w');
    waitApplied(cluster, cluster.running(), later);
    cluster.restart(casualty.id);
    waitApplied(cluster, cluster.running(), [...first, ...later]);
    assertSameApplied(cluster.running());
  });
});

named('a member added after the leader last snapshotted installs that older snapshot (its membership lacks the member) and catches up from the log', () => {
  // Snapshots go out as stored, not merged with the current state as etcd's server sends them.
  const cluster = scenario(3, { compactEveryEntries: 5, entriesKeptAfterCompaction: 0, mergeSnapshotOnSend: false });
  traced(cluster, () => {
    const leader = waitForLeader(cluster);
    const first = proposeAll(cluster, leader, 12, 'v');
    waitApplied(cluster, cluster.running(), first);
    assert.ok(leader.disk.storedSnapshot().metadata.index > 0, 'the leader holds a snapshot');
    let sent: readonly bigint[] | undefined;
    cluster.network.filter = (m) => {
      if (m.type === MessageType.Snap && m.to === 4n && m.snapshot !== undefined) sent ??= [...m.snapshot.metadata.confState.learners];
      return true;
    };
    assert.ok(cluster.proposeConfChange(leader.id, { type: ConfChangeType.AddLearnerNode, nodeId: 4n, context: new Uint8Array(0) }));
    waitFor(cluster, () => cluster.members.has(4n), 10 * electionTicks, 'member 4 started');
    const learner = cluster.member(4);
    const later = proposeAll(cluster, leader, 3, 'w');
    waitApplied(cluster, [learner], [...first, ...later]);
    assert.equal(sent, [], 'the snapshot sent to member 4 predates its addition');
    assert.equal([...learner.confState.learners], [4n]);
    assertSameApplied(cluster.running());
  });
});

named('replaying a seed gives the same run', () => {
  const a = runSeedWithTraceOnFailure({ seed: 42, nodes: 5, core: latticeCore });
  const b = runSeedWithTraceOnFailure({ seed: 42, nodes: 5, core: latticeCore });
  assert.equal(a.stats, b.stats);
  assert.equal(a.members, b.members);
});

named.run();
