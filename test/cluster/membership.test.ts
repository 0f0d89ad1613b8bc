// Membership (src/cluster/membership.ts): etcd's ValidateConfigurationChange checks, applying committed
// conf changes (refused ones change nothing, replays below the persisted index are ignored), and the
// members.json file: loaded at start, bootstrapped once, never half-written, fail-stop on a failed write.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeMembershipChange, type Member, type MembershipChange } from '../../src/cluster/member.js';
import { maxLearners, Membership, type MembershipBootstrap } from '../../src/cluster/membership.js';
import { MembersFileError, membersFileName } from '../../src/cluster/members-file.js';
import { initialMembers } from '../../src/cluster/bootstrap-members.js';
import { EtcdError } from '../../src/core/errors.js';
import { computeMemberId } from '../../src/server/member-id.js';
import { faultyFileSystem, type FaultPlan } from '../helpers/faulty-fs.js';
import { PowerLossDisk, PowerLossError, tearRules } from '../helpers/power-loss-fs.js';
import { makeTempDir, removeAllTempDirs } from '../helpers/temp-dirs.js';

const test = suite('cluster: membership');
test.after(() => removeAllTempDirs());

const voter = (id: bigint, name: string, port: number): Member => ({
  id,
  name,
  peerUrls: [`http://10.0.0.${port % 250}:${port}`],
  clientUrls: [],
  isLearner: false,
});
const m1 = voter(0xbdae9bbc11dd390dn, 'm1', 2380);
const m2 = voter(0x1111n, 'm2', 2381);
const newLearner = (id: bigint, port: number): Member => ({ id, name: '', peerUrls: [`http://10.0.1.1:${port}`], clientUrls: [], isLearner: true });
const boot = (members: readonly Member[] = [m1, m2]): MembershipBootstrap => ({ members, index: 0 });

const cc = (change: MembershipChange) => encodeMembershipChange(change);

async function fresh(members?: readonly Member[]): Promise<{ dir: string; membership: Membership }> {
  const dir = makeTempDir('membership');
  const { membership, origin } = await Membership.open(dir, boot(members));
  assert.is(origin, 'bootstrapped');
  return { dir, membership };
}

test('validation answers etcd errors: an existing ID, a taken peer URL, a second learner', async () => {
  const { membership } = await fresh();
  assert.is(membership.validate(cc({ type: 'add', member: { ...m2, name: '' } })), 'memberExists');
  assert.is(membership.validate(cc({ type: 'add', member: { ...newLearner(5n, 1), peerUrls: m1.peerUrls } })), 'peerUrlExists');
  assert.is(membership.validate(cc({ type: 'add', member: newLearner(5n, 1) })), undefined);
  assert.is(maxLearners, 1);
  assert.equal(await membership.apply(cc({ type: 'add', member: newLearner(5n, 1) }), 1), { type: 'applied' });
  assert.is(membership.validate(cc({ type: 'add', member: newLearner(6n, 2) })), 'tooManyLearners');
  assert.is(membership.validate(cc({ type: 'add', member: { ...newLearner(6n, 2), isLearner: false } })), undefined, 'the limit is on learners only');
});

test('validation: promote needs an existing learner, remove and update an existing member, update a free peer URL', async () => {
  const { membership } = await fresh();
  await membership.apply(cc({ type: 'add', member: newLearner(5n, 1) }), 1);
  assert.is(membership.validate(cc({ type: 'promote', id: 99n })), 'memberNotFound');
  assert.is(membership.validate(cc({ type: 'promote', id: m1.id })), 'memberNotLearner');
  assert.is(membership.validate(cc({ type: 'promote', id: 5n })), undefined);
  assert.is(membership.validate(cc({ type: 'remove', id: 99n })), 'memberNotFound');
  assert.is(membership.validate(cc({ type: 'update', id: 99n, peerUrls: ['http://x:1'] })), 'memberNotFound');
  assert.is(membership.validate(cc({ type: 'update', id: m1.id, peerUrls: m2.peerUrls })), 'peerUrlExists');
  assert.is(membership.validate(cc({ type: 'update', id: m1.id, peerUrls: [...m1.peerUrls, 'http://x:1'] })), undefined, 'its own URLs may stay');
});

