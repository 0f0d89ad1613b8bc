// The Raft paper's rules, sentence by sentence (after etcd's raft_paper_test.go), against one core
// whose messages are read directly, or a small in-memory network.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryRaftStorage } from '../../src/raft/memory-storage.js';
import type { Entry } from '../../src/raft/types.js';
import { entry, MessageType, n, RaftNetwork, RaftRole, text } from './raft-network.js';
import { ofType, SingleCore } from './single-core.js';

const test = suite('raft: paper behaviours');

const terms = (pairs: Array<[number, number]>): number[] => pairs.map(([, term]) => term);
const entriesOfTerms = (termsByIndex: readonly number[]): Entry[] => termsByIndex.map((term, i) => entry(i + 1, term));

test('a follower, candidate or leader seeing a higher term updates its term and becomes a follower (5.1)', () => {
  for (const start of ['follower', 'candidate', 'leader'] as const) {
    const node = new SingleCore(1, [1, 2, 3]);
    if (start === 'candidate') node.core.campaign();
    if (start === 'leader') node.becomeLeader();
    node.messages();
    node.step({ type: MessageType.App, from: n(2), term: 5 });
    assert.is(node.term(), 5, start);
    assert.is(node.role(), RaftRole.Follower, start);
    assert.is(node.lead(), n(2), start);
  }
});

test('a message with a stale term is ignored (5.1)', () => {
  const node = new SingleCore(1, [1, 2, 3], { hardState: { term: 2 } });
  node.step({ type: MessageType.App, from: n(2), term: 1, entries: [entry(1, 1, 'x')] });
  assert.is(node.term(), 2);
  assert.equal(node.messages(), []);
  assert.equal(node.log(), []);
});

test('a server starts as a follower in term 0 (5.2)', () => {
  const node = new SingleCore(1, [1, 2, 3]);
  assert.is(node.role(), RaftRole.Follower);
  assert.is(node.term(), 0);
});

test('a leader sends heartbeats to all followers every heartbeat interval (5.2)', () => {
  const node = new SingleCore(1, [1, 2, 3], { overrides: { heartbeatTicks: 2 } });
  node.becomeLeader();
  node.messages();
  node.core.tick();
  assert.equal(ofType(node.messages(), MessageType.Heartbeat), []);
  node.core.tick();
  const heartbeats = ofType(node.messages(), MessageType.Heartbeat);
  assert.equal(heartbeats.map((m) => m.to), [n(2), n(3)]);
  for (const m of heartbeats) assert.is(m.term, 1);
});

test('a follower that hears nothing for an election timeout becomes a candidate, votes for itself and asks all others (5.2)', () => {
  const node = new SingleCore(1, [1, 2, 3]);
  for (let i = 0; i < 20; i++) node.core.tick();
  assert.is(node.role(), RaftRole.Candidate);
  assert.is(node.term(), 1);
  assert.is(node.core.status().hardState.vote, n(1));
  const votes = ofType(node.messages(), MessageType.Vote);
  assert.equal(votes.map((m) => [m.to, m.term]), [
    [n(2), 1],
    [n(3), 1],
  ]);
});

test('a candidate whose election times out starts a new election in a higher term (5.2)', () => {
  const node = new SingleCore(1, [1, 2, 3]);
  node.core.campaign();
  node.messages();
  for (let i = 0; i < 20; i++) node.core.tick();
  assert.is(node.role(), RaftRole.Candidate);
  assert.is(node.term(), 2);
  assert.equal(ofType(node.messages(), MessageType.Vote).map((m) => m.term), [2, 2]);
});

