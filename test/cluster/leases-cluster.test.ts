// Leases in a 3-member Lattice cluster (memory engine), driven by etcdctl and the npm etcd3 client:
// renewals and time-to-live through a follower are answered by the leader; `etcdctl lease
// keep-alive` against a follower keeps a lease alive; when the leader is killed, a lease a client
// keeps alive survives with its keys, and a lease nobody renews still expires on time, its remaining
// TTL carried over by checkpoints (interval 1 s here) instead of starting afresh.
import * as assert from 'uvu/assert';
import { Etcd3 } from 'etcd3';
import { startCluster, type ClusterMember, type TestCluster } from '../helpers/cluster.js';
import { etcdctl } from '../helpers/etcdctl.js';
import { spawnProcess, waitUntil } from '../helpers/processes.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';

const testTimeoutMs = 90_000;
const checkpointIntervalS = 1;
const electionTimeoutMs = 1000;

async function ok(endpoint: string, args: string[]): Promise<string> {
  const r = await etcdctl(endpoint, args);
  if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')} at ${endpoint} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** The leader and the followers, as the members' own status says (all agreeing). */
async function roles(cluster: TestCluster, alive: readonly ClusterMember[] = cluster.members): Promise<{ leader: ClusterMember; followers: ClusterMember[] }> {
  let found: { leader: ClusterMember; followers: ClusterMember[] } | undefined;
  await waitUntil(
    async () => {
      const ids: { member: string; leader: string }[] = [];
      for (const m of alive) {
        const out = await ok(m.endpoint, ['endpoint', 'status', '-w', 'json']);
        ids.push({ member: /"member_id":(\d+)/.exec(out)![1]!, leader: /"leader":(\d+)/.exec(out)![1]! });
      }
      const leaders = new Set(ids.map((x) => x.leader));
      const li = ids.findIndex((x) => x.member === x.leader);
      if (leaders.size !== 1 || li < 0) return false;
      found = { leader: alive[li]!, followers: alive.filter((_, i) => i !== li) };
      return true;
    },
    { timeoutMs: 20_000, what: 'one leader that every member names' },
  );
  return found!;
}

const grant = async (endpoint: string, ttl: number): Promise<string> => {
  const out = await ok(endpoint, ['lease', 'grant', String(ttl)]);
  const m = /lease ([0-9a-f]+) granted with TTL\((\d+)s\)/.exec(out);
  if (m === null) throw new Error(`unexpected grant output: ${out}`);
  return m[1]!;
};

/** Remaining seconds as `lease timetolive` prints them; -1 once expired. */
const remaining = async (endpoint: string, id: string): Promise<number> => {
  const out = await ok(endpoint, ['lease', 'timetolive', id]);
  if (out.includes('already expired')) return -1;
  const m = /remaining\((-?\d+)s\)/.exec(out);
  if (m === null) throw new Error(`unexpected timetolive output: ${out}`);
  return Number(m[1]);
};

const s = serverSuite(
  'leases in a 3-member Lattice cluster',
  async () => startCluster('lattice', { size: 3, engine: 'memory', extraArgs: ['--experimental-lease-checkpoint-interval', `${checkpointIntervalS}s`] }),
  missingTools(['etcdctl']),
);

s.it('keepalives through a follower keep a lease alive past its TTL; time-to-live through a follower answers the leader’s remaining TTL', async (cluster) => {
  const { leader, followers } = await roles(cluster);
  const [a, b] = followers as [ClusterMember, ClusterMember];
  const id = await grant(a.endpoint, 3);
  await ok(a.endpoint, ['put', '/kept', 'v', '--lease', id]);
  const until = Date.now() + 6_000;
  while (Date.now() < until) {
    const out = await ok(b.endpoint, ['lease', 'keep-alive', '--once', id]);
    assert.match(out, new RegExp(`lease ${id} keepalived with TTL\\(3\\)`));
    await new Promise((r) => setTimeout(r, 700));
  }
  assert.is(await ok(leader.endpoint, ['get', '/kept', '--print-value-only']), 'v\n', 'the key outlived its lease’s TTL');
  // A follower does not track expiry: its own table would say "forever" (9223372036 s).
  for (const m of [a, b]) {
    const left = await remaining(m.endpoint, id);
    assert.ok(left >= 0 && left <= 3, `remaining ${left} s at ${m.name}`);
  }
  const keys = await ok(b.endpoint, ['lease', 'timetolive', id, '--keys']);
  assert.match(keys, /attached keys\(\[\/kept\]\)/);
  const list = await ok(b.endpoint, ['lease', 'list']);
  assert.ok(list.includes(id), list);
  await ok(a.endpoint, ['lease', 'revoke', id]);
  assert.is(await remaining(b.endpoint, id), -1, 'a revoked lease is gone through a follower');
  // etcd answers a keepalive of an unknown lease with TTL 0, which etcdctl reports as etcd 3.4 does.
  const gone = await etcdctl(b.endpoint, ['lease', 'keep-alive', '--once', id]);
  assert.is(gone.code, 2, gone.stdout + gone.stderr);
  assert.match(gone.stderr, /Error: etcdserver: requested lease not found/);
}, testTimeoutMs);

s.it('`etcdctl lease keep-alive` against a follower keeps a lease and its key past the TTL', async (cluster) => {
  const { followers } = await roles(cluster);
  const f = followers[0]!;
  const id = await grant(f.endpoint, 3);
  await ok(f.endpoint, ['put', '/held', 'v', '--lease', id]);
  const keeper = spawnProcess({ name: 'etcdctl keep-alive', command: 'etcdctl', args: ['--endpoints', f.endpoint, 'lease', 'keep-alive', id], env: { ...process.env, ETCDCTL_API: '3' } });
  try {
    await keeper.waitForLine(new RegExp(`lease ${id} keepalived with TTL\\(3\\)`), 5_000);
    await new Promise((r) => setTimeout(r, 5_000));
    assert.ok(keeper.running, keeper.tail());
    assert.ok((keeper.output().match(/keepalived with TTL\(3\)/g) ?? []).length >= 3, keeper.output());
    assert.is(await ok(f.endpoint, ['get', '/held', '--print-value-only']), 'v\n');
  } finally {
    await keeper.stop();
  }
}, testTimeoutMs);

s.it('after kill -9 of the leader a kept-alive lease survives with its key, and an unrenewed lease expires on time, not afresh', async (cluster) => {
  const { leader, followers } = await roles(cluster);
  const [a, b] = followers as [ClusterMember, ClusterMember];
  const client = new Etcd3({ hosts: [a.endpoint, b.endpoint] });
  try {
    let lost = false;
    const kept = client.lease(3);
    kept.on('lost', () => (lost = true));
    await kept.put('/alive').value('v');
    const ttl = 16;
    const grantedAt = Date.now();
    const idle = await grant(a.endpoint, ttl);
    await ok(a.endpoint, ['put', '/idle', 'v', '--lease', idle]);
    // Long enough for several checkpoints of the idle lease's remaining TTL.
    await new Promise((r) => setTimeout(r, 7_000));
    await leader.kill9();
    try {
      const after = await roles(cluster, followers);
      // Carried over: what was left at the last checkpoint, not a fresh TTL (16 s plus an election timeout).
      const left = await remaining(after.leader.endpoint, idle);
      const elapsedS = (Date.now() - grantedAt) / 1000;
      assert.ok(left <= ttl - elapsedS + checkpointIntervalS + 2 * (electionTimeoutMs / 1000) + 1, `remaining ${left} s after ${elapsedS.toFixed(1)} s`);
      await waitUntil(async () => (await client.get('/idle').string()) === null, { timeoutMs: 20_000, what: 'the unrenewed lease to expire' });
      const goneAfterS = (Date.now() - grantedAt) / 1000;
      if (process.env['LEASE_TEST_LOG']) console.log(`remaining after failover ${left} s at ${elapsedS.toFixed(1)} s; expired after ${goneAfterS.toFixed(1)} s`);
      // Never early; late by at most a checkpoint interval, the new leader's extension and the election.
      assert.ok(goneAfterS >= ttl - 1, `expired after ${goneAfterS.toFixed(1)} s, before its TTL`);
      assert.ok(goneAfterS <= ttl + checkpointIntervalS + 3 * (electionTimeoutMs / 1000) + 2, `expired only after ${goneAfterS.toFixed(1)} s`);
      assert.is(await client.get('/alive').string(), 'v', 'the kept-alive lease’s key stays');
      assert.is(lost, false, 'the client never saw its lease lost');
      const keptLeft = await remaining(after.followers[0]!.endpoint, BigInt(await kept.grant()).toString(16));
      assert.ok(keptLeft > 0 && keptLeft <= 3, `kept lease remaining ${keptLeft}`);
    } finally {
      await leader.restart();
    }
    await kept.revoke();
  } finally {
    client.close();
  }
}, testTimeoutMs);

s.run();

// The same steps against etcd and Lattice: with two of three members stopped, a lease request at the
// survivor waits for a leader until the request timeout and fails with etcd's error.
for (const kind of ['etcd', 'lattice'] as const) {
  const d = serverSuite(
    `lease requests without a leader (${kind})`,
    async () => startCluster(kind, { size: 3, ...(kind === 'lattice' ? { engine: 'memory' as const } : {}) }),
    missingTools(kind === 'etcd' ? ['etcdctl', 'etcd'] : ['etcdctl']),
  );
  d.it('keep-alive and time-to-live at a member without a leader fail with etcdserver: no leader', async (cluster) => {
    const [m1, m2, m3] = cluster.members as [ClusterMember, ClusterMember, ClusterMember];
    const id = await grant(m1.endpoint, 30);
    await Promise.all([m2.shutdown(), m3.shutdown()]);
    try {
      // Once the survivor has stepped down (check quorum), it knows no leader.
      // (JSON leaves out a zero leader)
      await waitUntil(async () => /"raft_term"/.test((await ok(m1.endpoint, ['endpoint', 'status', '-w', 'json']))) && !/"leader":[1-9]/.test((await ok(m1.endpoint, ['endpoint', 'status', '-w', 'json']))), {
        timeoutMs: 20_000,
        what: 'the survivor to lose its leader',
      });
      // etcdctl's client retries an Unavailable answer on its own, so the first error line is what counts.
      for (const args of [['lease', 'keep-alive', '--once', id], ['lease', 'timetolive', id]]) {
        const started = Date.now();
        const p = spawnProcess({ name: `etcdctl ${args[1]}`, command: 'etcdctl', args: ['--endpoints', m1.endpoint, ...args], env: { ...process.env, ETCDCTL_API: '3' } });
        try {
          const line = await p.waitForLine(/etcdserver: no leader|etcdserver: request timed out|etcdserver: not capable/, 20_000);
          assert.match(line, /etcdserver: no leader/, `${args[1]}: ${line}`);
          // after waiting for a leader for etcd's request timeout (5 s + 2 election timeouts)
          assert.ok(Date.now() - started >= 5_000, `${args[1]} failed after ${Date.now() - started} ms`);
        } finally {
          await p.stop();
        }
      }
    } finally {
      await Promise.all([m2.restart(), m3.restart()]);
    }
  }, testTimeoutMs);
  d.run();
}