test('a removed ID is refused for every change, before any other check, and reported by isRemoved', async () => {
  const { membership } = await fresh();
  assert.equal(await membership.apply(cc({ type: 'remove', id: m2.id }), 1), { type: 'applied' });
  assert.ok(membership.isRemoved(m2.id));
  assert.not.ok(membership.isRemoved(m1.id));
  assert.equal(membership.members(), [m1]);
  for (const change of [
    { type: 'add', member: m2 },
    { type: 'promote', id: m2.id },
    { type: 'remove', id: m2.id },
    { type: 'update', id: m2.id, peerUrls: ['http://x:1'] },
  ] as const) {
    assert.is(membership.validate(cc(change)), 'memberRemoved', change.type);
  }
});

test('apply: promote turns a learner into a voter; update replaces peer URLs and keeps the learner flag', async () => {
  const { membership } = await fresh();
  await membership.apply(cc({ type: 'add', member: newLearner(5n, 1) }), 1);
  await membership.apply(cc({ type: 'update', id: 5n, peerUrls: ['http://z:1', 'http://a:1'] }), 2);
  assert.equal(membership.member(5n), { ...newLearner(5n, 1), peerUrls: ['http://z:1', 'http://a:1'] });
  assert.equal(membership.confState(), { voters: [m2.id, m1.id], learners: [5n] });
  await membership.apply(cc({ type: 'promote', id: 5n }), 3);
  assert.is(membership.member(5n)?.isLearner, false);
  assert.equal(membership.confState(), { voters: [5n, m2.id, m1.id], learners: [] });
  assert.is(membership.appliedIndex, 3);
});

test('members are listed sorted by ID as uint64 values', async () => {
  const { membership } = await fresh([m1, m2, voter(0xffffffffffffffffn, 'm3', 2382), voter(2n, 'm4', 2383)]);
  assert.equal(membership.members().map((m) => m.id), [2n, 0x1111n, 0xbdae9bbc11dd390dn, 0xffffffffffffffffn]);
});

test('a change refused at apply time changes nothing and answers the error; its index counts as applied', async () => {
  const { membership } = await fresh();
  const before = membership.members();
  assert.equal(await membership.apply(cc({ type: 'remove', id: 99n }), 4), { type: 'refused', error: 'memberNotFound' });
  assert.equal(membership.members(), before);
  assert.is(membership.appliedIndex, 4);
});

test('changes at or below the applied index are replays: ignored, in memory and after a restart', async () => {
  const { dir, membership } = await fresh();
  assert.equal(await membership.apply(cc({ type: 'add', member: newLearner(5n, 1) }), 7), { type: 'applied' });
  assert.equal(await membership.apply(cc({ type: 'add', member: newLearner(5n, 1) }), 7), { type: 'replayed' });
  assert.equal(await membership.apply(cc({ type: 'remove', id: 5n }), 6), { type: 'replayed' });
  const { membership: reopened, origin } = await Membership.open(dir, boot([m1]));
  assert.is(origin, 'loaded', 'the file wins over the bootstrap members');
  assert.is(reopened.appliedIndex, 7);
  assert.equal(reopened.members(), membership.members());
  assert.equal(await reopened.apply(cc({ type: 'add', member: newLearner(5n, 1) }), 7), { type: 'replayed' }, 'replaying the log after a restart');
  assert.equal(await reopened.apply(cc({ type: 'remove', id: 5n }), 8), { type: 'applied' });
  const { membership: again } = await Membership.open(dir, boot());
  assert.ok(again.isRemoved(5n), 'removed IDs survive a restart');
  assert.is(again.appliedIndex, 8);
});