test('a candidate wins with votes from a majority, falls back on a majority of denials, else waits (5.2)', () => {
  const cases: Array<[number, Record<number, boolean>, RaftRole]> = [
    [1, {}, RaftRole.Leader],
    [3, { 2: true, 3: true }, RaftRole.Leader],
    [3, { 2: true }, RaftRole.Leader],
    [5, { 2: true, 3: true, 4: true, 5: true }, RaftRole.Leader],
    [5, { 2: true, 3: true }, RaftRole.Leader],
    [3, { 2: false, 3: false }, RaftRole.Follower],
    [5, { 2: false, 3: false, 4: false, 5: false }, RaftRole.Follower],
    [5, { 2: true, 3: false, 4: false, 5: false }, RaftRole.Follower],
    [3, {}, RaftRole.Candidate],
    [5, { 2: true }, RaftRole.Candidate],
    [5, { 2: false, 3: false }, RaftRole.Candidate],
  ];
  for (const [size, votes, want] of cases) {
    const node = new SingleCore(1, Array.from({ length: size }, (_, i) => i + 1));
    node.core.campaign();
    for (const [from, granted] of Object.entries(votes)) {
      node.step({ type: MessageType.VoteResp, from: n(Number(from)), term: 1, reject: !granted });
    }
    assert.is(node.role(), want, `${size} voters, votes ${JSON.stringify(votes)}`);
    assert.is(node.term(), 1);
  }
});

test('a follower votes for at most one candidate per term, first come first served (5.2)', () => {
  const cases: Array<[number, number, boolean]> = [
    [0, 1, false],
    [0, 2, false],
    [1, 1, false],
    [2, 2, false],
    [1, 2, true],
    [2, 1, true],
  ];
  for (const [votedFor, candidate, wantReject] of cases) {
    const node = new SingleCore(1, [1, 2, 3], { hardState: { term: 1, vote: n(votedFor) } });
    node.step({ type: MessageType.Vote, from: n(candidate), term: 1 });
    const replies = node.messages();
    assert.equal(
      replies.map((m) => [m.type, m.to, m.term, m.reject]),
      [[MessageType.VoteResp, n(candidate), 1, wantReject]],
    );
  }
});

test('a candidate that hears from a leader of at least its term returns to follower (5.2)', () => {
  for (const term of [1, 2]) {
    const node = new SingleCore(1, [1, 2, 3]);
    node.core.campaign();
    assert.is(node.role(), RaftRole.Candidate);
    node.step({ type: MessageType.App, from: n(2), term });
    assert.is(node.role(), RaftRole.Follower);
    assert.is(node.term(), term);
  }
});

test('election timeouts are randomised in [electionTicks, 2 * electionTicks) (5.2)', () => {
  const seen = new Set<number>();
  for (let seed = 1; seed <= 50; seed++) {
    const node = new SingleCore(1, [1, 2, 3], { seed });
    let ticks = 0;
    while (node.role() === RaftRole.Follower) {
      node.core.tick();
      ticks++;
    }
    seen.add(ticks);
    assert.ok(ticks >= 10 && ticks < 20, `timeout ${ticks}`);
  }
  assert.ok(seen.size > 5, `only ${seen.size} distinct timeouts`);
});

test('a leader appends a proposal to its log and sends it to every follower (5.3)', () => {
  const node = new SingleCore(1, [1, 2, 3]);
  node.becomeLeader();
  // Acknowledge the leader's no-op so both followers are replicating.
  node.messages();
  for (const id of [2, 3]) node.step({ type: MessageType.AppResp, from: n(id), term: 1, index: 1 });
  node.messages();
  assert.equal(node.core.propose(text('some data')), { ok: true });
  const appends = ofType(node.messages(), MessageType.App);
  assert.equal(
    appends.map((m) => [m.to, m.index, m.logTerm, m.commit, m.entries.map((e) => [e.index, e.term])]),
    [
      [n(2), 1, 1, 1, [[2, 1]]],
      [n(3), 1, 1, 1, [[2, 1]]],
    ],
  );
  assert.equal(node.log(), [
    [1, 1],
    [2, 1],
  ]);
});

