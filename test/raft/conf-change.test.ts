// etcd 3.4's single-step membership changes through the log, and their wire form.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeConfChange, encodeConfChange, isConfChangeDecodeError } from '../../src/raft/conf-change-codec.js';
import { ConfChangeType, type ConfChange, type NodeId } from '../../src/raft/types.js';
import { MessageType, n, RaftNetwork, RaftRole, text } from './raft-network.js';

const test = suite('raft: membership changes');
const change = (type: ConfChangeType, nodeId: NodeId, context: Uint8Array = new Uint8Array(0)): ConfChange => ({ type, nodeId, context });

/**
 * Adds a fresh node with the membership as it stands before its own addition (the node loop gets it
 * from the member list), as the initial membership is not in the log.
 */
function join(net: RaftNetwork, id: number): void {
  net.addNode(n(id), net.node(1).confState, id);
}

test('the codec writes raftpb.ConfChange bytes as etcd does and reads them back', () => {
  const bytes = encodeConfChange(change(ConfChangeType.AddLearnerNode, 2n, text('x')));
  assert.equal([...bytes], [0x08, 0x00, 0x10, 0x03, 0x18, 0x02, 0x22, 0x01, 0x78]);
  const big = 0xfedcba9876543210n;
  const decoded = decodeConfChange(encodeConfChange(change(ConfChangeType.RemoveNode, big, text('member'))));
  assert.equal(decoded, { type: ConfChangeType.RemoveNode, nodeId: big, context: text('member') });
});

test('the codec returns a typed error for malformed bytes', () => {
  for (const bytes of [
    [0x18], // truncated varint
    [0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // varint too long
    [0x22, 0x05, 0x01], // context runs past the end
    [0x10, 0x09], // unknown change type
    [0x1b], // unsupported wire type
  ]) {
    const decoded = decodeConfChange(Uint8Array.from(bytes));
    assert.ok(isConfChangeDecodeError(decoded), JSON.stringify(bytes));
  }
});

test('adding a voter: the new node receives the log and then counts in the commit quorum', () => {
  const net = new RaftNetwork([1]);
  net.campaign(1);
  net.propose(1, 'before');
  join(net, 2);
  assert.equal(net.core(1).proposeConfChange(change(ConfChangeType.AddNode, n(2))), { ok: true });
  net.deliverAll();
  assert.equal(net.node(1).confState, { voters: [n(1), n(2)], learners: [] });
  net.tickAll(1);
  assert.equal(net.appliedData(2), ['before']);
  assert.equal(net.node(2).confState.voters, [n(1), n(2)]);
  // Now a quorum of two needs node 2.
  net.isolate(2);
  const committedBefore = net.committed(1);
  net.propose(1, 'needs 2');
  assert.is(net.committed(1), committedBefore);
  net.heal();
  net.tickAll(1);
  assert.equal(net.appliedData(2), ['before', 'needs 2']);
});

test('removing a voter: it no longer counts, and the rest commit without it', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.campaign(1);
  net.core(1).proposeConfChange(change(ConfChangeType.RemoveNode, n(3)));
  net.deliverAll();
  assert.equal(net.node(1).confState, { voters: [n(1), n(2)], learners: [] });
  assert.equal([...(net.core(1).status().progress?.keys() ?? [])], [n(1), n(2)]);
  net.isolate(3);
  net.propose(1, 'without 3');
  assert.equal(net.appliedData(2), ['without 3']);
});

test('a removed node gets no more appends, and its answers are ignored', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.campaign(1);
  net.core(1).proposeConfChange(change(ConfChangeType.RemoveNode, n(3)));
  net.deliverAll();
  const traced = net.trace.length;
  net.propose(1, 'x');
  net.tickAll(2);
  assert.ok(net.trace.slice(traced).every((m) => m.to !== n(3)), 'nothing sent to node 3');
  const before = net.core(1).status();
  net.send({ type: MessageType.AppResp, from: n(3), to: n(1), term: before.hardState.term, logTerm: 0, index: 99, entries: [], commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0) });
  assert.equal(net.core(1).status().hardState, before.hardState);
  assert.is(net.core(1).status().progress?.has(n(3)), false);
});

test('a learner receives the log but is not counted in the commit quorum', () => {
  const net = new RaftNetwork([1, 2], {}, [3]);
  net.campaign(1);
  net.propose(1, 'a');
  assert.equal(net.appliedData(3), ['a']);
  assert.is(net.core(1).status().progress?.get(n(3))?.isLearner, true);
  // With the only other voter cut off, the learner's acknowledgement does not commit.
  net.isolate(2);
  const committed = net.committed(1);
  net.propose(1, 'b');
  assert.is(net.committed(1), committed);
  assert.is(net.core(1).status().progress?.get(n(3))?.match, committed + 1);
});