test('an unlogged change applies without moving the applied index (no log to replay it from)', async () => {
  const { dir, membership } = await fresh();
  assert.equal(await membership.apply(cc({ type: 'add', member: newLearner(5n, 1) }), 'unlogged'), { type: 'applied' });
  assert.equal(await membership.apply(cc({ type: 'remove', id: 5n }), 'unlogged'), { type: 'applied' });
  assert.is(membership.appliedIndex, 0);
  const { membership: reopened } = await Membership.open(dir, boot());
  assert.ok(reopened.isRemoved(5n));
  assert.equal(await reopened.apply(cc({ type: 'update', id: m1.id, peerUrls: ['http://new:1'] }), 1), { type: 'applied' }, 'index 1 of a later log is new');
});

test('applyAttributes publishes name and client URLs; refused for an unknown or removed member; replays ignored', async () => {
  const { dir, membership } = await fresh([m1, { ...m2, name: '' }]);
  assert.equal(await membership.applyAttributes(m2.id, { name: 'm2', clientUrls: ['http://c:2379'] }, 3), { type: 'applied' });
  assert.equal(membership.member(m2.id), { ...m2, clientUrls: ['http://c:2379'] });
  assert.equal(await membership.applyAttributes(m2.id, { name: 'old', clientUrls: [] }, 2), { type: 'replayed' });
  assert.equal(await membership.applyAttributes(99n, { name: 'x', clientUrls: [] }, 4), { type: 'refused', error: 'memberNotFound' });
  await membership.apply(cc({ type: 'remove', id: m2.id }), 5);
  assert.equal(await membership.applyAttributes(m2.id, { name: 'm2', clientUrls: [] }, 6), { type: 'refused', error: 'memberRemoved' });
  const { membership: reopened } = await Membership.open(dir, boot());
  assert.equal(reopened.member(m1.id), m1);
});

test('the file holds hex IDs, the applied index and the removed set, and reads back to the same state', async () => {
  const { dir, membership } = await fresh();
  await membership.apply(cc({ type: 'remove', id: m2.id }), 3);
  const doc = JSON.parse(await readFile(join(dir, membersFileName), 'utf8')) as Record<string, unknown>;
  assert.is(doc.appliedIndex, 3);
  assert.equal(doc.removed, ['1111']);
  assert.equal(doc.members, [{ id: 'bdae9bbc11dd390d', name: 'm1', peerURLs: m1.peerUrls, clientURLs: [], isLearner: false }]);
});

test('a damaged members file refuses the start, naming the file', async () => {
  const { dir } = await fresh();
  for (const damaged of ['{"format":1,', '{"format":2}', '{"format":1,"appliedIndex":0,"members":[{"id":"xyz"}],"removed":[]}']) {
    await writeFile(join(dir, membersFileName), damaged);
    try {
      await Membership.open(dir, boot());
      assert.unreachable('open should refuse');
    } catch (e) {
      assert.instance(e, MembersFileError);
      assert.match((e as Error).message, membersFileName);
    }
  }
});

test('bootstrap refuses duplicate IDs; initialMembers keeps this member with its persisted peer URLs', async () => {
  const dir = makeTempDir('membership');
  try {
    await Membership.open(dir, boot([m1, { ...m1, name: 'again' }]));
    assert.unreachable('duplicate IDs');
  } catch (e) {
    assert.match((e as Error).message, /identical ID/);
  }
  const cluster = new Map([
    ['a', ['http://10.0.0.1:2380']],
    ['b', ['http://10.0.0.2:2380']],
  ]);
  const selfId = computeMemberId(['http://10.0.0.1:2380'], 'tok');
  const members = initialMembers(cluster, 'tok', { id: selfId, name: 'a', peerUrls: ['http://10.0.0.1:2380'] });
  assert.equal(
    members.map((m) => [m.id, m.name, m.peerUrls]),
    [
      [computeMemberId(['http://10.0.0.2:2380'], 'tok'), 'b', ['http://10.0.0.2:2380']],
      [selfId, 'a', ['http://10.0.0.1:2380']],
    ],
  );
  const moved = initialMembers(cluster, 'tok', { id: selfId, name: 'a', peerUrls: ['http://10.9.9.9:2380'] });
  assert.equal(moved.find((m) => m.id === selfId)?.peerUrls, ['http://10.9.9.9:2380'], 'the identity wins over the flags');
  assert.is(moved.length, 2);
});

