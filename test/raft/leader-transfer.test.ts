// Leader transfer: MsgTransferLeader, catching the transferee up, MsgTimeoutNow, and the abort after
// an election timeout; proposals are refused while a transfer is in progress.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MessageType, n, RaftNetwork, RaftRole } from './raft-network.js';

const test = suite('raft: leader transfer');

test('a transfer to an up-to-date follower makes it leader at once', () => {
  const net = new RaftNetwork([1, 2, 3], { checkQuorum: true, preVote: true });
  net.campaign(1);
  net.core(1).transferLeader(n(2));
  net.deliverAll();
  assert.is(net.role(2), RaftRole.Leader);
  assert.is(net.role(1), RaftRole.Follower);
  assert.is(net.term(2), 2);
  assert.ok(net.trace.some((m) => m.type === MessageType.TimeoutNow && m.to === n(2)));
});

test('a transfer to a lagging follower first catches it up, then hands over', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 5; i++) net.propose(1, `v${i}`);
  net.heal();
  net.core(1).transferLeader(n(3));
  net.deliverAll();
  assert.is(net.role(3), RaftRole.Leader);
  assert.equal(net.appliedData(3).slice(0, 5), ['v0', 'v1', 'v2', 'v3', 'v4']);
});

test('proposals are refused with leaderTransferring while a transfer is in progress', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  net.core(1).transferLeader(n(3));
  net.deliverAll();
  assert.is(net.core(1).status().leadTransferee, n(3));
  assert.equal(net.propose(1, 'x'), { ok: false, refusal: 'leaderTransferring' });
});

test('a transfer that does not finish within an election timeout is aborted and proposals flow again', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  net.core(1).transferLeader(n(3));
  net.deliverAll();
  for (let i = 0; i < 10; i++) net.tick(1);
  net.deliverAll();
  assert.is(net.core(1).status().leadTransferee, n(0));
  assert.is(net.role(1), RaftRole.Leader);
  assert.equal(net.propose(1, 'x'), { ok: true });
});

test('a transfer to the leader itself, or to a learner, is ignored', () => {
  const net = new RaftNetwork([1, 2], {}, [3]);
  net.campaign(1);
  net.core(1).transferLeader(n(1));
  net.core(1).transferLeader(n(3));
  net.deliverAll();
  assert.is(net.core(1).status().leadTransferee, n(0));
  assert.is(net.role(1), RaftRole.Leader);
});

test('a transfer asked of a follower is forwarded to the leader', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.campaign(1);
  net.core(3).transferLeader(n(2));
  net.deliverAll();
  assert.is(net.role(2), RaftRole.Leader);
});

test('a transferee receiving MsgTimeoutNow campaigns even where pre-vote would fail, skipping the lease', () => {
  const net = new RaftNetwork([1, 2, 3], { checkQuorum: true, preVote: true });
  net.campaign(1);
  net.send({ type: MessageType.TimeoutNow, from: n(1), to: n(3), term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0) });
  assert.is(net.role(3), RaftRole.Leader);
  assert.is(net.term(3), 2);
});

test.run();
