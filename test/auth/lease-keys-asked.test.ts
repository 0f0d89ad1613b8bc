// The auth checks that read a lease's attached keys, with the lease table behind its actor as in the
// server: at apply time they get the keys the store asked at that log position, and the revoke
// pre-check for clusters with older members asks them itself (revokeHeaderAsked).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LeaseTableRef } from '../../src/actors/lease-actor.js';
import { noUser } from '../../src/auth/auth-op.js';
import { revokeHeaderAsked } from '../../src/auth/revoke-header.js';
import { LeaseGrantRequest, PutRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { addRootAndAlice, selfApplyingAuthFront } from '../store/auth-harness.js';
import { ManualTimers } from '../store/manual-timers.js';
import { openStore, rejectsWith, removeDir, tempDir } from '../store/store-harness.js';

const t = suite('lease keys asked of the lease actor');

t('puts and revokes are checked against the keys the lease actor answers, at apply time and before proposing', async () => {
  const dir = await tempDir();
  const leases = new LeaseTableRef({ minTtlSeconds: 1, clock: new ManualTimers() });
  const front = selfApplyingAuthFront((id) => leases.keysOf(id));
  const s = await openStore({ engine: 'memory', shards: 1, placement: 'main' }, dir, { leases, hooks: { auth: front } });
  try {
    await addRootAndAlice(front, { role: 'a-rw', permType: 2, key: 'a', rangeEnd: 'b' });
    await front.request(noUser, { op: 'enable' });
    const as = (user: string): { user: string; revision: number } => ({ user, revision: front.state.revision });
    await s.store.leaseGrant(LeaseGrantRequest.create({ ID: 8n, TTL: 100n }));
    await s.store.leaseGrant(LeaseGrantRequest.create({ ID: 9n, TTL: 100n }));
    await s.store.put(PutRequest.create({ key: Buffer.from('x/1'), value: Buffer.from('v'), lease: 8n }), as('root'));
    // alice may write a/ but not x/1, which lease 8 holds
    await rejectsWith(s.store.put(PutRequest.create({ key: Buffer.from('a/1'), value: Buffer.from('v'), lease: 8n }), as('alice')), 'authPermissionDenied');
    await s.store.put(PutRequest.create({ key: Buffer.from('a/1'), value: Buffer.from('v'), lease: 9n }), as('alice'));
    assert.equal(await leases.keysOf(9n), ['a/1']);
    await rejectsWith(s.store.leaseRevoke({ ID: 8n }, as('alice')), 'authPermissionDenied');
    await rejectsWith(revokeHeaderAsked(front, as('alice'), 8n, false), 'authPermissionDenied');
    assert.is(await revokeHeaderAsked(front, as('alice'), 9n, false), undefined, 'checked here, proposed without the header');
    assert.equal(await revokeHeaderAsked(front, as('alice'), 8n, true), as('alice'), 'checked when applied');
    await s.store.leaseRevoke({ ID: 9n }, as('alice'));
    assert.is(await leases.keysOf(9n), undefined);
    assert.equal(await leases.keysOf(8n), ['x/1']);
  } finally {
    await s.close();
    await leases.stop();
    await removeDir(dir);
  }
});

t.run();
