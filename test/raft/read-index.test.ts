// Linearizable reads by ReadIndex: answered with the commit index once a heartbeat round proves
// leadership; via a follower; at once with a single voter; held until the leader's term commits.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MessageType, n, RaftNetwork, text } from './raft-network.js';
import { ofType, SingleCore } from './single-core.js';

const test = suite('raft: ReadIndex');
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

test('the leader answers a read with its commit index after a heartbeat quorum', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.campaign(1);
  net.propose(1, 'a');
  assert.equal(net.core(1).readIndex(text('r1')), { ok: true });
  net.deliverAll();
  const states = net.node(1).readStates;
  assert.equal(states.map((s) => [s.index, decode(s.requestCtx)]), [[2, 'r1']]);
});

test('the leader does not answer a read before a quorum acknowledged its heartbeat', () => {
  const node = new SingleCore(1, [1, 2, 3]);
  node.becomeLeaderWithFollowersReplicating();
  node.core.readIndex(text('r'));
  const heartbeats = ofType(node.messages(), MessageType.Heartbeat);
  assert.equal(heartbeats.map((m) => [m.to, decode(m.context)]), [
    [n(2), 'r'],
    [n(3), 'r'],
  ]);
  assert.equal(node.core.ready().readStates, []);
  node.step({ type: MessageType.HeartbeatResp, from: n(2), term: 1, context: text('r') });
  assert.equal(node.core.ready().readStates.map((s) => [s.index, decode(s.requestCtx)]), [[1, 'r']]);
});

test('an isolated leader never answers a read', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.campaign(1);
  net.isolate(1);
  net.core(1).readIndex(text('r'));
  net.tickAll(3);
  assert.equal(net.node(1).readStates, []);
});

test('a confirmed read also confirms every read queued before it', () => {
  const node = new SingleCore(1, [1, 2, 3]);
  node.becomeLeaderWithFollowersReplicating();
  node.core.readIndex(text('first'));
  node.core.readIndex(text('second'));
  node.messages();
  node.step({ type: MessageType.HeartbeatResp, from: n(3), term: 1, context: text('second') });
  assert.equal(node.core.ready().readStates.map((s) => decode(s.requestCtx)), ['first', 'second']);
});

test('a follower forwards a read to the leader and gets the read state back', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.campaign(1);
  net.propose(1, 'a');
  assert.equal(net.core(2).readIndex(text('via-2')), { ok: true });
  net.deliverAll();
  assert.ok(net.trace.some((m) => m.type === MessageType.ReadIndex && m.from === n(2) && m.to === n(1)));
  assert.ok(net.trace.some((m) => m.type === MessageType.ReadIndexResp && m.to === n(2)));
  assert.equal(net.node(2).readStates.map((s) => [s.index, decode(s.requestCtx)]), [[2, 'via-2']]);
  assert.equal(net.node(1).readStates, []);
});

test('a single-voter cluster answers a read at once', () => {
  const node = new SingleCore(1, [1], { learners: [2] });
  node.becomeLeader();
  node.messages();
  node.core.readIndex(text('solo'));
  const ready = node.core.ready();
  assert.equal(ready.readStates.map((s) => [s.index, decode(s.requestCtx)]), [[1, 'solo']]);
  assert.equal(ofType([...ready.messages], MessageType.Heartbeat), []);
});

test('a read reaching a new leader before it committed an entry of its term waits for that commit', () => {
  const node = new SingleCore(1, [1, 2, 3]);
  node.becomeLeader();
  node.messages();
  node.core.readIndex(text('early'));
  assert.equal(ofType(node.messages(), MessageType.Heartbeat), [], 'no read round before the no-op commits');
  node.step({ type: MessageType.AppResp, from: n(2), term: 1, index: 1 });
  const heartbeats = ofType(node.messages(), MessageType.Heartbeat);
  assert.ok(heartbeats.length > 0);
  assert.equal(decode(heartbeats[0]!.context), 'early');
  node.step({ type: MessageType.HeartbeatResp, from: n(2), term: 1, context: text('early') });
  assert.equal(node.core.ready().readStates.map((s) => [s.index, decode(s.requestCtx)]), [[1, 'early']]);
});

test('a read with no known leader is refused with noLeader', () => {
  const net = new RaftNetwork([1, 2, 3]);
  assert.equal(net.core(2).readIndex(text('r')), { ok: false, refusal: 'noLeader' });
});

test('learner acknowledgements do not confirm a read', () => {
  const node = new SingleCore(1, [1, 2, 3], { learners: [4] });
  node.becomeLeaderWithFollowersReplicating();
  node.core.readIndex(text('r'));
  node.messages();
  node.step({ type: MessageType.HeartbeatResp, from: n(4), term: 1, context: text('r') });
  assert.equal(node.core.ready().readStates, []);
});

test.run();
