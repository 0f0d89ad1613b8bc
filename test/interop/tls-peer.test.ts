// Peer TLS: a 3-member cluster whose Raft traffic runs over https peer URLs with client
// certificates (--peer-client-cert-auth, --peer-cert-allowed-cn) replicates writes; a member whose
// certificate has another CN cannot join. Lattice on both engines; the healthy cluster on real etcd too.
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { startCluster, type ClusterKind, type TestCluster } from '../helpers/cluster.js';
import { etcdctl } from '../helpers/etcdctl.js';
import { freePorts, loopbackHost } from '../helpers/free-port.js';
import { engines } from '../helpers/lattice-server.js';
import { repoPath, repoRoot } from '../helpers/paths.js';
import { spawnProcess, waitUntil } from '../helpers/processes.js';
import { serverSuite } from '../helpers/spec.js';
import { makeTempDir } from '../helpers/temp-dirs.js';
import { missingTools } from '../helpers/tools.js';
import { tlsFixture } from '../helpers/tls-servers.js';

const peerTlsFlags = (cert: string): string[] => [
  '--peer-cert-file', tlsFixture(`${cert}.pem`),
  '--peer-key-file', tlsFixture(`${cert}-key.pem`),
  '--peer-trusted-ca-file', tlsFixture('ca.pem'),
  '--peer-client-cert-auth',
  '--peer-cert-allowed-cn', 'peer',
  // expired, as etcd reads it: only the serials it lists count, so the healthy members connect
  '--peer-crl-file', tlsFixture('crl-expired.pem'),
];

function peerSuite(kind: ClusterKind, engine: 'memory' | 'rocksdb' | undefined): void {
  const name = `peer TLS, 3 members (${kind}${engine === undefined ? '' : ` --engine ${engine}`})`;
  const needed = kind === 'etcd' ? missingTools(['etcd', 'etcdctl']) : missingTools(['etcdctl']);
  const s = serverSuite<TestCluster>(
    name,
    () => startCluster(kind, { size: 3, ...(engine === undefined ? {} : { engine }), peerScheme: 'https', extraArgs: peerTlsFlags('peer') }),
    needed,
  );

  s.it('a write on one member is read on another; the member list carries https peer URLs', async (cluster) => {
    const [m1, , m3] = cluster.members;
    assert.ok(m1 !== undefined && m3 !== undefined);
    const p = await etcdctl(m1.endpoint, ['put', 'peer/tls', 'replicated']);
    assert.is(p.code, 0, p.stderr);
    const g = await etcdctl(m3.endpoint, ['get', 'peer/tls', '--print-value-only']);
    assert.is(g.stdout.trim(), 'replicated');
    const list = await etcdctl(m1.endpoint, ['member', 'list']);
    assert.is((list.stdout.match(/https:\/\/127\.0\.0\.1:\d+/g) ?? []).length, 3, list.stdout);
  });

  for (const [what, cert] of [
    ['has another CN', 'peer-wrong-cn'],
    ['is revoked (--peer-crl-file)', 'peer-revoked'],
  ] as const) s.it(`a member whose peer certificate ${what} cannot join`, async (cluster) => {
    const [m1] = cluster.members;
    assert.ok(m1 !== undefined);
    const [clientPort, peerPort] = await freePorts(2);
    const peerUrl = `https://${loopbackHost}:${peerPort}`;
    // etcd refuses a member add until every member has been connected for a while (unhealthy cluster)
    let add = await etcdctl(m1.endpoint, ['member', 'add', `intruder-${cert}`, `--peer-urls=${peerUrl}`]);
    await waitUntil(
      async () => {
        if (add.code === 0) return true;
        add = await etcdctl(m1.endpoint, ['member', 'add', `intruder-${cert}`, `--peer-urls=${peerUrl}`]);
        return add.code === 0;
      },
      { timeoutMs: 20_000, what: 'member add to be accepted' },
    );
    const initial = add.stdout.match(/ETCD_INITIAL_CLUSTER="([^"]+)"/)?.[1];
    assert.ok(initial !== undefined, add.stdout);
    const dir = makeTempDir('tls-intruder');
    const client = `http://${loopbackHost}:${clientPort}`;
    const args = [
      '--name', `intruder-${cert}`, '--data-dir', join(dir, 'data'),
      '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', initial, '--initial-cluster-state', 'existing',
      ...peerTlsFlags(cert),
    ];
    const intruder =
      kind === 'etcd'
        ? spawnProcess({ name: 'etcd intruder', command: 'etcd', args, logFile: join(dir, 'intruder.log') })
        : spawnProcess({ name: 'lattice intruder', command: process.execPath, args: [repoPath('bin', 'lattice.js'), ...args, '--engine', engine ?? 'memory'], cwd: repoRoot, logFile: join(dir, 'intruder.log') });
    try {
      // the members refuse its certificate: wait until one of them says so, then check it is not serving
      // it cannot read the member list from any member (their TLS refuses it): it gives up and exits
      await waitUntil(() => !intruder.running, { timeoutMs: 30_000, what: 'the intruder to give up' });
      assert.not.match(intruder.output(), /ready to serve client requests/);
      const list = await etcdctl(m1.endpoint, ['member', 'list']);
      // still unstarted: it never published its name
      const line = list.stdout.split('\n').find((l) => l.includes(peerUrl)) ?? '';
      assert.match(line, /unstarted/, list.stdout);
      const p = await etcdctl(m1.endpoint, ['put', 'peer/after', 'ok']);
      assert.is(p.code, 0, p.stderr);
    } finally {
      await intruder.stop();
      // an unstarted member keeps the cluster from taking the next member add (etcd: unhealthy cluster)
      const id = add.stdout.match(/Member\s+([0-9a-f]+)\s+added/)?.[1];
      if (id !== undefined) await etcdctl(m1.endpoint, ['member', 'remove', id]);
    }
  });
  s.run();
}

for (const engine of engines) peerSuite('lattice', engine);
peerSuite('etcd', undefined);

// --peer-auto-tls: each member makes its own self-signed certificate; members skip verifying each
// other's (as etcd does), so the cluster forms and replicates over https.
const autoNeeded = missingTools(['etcdctl']);
const auto = serverSuite<TestCluster>(
  'peer auto-TLS, 3 members (lattice --engine memory)',
  () => startCluster('lattice', { size: 3, engine: 'memory', peerScheme: 'https', extraArgs: ['--peer-auto-tls'] }),
  autoNeeded,
);
auto.it('a write on one member is read on another', async (cluster) => {
  const [m1, , m3] = cluster.members;
  assert.ok(m1 !== undefined && m3 !== undefined);
  const p = await etcdctl(m1.endpoint, ['put', 'peer/auto', 'self-signed']);
  assert.is(p.code, 0, p.stderr);
  const g = await etcdctl(m3.endpoint, ['get', 'peer/auto', '--print-value-only']);
  assert.is(g.stdout.trim(), 'self-signed');
});
auto.run();
