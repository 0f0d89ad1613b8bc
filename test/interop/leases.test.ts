// Leases from real clients: etcdctl's lease commands, the npm etcd3 client's leases, expiry with
// watchers, keepalive streams (also broken ones), and restarts (kill -9 and clean stop). Timing is
// asserted loosely on purpose: nothing may expire before its TTL; the upper bound is generous, and
// the measured lateness is printed.
import * as assert from 'uvu/assert';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import { LeaseClient, type LeaseKeepAliveResponse } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { etcdctl, errorLines } from '../helpers/etcdctl.js';
import { engines, startLattice, type LatticeServer } from '../helpers/lattice-server.js';
import { runCommand, waitUntil } from '../helpers/processes.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';

/** A lease may expire this much after its TTL before a test fails (etcd's own bound is TTL + 1 s; this machine is loaded). */
/** The bound is TTL + 1 s (measured: tens of ms); half a second more for a loaded machine. */
const expiryGraceMs = 1_500;
const leaseTestTimeoutMs = 90_000;
const skipReason = missingTools(['etcdctl']);

const leaseIdOf = (stdout: string): string => /^lease ([0-9a-f]+) granted with TTL\((\d+)s\)$/m.exec(stdout)?.[1] ?? '';

function leaseClient(endpoint: string): LeaseClient {
  return new LeaseClient(endpoint.replace(/^https?:\/\//, ''), credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
}

/** Sends each ID on one keepalive stream and collects the answers. */
async function keepAliveAll(client: LeaseClient, ids: readonly bigint[]): Promise<LeaseKeepAliveResponse[]> {
  const stream = client.leaseKeepAlive(new Metadata(), { deadline: Date.now() + 30_000 });
  const answers: LeaseKeepAliveResponse[] = [];
  const done = new Promise<void>((resolve, reject) => {
    stream.on('data', (res: LeaseKeepAliveResponse) => {
      answers.push(res);
      if (answers.length === ids.length) stream.end();
    });
    stream.on('error', (e: ServiceError) => reject(e));
    stream.on('end', () => resolve());
  });
  for (const ID of ids) stream.write({ ID });
  await done;
  return answers;
}

for (const engine of engines) {
  const test = serverSuite(
    `leases from clients (${engine})`,
    async () => {
      const lattice = await startLattice(engine);
      const client = new Etcd3({ hosts: lattice.endpoint });
      return { lattice, client, stop: async () => (client.close(), await lattice.stop()) };
    },
    skipReason,
  );

  test.it('etcdctl lease grant, put --lease, timetolive --keys, list, keep-alive --once and revoke print what etcd prints', async ({ lattice }) => {
    const ep = lattice.endpoint;
    const grant = await etcdctl(ep, ['lease', 'grant', '60']);
    const id = leaseIdOf(grant.stdout);
    assert.ok(id !== '', grant.stdout);
    assert.is((await etcdctl(ep, ['put', '--lease', id, 'svc/b', '1'])).stdout, 'OK\n');
    assert.is((await etcdctl(ep, ['put', '--lease', id, 'svc/a', '2'])).stdout, 'OK\n');
    const ttl = await etcdctl(ep, ['lease', 'timetolive', '--keys', id]);
    assert.match(ttl.stdout, new RegExp(`^lease ${id} granted with TTL\\(60s\\), remaining\\((59|60)s\\), attached keys\\(\\[svc/a svc/b\\]\\)\\n$`));
    assert.match((await etcdctl(ep, ['lease', 'list'])).stdout, new RegExp(`^found 1 leases\\n${id}\\n$`));
    assert.is((await etcdctl(ep, ['lease', 'keep-alive', '--once', id])).stdout, `lease ${id} keepalived with TTL(60)\n`);
    assert.is((await etcdctl(ep, ['lease', 'revoke', id])).stdout, `lease ${id} revoked\n`);
    assert.is((await etcdctl(ep, ['get', '--prefix', 'svc/'])).stdout, '');
    assert.is((await etcdctl(ep, ['lease', 'timetolive', id])).stdout, `lease ${id} already expired\n`);
    const again = await etcdctl(ep, ['lease', 'revoke', id]);
    assert.equal(errorLines(again.stderr), ['Error: failed to revoke lease (etcdserver: requested lease not found)']);
    const huge = await etcdctl(ep, ['lease', 'grant', '9000000001']);
    assert.equal(errorLines(huge.stderr), ['Error: failed to grant lease (etcdserver: too large lease TTL)']);
    const missing = await etcdctl(ep, ['put', '--lease', '1234', 'k', 'v']);
    assert.equal(errorLines(missing.stderr), ['Error: etcdserver: requested lease not found']);
  });

  test.it('etcdctl lease keep-alive keeps renewing on one stream until stopped', async ({ lattice }) => {
    const id = leaseIdOf((await etcdctl(lattice.endpoint, ['lease', 'grant', '3'])).stdout);
    const run = await runCommand('timeout', ['4', 'etcdctl', '--endpoints', lattice.endpoint, 'lease', 'keep-alive', id], { timeoutMs: 20_000 });
    const lines = run.stdout.split('\n').filter((l) => l === `lease ${id} keepalived with TTL(3)`);
    assert.ok(lines.length >= 2, `keepalive lines:\n${run.stdout}\n${run.stderr}`);
  });

  test.it('an unkept lease expires no earlier than its TTL, its keys are deleted in one revision and a watcher sees each DELETE once', async ({ client }) => {
    const ttlSeconds = 3;
    const deletes: { key: string; rev: string; at: number }[] = [];
    const watcher = await client.watch().prefix('exp/').create();
    watcher.on('delete', (kv) => deletes.push({ key: kv.key.toString(), rev: kv.mod_revision, at: Date.now() }));
    const sentAt = Date.now();
    const lease = client.lease(ttlSeconds, { autoKeepAlive: false });
    await lease.grant();
    await Promise.all(['exp/a', 'exp/b', 'exp/c'].map((k) => lease.put(k).value('v').exec()));
    await waitUntil(() => deletes.length >= 3, { timeoutMs: ttlSeconds * 1000 + expiryGraceMs, what: 'the leased keys to be deleted' });
    await watcher.cancel();
    const firstAt = Math.min(...deletes.map((d) => d.at));
    assert.ok(firstAt - sentAt >= ttlSeconds * 1000, `expired after ${firstAt - sentAt} ms, before the ${ttlSeconds} s TTL`);
    assert.equal(deletes.map((d) => d.key).sort(), ['exp/a', 'exp/b', 'exp/c']);
    assert.is(new Set(deletes.map((d) => d.rev)).size, 1);
    console.log(`  lease expiry (${engine}): keys deleted ${firstAt - sentAt - ttlSeconds * 1000} ms after the TTL (measured from sending the grant)`);
    assert.equal(await client.getAll().prefix('exp/').keys(), []);
  });

  test.it('a lease kept alive by the etcd3 client outlives its TTL, and lease.put attaches keys to it', async ({ client }) => {
    const lease = client.lease(2);
    await lease.grant();
    await lease.put('kept').value('v').exec();
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    assert.is(await client.get('kept').string(), 'v');
    await lease.revoke();
    assert.is(await client.get('kept').string(), null);
  });

  test.it('keepalive answers TTL 0 for IDs that never existed, many on one stream, in order', async ({ lattice, client }) => {
    const lease = client.lease(30, { autoKeepAlive: false });
    const id = BigInt(await lease.grant());
    const raw = leaseClient(lattice.endpoint);
    try {
      const answers = await keepAliveAll(raw, [id, 42n, -1n, id, 0n]);
      assert.equal(answers.map((a) => [a.ID, a.TTL]), [[id, 30n], [42n, 0n], [-1n, 0n], [id, 30n], [0n, 0n]]);
      const ttl = await new Promise<{ TTL: bigint }>((resolve, reject) => raw.leaseTimeToLive({ ID: 77n, keys: true }, (e, r) => (e ? reject(e) : resolve(r))));
      assert.is(ttl.TTL, -1n);
    } finally {
      raw.close();
      await lease.revoke();
    }
  });

  // That such streams leave no call and no request loop behind is checked in process, where the
  // server's counts can be read (test/adapters/grpc-transport.test.ts, "keepalive-like streams").
  test.it('keepalive streams that close mid-request, are cancelled or send garbage leave the server serving', async ({ lattice, client }) => {
    const lease = client.lease(30, { autoKeepAlive: false });
    const id = BigInt(await lease.grant());
    const streams = 2_000;
    const raw = leaseClient(lattice.endpoint);
    try {
      for (let i = 0; i < streams; i++) {
        const s = raw.leaseKeepAlive();
        s.on('error', () => undefined);
        s.write({ ID: id });
        if (i % 2 === 0) s.cancel();
        else s.end();
      }
      // Garbage: bytes that are not a LeaseKeepAliveRequest end that stream with a status, nothing else.
      const garbage = await new Promise<ServiceError | null>((resolve) => {
        const s = (raw as unknown as { makeBidiStreamRequest: (m: string, ser: (b: Buffer) => Buffer, de: (b: Buffer) => Buffer) => NodeJS.ReadWriteStream & { end(): void } }).makeBidiStreamRequest(
          '/etcdserverpb.Lease/LeaseKeepAlive',
          (b: Buffer) => b,
          (b: Buffer) => b,
        );
        s.on('error', (e: ServiceError) => resolve(e));
        s.on('data', () => undefined);
        s.on('end', () => resolve(null));
        s.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]));
        s.end();
      });
      assert.ok(garbage !== null, 'a stream of garbage ended without a status');
      const answers = await keepAliveAll(raw, [id]);
      assert.is(answers[0]?.TTL, 30n);
    } finally {
      raw.close();
      await lease.revoke();
    }
  }, leaseTestTimeoutMs);

  const restartCase = (how: 'kill -9' | 'clean stop', restart: (s: LatticeServer) => Promise<void>): void => {
    test.it(`after a ${how}, leases keep their keys and get their full TTL again, then still expire`, async ({ lattice, client }) => {
      const ep = lattice.endpoint;
      const longId = leaseIdOf((await etcdctl(ep, ['lease', 'grant', '30'])).stdout);
      const shortId = leaseIdOf((await etcdctl(ep, ['lease', 'grant', '4'])).stdout);
      await etcdctl(ep, ['put', '--lease', longId, 'r/long', 'v']);
      await etcdctl(ep, ['put', '--lease', shortId, 'r/short', 'v']);
      await restart(lattice);
      const restartedAt = Date.now();
      const ttl = await etcdctl(ep, ['lease', 'timetolive', '--keys', longId]);
      // The full TTL plus an election timeout (1 s) from the restart: 30.9 s left, shown truncated as 30.
      assert.match(ttl.stdout, new RegExp(`^lease ${longId} granted with TTL\\(30s\\), remaining\\(30s\\), attached keys\\(\\[r/long\\]\\)\\n$`));
      await waitUntil(async () => (await client.get('r/short').string()) === null, { timeoutMs: 4_000 + 1_000 + expiryGraceMs, what: 'the short lease to expire after the restart' });
      const expiredAfterMs = Date.now() - restartedAt;
      assert.ok(expiredAfterMs >= 4_000, `the short lease expired ${expiredAfterMs} ms after the restart, before its TTL`);
      assert.is(await client.get('r/long').string(), 'v');
      assert.is((await etcdctl(ep, ['lease', 'revoke', longId])).stdout, `lease ${longId} revoked\n`);
    }, leaseTestTimeoutMs);
  };
  restartCase('kill -9', async (s) => {
    await s.kill9();
    await s.restart();
  });
  restartCase('clean stop', async (s) => {
    await s.shutdown();
    await s.restart();
  });

  test.run();
}
