// --auto-compaction-mode periodic|revision with short retentions, Lattice on both engines and a real
// etcd 3.4 for periodic mode (its revision mode checks every 5 minutes, too slow for a test): history
// below the retention is compacted, and the server logs it as etcd does.
import { Etcd3 } from 'etcd3';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { etcdctl, errorLines } from '../helpers/etcdctl.js';
import { engines, startLattice } from '../helpers/lattice-server.js';
import { waitUntil } from '../helpers/processes.js';
import { allocateAddress, etcdFlags, launchRestartable, type RestartableServer } from '../helpers/server-flags.js';
import { missingTools } from '../helpers/tools.js';
import { serverSuite } from '../helpers/spec.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';

const puts = 30;
const compactionWaitMs = 20_000;

async function putMany(endpoint: string): Promise<void> {
  const client = new Etcd3({ hosts: endpoint });
  try {
    for (let i = 0; i < puts; i++) await client.put('key').value(`v${i}`);
  } finally {
    client.close();
  }
}

/** Waits until a read at `rev` is refused as compacted. */
async function waitCompactedAt(endpoint: string, rev: number): Promise<void> {
  await waitUntil(
    async () => errorLines((await etcdctl(endpoint, ['get', 'key', `--rev=${rev}`])).stderr).includes('Error: etcdserver: mvcc: required revision has been compacted'),
    { timeoutMs: compactionWaitMs, what: `revision ${rev} to be compacted on ${endpoint}` },
  );
}

async function startEtcdWith(args: string[]): Promise<RestartableServer> {
  const root = makeTempDir('etcd-autocompact');
  const address = await allocateAddress('etcd', join(root, 'data'));
  return launchRestartable({ label: 'etcd', command: 'etcd', args: [...etcdFlags(address), ...args], logFile: join(root, 'etcd.log') }, address, () => removeTempDir(root));
}

const logged = (server: RestartableServer, message: string): boolean => server.process.output().includes(`"msg":"${message}"`);

for (const engine of engines) {
  const revision = serverSuite(`auto-compaction revision mode (${engine})`, () =>
    startLattice(engine, 'lattice', ['--auto-compaction-mode', 'revision', '--auto-compaction-retention', '5', '--experimental-auto-compaction-revision-check-interval', '300ms']),
  );
  revision.it('keeps the last 5 revisions: older ones are compacted, the logs say so as etcd does', async (server) => {
    await putMany(server.endpoint);
    // The revision is 1 + puts; it compacts at current - 5.
    await waitCompactedAt(server.endpoint, puts - 5);
    const kept = await etcdctl(server.endpoint, ['get', 'key', `--rev=${puts - 3}`, '--print-value-only']);
    assert.is(kept.stdout, `v${puts - 5}\n`, kept.stderr);
    assert.ok(logged(server, 'starting auto revision compaction') && logged(server, 'completed auto revision compaction'));
    assert.match(server.process.output(), /"msg":"completed auto revision compaction","revision":\d+,"revision-compaction-retention":5/);
  }, 60_000);
  revision.run();

  const periodic = serverSuite(`auto-compaction periodic mode (${engine})`, () =>
    startLattice(engine, 'lattice', ['--auto-compaction-mode', 'periodic', '--auto-compaction-retention', '2s']),
  );
  periodic.it('a 2s retention compacts at the revision of 2s before, logged as etcd logs it', async (server) => {
    await putMany(server.endpoint);
    await waitCompactedAt(server.endpoint, puts);
    assert.match(server.process.output(), /"msg":"completed auto periodic compaction","revision":\d+,"compact-period":"2s"/);
  }, 60_000);
  periodic.run();
}

const etcdPeriodic = serverSuite('auto-compaction periodic mode (etcd 3.4, the reference)', () => startEtcdWith(['--auto-compaction-mode', 'periodic', '--auto-compaction-retention', '2s']), missingTools(['etcd', 'etcdctl']));
// etcd 3.4's zap logger never prints the ready line the helpers wait for, so this one logs in
// capnslog's words; its zap messages (the ones Lattice prints) are in etcdserver/api/v3compactor.
etcdPeriodic.it('a 2s retention compacts at the revision of 2s before', async (server) => {
  await putMany(server.endpoint);
  await waitCompactedAt(server.endpoint, puts);
  assert.match(server.process.output(), /compactor: Finished auto-compaction at revision \d+/);
}, 60_000);
etcdPeriodic.run();
