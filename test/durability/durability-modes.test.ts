// kill -9 against real Lattice processes in each durability mode, on 1 and 3 members: a few hundred
// writes acknowledged over the JSON gateway, then kill -9 of one member and of all, restart, count.
// Every mode writes the WAL (to the page cache) before it acknowledges, so a killed process loses
// no acknowledged write in any mode: the bound asserted is zero loss. (Power loss, where quorum and
// async do lose their unsynced tail, is measured on the WAL itself in durability-modes-wal.test.ts.)
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster } from '../helpers/cluster.js';
import { startLattice } from '../helpers/lattice-server.js';
import { stopAllProcesses, waitUntil } from '../helpers/processes.js';
import { withTimeout } from '../helpers/spec.js';
import { removeAllTempDirs } from '../helpers/temp-dirs.js';

const test = suite('durability modes under kill -9');
const it = (name: string, body: () => Promise<void>, timeoutMs = 90_000): void => test(name, () => withTimeout(body(), timeoutMs, name));

test.after(async () => {
  await stopAllProcesses();
  removeAllTempDirs();
});

const writes = 300;
/** Writes in flight at once, so that saves share WAL writes as under real load. */
const concurrency = 16;
const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** Puts keys `${prefix}0000..` through endpoints (round robin); returns the keys acknowledged. */
async function putMany(endpoints: readonly string[], prefix: string, count: number): Promise<Set<string>> {
  let next = 0;
  const acked = new Set<string>();
  const worker = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      const key = `${prefix}${String(i).padStart(4, '0')}`;
      try {
        const res = await fetch(`${endpoints[i % endpoints.length]!}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: b64(key), value: b64(`v${i}`) }) });
        await res.arrayBuffer();
        if (res.status === 200) acked.add(key);
      } catch {
        // not acknowledged (a leader lost mid-request): its outcome is unknown, so it is not counted
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return acked;
}

/** Keys under prefix, by a linearizable range on endpoint (retried while the member finds its leader). */
async function keysOn(endpoint: string, prefix: string): Promise<Set<string>> {
  let keys = new Set<string>();
  const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
  await waitUntil(
    async () => {
      try {
        const res = await fetch(`${endpoint}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: b64(prefix), range_end: b64(end), keys_only: true }) });
        if (res.status !== 200) return false;
        const body = (await res.json()) as { kvs?: { key: string }[] };
        keys = new Set((body.kvs ?? []).map((kv) => Buffer.from(kv.key, 'base64').toString()));
        return true;
      } catch {
        return false;
      }
    },
    { timeoutMs: 20_000, what: `a range of ${prefix}* on ${endpoint}` },
  );
  return keys;
}

/** Acknowledged keys missing on endpoint: the loss, asserted to be none. */
async function lost(endpoint: string, prefix: string, acked: ReadonlySet<string>): Promise<string[]> {
  const present = await keysOn(endpoint, prefix);
  return [...acked].filter((k) => !present.has(k));
}

it('1 member, each mode (sync, quorum, async) side by side: kill -9 loses no acknowledged write', async () => {
  await Promise.all(
    (['sync', 'quorum', 'async'] as const).map(async (mode) => {
      const server = await startLattice('rocksdb', `single-${mode}`, ['--durability', mode]);
      try {
        const acked = await putMany([server.endpoint], 'a/', writes);
        assert.is(acked.size, writes, mode);
        await server.kill9();
        await server.restart();
        assert.equal(await lost(server.endpoint, 'a/', acked), [], mode);
      } finally {
        await server.stop();
      }
    }),
  );
});

for (const mode of ['sync', 'quorum'] as const) {
  it(`3 members, ${mode}: kill -9 of one member and then of all loses no acknowledged write`, async () => {
    const cluster = await startCluster('lattice', { size: 3, engine: 'memory', extraArgs: ['--durability', mode] });
    try {
      const [m1, m2, m3] = cluster.members;
      if (m1 === undefined || m2 === undefined || m3 === undefined) throw new Error('three members expected');
      const before = await putMany([m1.endpoint, m2.endpoint, m3.endpoint], 'c/', writes);
      assert.is(before.size, writes);
      // One member down: the other two are a quorum and go on taking writes (a few may fail while a new leader is elected).
      await m1.kill9();
      const during = await putMany([m2.endpoint, m3.endpoint], 'd/', writes / 3);
      assert.ok(during.size >= writes / 6, `${during.size} acknowledged with one member down`);
      await m1.restart();
      assert.equal(await lost(m1.endpoint, 'd/', during), [], 'the restarted member caught up');
      // Everyone at once: members of a new cluster serve only once they have a leader, so all restart together.
      await Promise.all(cluster.members.map((m) => m.kill9()));
      await Promise.all(cluster.members.map((m) => m.restart()));
      for (const m of cluster.members) {
        assert.equal(await lost(m.endpoint, 'c/', before), [], `${m.name}: c/`);
        assert.equal(await lost(m.endpoint, 'd/', during), [], `${m.name}: d/`);
      }
    } finally {
      await cluster.stop();
    }
  });
}

test.run();
