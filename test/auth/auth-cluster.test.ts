// Auth in a 3-member cluster (etcd and Lattice per engine): enabled through one member, used through
// the others; a simple token issued by one member is valid on every member (etcd assigns it through
// Raft), and a grant changed through one member holds on the others for calls after it. A lease
// revoke is checked when applied, against the keys then attached, the same way on every member.
import * as assert from 'uvu/assert';
import { startCluster, type TestCluster, type ClusterKind } from '../helpers/cluster.js';
import { engines, type Engine } from '../helpers/lattice-server.js';
import { etcdctl } from '../helpers/etcdctl.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';
import { failure, rawClients, setUpUsers } from './auth-clients.js';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { AuthClient, KVClient, LeaseClient, PutRequest, RangeRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';

const clusterTimeoutMs = 120_000;
const sharedLeases = 12;

/** Raw calls with a token: Authenticate, LeaseGrant, a put on a lease, and every key (linearizable). */
function grpcClients(endpoint: string) {
  const target = endpoint.replace(/^https?:\/\//, '');
  const kv = new KVClient(target, credentials.createInsecure());
  const lease = new LeaseClient(target, credentials.createInsecure());
  const auth = new AuthClient(target, credentials.createInsecure());
  const md = (token: string): Metadata => {
    const m = new Metadata();
    m.set('token', token);
    return m;
  };
  return {
    authenticate: (name: string, password: string): Promise<string> =>
      new Promise((resolve, reject) => auth.authenticate({ name, password }, (err: ServiceError | null, res) => (err ? reject(err) : resolve(res.token)))),
    grant: (ttl: bigint, token: string): Promise<bigint> =>
      new Promise((resolve, reject) => lease.leaseGrant({ TTL: ttl, ID: 0n }, md(token), (err: ServiceError | null, res) => (err ? reject(err) : resolve(res.ID)))),
    revoke: (leaseId: bigint, token: string): Promise<void> =>
      new Promise((resolve, reject) => lease.leaseRevoke({ ID: leaseId }, md(token), (err: ServiceError | null) => (err ? reject(err) : resolve()))),
    put: (key: string, leaseId: bigint, token: string): Promise<void> =>
      new Promise((resolve, reject) => kv.put(PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from('v'), lease: leaseId }), md(token), (err: ServiceError | null) => (err ? reject(err) : resolve()))),
    /** "key mod_revision lease" per line, every key. */
    allKeys: (token: string): Promise<string> =>
      new Promise((resolve, reject) =>
        kv.range(RangeRequest.fromPartial({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]) }), md(token), (err: ServiceError | null, res) =>
          err ? reject(err) : resolve(res.kvs.map((x) => `${x.key.toString()} ${x.modRevision - res.kvs[0]!.modRevision} ${x.lease !== 0n}`).join('\n')),
        ),
      ),
    close: () => {
      kv.close();
      lease.close();
      auth.close();
    },
  };
}