test('adding a learner by conf change: it replicates, and never votes nor campaigns', () => {
  const net = new RaftNetwork([1, 2]);
  net.campaign(1);
  join(net, 3);
  net.core(1).proposeConfChange(change(ConfChangeType.AddLearnerNode, n(3)));
  net.deliverAll();
  net.tickAll(1);
  net.propose(1, 'to learner');
  assert.equal(net.appliedData(3), ['to learner']);
  assert.equal(net.node(3).confState, { voters: [n(1), n(2)], learners: [n(3)] });
  for (let i = 0; i < 50; i++) net.tick(3);
  net.deliverAll();
  assert.is(net.role(3), RaftRole.Follower);
  net.campaign(2);
  const asked = net.trace.filter((m) => m.type === MessageType.Vote).map((m) => m.to);
  assert.ok(!asked.includes(n(3)), 'no vote request to the learner');
});

test('promoting a learner (AddNode on a learner) keeps its progress and makes it a voter that can lead', () => {
  const net = new RaftNetwork([1, 2], {}, [3]);
  net.campaign(1);
  net.propose(1, 'a');
  const matchBefore = net.core(1).status().progress?.get(n(3))?.match ?? 0;
  net.core(1).proposeConfChange(change(ConfChangeType.AddNode, n(3)));
  net.deliverAll();
  const progress = net.core(1).status().progress?.get(n(3));
  assert.is(progress?.isLearner, false);
  assert.ok((progress?.match ?? 0) >= matchBefore);
  assert.equal(net.node(3).confState, { voters: [n(1), n(2), n(3)], learners: [] });
  net.core(1).transferLeader(n(3));
  net.deliverAll();
  assert.is(net.role(3), RaftRole.Leader);
});

test('one conf change at a time: another is refused with confChangePending until the first is applied', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.campaign(1);
  net.isolate(1);
  assert.equal(net.core(1).proposeConfChange(change(ConfChangeType.AddLearnerNode, n(4))), { ok: true });
  assert.equal(net.core(1).proposeConfChange(change(ConfChangeType.AddLearnerNode, n(5))), { ok: false, refusal: 'confChangePending' });
  net.heal();
  net.tickAll(1);
  assert.equal(net.node(1).confState.learners, [n(4)]);
  assert.equal(net.core(1).proposeConfChange(change(ConfChangeType.AddLearnerNode, n(5))), { ok: true });
});

test('a new leader treats conf changes in its log as pending until it applied them', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.campaign(1);
  net.isolate(1);
  // Not applied anywhere: the fresh leader's log ends at a conf change it has not applied.
  net.core(1).proposeConfChange(change(ConfChangeType.AddLearnerNode, n(4)));
  net.heal();
  net.campaign(1);
  assert.is(net.role(1), RaftRole.Leader);
  net.deliverAll();
  assert.equal(net.core(1).proposeConfChange(change(ConfChangeType.AddLearnerNode, n(5))), { ok: true });
});

test('a conf change forwarded by a follower while one is pending becomes an empty entry', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.campaign(1);
  net.isolate(1);
  net.core(1).proposeConfChange(change(ConfChangeType.AddLearnerNode, n(4)));
  net.send({
    type: MessageType.Prop, from: n(2), to: n(1), term: 0, logTerm: 0, index: 0, commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0),
    entries: [{ term: 0, index: 0, type: 1, data: encodeConfChange(change(ConfChangeType.AddLearnerNode, n(5))) }],
  });
  net.heal();
  net.tickAll(1);
  assert.equal(net.node(1).confState.learners, [n(4)]);
});

test('removing a voter that blocked the quorum lets the leader commit what was pending', () => {
  const net = new RaftNetwork([1, 2]);
  net.campaign(1);
  net.core(1).proposeConfChange(change(ConfChangeType.RemoveNode, n(2)));
  for (const m of net.takeMessages()) net.deliver(m);
  const acks = net.takeMessages().filter((m) => m.type === MessageType.AppResp);
  // An entry proposed before the removal is applied still needs node 2, which now goes silent.
  assert.equal(net.core(1).propose(text('pending')), { ok: true });
  net.isolate(2);
  for (const ack of acks) net.core(1).step(ack);
  net.deliverAll();
  assert.equal(net.node(1).confState.voters, [n(1)]);
  assert.equal(net.appliedData(1), ['pending']);
});

test('UpdateNode changes no membership', () => {
  const net = new RaftNetwork([1, 2]);
  net.campaign(1);
  net.core(1).proposeConfChange(change(ConfChangeType.UpdateNode, n(2), text('new urls')));
  net.deliverAll();
  assert.equal(net.node(1).confState, { voters: [n(1), n(2)], learners: [] });
});

test('removing the leader itself: it stops taking proposals and the others elect a new leader', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.campaign(1);
  net.core(1).proposeConfChange(change(ConfChangeType.RemoveNode, n(1)));
  net.deliverAll();
  net.tickAll(1);
  assert.equal(net.node(2).confState.voters, [n(2), n(3)]);
  assert.equal(net.propose(1, 'x'), { ok: false, refusal: 'noLeader' });
  net.isolate(1);
  net.campaign(2);
  assert.is(net.role(2), RaftRole.Leader);
  net.propose(2, 'y');
  assert.equal(net.appliedData(3), ['y']);
});

test.run();
