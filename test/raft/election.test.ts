// Elections beyond the paper: pre-vote, check-quorum and the leader lease, learners, single voters.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { campaignTransferContext } from '../../src/raft/raft-core.js';
import { encodeConfChange } from '../../src/raft/conf-change-codec.js';
import { ConfChangeType, EntryType } from '../../src/raft/types.js';
import { entry, MessageType, n, RaftNetwork, RaftRole } from './raft-network.js';
import { ofType, SingleCore } from './single-core.js';

const test = suite('raft: elections');

test('a single voter elects itself at once and commits its no-op', () => {
  const net = new RaftNetwork([1]);
  net.campaign(1);
  assert.is(net.role(1), RaftRole.Leader);
  assert.is(net.committed(1), 1);
  assert.equal(net.propose(1, 'solo'), { ok: true });
  assert.equal(net.appliedData(1), ['solo']);
});

test('campaigning while leader changes nothing', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.campaign(1);
  net.campaign(1);
  assert.is(net.role(1), RaftRole.Leader);
  assert.is(net.term(1), 1);
});

test('dueling candidates: a split vote is resolved by a later election, and the cluster commits', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.cut(1, 3);
  net.campaign(1);
  net.campaign(3);
  // Node 2 voted for 1, so 3 cannot win term 1; 1 won with 2's vote.
  assert.is(net.role(1), RaftRole.Leader);
  assert.is(net.role(3), RaftRole.Candidate);
  net.heal();
  // Node 3's higher term (after its next campaign) deposes 1, but its log is behind, so it loses.
  net.campaign(3);
  assert.is.not(net.role(3), RaftRole.Leader);
  // Node 3 keeps losing (its log is behind) until a node with the longer log times out first.
  for (let tick = 0; tick < 300 && net.leaders().length === 0; tick++) net.tickAll(1);
  assert.is(net.leaders().length, 1);
  assert.is.not(net.leaders()[0], n(3));
  const [leader] = net.leaders();
  net.propose(Number(leader), 'agreed');
  for (const id of [1, 2, 3]) assert.equal(net.appliedData(id), ['agreed']);
});

test('with pre-vote, a partitioned node rejoining does not disrupt the leader or raise the term', () => {
  const net = new RaftNetwork([1, 2, 3], { preVote: true });
  net.campaign(1);
  net.isolate(3);
  net.propose(1, 'during');
  // Node 3 times out many times while cut off: pre-votes fail, so its term stays.
  for (let i = 0; i < 100; i++) net.tick(3);
  net.deliverAll();
  assert.is(net.term(3), 1);
  assert.is(net.role(3), RaftRole.PreCandidate);
  net.heal();
  net.campaign(3);
  assert.is(net.role(1), RaftRole.Leader);
  assert.is(net.term(1), 1);
  net.propose(1, 'after');
  // The leader's next heartbeat or append brings node 3 back as a follower.
  net.tickAll(1);
  assert.is(net.role(3), RaftRole.Follower);
  for (const id of [1, 2, 3]) assert.equal(net.appliedData(id), ['during', 'after']);
});

test('with pre-vote and check-quorum, a rejoining node with an equally long log does not disrupt either', () => {
  const net = new RaftNetwork([1, 2, 3], { preVote: true, checkQuorum: true });
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 50; i++) net.tick(3);
  net.deliverAll();
  net.heal();
  net.campaign(3);
  assert.is(net.role(1), RaftRole.Leader);
  assert.is(net.term(1), 1);
  assert.is(net.term(3), 1);
});

test('without pre-vote, the same rejoining node forces a new election with its higher term', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  net.campaign(3);
  net.campaign(3);
  assert.is(net.term(3), 3);
  net.heal();
  net.campaign(3);
  assert.is(net.term(1), 4, 'the old leader adopted the disruptive term');
  assert.is.not(net.role(1), RaftRole.Leader);
});

test('a pre-candidate keeps its term and vote, and sends pre-votes for the next term', () => {
  const node = new SingleCore(1, [1, 2, 3], { overrides: { preVote: true }, hardState: { term: 4, vote: n(2) } });
  node.core.campaign();
  assert.is(node.role(), RaftRole.PreCandidate);
  assert.is(node.term(), 4);
  assert.is(node.core.status().hardState.vote, n(2));
  const preVotes = ofType(node.messages(), MessageType.PreVote);
  assert.equal(preVotes.map((m) => [m.to, m.term]), [
    [n(2), 5],
    [n(3), 5],
  ]);
  node.step({ type: MessageType.PreVoteResp, from: n(2), term: 5 });
  assert.is(node.role(), RaftRole.Candidate);
  assert.is(node.term(), 5);
});

