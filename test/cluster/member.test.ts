// The ConfChange context codec (src/cluster/member.ts): Lattice writes the member JSON etcd 3.4's
// server writes (membership.Member / ConfigChangeContext through Go's encoding/json) and reads it back
// with uint64 IDs intact.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeConfChange, encodeMembershipChange, MemberContextError, type Member } from '../../src/cluster/member.js';
import { ConfChangeType, type ConfChange } from '../../src/raft/types.js';

const test = suite('cluster: member records and the ConfChange context');

const text = (cc: ConfChange): string => new TextDecoder().decode(cc.context);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Above 2^53: a double would change it. */
const bigId = 15381524338592272064n;

const learner: Member = { id: bigId, name: '', peerUrls: ['http://127.0.0.1:23999'], clientUrls: [], isLearner: true };

test('adding a learner writes etcd AddMember context {"id":…,"peerURLs":[…],"isLearner":true} as AddLearnerNode', () => {
  const cc = encodeMembershipChange({ type: 'add', member: learner });
  assert.is(cc.type, ConfChangeType.AddLearnerNode);
  assert.is(cc.nodeId, bigId);
  assert.is(text(cc), '{"id":15381524338592272064,"peerURLs":["http://127.0.0.1:23999"],"isLearner":true}');
});

test('adding a voter leaves isLearner out (omitempty) and uses AddNode', () => {
  const cc = encodeMembershipChange({ type: 'add', member: { ...learner, isLearner: false, peerUrls: ['http://a:1', 'http://b:2'] } });
  assert.is(cc.type, ConfChangeType.AddNode);
  assert.is(text(cc), '{"id":15381524338592272064,"peerURLs":["http://a:1","http://b:2"]}');
});

test('a promote is AddNode with etcd ConfigChangeContext: null peerURLs and "isPromote":true', () => {
  const cc = encodeMembershipChange({ type: 'promote', id: bigId });
  assert.is(cc.type, ConfChangeType.AddNode);
  assert.is(text(cc), '{"id":15381524338592272064,"peerURLs":null,"isPromote":true}');
});

test('an update carries id and peer URLs as given; a remove has an empty context', () => {
  const update = encodeMembershipChange({ type: 'update', id: 7n, peerUrls: ['http://z:1', 'http://a:1'] });
  assert.is(update.type, ConfChangeType.UpdateNode);
  assert.is(text(update), '{"id":7,"peerURLs":["http://z:1","http://a:1"]}');
  const remove = encodeMembershipChange({ type: 'remove', id: 7n });
  assert.is(remove.type, ConfChangeType.RemoveNode);
  assert.is(remove.context.length, 0);
});

test('strings are escaped as Go escapes them (<, >, & as \\u003c, \\u003e, \\u0026)', () => {
  const cc = encodeMembershipChange({ type: 'update', id: 1n, peerUrls: ['http://h:1/?a=<b>&c'] });
  assert.is(text(cc), '{"id":1,"peerURLs":["http://h:1/?a=\\u003cb\\u003e\\u0026c"]}');
  assert.equal(decodeConfChange(cc), { type: 'update', id: 1n, peerUrls: ['http://h:1/?a=<b>&c'] });
});

test('every change decodes back to itself, with a uint64 ID above 2^53 intact', () => {
  const changes = [
    { type: 'add', member: learner },
    { type: 'add', member: { ...learner, isLearner: false } },
    { type: 'promote', id: bigId },
    { type: 'remove', id: bigId },
    { type: 'update', id: bigId, peerUrls: ['http://x:1'] },
  ] as const;
  for (const change of changes) assert.equal(decodeConfChange(encodeMembershipChange(change)), change);
});

test("etcd's bootstrap context with name and clientURLs decodes into a named member", () => {
  const cc: ConfChange = {
    type: ConfChangeType.AddNode,
    nodeId: 18446744073709551615n,
    context: bytes('{"id":18446744073709551615,"peerURLs":["http://a:2380"],"name":"m1","clientURLs":["http://a:2379"]}'),
  };
  assert.equal(decodeConfChange(cc), {
    type: 'add',
    member: { id: 18446744073709551615n, name: 'm1', peerUrls: ['http://a:2380'], clientUrls: ['http://a:2379'], isLearner: false },
  });
});

test('a peer URL that contains the text "id":5 does not confuse the ID reader', () => {
  const cc: ConfChange = { type: ConfChangeType.UpdateNode, nodeId: 9n, context: bytes('{"peerURLs":["http://h:1/,\\"id\\":5"],"id":9}') };
  assert.equal(decodeConfChange(cc), { type: 'update', id: 9n, peerUrls: ['http://h:1/,"id":5'] });
});

test('an unreadable context, or one naming another member than nodeId, is a MemberContextError', () => {
  const bad = (context: string, nodeId = 1n, type = ConfChangeType.AddNode): void => {
    assert.throws(() => decodeConfChange({ type, nodeId, context: bytes(context) }), (e: unknown) => e instanceof MemberContextError);
  };
  bad('not json');
  bad('[1]');
  bad('{"peerURLs":[]}');
  bad('{"id":"1","peerURLs":[]}');
  bad('{"id":1,"peerURLs":[3]}');
  bad('{"id":1,"peerURLs":[],"isLearner":"yes"}');
  bad('{"id":2,"peerURLs":[]}', 1n);
  bad('{"id":18446744073709551616,"peerURLs":[]}', 18446744073709551616n);
  assert.throws(() => decodeConfChange({ type: 9 as ConfChangeType, nodeId: 1n, context: new Uint8Array(0) }), (e: unknown) => e instanceof MemberContextError);
});

test.run();