test('a leader commits an entry once a majority has it, and tells followers the new commit index (5.3)', () => {
  const node = new SingleCore(1, [1, 2, 3]);
  node.becomeLeaderWithFollowersReplicating();
  assert.equal(node.committed.map((e) => e.index), [1]);
  node.core.propose(text('x'));
  const appends = ofType(node.messages(), MessageType.App);
  assert.is(node.commit(), 1);
  node.step({ type: MessageType.AppResp, from: n(2), term: 1, index: appends[0]!.index + appends[0]!.entries.length });
  assert.is(node.commit(), 2);
  const ready = node.readyAndAdvance();
  assert.equal(ready.committedEntries.map((e) => e.index), [2]);
  assert.equal(
    ofType(ready.messages, MessageType.App).map((m) => [m.to, m.commit]),
    [
      [n(2), 2],
      [n(3), 2],
    ],
  );
});

test('an entry is committed when a majority of the cluster acknowledged it, for clusters of 1 to 5 (5.3)', () => {
  const cases: Array<[number, number[], boolean]> = [
    [1, [], true],
    [3, [], false],
    [3, [2], true],
    [3, [2, 3], true],
    [5, [], false],
    [5, [2], false],
    [5, [2, 3], true],
    [5, [2, 3, 4, 5], true],
  ];
  for (const [size, acks, committed] of cases) {
    const node = new SingleCore(1, Array.from({ length: size }, (_, i) => i + 1));
    node.becomeLeader();
    node.messages();
    node.core.propose(text('x'));
    node.messages();
    for (const id of acks) node.step({ type: MessageType.AppResp, from: n(id), term: 1, index: 2 });
    assert.is(node.commit() >= 2, committed, `${size} nodes, acks ${acks}`);
  }
});

test('committing an entry of its term also commits the preceding entries of earlier terms (5.3)', () => {
  const earlier = entriesOfTerms([2, 2]);
  const node = new SingleCore(1, [1, 2, 3], { entries: earlier, hardState: { term: 2 } });
  node.becomeLeader();
  node.messages();
  node.core.propose(text('x'));
  node.messages();
  node.step({ type: MessageType.AppResp, from: n(2), term: 3, index: 4 });
  assert.is(node.commit(), 4);
  assert.equal(node.readyAndAdvance().committedEntries.map((e) => [e.index, e.term]), [
    [1, 2],
    [2, 2],
    [3, 3],
    [4, 3],
  ]);
});

test('a follower applies entries up to the commit index the leader sends (5.3)', () => {
  const cases: Array<[Entry[], number]> = [
    [[entry(1, 1, 'a')], 1],
    [[entry(1, 1, 'a'), entry(2, 1, 'b')], 2],
    [[entry(1, 1, 'a'), entry(2, 1, 'b')], 1],
  ];
  for (const [entries, commit] of cases) {
    const node = new SingleCore(1, [1, 2, 3], { hardState: { term: 1 } });
    node.step({ type: MessageType.App, from: n(2), term: 1, index: 0, logTerm: 0, entries, commit });
    assert.is(node.commit(), commit);
    assert.equal(node.readyAndAdvance().committedEntries.map((e) => e.index), entries.slice(0, commit).map((e) => e.index));
  }
});

test('a follower rejects an append whose previous entry it lacks, hinting its last index (5.3)', () => {
  const cases: Array<[number, number, boolean]> = [
    [0, 0, false],
    [1, 1, false],
    [2, 2, false],
    [1, 2, true], // term mismatch at an existing index
    [3, 3, true], // index past the follower's log
  ];
  for (const [index, logTerm, wantReject] of cases) {
    const node = new SingleCore(1, [1, 2, 3], { entries: entriesOfTerms([1, 2]), hardState: { term: 2, commit: 1 } });
    node.step({ type: MessageType.App, from: n(2), term: 2, index, logTerm, commit: 1 });
    const [reply] = node.messages();
    assert.is(reply?.type, MessageType.AppResp);
    assert.is(reply?.reject, wantReject, `prev (${index}, ${logTerm})`);
    if (wantReject) {
      assert.is(reply?.index, index);
      assert.is(reply?.rejectHint, 2);
    }
  }
});

