// Log replication mechanics: probe and replicate states, flow control, fast backoff, heartbeats,
// snapshots for followers behind the compacted log, proposals and their refusals.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryRaftStorage } from '../../src/raft/memory-storage.js';
import { createRaftCore } from '../../src/raft/raft-core.js';
import { ProgressState, SnapshotStatus } from '../../src/raft/types.js';
import { defaultTestConfig, entry, MessageType, n, RaftNetwork, RaftRole, seededRandom, text } from './raft-network.js';
import { ofType, SingleCore } from './single-core.js';

const test = suite('raft: replication');

function progressOf(node: SingleCore, id: number) {
  const progress = node.core.status().progress?.get(n(id));
  if (!progress) throw new Error(`no progress for ${id}`);
  return progress;
}

test('in the probe state a leader sends one append and waits for its answer', () => {
  const node = new SingleCore(1, [1, 2]);
  node.becomeLeader();
  assert.equal(ofType(node.messages(), MessageType.App).length, 1);
  assert.is(progressOf(node, 2).state, ProgressState.Probe);
  node.core.propose(text('a'));
  node.core.propose(text('b'));
  assert.equal(ofType(node.messages(), MessageType.App), [], 'paused while the probe is unanswered');
  // A heartbeat answer unpauses the probe.
  node.step({ type: MessageType.HeartbeatResp, from: n(2), term: 1 });
  const apps = ofType(node.messages(), MessageType.App);
  assert.is(apps.length, 1);
  assert.equal(apps[0]!.entries.map((e) => e.index), [1, 2, 3]);
});

test('in the replicate state a leader pipelines appends up to maxInflightMsgs, then waits', () => {
  const node = new SingleCore(1, [1, 2], { overrides: { maxInflightMsgs: 3 } });
  node.becomeLeaderWithFollowersReplicating();
  assert.is(progressOf(node, 2).state, ProgressState.Replicate);
  for (let i = 0; i < 5; i++) node.core.propose(text(`p${i}`));
  const apps = ofType(node.messages(), MessageType.App);
  assert.equal(apps.map((m) => m.entries.map((e) => e.index)), [[2], [3], [4]]);
  // Acknowledging the first two frees two slots: the rest goes out in one message.
  node.step({ type: MessageType.AppResp, from: n(2), term: 1, index: 3 });
  const more = ofType(node.messages(), MessageType.App);
  assert.equal(more.map((m) => m.entries.map((e) => e.index)), [[5, 6]]);
});

test('a heartbeat answer frees one slot of a full window, so a lost append does not stall replication', () => {
  const node = new SingleCore(1, [1, 2], { overrides: { maxInflightMsgs: 1 } });
  node.becomeLeaderWithFollowersReplicating();
  node.core.propose(text('a'));
  node.messages();
  node.core.propose(text('b'));
  assert.equal(ofType(node.messages(), MessageType.App), []);
  node.step({ type: MessageType.HeartbeatResp, from: n(2), term: 1 });
  const apps = ofType(node.messages(), MessageType.App);
  assert.equal(apps.map((m) => m.entries.map((e) => e.index)), [[3]]);
});

test('maxSizePerMsg bounds the entries in one append (at least one is always sent)', () => {
  const node = new SingleCore(1, [1, 2], { overrides: { maxSizePerMsg: 250 } });
  node.becomeLeaderWithFollowersReplicating();
  for (let i = 0; i < 6; i++) node.core.propose(new Uint8Array(100));
  node.core.reportUnreachable(n(2));
  node.messages();
  // Probe from the follower's match: the next append carries what fits.
  node.step({ type: MessageType.HeartbeatResp, from: n(2), term: 1 });
  const apps = ofType(node.messages(), MessageType.App);
  assert.equal(apps[0]!.entries.length, 2, '2 entries of 116 bytes fit in 250');
  const big = new SingleCore(1, [1, 2], { overrides: { maxSizePerMsg: 10 } });
  big.becomeLeaderWithFollowersReplicating();
  big.core.propose(new Uint8Array(100));
  assert.equal(ofType(big.messages(), MessageType.App)[0]!.entries.length, 1);
});

test('a rejection hint moves next back to the follower log end in one step', () => {
  const leader = new SingleCore(1, [1, 2], { entries: [1, 1, 1, 1, 1, 1, 1, 1].map((t, i) => entry(i + 1, t)), hardState: { term: 1 } });
  leader.becomeLeader();
  const [probe] = ofType(leader.messages(), MessageType.App);
  assert.is(probe!.index, 8);
  // The follower has only 3 entries.
  leader.step({ type: MessageType.AppResp, from: n(2), term: 2, index: 8, reject: true, rejectHint: 3 });
  const [retry] = ofType(leader.messages(), MessageType.App);
  assert.is(retry!.index, 3);
  assert.equal(retry!.entries.map((e) => e.index), [4, 5, 6, 7, 8, 9]);
});

