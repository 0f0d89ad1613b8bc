// Users, roles and the auth switch travel in etcd-format snapshots, both ways and on both engines:
// a snapshot of a server with auth enabled, restored by the other side's tool, serves the same
// users, roles and permission answers (etcd's auth, authUsers and authRoles buckets).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { etcdctl, errorLines } from '../helpers/etcdctl.js';
import { startEtcd } from '../helpers/etcd-server.js';
import { engines, startLattice } from '../helpers/lattice-server.js';
import type { RestartableServer } from '../helpers/server-flags.js';
import { needingTools, withTimeout } from '../helpers/spec.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import { lattice, restoredAddress, restoreFlags, startOnRestored } from './snapshot-helpers.js';

const test = suite('auth state in etcd-format snapshots');
const it = needingTools(test, ['etcd', 'etcdctl'], test);
const roundTripTimeoutMs = 120_000;
const root = ['--user', 'root:rootpw'];
const alice = ['--user', 'alice:alicepw'];

let dir = '';
const running: RestartableServer[] = [];
test.before(() => {
  dir = makeTempDir('snapshot-auth');
});
test.after(async () => {
  for (const s of running.splice(0)) await s.stop().catch(() => undefined);
  removeTempDir(dir);
});

async function stopAll(): Promise<void> {
  for (const s of running.splice(0)) await s.stop();
}

async function ok(endpoint: string, args: string[]): Promise<string> {
  const r = await etcdctl(endpoint, args);
  assert.is(r.code, 0, `etcdctl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** root with the root role, alice with readwrite on /app/, a key, then auth on. */
async function enableAuth(endpoint: string): Promise<void> {
  await ok(endpoint, ['user', 'add', 'root:rootpw']);
  await ok(endpoint, ['user', 'grant-role', 'root', 'root']);
  await ok(endpoint, ['role', 'add', 'app']);
  await ok(endpoint, ['role', 'grant-permission', 'app', 'readwrite', '/app/', '--prefix']);
  await ok(endpoint, ['user', 'add', 'alice:alicepw']);
  await ok(endpoint, ['user', 'grant-role', 'alice', 'app']);
  await ok(endpoint, ['put', '/app/x', '1']);
  await ok(endpoint, ['put', '/other', '2']);
  await ok(endpoint, ['auth', 'enable']);
}

/** What clients see of the auth state: users, roles, allowed and denied reads, a wrong password. */
async function observeAuth(endpoint: string): Promise<unknown> {
  const answer = async (args: string[]): Promise<string> => {
    const r = await etcdctl(endpoint, args);
    return r.code === 0 ? r.stdout : errorLines(r.stderr).join('\n');
  };
  return {
    users: await answer([...root, 'user', 'list']),
    alice: await answer([...root, 'user', 'get', 'alice']),
    role: await answer([...root, 'role', 'get', 'app']),
    allowed: await answer([...alice, 'get', '/app/x', '--print-value-only']),
    denied: await answer([...alice, 'get', '/other']),
    anonymous: await answer(['get', '/app/x']),
    wrongPassword: await answer(['--user', 'alice:nope', 'get', '/app/x']),
  };
}

const expectedObservation = {
  users: 'alice\nroot\n',
  alice: 'User: alice\nRoles: app\n',
  role: 'Role app\nKV Read:\n\t[/app/, /app0) (prefix /app/)\nKV Write:\n\t[/app/, /app0) (prefix /app/)\n',
  allowed: '1\n',
  denied: 'Error: etcdserver: permission denied',
  anonymous: 'Error: etcdserver: user name is empty',
  wrongPassword: 'Error: etcdserver: authentication failed, invalid user ID or password',
};

for (const engine of engines) {
  it(`a Lattice (${engine}) snapshot with auth enabled, restored into etcd, serves the same users, roles and permissions`, () =>
    withTimeout(
      (async () => {
        await stopAll();
        const source = await startLattice(engine);
        running.push(source);
        await enableAuth(source.endpoint);
        const expected = await observeAuth(source.endpoint);
        assert.equal(expected, expectedObservation);
        const file = join(dir, `lattice-${engine}.db`);
        await ok(source.endpoint, [...root, 'snapshot', 'save', file]);
        const address = await restoredAddress(dir, `etcd-from-${engine}`);
        const restore = await etcdctl(source.endpoint, ['snapshot', 'restore', file, '--data-dir', address.dataDir, ...restoreFlags(address)]);
        assert.is(restore.code, 0, restore.stderr);
        const restored = await startOnRestored('etcd', address, dir);
        running.push(restored);
        assert.equal(await observeAuth(restored.endpoint), expected);
        await stopAll();
      })(),
      roundTripTimeoutMs,
      'Lattice → etcd',
    ));

  it(`an etcd snapshot with auth enabled, restored with lattice snapshot restore --engine ${engine}, serves the same users, roles and permissions`, () =>
    withTimeout(
      (async () => {
        await stopAll();
        const source = await startEtcd();
        running.push(source);
        await enableAuth(source.endpoint);
        const expected = await observeAuth(source.endpoint);
        assert.equal(expected, expectedObservation);
        const file = join(dir, `etcd-for-${engine}.db`);
        await ok(source.endpoint, [...root, 'snapshot', 'save', file]);
        const address = await restoredAddress(dir, `lattice-${engine}-from-etcd`);
        const restore = await lattice(['snapshot', 'restore', file, '--data-dir', address.dataDir, '--engine', engine, ...restoreFlags(address)]);
        assert.is(restore.code, 0, restore.stderr);
        const restored = await startOnRestored(engine, address, dir);
        running.push(restored);
        assert.equal(await observeAuth(restored.endpoint), expected);
        await stopAll();
      })(),
      roundTripTimeoutMs,
      'etcd → Lattice',
    ));
}

test.run();
