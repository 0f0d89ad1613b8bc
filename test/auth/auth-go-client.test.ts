// Go clientv3 (3.4) with username and password against real etcd and Lattice per engine: the same
// lines (allowed calls ok, the others denied with etcd's error) from both, and a wrong password
// fails at dial as it does with etcd.
import * as assert from 'uvu/assert';
import { startEtcd } from '../helpers/etcd-server.js';
import { buildGoProgram } from '../helpers/go-build.js';
import { engines, startLattice } from '../helpers/lattice-server.js';
import { runCommand } from '../helpers/processes.js';
import type { RestartableServer } from '../helpers/server-flags.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';
import { setUpUsers } from './auth-clients.js';

const goTimeoutMs = 360_000;
const expectedLines = [
  'put /a/k ok',
  'get /a/k ok',
  'put /b/k error etcdserver: permission denied',
  'get /b/k error etcdserver: permission denied',
];

async function runClient(endpoint: string, password: string): Promise<string[]> {
  const bin = await buildGoProgram('authclient');
  const r = await runCommand(bin, ['--endpoints', endpoint, '--user', 'alice', '--password', password, '--allowed', '/a/k', '--denied', '/b/k'], { timeoutMs: 60_000 });
  return r.stdout.trim().split('\n');
}

function defineSuite(name: string, start: () => Promise<RestartableServer>, skipReason: string | null): void {
  const s = serverSuite(
    name,
    async () => {
      const server = await start();
      await setUpUsers(server.endpoint);
      return server;
    },
    skipReason,
  );
  s.it(
    'clientv3 with username and password is allowed its prefix and denied elsewhere with etcd error',
    async (server) => {
      assert.equal(await runClient(server.endpoint, 'apw'), expectedLines);
    },
    goTimeoutMs,
  );
  s.it('clientv3 with a wrong password fails at dial with etcd authentication error', async (server) => {
    assert.equal(await runClient(server.endpoint, 'wrong'), ['dial error etcdserver: authentication failed, invalid user ID or password']);
  });
  s.run();
}

defineSuite('Go clientv3 auth (etcd)', () => startEtcd(), missingTools(['etcd', 'etcdctl', 'go']));
for (const engine of engines) defineSuite(`Go clientv3 auth (lattice ${engine})`, () => startLattice(engine), missingTools(['etcdctl', 'go']));