test('a stale rejection (for an append already superseded) does not move next back', () => {
  const node = new SingleCore(1, [1, 2]);
  node.becomeLeaderWithFollowersReplicating();
  node.core.propose(text('a'));
  node.messages();
  const before = progressOf(node, 2).next;
  node.step({ type: MessageType.AppResp, from: n(2), term: 1, index: 0, reject: true, rejectHint: 0 });
  assert.is(progressOf(node, 2).next, before);
  assert.is(progressOf(node, 2).state, ProgressState.Replicate);
});

test('heartbeats carry commit = min(match, committed), never more than the follower is known to hold', () => {
  const node = new SingleCore(1, [1, 2, 3]);
  node.becomeLeader();
  node.messages();
  node.step({ type: MessageType.AppResp, from: n(2), term: 1, index: 1 });
  node.core.propose(text('a'));
  node.messages();
  node.step({ type: MessageType.AppResp, from: n(2), term: 1, index: 2 });
  assert.is(node.commit(), 2);
  node.core.tick();
  const heartbeats = ofType(node.messages(), MessageType.Heartbeat);
  assert.equal(heartbeats.map((m) => [m.to, m.commit]), [
    [n(2), 2],
    [n(3), 0],
  ]);
});

test('an unreachable report moves a replicating follower back to probing', () => {
  const node = new SingleCore(1, [1, 2]);
  node.becomeLeaderWithFollowersReplicating();
  node.core.reportUnreachable(n(2));
  assert.is(progressOf(node, 2).state, ProgressState.Probe);
  assert.is(progressOf(node, 2).next, 2);
});

test('a follower whose next entries are compacted is sent a snapshot, and installing it restores its log', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 10; i++) net.propose(1, `v${i}`);
  // The leader snapshots its applied state and compacts its log.
  const leader = net.node(1);
  const appliedIndex = leader.core.status().applied;
  const snapshot = leader.storage.createSnapshot(appliedIndex, leader.confState, text('state@' + appliedIndex));
  assert.ok(!('refused' in snapshot));
  assert.is(leader.storage.compact(appliedIndex), undefined);
  net.heal();
  net.tickAll(2);
  const follower = net.node(3);
  assert.is(follower.installedSnapshots.length, 1);
  assert.is(follower.installedSnapshots[0]!.metadata.index, appliedIndex);
  assert.equal(new TextDecoder().decode(follower.installedSnapshots[0]!.data), `state@${appliedIndex}`);
  assert.is(follower.storage.firstIndex(), appliedIndex + 1);
  assert.is(follower.core.status().applied, appliedIndex);
  // Later entries flow by ordinary appends again.
  net.propose(1, 'after');
  assert.equal(net.appliedData(3), ['after']);
  assert.is(net.committed(3), net.committed(1));
  assert.is(net.core(1).status().progress?.get(n(3))?.state, ProgressState.Replicate);
});

test('a snapshot is sent only to a follower recently heard from', () => {
  const storage = new MemoryRaftStorage({ confState: { voters: [n(1), n(2)], learners: [] } });
  storage.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
  storage.setHardState({ term: 1, vote: 0n, commit: 3 });
  storage.createSnapshot(3, { voters: [n(1), n(2)], learners: [] }, text('s'));
  storage.compact(3);
  const core = createRaftCore({ ...defaultTestConfig, id: n(1), storage, random: seededRandom(1) });
  core.campaign();
  core.ready();
  core.step({ type: MessageType.VoteResp, from: n(2), to: n(1), term: 2, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0) });
  // Not heard from since becoming leader: no snapshot yet.
  const first = core.ready().messages;
  assert.equal(ofType([...first], MessageType.Snap), []);
  core.step({ type: MessageType.AppResp, from: n(2), to: n(1), term: 2, logTerm: 0, index: 3, entries: [], commit: 0, reject: true, rejectHint: 0, context: new Uint8Array(0) });
  const snaps = ofType([...core.ready().messages], MessageType.Snap);
  assert.is(snaps.length, 1);
  assert.is(snaps[0]!.snapshot?.metadata.index, 3);
  assert.is(core.status().progress?.get(n(2))?.state, ProgressState.Snapshot);
});

