// ClusterFront (src/cluster/cluster-front.ts): etcd's server-side checks before a conf change is
// proposed (URL parsing, --strict-reconfig-check's started-quorum and active-quorum rules, the learner
// sync check), in etcd's order, and what reaches the proposal. The proposal here applies to a real
// Membership at the next index, as the node loop will once the entry commits.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClusterFront, type PeerHealth } from '../../src/cluster/cluster-front.js';
import { decodeConfChange, type Member, type MembershipChange } from '../../src/cluster/member.js';
import { Membership, throwIfRefused } from '../../src/cluster/membership.js';
import { EtcdError, type EtcdErrorKind } from '../../src/core/errors.js';
import { ConfChangeType, type ConfChange } from '../../src/raft/types.js';
import { computeMemberId } from '../../src/server/member-id.js';
import { makeTempDir, removeAllTempDirs } from '../helpers/temp-dirs.js';

const test = suite('cluster: the Cluster API front');
test.after(() => removeAllTempDirs());

const self = 0xa1n;
const member = (id: bigint, name: string, port: number, isLearner = false): Member => ({
  id,
  name,
  peerUrls: [`http://127.0.0.1:${port}`],
  clientUrls: name === '' ? [] : [`http://127.0.0.1:${port + 1000}`],
  isLearner,
});
const m1 = member(self, 'm1', 2380);
const now = 1_700_000_000;

interface Harness {
  readonly front: ClusterFront;
  readonly membership: Membership;
  /** What reached proposeConfChange, decoded. */
  readonly proposed: MembershipChange[];
  readonly active: Set<bigint>;
  readonly inSync: Set<bigint>;
  readonly barriers: { count: number };
}

async function harness(members: readonly Member[], opts: { strict?: boolean; active?: readonly bigint[] } = {}): Promise<Harness> {
  const { membership } = await Membership.open(makeTempDir('front'), { members, index: 0 });
  const proposed: MembershipChange[] = [];
  const active = new Set(opts.active ?? []);
  const inSync = new Set<bigint>();
  const barriers = { count: 0 };
  let index = 0;
  const health: PeerHealth = { isActive: (id) => id === self || active.has(id), isLearnerInSync: (id) => inSync.has(id) };
  const front = new ClusterFront({
    selfId: self,
    membership,
    proposeConfChange: async (cc: ConfChange) => {
      proposed.push(decodeConfChange(cc));
      throwIfRefused(await membership.apply(cc, ++index));
    },
    health,
    strictReconfigCheck: opts.strict ?? true,
    nowUnixSeconds: () => now + 0.75,
    readBarrier: async () => {
      barriers.count++;
    },
  });
  return { front, membership, proposed, active, inSync, barriers };
}

async function rejectsWith(p: Promise<unknown>, kind: EtcdErrorKind): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, EtcdError);
    assert.is((e as EtcdError).kind, kind);
    return;
  }
  assert.unreachable(`expected EtcdError ${kind}`);
}

test('memberAdd gives the new member etcd NewMember ID (sorted peer URLs, no token, Unix seconds) and lists it', async () => {
  const h = await harness([m1]);
  const res = await h.front.memberAdd(['http://127.0.0.1:23999', ' http://127.0.0.1:23998'], true);
  const id = computeMemberId(['http://127.0.0.1:23998', 'http://127.0.0.1:23999'], '', now);
  assert.equal(res.member, { id, name: '', peerUrls: ['http://127.0.0.1:23998', 'http://127.0.0.1:23999'], clientUrls: [], isLearner: true });
  assert.equal(res.members, id < self ? [res.member, m1] : [m1, res.member]);
  assert.equal(h.proposed, [{ type: 'add', member: res.member }]);
});

test('memberAdd with no URL or one etcd would not parse is memberBadUrls, before anything is proposed', async () => {
  const h = await harness([m1]);
  await rejectsWith(h.front.memberAdd([], true), 'memberBadUrls');
  await rejectsWith(h.front.memberAdd(['bad'], true), 'memberBadUrls');
  await rejectsWith(h.front.memberAdd(['ftp://h:1'], true), 'memberBadUrls');
  await rejectsWith(h.front.memberAdd(['http://h'], true), 'memberBadUrls');
  await rejectsWith(h.front.memberAdd(['http://h:1/path'], true), 'memberBadUrls');
  assert.equal(h.proposed, []);
});

test('a single started member may add a voter (etcd lets 1 of 2 start) but may not remove itself', async () => {
  const h = await harness([m1]);
  await h.front.memberAdd(['http://127.0.0.1:3000'], false);
  assert.is(h.proposed.length, 1);
  const h2 = await harness([m1]);
  await rejectsWith(h2.front.memberRemove(self), 'notEnoughStartedMembers');
  assert.equal(h2.proposed, []);
});

test('changes the membership refuses are answered before proposing: not found, exists, peer URL taken, too many learners', async () => {
  const h = await harness([m1, member(0xb2n, '', 2390, true)]);
  await rejectsWith(h.front.memberRemove(0x99n), 'memberNotFound');
  await rejectsWith(h.front.memberUpdate(0x99n, ['http://x:1']), 'memberNotFound');
  await rejectsWith(h.front.memberUpdate(0xb2n, m1.peerUrls), 'peerUrlExists');
  await rejectsWith(h.front.memberAdd(m1.peerUrls, false), 'peerUrlExists');
  await rejectsWith(h.front.memberAdd(['http://127.0.0.1:5000'], true), 'tooManyLearners');
  assert.equal(h.proposed, []);
});

