// Auth in a 3-member cluster (etcd and Lattice per engine): enabled through one member, used through
// the others; a simple token issued by one member is valid on every member (etcd assigns it through
// Raft), and a grant changed through one member holds on the others for calls after it.
import * as assert from 'uvu/assert';
import { startCluster, type TestCluster, type ClusterKind } from '../helpers/cluster.js';
import { engines, type Engine } from '../helpers/lattice-server.js';
import { etcdctl } from '../helpers/etcdctl.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';
import { failure, rawClients, setUpUsers } from './auth-clients.js';

const clusterTimeoutMs = 120_000;

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

  s.run();
}

defineSuite('etcd', undefined, missingTools(['etcd', 'etcdctl']));
for (const engine of engines) defineSuite('lattice', engine, missingTools(['etcdctl']));