test('with check-quorum, an isolated leader steps down after an election timeout', () => {
  const net = new RaftNetwork([1, 2, 3], { checkQuorum: true });
  net.campaign(1);
  net.isolate(1);
  // The first check still sees the followers' answers from before the partition.
  for (let i = 0; i < 10; i++) net.tick(1);
  net.deliverAll();
  assert.is(net.role(1), RaftRole.Leader);
  for (let i = 0; i < 10; i++) net.tick(1);
  net.deliverAll();
  assert.is(net.role(1), RaftRole.Follower);
  assert.is(net.core(1).status().softState.lead, n(0));
});

test('with check-quorum, a leader that hears from a quorum keeps leading', () => {
  const net = new RaftNetwork([1, 2, 3], { checkQuorum: true });
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 25; i++) {
    net.tick(1);
    net.tick(2);
    net.deliverAll();
  }
  assert.is(net.role(1), RaftRole.Leader);
});

test('with check-quorum, a follower hearing from a live leader ignores a higher-term vote request (the lease)', () => {
  const node = new SingleCore(1, [1, 2, 3], { overrides: { checkQuorum: true } });
  node.step({ type: MessageType.Heartbeat, from: n(2), term: 1 });
  node.messages();
  node.step({ type: MessageType.Vote, from: n(3), term: 2, index: 5, logTerm: 2 });
  assert.equal(node.messages(), []);
  assert.is(node.term(), 1);
  assert.is(node.lead(), n(2));
});

test('a follower in the lease still votes for a leader-transfer campaign', () => {
  const node = new SingleCore(1, [1, 2, 3], { overrides: { checkQuorum: true } });
  node.step({ type: MessageType.Heartbeat, from: n(2), term: 1 });
  node.messages();
  node.step({ type: MessageType.Vote, from: n(3), term: 2, index: 5, logTerm: 2, context: campaignTransferContext });
  const replies = node.messages();
  assert.equal(replies.map((m) => [m.type, m.to, m.term, m.reject]), [[MessageType.VoteResp, n(3), 2, false]]);
});

test('a leader cut off by a partition steps down when the new leader answers its stale append', () => {
  const net = new RaftNetwork([1, 2, 3], { checkQuorum: true, preVote: true });
  net.campaign(1);
  net.isolate(1);
  for (let i = 0; i < 30 && net.role(2) !== RaftRole.Leader && net.role(3) !== RaftRole.Leader; i++) {
    net.tick(2);
    net.tick(3);
    net.deliverAll();
  }
  const newLeader = net.role(2) === RaftRole.Leader ? 2 : 3;
  assert.is(net.role(newLeader), RaftRole.Leader);
  assert.is(net.role(1), RaftRole.Leader, 'the old leader does not know yet');
  net.heal();
  net.tick(1);
  net.deliverAll();
  assert.is(net.role(1), RaftRole.Follower);
  assert.is(net.term(1), net.term(newLeader));
});

test('a learner never campaigns, however long it hears nothing', () => {
  const net = new RaftNetwork([1, 2], {}, [3]);
  for (let i = 0; i < 100; i++) net.tick(3);
  net.deliverAll();
  assert.is(net.role(3), RaftRole.Follower);
  assert.is(net.term(3), 0);
  net.campaign(3);
  assert.is(net.role(3), RaftRole.Follower);
});

test('a candidate asks only voters, and a learner granting its vote does not count', () => {
  const node = new SingleCore(1, [1, 2, 3], { learners: [4] });
  node.core.campaign();
  const votes = ofType(node.messages(), MessageType.Vote);
  assert.equal(votes.map((m) => m.to), [n(2), n(3)]);
  node.step({ type: MessageType.VoteResp, from: n(4), term: 1 });
  assert.is(node.role(), RaftRole.Candidate);
});

test('a node with a committed but unapplied conf change does not campaign', () => {
  const node = new SingleCore(2, [1, 2, 3]);
  const change = { index: 2, term: 1, type: EntryType.ConfChange, data: encodeConfChange({ type: ConfChangeType.AddNode, nodeId: n(4), context: new Uint8Array(0) }) };
  node.step({ type: MessageType.App, from: n(1), term: 1, entries: [entry(1, 1), change], commit: 2 });
  const status = node.core.status();
  assert.is(status.hardState.commit, 2);
  assert.is(status.applied, 0);
  node.core.campaign();
  assert.is(node.role(), RaftRole.Follower);
  // Once applied, it may.
  node.messages();
  node.core.campaign();
  assert.is(node.role(), RaftRole.Candidate);
});

test.run();
