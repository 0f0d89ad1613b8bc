// Durability: what a client was told is written survives a crash (kill -9) in
// the middle of a load and a clean shutdown, and the server comes back as the
// same member of the same cluster. Real etcd runs the same spec as a reference.
import * as assert from 'uvu/assert';
import { Etcd3 } from 'etcd3';
import { startEtcd } from '../helpers/etcd-server.js';
import { engines, startLattice } from '../helpers/lattice-server.js';
import type { RestartableServer } from '../helpers/server-flags.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';

/** Puts offered in the crash test; the kill comes long before they are all sent. */
const loadPutCount = 3_000;
/** Puts in flight at once. */
const loadConcurrency = 16;
/** The server is SIGKILLed once this many puts are acknowledged. */
const killAfterAcks = 400;
/** Deadline of one put. */
const putDeadlineMs = 5_000;
/** How long in-flight puts get to settle after the kill before the client is closed. */
const drainAfterKillMs = 10_000;
const cleanPutCount = 50;
const durabilityTestTimeoutMs = 120_000;

interface Ack {
  key: string;
  value: string;
  revision: bigint;
}

interface Identity {
  memberId: string;
  clusterId: string;
}

async function identity(client: Etcd3): Promise<Identity> {
  const status = await client.maintenance.status();
  return { memberId: status.header.member_id, clusterId: status.header.cluster_id };
}

/** A wait that never keeps the process alive (it only bounds a race). */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Concurrent puts; SIGKILLs the server once killAfterAcks are acknowledged; returns every acknowledged put. */
async function loadUntilKilled(server: RestartableServer): Promise<{ acks: Ack[]; failures: number }> {
  const client = new Etcd3({ hosts: server.endpoint });
  const acks: Ack[] = [];
  let failures = 0;
  let next = 0;
  let killed: Promise<void> | null = null;
  const worker = async () => {
    while (killed === null && next < loadPutCount) {
      const n = next++;
      const key = `load/${String(n).padStart(5, '0')}`;
      const value = `value-${n}-${'x'.repeat(n % 97)}`;
      try {
        const response = await client.put(key).value(value).options({ deadline: Date.now() + putDeadlineMs });
        acks.push({ key, value, revision: BigInt(response.header.revision) });
        if (acks.length >= killAfterAcks && killed === null) killed = server.kill9();
      } catch {
        failures++;
      }
    }
  };
  const workers = Promise.allSettled(Array.from({ length: loadConcurrency }, worker));
  try {
    await Promise.race([workers, delay(durabilityTestTimeoutMs)]);
    assert.ok(killed !== null, `the load ended (${acks.length} acks, ${failures} failures) before the kill`);
    await killed;
    await Promise.race([workers, delay(drainAfterKillMs)]);
  } finally {
    client.close();
  }
  return { acks: [...acks], failures };
}

function defineSuite(name: string, start: () => Promise<RestartableServer>, skipReason: string | null): void {
  const s = serverSuite(name, start, skipReason);
  let before: Identity | null = null;

  s.it(
    'every put acknowledged before a kill -9 mid-load is readable after restart, with its value and revision',
    async (server) => {
      const probe = new Etcd3({ hosts: server.endpoint });
      try {
        before = await identity(probe);
      } finally {
        probe.close();
      }

      const { acks } = await loadUntilKilled(server);
      assert.ok(acks.length >= killAfterAcks, `${acks.length} acks`);
      assert.is(server.process.exitInfo?.signal, 'SIGKILL');
      await server.restart();

      const client = new Etcd3({ hosts: server.endpoint });
      try {
        const stored = await client.getAll().prefix('load/').exec();
        const byKey = new Map(stored.kvs.map((kv) => [kv.key.toString(), kv]));
        const lost = acks.filter((ack) => byKey.get(ack.key)?.value.toString() !== ack.value).map((ack) => ack.key);
        assert.equal(lost.slice(0, 20), [], `${lost.length} of ${acks.length} acknowledged puts lost or changed`);
        const moved = acks.filter((ack) => BigInt(byKey.get(ack.key)?.mod_revision ?? '0') !== ack.revision).map((ack) => ack.key);
        assert.equal(moved.slice(0, 20), [], `${moved.length} keys have a mod_revision other than their acknowledged revision`);
        const lastAcked = acks.reduce((max, ack) => (ack.revision > max ? ack.revision : max), 0n);
        assert.ok(BigInt(stored.header.revision) >= lastAcked, `revision ${stored.header.revision} < last acknowledged ${lastAcked}`);
      } finally {
        client.close();
      }
    },
    durabilityTestTimeoutMs,
  );

  s.it('after the crash and restart the member ID and cluster ID are unchanged', async (server) => {
    assert.ok(before, 'identity recorded before the crash');
    const client = new Etcd3({ hosts: server.endpoint });
    try {
      assert.equal(await identity(client), before);
    } finally {
      client.close();
    }
  });

  s.it(
    'after a clean SIGTERM shutdown and restart, every key, the revision and the IDs are kept',
    async (server) => {
      let client = new Etcd3({ hosts: server.endpoint });
      let snapshot: string;
      let ids: Identity;
      try {
        for (let i = 0; i < cleanPutCount; i++) await client.put(`clean/${i}`).value(`v${i}`);
        await client.delete().key('clean/0');
        const all = await client.getAll().exec();
        snapshot = JSON.stringify({ revision: all.header.revision, kvs: all.kvs.map((kv) => [kv.key.toString(), kv.value.toString(), kv.create_revision, kv.mod_revision, kv.version]) });
        ids = await identity(client);
      } finally {
        client.close();
      }

      await server.shutdown();
      assert.is.not(server.process.exitInfo?.signal, 'SIGKILL', 'it stopped on SIGTERM within the grace period');
      await server.restart();

      client = new Etcd3({ hosts: server.endpoint });
      try {
        const all = await client.getAll().exec();
        const after = JSON.stringify({ revision: all.header.revision, kvs: all.kvs.map((kv) => [kv.key.toString(), kv.value.toString(), kv.create_revision, kv.mod_revision, kv.version]) });
        assert.fixture(after, snapshot);
        assert.equal(await identity(client), ids);
      } finally {
        client.close();
      }
    },
    durabilityTestTimeoutMs,
  );

  s.run();
}

defineSuite('durability of real etcd (reference)', () => startEtcd(), missingTools(['etcd']));
for (const engine of engines) defineSuite(`durability of Lattice (${engine})`, () => startLattice(engine), null);
