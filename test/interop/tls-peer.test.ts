// Peer TLS: a 3-member cluster whose Raft traffic runs over https peer URLs with client
// certificates (--peer-client-cert-auth, and --peer-cert-allowed-cn or --peer-cert-allowed-hostname)
// replicates writes; a member whose certificate has another CN, is revoked or lacks the allowed
// hostname cannot join. Lattice on both engines; the healthy cluster on real etcd too.
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

/** Which peers the members take: etcd's two exclusive flags. */
type PeerCheck = readonly ['--peer-cert-allowed-cn', 'peer'] | readonly ['--peer-cert-allowed-hostname', 'localhost'];
const byCn: PeerCheck = ['--peer-cert-allowed-cn', 'peer'];
const byHostname: PeerCheck = ['--peer-cert-allowed-hostname', 'localhost'];

const peerTlsFlags = (cert: string, check: PeerCheck): string[] => [
  '--peer-cert-file', tlsFixture(`${cert}.pem`),
  '--peer-key-file', tlsFixture(`${cert}-key.pem`),
  '--peer-trusted-ca-file', tlsFixture('ca.pem'),
  '--peer-client-cert-auth',
  ...check,
  // expired, as etcd reads it: only the serials it lists count, so the healthy members connect
  '--peer-crl-file', tlsFixture('crl-expired.pem'),
];

/**
 * Intruders whose certificate fails the check: what is wrong with it, its fixture, and what a
 * member's log says when it refuses it (checked only where given).
 */
type Intruder = readonly [what: string, cert: string, refusal?: RegExp];

const cnIntruders: readonly Intruder[] = [
  ['has another CN', 'peer-wrong-cn'],
  ['is revoked (--peer-crl-file)', 'peer-revoked'],
];
// peer-wrong-host.pem: CN peer, names elsewhere.example and 10.255.255.1 only; peer.pem names localhost
const hostnameIntruders: readonly Intruder[] = [['lacks the allowed hostname (--peer-cert-allowed-hostname)', 'peer-wrong-host', /allowed hostname|client certificate authentication failed/]];

function peerSuite(kind: ClusterKind, engine: 'memory' | 'rocksdb' | undefined, check: PeerCheck, intruders: readonly Intruder[]): void {
  const name = `peer TLS ${check.join(' ')}, 3 members (${kind}${engine === undefined ? '' : ` --engine ${engine}`})`;
  const needed = kind === 'etcd' ? missingTools(['etcd', 'etcdctl']) : missingTools(['etcdctl']);
  const s = serverSuite<TestCluster>(
    name,
    () => startCluster(kind, { size: 3, ...(engine === undefined ? {} : { engine }), peerScheme: 'https', extraArgs: peerTlsFlags('peer', check) }),
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

  for (const [what, cert, refusal] of intruders) s.it(`a member whose peer certificate ${what} cannot join`, async (cluster) => {
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
      ...peerTlsFlags(cert, check),
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
      // refused for the reason under test, not another one on the way
      if (refusal !== undefined) assert.ok(cluster.members.some((m) => refusal.test(m.process.output())), `no member logged ${String(refusal)}`);
    } finally {
      await intruder.stop();
      // an unstarted member keeps the cluster from taking the next member add (etcd: unhealthy cluster)
      const id = add.stdout.match(/Member\s+([0-9a-f]+)\s+added/)?.[1];
      if (id !== undefined) await etcdctl(m1.endpoint, ['member', 'remove', id]);
    }
  });
  s.run();
}

for (const engine of engines) peerSuite('lattice', engine, byCn, cnIntruders);
peerSuite('etcd', undefined, byCn, cnIntruders);
// the hostname check is the members' TLS, whatever the engine: one Lattice engine beside etcd
peerSuite('lattice', 'memory', byHostname, hostnameIntruders);
peerSuite('etcd', undefined, byHostname, hostnameIntruders);

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
