// Lattice clusters of 1 and 3 members on loopback, on both engines, driven by real etcdctl through
// every member: writes through any member are read back from all of them, exactly one leader and
// one term, equal HashKV at the same revision, and a member that restarts catches up.
import * as assert from 'uvu/assert';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { etcdctl } from '../helpers/etcdctl.js';
import { engines } from '../helpers/lattice-server.js';
import { waitUntil } from '../helpers/processes.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';

const testTimeoutMs = 120_000;

interface EndpointStatus {
  Endpoint: string;
  Status: { header: { member_id: number; revision: number; raft_term: number }; leader: number; raftIndex: number; raftAppliedIndex?: number };
}

async function ok(endpoint: string, args: string[]): Promise<string> {
  const r = await etcdctl(endpoint, args);
  if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')} at ${endpoint} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** endpoint status -w json, with the uint64 IDs kept as text. */
async function statuses(cluster: TestCluster): Promise<{ endpoint: string; member: string; leader: string; term: string; revision: string }[]> {
  const out = await ok(cluster.endpoints, ['endpoint', 'status', '-w', 'json']);
  const entries = out.match(/\{"Endpoint":"[^"]+","Status":\{"header":\{[^}]*\}[^}]*\}\}/g) ?? [];
  return entries.map((e) => ({
    endpoint: /"Endpoint":"([^"]+)"/.exec(e)![1]!,
    member: /"member_id":(\d+)/.exec(e)![1]!,
    leader: /"leader":(\d+)/.exec(e)![1]!,
    term: /"raft_term":(\d+)/.exec(e)![1]!,
    revision: /"revision":(\d+)/.exec(e)![1]!,
  }));
}

for (const size of [1, 3]) {
  for (const engine of engines) {
    const s = serverSuite(
      `a ${size}-member Lattice cluster (${engine})`,
      async () => startCluster('lattice', { size, engine }),
      missingTools(['etcdctl']),
    );

    s.it('writes through any member are read back, linearizable and serializable, from every member', async (cluster) => {
      for (const [i, m] of cluster.members.entries()) await ok(m.endpoint, ['put', `/k/${i}`, `v${i}`]);
      const expected = cluster.members.map((_, i) => `/k/${i}\nv${i}\n`).join('');
      for (const m of cluster.members) {
        assert.is(await ok(m.endpoint, ['get', '/k/', '--prefix']), expected, `linearizable get at ${m.name}`);
        // A serializable read is local: it may lag, but not for long.
        await waitUntil(async () => (await ok(m.endpoint, ['get', '/k/', '--prefix', '--consistency=s'])) === expected, {
          timeoutMs: 5_000,
          what: `serializable get at ${m.name} to see every write`,
        });
      }
    }, testTimeoutMs);

    s.it('every member reports the same leader and term, and HashKV is equal on all members at one revision', async (cluster) => {
      const st = await statuses(cluster);
      assert.is(st.length, size);
      assert.is(new Set(st.map((x) => x.leader)).size, 1, 'one leader');
      assert.ok(st.some((x) => x.member === x.leader), 'the leader is a member');
      assert.is(new Set(st.map((x) => x.term)).size, 1, 'one term');
      const revision = st[0]!.revision;
      await waitUntil(async () => new Set((await statuses(cluster)).map((x) => x.revision)).size === 1, { timeoutMs: 5_000, what: 'members to reach one revision' });
      const hashes = await ok(cluster.endpoints, ['endpoint', 'hashkv', '--rev', revision, '-w', 'json']);
      const values = [...hashes.matchAll(/"hash":(\d+)/g)].map((m) => m[1]);
      assert.is(values.length, size);
      assert.is(new Set(values).size, 1, `hashes ${values.join(', ')}`);
    }, testTimeoutMs);

    s.it('member list names every member with its client URLs', async (cluster) => {
      const out = await ok(cluster.endpoints.split(',')[0]!, ['member', 'list']);
      for (const m of cluster.members) {
        assert.ok(out.includes(`, started, ${m.name}, ${m.peerUrl}, ${m.endpoint}, false`), `${m.name} in:\n${out}`);
      }
    }, testTimeoutMs);

    s.it('a member that is killed and restarted catches up with writes made meanwhile', async (cluster) => {
      const victim = cluster.members[cluster.members.length - 1]!;
      await victim.kill9();
      if (size > 1) {
        const live = cluster.members[0]!;
        // If the victim led, writes fail until the others have elected a new leader.
        await waitUntil(async () => (await etcdctl(live.endpoint, ['put', '/down/0', '0'])).code === 0, { timeoutMs: 20_000, what: 'a write after the kill' });
        for (let i = 1; i < 20; i++) await ok(live.endpoint, ['put', `/down/${i}`, `${i}`]);
      }
      await victim.restart();
      // What was acknowledged before the kill is still there.
      const before = cluster.members.map((_, i) => `/k/${i}\nv${i}\n`).join('');
      await waitUntil(async () => (await ok(victim.endpoint, ['get', '/k/', '--prefix', '--consistency=s'])) === before, {
        timeoutMs: 15_000,
        what: 'the restarted member to hold the writes acknowledged before the kill',
      });
      if (size === 1) for (let i = 0; i < 20; i++) await ok(victim.endpoint, ['put', `/down/${i}`, `${i}`]);
      await waitUntil(async () => (await ok(victim.endpoint, ['get', '/down/', '--prefix', '--keys-only', '--consistency=s'])).split('\n').filter((l) => l !== '').length === 20, {
        timeoutMs: 15_000,
        what: 'the restarted member to hold every write',
      });
    }, testTimeoutMs);

    s.run();
  }
}