test('promote: unknown → not found, a voter → not a learner, a learner behind the leader → not ready, in sync → proposed', async () => {
  const learner = member(0xb2n, '', 2390, true);
  const h = await harness([m1, learner]);
  await rejectsWith(h.front.memberPromote(0x99n), 'memberNotFound');
  await rejectsWith(h.front.memberPromote(self), 'memberNotLearner');
  await rejectsWith(h.front.memberPromote(learner.id), 'learnerNotReady');
  assert.equal(h.proposed, []);
  h.inSync.add(learner.id);
  const members = await h.front.memberPromote(learner.id);
  assert.equal(h.proposed, [{ type: 'promote', id: learner.id }]);
  assert.equal(members.find((m) => m.id === learner.id)?.isLearner, false);
});

test('strict check: adding a voter needs a started quorum of the grown cluster (names published)', async () => {
  const unstarted = member(0xb2n, '', 2390);
  const h = await harness([m1, unstarted], { active: [unstarted.id] });
  await rejectsWith(h.front.memberAdd(['http://127.0.0.1:5000'], false), 'notEnoughStartedMembers');
  await h.front.memberAdd(['http://127.0.0.1:5000'], true);
  assert.is(h.proposed.length, 1, 'a learner does not count towards quorum');
});

test('strict check: adding any member needs every voter connected for a while, or the cluster is unhealthy', async () => {
  const m2 = member(0xb2n, 'm2', 2390);
  const m3 = member(0xb3n, 'm3', 2391);
  const h = await harness([m1, m2, m3], { active: [m2.id] });
  await rejectsWith(h.front.memberAdd(['http://127.0.0.1:5000'], false), 'unhealthyCluster');
  await rejectsWith(h.front.memberAdd(['http://127.0.0.1:5000'], true), 'unhealthyCluster');
  h.active.add(m3.id);
  await h.front.memberAdd(['http://127.0.0.1:5000'], false);
  assert.is(h.proposed.length, 1);
});

test('strict check: removing a down voter is fine; removing an active one must leave an active quorum', async () => {
  const m2 = member(0xb2n, 'm2', 2390);
  const m3 = member(0xb3n, 'm3', 2391);
  const h = await harness([m1, m2, m3], { active: [m2.id] });
  await rejectsWith(h.front.memberRemove(m2.id), 'unhealthyCluster');
  await h.front.memberRemove(m3.id);
  assert.equal(h.proposed, [{ type: 'remove', id: m3.id }]);

  const all = await harness([m1, m2, m3], { active: [m2.id, m3.id] });
  await all.front.memberRemove(m2.id);
  assert.equal(all.proposed, [{ type: 'remove', id: m2.id }]);
});

test('strict check: removing a voter must leave a started quorum; a learner goes without checks', async () => {
  const unstarted = member(0xb2n, '', 2390);
  const learner = member(0xb3n, '', 2391, true);
  const h = await harness([m1, member(0xb4n, 'm4', 2392), unstarted, learner]);
  // Without 0xb4 the others are m1 (started) and 0xb2 (not): 1 of 2 is no quorum.
  await rejectsWith(h.front.memberRemove(0xb4n), 'notEnoughStartedMembers');
  await h.front.memberRemove(learner.id);
  assert.equal(h.proposed, [{ type: 'remove', id: learner.id }]);
});

test('strict check: promoting needs a started quorum counting the learner as started', async () => {
  const learner = member(0xb9n, '', 2399, true);
  const ok = await harness([m1, member(0xb2n, '', 2390), learner]);
  ok.inSync.add(learner.id);
  await ok.front.memberPromote(learner.id);
  assert.is(ok.proposed.length, 1, 'm1 and the learner are 2 of 3');
  const short = await harness([m1, member(0xb2n, '', 2390), member(0xb3n, '', 2391), learner]);
  short.inSync.add(learner.id);
  await rejectsWith(short.front.memberPromote(learner.id), 'notEnoughStartedMembers');
});

test('with --strict-reconfig-check=false only the membership rules and the learner sync check apply', async () => {
  const h = await harness([m1, member(0xb2n, '', 2390), member(0xb3n, '', 2391)], { strict: false });
  await h.front.memberAdd(['http://127.0.0.1:5000'], false);
  await h.front.memberRemove(self);
  assert.equal(
    h.proposed.map((c) => c.type),
    ['add', 'remove'],
  );
});

test('a change refused where it is applied rejects the caller with the apply error', async () => {
  const h = await harness([m1]);
  const front = new ClusterFront({
    selfId: self,
    membership: h.membership,
    proposeConfChange: async (cc) => {
      // Another member's change to the same URL got committed first.
      await h.membership.apply(
        { type: ConfChangeType.AddLearnerNode, nodeId: 0x77n, context: new TextEncoder().encode('{"id":119,"peerURLs":["http://127.0.0.1:7000"],"isLearner":true}') },
        1,
      );
      throwIfRefused(await h.membership.apply(cc, 2));
    },
    health: { isActive: () => true, isLearnerInSync: () => true },
    strictReconfigCheck: true,
    nowUnixSeconds: () => now,
    readBarrier: () => Promise.resolve(),
  });
  await rejectsWith(front.memberAdd(['http://127.0.0.1:7000'], false), 'peerUrlExists');
});

test('memberList reads the membership; linearizable waits for a read barrier first', async () => {
  const h = await harness([m1]);
  assert.equal(await h.front.memberList(false), [m1]);
  assert.is(h.barriers.count, 0);
  assert.equal(await h.front.memberList(true), [m1]);
  assert.is(h.barriers.count, 1);
});

test.run();