test('a failed snapshot report puts the follower back to probing from its match, a finished one after the snapshot', () => {
  for (const [status, wantNext] of [
    [SnapshotStatus.Failure, 1],
    [SnapshotStatus.Finish, 4],
  ] as const) {
    const storage = new MemoryRaftStorage({ confState: { voters: [n(1), n(2)], learners: [] } });
    storage.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
    storage.setHardState({ term: 1, vote: 0n, commit: 3 });
    storage.createSnapshot(3, { voters: [n(1), n(2)], learners: [] }, text('s'));
    storage.compact(3);
    const node = new SingleCore(1, [1, 2]);
    const core = createRaftCore({ ...defaultTestConfig, id: n(1), storage, random: seededRandom(1) });
    Object.assign(node, { core, storage });
    node.becomeLeader();
    node.messages();
    node.step({ type: MessageType.AppResp, from: n(2), term: 2, index: 3, reject: true, rejectHint: 0 });
    assert.equal(ofType(node.messages(), MessageType.Snap).length, 1);
    node.core.reportSnapshot(n(2), status);
    assert.is(progressOf(node, 2).state, ProgressState.Probe);
    assert.is(progressOf(node, 2).next, wantNext, `status ${status}`);
  }
});

test('a follower that received a snapshot does not campaign before the snapshot is applied', () => {
  const node = new SingleCore(2, [1, 2, 3]);
  const snapshot = { metadata: { index: 10, term: 1, confState: { voters: [n(1), n(2), n(3)], learners: [] } }, data: text('s') };
  node.step({ type: MessageType.Snap, from: n(1), term: 1, snapshot });
  assert.is(node.commit(), 10);
  node.core.campaign();
  assert.is(node.role(), RaftRole.Follower);
  const ready = node.readyAndAdvance();
  assert.is(ready.snapshot?.metadata.index, 10);
  assert.equal(ofType([...ready.messages], MessageType.AppResp).map((m) => m.index), [10]);
  assert.is(node.core.status().applied, 10);
  node.core.campaign();
  assert.is(node.role(), RaftRole.Candidate);
});

test('a follower forwards a proposal to the leader, and it commits everywhere', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.campaign(1);
  assert.equal(net.propose(2, 'via follower'), { ok: true });
  for (const id of [1, 2, 3]) assert.equal(net.appliedData(id), ['via follower']);
});

test('a proposal without a known leader is refused with noLeader', () => {
  const net = new RaftNetwork([1, 2, 3]);
  assert.equal(net.propose(1, 'x'), { ok: false, refusal: 'noLeader' });
  net.isolate(1);
  net.campaign(1);
  assert.is(net.role(1), RaftRole.Candidate);
  assert.equal(net.propose(1, 'x'), { ok: false, refusal: 'noLeader' });
});

test('proposals past maxUncommittedEntriesSize are refused until entries commit', () => {
  const net = new RaftNetwork([1, 2, 3], { maxUncommittedEntriesSize: 300 });
  net.campaign(1);
  net.isolate(1);
  const payload = new Uint8Array(100);
  const results = [1, 2, 3, 4].map(() => net.core(1).propose(payload));
  assert.equal(results, [{ ok: true }, { ok: true }, { ok: true }, { ok: false, refusal: 'tooManyUncommitted' }]);
  net.heal();
  net.tickAll(1);
  assert.equal(net.core(1).propose(payload), { ok: true });
});

test('a single proposal larger than the limit is still taken when nothing is uncommitted', () => {
  const net = new RaftNetwork([1, 2, 3], { maxUncommittedEntriesSize: 10 });
  net.campaign(1);
  assert.equal(net.core(1).propose(new Uint8Array(100)), { ok: true });
});

test('a leader that lost its majority keeps accepting proposals (and commits them once healed)', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.campaign(1);
  net.isolate(1);
  net.propose(1, 'held');
  assert.equal(net.appliedData(1), []);
  net.heal();
  net.tickAll(1);
  for (const id of [1, 2, 3]) assert.equal(net.appliedData(id), ['held']);
});

test('status() has a progress map on the leader only', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.campaign(1);
  net.propose(1, 'x');
  const progress = net.core(1).status().progress;
  assert.ok(progress);
  assert.equal([...progress.keys()], [n(1), n(2), n(3)]);
  assert.equal(progress.get(n(2)), { match: 2, next: 3, state: ProgressState.Replicate, isLearner: false, recentActive: true });
  assert.is(net.core(2).status().progress, undefined);
});

test.run();