test('a failed write rejects the apply, leaves the old state visible and stops every later apply', async () => {
  const dir = makeTempDir('membership');
  const plan: FaultPlan = { op: 'datasync', code: 'EIO', pathContains: membersFileName, armed: false };
  const { membership } = await Membership.open(dir, boot(), faultyFileSystem(plan));
  plan.armed = true;
  await membership.apply(cc({ type: 'remove', id: m2.id }), 1).then(
    () => assert.unreachable('the write failed'),
    (e: NodeJS.ErrnoException) => assert.is(e.code, 'EIO'),
  );
  assert.equal(membership.members(), [m2, m1]);
  plan.armed = false;
  await membership.apply(cc({ type: 'update', id: m1.id, peerUrls: ['http://x:1'] }), 2).then(
    () => assert.unreachable('stopped for good'),
    (e: NodeJS.ErrnoException) => assert.is(e.code, 'EIO'),
  );
});

test('applies run one at a time in call order; past maxQueuedApplies they are refused with tooManyRequests', async () => {
  const { membership } = await fresh();
  const outcomes = await Promise.allSettled(
    Array.from({ length: 70 }, (_, i) => membership.apply(cc({ type: 'update', id: m1.id, peerUrls: [`http://x:${i}`] }), i + 1)),
  );
  const refused = outcomes.filter((o) => o.status === 'rejected');
  assert.is(refused.length, 6);
  for (const r of refused) assert.is(((r as PromiseRejectedResult).reason as EtcdError).kind, 'tooManyRequests');
  assert.equal(membership.member(m1.id)?.peerUrls, ['http://x:63'], 'the last accepted apply is the last applied');
});

test('a power loss at any point of an apply leaves the state before it or after it, and after it once acknowledged', async () => {
  let cases = 0;
  for (const rule of tearRules) {
    for (let atOperation = 1; ; atOperation++) {
      const disk = new PowerLossDisk();
      const setup = disk.boot();
      await setup.mkdirs('/data');
      await setup.fsyncDir('/');
      await Membership.open('/data', boot(), setup);
      const fs = disk.boot({ atOperation, rule, seed: atOperation });
      let acknowledged = false;
      let crashed = false;
      try {
        const { membership } = await Membership.open('/data', boot(), fs);
        await membership.apply(cc({ type: 'remove', id: m2.id }), 1);
        acknowledged = true;
        await membership.apply(cc({ type: 'update', id: m1.id, peerUrls: ['http://x:1'] }), 2);
      } catch (e) {
        if (!(e instanceof PowerLossError)) throw e;
        crashed = true;
      }
      const { membership: after } = await Membership.open('/data', boot(), disk.boot());
      const index = after.appliedIndex;
      assert.ok(index >= (acknowledged ? 1 : 0) && index <= 2, `${rule}@${atOperation}: index ${index}`);
      assert.is(after.isRemoved(m2.id), index >= 1, `${rule}@${atOperation}`);
      assert.equal(after.member(m1.id)?.peerUrls, index >= 2 ? ['http://x:1'] : m1.peerUrls, `${rule}@${atOperation}`);
      cases++;
      if (!crashed) break;
    }
  }
  assert.ok(cases > 10, `${cases} crash points`);
});

test.run();