test('a follower deletes a conflicting entry and all that follow it, then appends the new ones (5.3, log matching)', () => {
  const cases: Array<[number, number, Entry[], Array<[number, number]>]> = [
    [2, 2, [entry(3, 3)], [[1, 1], [2, 2], [3, 3]]],
    [1, 1, [entry(2, 3), entry(3, 4)], [[1, 1], [2, 3], [3, 4]]],
    [0, 0, [entry(1, 1)], [[1, 1], [2, 2]]],
    [0, 0, [entry(1, 3)], [[1, 3]]],
  ];
  for (const [index, logTerm, entries, want] of cases) {
    const node = new SingleCore(1, [1, 2, 3], { entries: entriesOfTerms([1, 2]), hardState: { term: 1 } });
    node.step({ type: MessageType.App, from: n(2), term: 1, index, logTerm, entries });
    assert.equal(node.log(), want);
  }
});

test("the six follower logs of figure 7 converge to the leader's log (5.3)", () => {
  const leaderTerms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers = [
    [1, 1, 1, 4, 4, 5, 5, 6, 6], // (a) missing one
    [1, 1, 1, 4], // (b) missing many
    [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], // (c) an extra uncommitted entry
    [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], // (d) extra entries of a later term
    [1, 1, 1, 4, 4, 4, 4], // (e) conflicting entries of term 4
    [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], // (f) many conflicting entries
  ];
  for (const [i, followerTerms] of followers.entries()) {
    const storages = new Map<number, MemoryRaftStorage>();
    for (const id of [1, 2, 3]) {
      const storage = new MemoryRaftStorage({ confState: { voters: [n(1), n(2), n(3)], learners: [] } });
      // Node 3 has the leader's log, so node 1 wins even when the follower's log is longer.
      storage.append(entriesOfTerms(id === 2 ? followerTerms : leaderTerms));
      storage.setHardState({ term: 8, vote: 0n, commit: id === 2 ? 0 : leaderTerms.length });
      storages.set(id, storage);
    }
    const net = new RaftNetwork([]);
    for (const id of [1, 2, 3]) net.addNode(n(id), { voters: [n(1), n(2), n(3)], learners: [] }, id, storages.get(id));
    net.campaign(1);
    assert.is(net.role(1), RaftRole.Leader, `follower (${'abcdef'[i]})`);
    net.propose(1, 'after');
    const want = [...leaderTerms, 9, 9];
    for (const id of [1, 2, 3]) {
      const storage = net.node(id).storage;
      const log = storage.entries(1, storage.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
      assert.ok(!('unavailable' in log));
      assert.equal(terms((log as Entry[]).map((e) => [e.index, e.term])), want, `node ${id}, follower (${'abcdef'[i]})`);
    }
  }
});

test('a vote request carries the candidate term and its last log index and term (5.4.1)', () => {
  for (const [entries, wantTerm] of [
    [[entry(1, 1)], 2],
    [[entry(1, 1), entry(2, 2)], 3],
  ] as Array<[Entry[], number]>) {
    const node = new SingleCore(1, [1, 2, 3]);
    node.step({ type: MessageType.App, from: n(2), term: wantTerm - 1, entries });
    node.messages();
    for (let i = 0; i < 20; i++) node.core.tick();
    const votes = ofType(node.messages(), MessageType.Vote);
    const last = entries.at(-1)!;
    assert.equal(votes.map((m) => [m.to, m.term, m.index, m.logTerm]), [
      [n(2), wantTerm, last.index, last.term],
      [n(3), wantTerm, last.index, last.term],
    ]);
  }
});

test('a voter denies its vote when its own log is more up-to-date than the candidate (5.4.1)', () => {
  const cases: Array<[Entry[], number, number, boolean]> = [
    [[entry(1, 1)], 1, 1, false],
    [[entry(1, 1)], 1, 2, false],
    [[entry(1, 1), entry(2, 1)], 1, 1, true],
    [[entry(1, 1)], 2, 1, false],
    [[entry(1, 1)], 2, 2, false],
    [[entry(1, 1), entry(2, 1)], 2, 1, false],
    [[entry(1, 2)], 1, 1, true],
    [[entry(1, 2)], 1, 2, true],
    [[entry(1, 2), entry(2, 1)], 1, 1, true],
  ];
  for (const [entries, logTerm, index, wantReject] of cases) {
    const node = new SingleCore(1, [1, 2], { entries });
    node.step({ type: MessageType.Vote, from: n(2), term: 3, logTerm, index });
    const replies = node.messages();
    assert.equal(replies.map((m) => [m.type, m.reject]), [[MessageType.VoteResp, wantReject]], JSON.stringify([logTerm, index]));
  }
});

test('a leader commits only entries of its current term by counting replicas (5.4.2, figure 8)', () => {
  for (const [acked, wantCommit] of [
    [1, 0],
    [2, 0],
    [3, 3],
  ]) {
    const node = new SingleCore(1, [1, 2], { entries: [entry(1, 1), entry(2, 2)], hardState: { term: 2 } });
    node.becomeLeader();
    node.messages();
    node.step({ type: MessageType.AppResp, from: n(2), term: 3, index: acked! });
    assert.is(node.commit(), wantCommit!, `acked ${acked}`);
  }
});

test('figure 8: an old-term entry stored on a majority can still be overwritten, so it was right not to count it', () => {
  // (c) of figure 8: S1 leads term 4 and spreads index 2 (of term 2) to a majority, but none of its
  // term-4 entries; S5 holds index 2 of term 3.
  const voters = [1, 2, 3, 4, 5];
  const confState = { voters: voters.map(n), learners: [] };
  const logs: Record<number, number[]> = { 1: [1, 2], 2: [1, 2], 3: [1], 4: [1], 5: [1, 3] };
  const net = new RaftNetwork([], { maxSizePerMsg: 1 });
  for (const id of voters) {
    const storage = new MemoryRaftStorage({ confState });
    storage.append(entriesOfTerms(logs[id]!));
    storage.setHardState({ term: 3, vote: 0n, commit: 1 });
    net.addNode(n(id), confState, id, storage);
  }
  net.isolate(4);
  net.isolate(5);
  net.rewrite = (m) => (m.type === MessageType.App ? { ...m, entries: m.entries.filter((e) => e.term !== 4) } : m);
  net.campaign(1);
  assert.is(net.role(1), RaftRole.Leader);
  assert.equal(terms(new SingleCoreLog(net, 3).pairs()), [1, 2], 'S3 received index 2 of term 2');
  assert.is(net.committed(1), 1, 'index 2 is on S1, S2 and S3 but is of an earlier term');

  // (d): S1 crashes; S5 is elected with S2, S3 and S4 and overwrites index 2 everywhere.
  net.heal();
  net.isolate(1);
  for (let attempt = 0; attempt < 3 && net.role(5) !== RaftRole.Leader; attempt++) net.campaign(5);
  assert.is(net.role(5), RaftRole.Leader);
  for (const id of [2, 3, 4, 5]) assert.equal(terms(new SingleCoreLog(net, id).pairs()).slice(0, 2), [1, 3], `node ${id}`);
});

/** A node's persisted log in a network, as index/term pairs. */
class SingleCoreLog {
  constructor(
    private readonly net: RaftNetwork,
    private readonly id: number,
  ) {}

  pairs(): Array<[number, number]> {
    const storage = this.net.node(this.id).storage;
    const log = storage.entries(storage.firstIndex(), storage.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
    if ('unavailable' in log) throw new Error('compacted');
    return log.map((e) => [e.index, e.term]);
  }
}

test.run();