function defineSuite(kind: ClusterKind, engine: Engine | undefined, skipReason: string | null): void {
  const s = serverSuite<TestCluster>(
    `auth in a 3-member cluster (${kind}${engine === undefined ? '' : ` ${engine}`})`,
    async () => {
      const cluster = await startCluster(kind, { size: 3, ...(engine === undefined ? {} : { engine }) });
      await setUpUsers(cluster.members[0]!.endpoint);
      return cluster;
    },
    skipReason,
  );

  s.it(
    'a token from one member works on the others; a revoked grant is refused on every member',
    async (cluster) => {
      const [m1, m2, m3] = cluster.members;
      const c1 = rawClients(m1!.endpoint);
      const c2 = rawClients(m2!.endpoint);
      const c3 = rawClients(m3!.endpoint);
      try {
        const token = await c1.authenticate('alice', 'apw');
        await c2.put('/a/x', 'through m2', token);
        assert.is((await c3.get('/a/x', token)).kvs[0]?.value.toString(), 'through m2');
        assert.is(await failure(c3.put('/b/x', 'no', token)), '7 etcdserver: permission denied');
        const revoke = await etcdctl(m2!.endpoint, ['role', 'revoke-permission', 'a-rw', '/a/', '--prefix', '--user', 'root:rootpw']);
        assert.is(revoke.code, 0, revoke.stderr);
        // the revoke is applied on every member before the next linearizable read on it answers
        for (const c of [c1, c2, c3]) assert.is(await failure(c.get('/a/x', token)), '7 etcdserver: permission denied');
        const noUser = await etcdctl(m3!.endpoint, ['get', '/a/x']);
        assert.match(noUser.stderr, /user name is empty/);
      } finally {
        c1.close();
        c2.close();
        c3.close();
      }
    },
    clusterTimeoutMs,
  );

  s.it(
    'puts by two users on shared leases, sent through different members at once, leave every member with the same keys',
    async (cluster) => {
      // the test before revoked alice's grant on /a/
      const regrant = await etcdctl(cluster.members[0]!.endpoint, ['role', 'grant-permission', 'a-rw', 'readwrite', '/a/', '--prefix', '--user', 'root:rootpw']);
      assert.is(regrant.code, 0, regrant.stderr);
      const conns = cluster.members.map((m) => grpcClients(m.endpoint));
      try {
        const root = await conns[0]!.authenticate('root', 'rootpw');
        const alice = await conns[0]!.authenticate('alice', 'apw');
        const leases: bigint[] = [];
        for (let k = 0; k < sharedLeases; k++) leases.push(await conns[0]!.grant(60n, root));
        // root attaches /b/s<k> to lease k while alice puts /a/s<k> on it: alice is refused once /b/s<k> is
        // attached (she may not write it), whichever member batched the two together
        const puts = leases.flatMap((lease, k) => [
          conns[k % 3]!.put(`/b/s${k}`, lease, root),
          conns[(k + 1) % 3]!.put(`/a/s${k}`, lease, alice),
        ]);
        const results = await Promise.allSettled(puts);
        const refused = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
        for (const reason of refused) assert.match(reason, /permission denied/);
        const views: string[] = [];
        for (const c of conns) views.push(await c.allKeys(root));
        assert.is(views[1], views[0]);
        assert.is(views[2], views[0]);
        assert.is(views[0]!.split('\n').filter((l) => l.startsWith('/a/s')).length, sharedLeases - refused.length);
      } finally {
        for (const c of conns) c.close();
      }
    },
    clusterTimeoutMs,
  );

  s.it(
    'lease revokes by a user racing puts of keys she may not write onto the same leases: never both applied, every member alike; sent after the put is applied, always refused',
    async (cluster) => {
      const conns = cluster.members.map((m) => grpcClients(m.endpoint));
      try {
        const root = await conns[0]!.authenticate('root', 'rootpw');
        const alice = await conns[0]!.authenticate('alice', 'apw');
        const leases: bigint[] = [];
        for (let k = 0; k < sharedLeases; k++) {
          leases.push(await conns[0]!.grant(60n, root));
          await conns[0]!.put(`/a/r${k}`, leases[k]!, alice);
        }
        // alice may write every key of lease k when she sends its revoke; root attaches /b/r<k> at the same
        // time through another member. Applied first, the revoke takes /a/r<k> and root's put finds no
        // lease; applied second, it is refused (etcd checks at apply) and both keys stay.
        const results = await Promise.allSettled(leases.flatMap((lease, k) => [conns[k % 3]!.put(`/b/r${k}`, lease, root), conns[(k + 1) % 3]!.revoke(lease, alice)]));
        const views: string[] = [];
        for (const c of conns) views.push(await c.allKeys(root));
        assert.is(views[1], views[0]);
        assert.is(views[2], views[0]);
        const keys = new Set(views[0]!.split('\n').map((l) => l.split(' ')[0]));
        leases.forEach((_lease, k) => {
          const put = results[2 * k]!;
          const revoke = results[2 * k + 1]!;
          if (revoke.status === 'fulfilled') {
            assert.is(put.status, 'rejected', `lease ${k}: root's put and alice's revoke both applied`);
            assert.match(String((put as PromiseRejectedResult).reason), /lease not found/);
            assert.not.ok(keys.has(`/a/r${k}`) || keys.has(`/b/r${k}`), `lease ${k}`);
          } else {
            assert.match(String(revoke.reason), /permission denied/);
            assert.ok(keys.has(`/a/r${k}`) && keys.has(`/b/r${k}`), `lease ${k}`);
          }
        });

        // In turn: root's put is applied before alice sends the revoke, through the other members (at
        // least one a follower, whose lease table may lag): refused every time, both keys stay everywhere.
        const lease = await conns[0]!.grant(60n, root);
        await conns[0]!.put('/a/d', lease, alice);
        await conns[0]!.put('/b/d', lease, root);
        for (const c of [conns[1]!, conns[2]!]) {
          const refusal = await c.revoke(lease, alice).then(() => 'revoked', (e: unknown) => String(e));
          assert.match(refusal, /permission denied/);
        }
        for (const c of conns) {
          const held = (await c.allKeys(root)).split('\n').map((l) => l.split(' ')[0]);
          assert.ok(held.includes('/a/d') && held.includes('/b/d'));
        }
      } finally {
        for (const c of conns) c.close();
      }
    },
    clusterTimeoutMs,
  );

  s.run();
}

defineSuite('etcd', undefined, missingTools(['etcd', 'etcdctl']));
for (const engine of engines) defineSuite('lattice', engine, missingTools(['etcdctl']));
