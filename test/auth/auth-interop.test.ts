// Auth with real clients, against real etcd (to pin its answers) and Lattice per engine: the npm
// etcd3 client with credentials (it authenticates again after a restart forgets simple tokens),
// garbage, oversized, foreign and expired tokens, and etcdctl lock / lease with --user.
import * as assert from 'uvu/assert';
import { Etcd3 } from 'etcd3';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { AlarmRequest_AlarmAction, AlarmType, LeaseClient, MaintenanceClient } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { startEtcd } from '../helpers/etcd-server.js';
import { etcdctl, errorLines } from '../helpers/etcdctl.js';
import { engines, startLattice } from '../helpers/lattice-server.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools, skip } from '../helpers/tools.js';
import type { RestartableServer } from '../helpers/server-flags.js';
import { failure, rawClients, setUpUsers } from './auth-clients.js';

/** LeaseGrant and Alarm calls with an optional token (the NOSPACE activation is only ever sent with a garbage token: refused). */
function garbageTokenCalls(endpoint: string) {
  const target = endpoint.replace(/^https?:\/\//, '');
  const lease = new LeaseClient(target, credentials.createInsecure());
  const maintenance = new MaintenanceClient(target, credentials.createInsecure());
  const md = (token: string | undefined): Metadata => {
    const m = new Metadata();
    if (token !== undefined) m.set('token', token);
    return m;
  };
  const settle = (f: (cb: (err: ServiceError | null) => void) => void): Promise<void> =>
    new Promise((resolve, reject) => f((err) => (err ? reject(err) : resolve())));
  return {
    leaseGrant: (token: string | undefined) => settle((cb) => lease.leaseGrant({ TTL: 60n, ID: 0n }, md(token), cb)),
    alarmList: (token: string | undefined) => settle((cb) => maintenance.alarm({ action: AlarmRequest_AlarmAction.GET, memberID: 0n, alarm: AlarmType.NONE }, md(token), cb)),
    alarmActivate: (token: string | undefined) =>
      settle((cb) => maintenance.alarm({ action: AlarmRequest_AlarmAction.ACTIVATE, memberID: 0n, alarm: AlarmType.NOSPACE }, md(token), cb)),
    close: () => {
      lease.close();
      maintenance.close();
    },
  };
}

interface Fixture {
  readonly server: RestartableServer;
  readonly other: RestartableServer;
  stop(): Promise<void>;
}

const tokenTtlSeconds = 2;

function defineSuite(name: string, start: (ttlArgs: string[]) => Promise<RestartableServer>, skipReason: string | null): void {
  const s = serverSuite<Fixture>(
    name,
    async () => {
      const server = await start(['--auth-token-ttl', String(tokenTtlSeconds)]);
      const other = await start([]);
      await setUpUsers(server.endpoint);
      await setUpUsers(other.endpoint);
      return { server, other, stop: async () => void (await Promise.all([server.stop(), other.stop()])) };
    },
    skipReason,
  );

  s.it('the etcd3 client with credentials reads and writes its prefix and is denied outside it', async ({ server }) => {
    const client = new Etcd3({ hosts: server.endpoint, auth: { username: 'alice', password: 'apw' } });
    try {
      await client.put('/a/1').value('v1');
      assert.is(await client.get('/a/1').string(), 'v1');
      const denied = await client.put('/b/1').value('x').then(() => 'allowed', (e: Error) => e.message);
      assert.match(denied, /permission denied/);
    } finally {
      client.close();
    }
  });

  s.it('the etcd3 client authenticates again after a restart made its simple token invalid', async ({ server }) => {
    const client = new Etcd3({ hosts: server.endpoint, auth: { username: 'alice', password: 'apw' } });
    try {
      await client.put('/a/2').value('before');
      await server.restart();
      await client.put('/a/2').value('after');
      assert.is(await client.get('/a/2').string(), 'after');
    } finally {
      client.close();
    }
  });

  s.it('a garbage, an oversized and another server token are refused as invalid; the server goes on serving', async ({ server, other }) => {
    const raw = rawClients(server.endpoint);
    const rawOther = rawClients(other.endpoint);
    try {
      assert.is(await failure(raw.get('/a/1', 'garbage')), '16 etcdserver: invalid auth token');
      // etcd (grpc-go reads up to 16 MiB of headers) checks an oversized token like any other: it is
      // invalid. Never INTERNAL; Lattice's log gains at most one line for them (etcd logs a warning
      // quoting each invalid token, megabyte or not). The pause lets the garbage token's line land first.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const logBefore = server.process.output().length;
      assert.is(await failure(raw.get('/a/1', 'x'.repeat(64 * 1024))), '16 etcdserver: invalid auth token');
      // grpc-go reads 16 MiB of headers and so does Lattice's own HTTP/2 (plain-text connections):
      // a megabyte token is checked like any other (over TLS, nghttp2 still refuses it: docs/limitations.md)
      assert.is(await failure(raw.get('/a/1', 'x'.repeat(1024 * 1024))), '16 etcdserver: invalid auth token');
      await new Promise((resolve) => setTimeout(resolve, 200));
      const logged = server.process.output().slice(logBefore).split('\n').filter((l) => l.trim() !== '');
      if (name.includes('lattice')) assert.ok(logged.length <= 1, `oversized tokens logged ${logged.length} times:\n${logged.join('\n').slice(0, 2000)}`);
      const foreign = await rawOther.authenticate('alice', 'apw');
      assert.is(await failure(raw.get('/a/1', foreign)), '16 etcdserver: invalid auth token');
      const token = await raw.authenticate('alice', 'apw');
      await raw.put('/a/3', 'ok', token);
      assert.is((await raw.get('/a/3', token)).kvs[0]?.value.toString(), 'ok');
      assert.is(await failure(raw.get('/b/3', token)), '7 etcdserver: permission denied');
      assert.is(await failure(raw.authenticate('alice', 'nope')), '3 etcdserver: authentication failed, invalid user ID or password');
    } finally {
      raw.close();
      rawOther.close();
    }
  });

  s.it('LeaseGrant and Alarm with a garbage token are refused as etcd refuses them; without a token they are served', async ({ server }) => {
    const calls = garbageTokenCalls(server.endpoint);
    try {
      assert.is(await failure(calls.leaseGrant('garbage')), '16 etcdserver: invalid auth token');
      // etcd's maintenance server lets auth's own error through: UNKNOWN with auth's text
      assert.is(await failure(calls.alarmList('garbage')), '2 auth: invalid auth token');
      assert.is(await failure(calls.alarmActivate('garbage')), '2 auth: invalid auth token');
      // etcd checks no permission for either: any client may grant a lease or read the alarms
      await calls.leaseGrant(undefined);
      await calls.alarmList(undefined);
    } finally {
      calls.close();
    }
  });

  s.it('a simple token unused for longer than --auth-token-ttl is refused', async ({ server }) => {
    const raw = rawClients(server.endpoint);
    try {
      const token = await raw.authenticate('alice', 'apw');
      await raw.get('/a/1', token);
      // etcd checks its simple tokens' TTLs once a second
      await new Promise((resolve) => setTimeout(resolve, (tokenTtlSeconds + 1.5) * 1000));
      assert.is(await failure(raw.get('/a/1', token)), '16 etcdserver: invalid auth token');
    } finally {
      raw.close();
    }
  });

  s.it('etcdctl lock and lease revoke with --user: allowed on a granted prefix, denied elsewhere', async ({ server }) => {
    const allowed = await etcdctl(server.endpoint, ['lock', '/a/lock', '--user', 'alice:apw', '--', 'echo', 'held']);
    assert.is(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stdout, /held/);
    const denied = await etcdctl(server.endpoint, ['lock', '/b/lock', '--user', 'alice:apw', '--', 'echo', 'held']);
    assert.is.not(denied.code, 0);
    assert.match(errorLines(denied.stderr).join(' '), /permission denied/);
    const grant = await etcdctl(server.endpoint, ['lease', 'grant', '100', '--user', 'root:rootpw']);
    const id = /lease ([0-9a-f]+) granted/.exec(grant.stdout)?.[1];
    assert.ok(id, grant.stdout + grant.stderr);
    assert.is((await etcdctl(server.endpoint, ['put', '/b/leased', 'x', '--lease', id, '--user', 'root:rootpw'])).code, 0);
    const revoke = await etcdctl(server.endpoint, ['lease', 'revoke', id, '--user', 'alice:apw']);
    assert.match(errorLines(revoke.stderr).join(' '), /permission denied/);
    assert.is((await etcdctl(server.endpoint, ['lease', 'revoke', id, '--user', 'root:rootpw'])).code, 0);
  });

  s.run();
}

const skipEtcd = missingTools(['etcd', 'etcdctl']);
defineSuite('auth interop (etcd)', (args) => startEtcd('etcd', args), skipEtcd);
for (const engine of engines) defineSuite(`auth interop (lattice ${engine})`, (args) => startLattice(engine, 'lattice', args), missingTools(['etcdctl']));

