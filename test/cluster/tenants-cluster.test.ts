// Tenants in a 3-member Lattice cluster (memory engine): a tenant's key limit is checked when each
// member applies the log, so writes racing through all three members are refused identically
// everywhere (exactly maxKeys succeed, every member counts the same usage), and a tenant made through
// the admin API on one member is known to the others. Member m3 is given a stale tenants file (a
// lower generation, another maxKeys): configured tenants are proposed through the log only over a
// lower stored generation, so every member enforces the newest spec whatever order they started in,
// and m3 stays ready (it enforces the cluster's spec) but says it is stale in its log, a metric and
// /api/tenants, until it restarts with the current file.
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { waitUntil } from '../helpers/processes.js';
import { serverSuite } from '../helpers/spec.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';

const maxKeys = 10;
const writes = 45;

/** m1 and m2 are given the first, m3 the second: an older generation with a lower maxKeys, which the racing writes would meet. */
const configured = {
  m1: { name: 'q', prefix: '/tenants/q/', generation: 2, limits: { maxKeys } },
  m3: { name: 'q', prefix: '/tenants/q/', generation: 1, limits: { maxKeys: 3 } },
};

interface Fixture {
  cluster: TestCluster;
  dir: string;
  /** m3's tenants file. */
  other: string;
  stop(): Promise<void>;
}

async function start(): Promise<Fixture> {
  const dir = makeTempDir('tenants-cluster');
  const file = join(dir, 'tenants.json');
  writeFileSync(file, JSON.stringify([configured.m1]));
  const other = join(dir, 'tenants-m3.json');
  writeFileSync(other, JSON.stringify([configured.m3]));
  const cluster = await startCluster('lattice', { size: 3, engine: 'memory', memberEnv: (name) => ({ LATTICE_TENANTS_FILE: name === 'm3' ? other : file }) });
  return {
    cluster,
    dir,
    other,
    async stop() {
      await cluster.stop();
      removeTempDir(dir);
    },
  };
}

const json = async (url: string, init?: RequestInit): Promise<{ status: number; body: Record<string, unknown> }> => {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
};

const s = serverSuite('tenants in a 3-member cluster', start);

s.it('writes racing through every member past maxKeys are refused alike; every member counts the same usage', async ({ cluster }) => {
  const members = cluster.members;
  // the newest generation wins whichever member proposed first
  for (const m of members) {
    await waitUntil(async () => (await json(`${m.endpoint}/api/tenants/q`)).body['generation'] === 2, { timeoutMs: 10_000, what: `generation 2 at ${m.name}` });
  }
  const results = await Promise.all(
    Array.from({ length: writes }, (_, i) =>
      json(`${members[i % members.length]!.endpoint}/v3/kv/put`, {
        method: 'POST',
        body: JSON.stringify({ key: Buffer.from(`/tenants/q/k${i}`).toString('base64'), value: Buffer.from('v').toString('base64') }),
      }),
    ),
  );
  const ok = results.filter((r) => r.status === 200);
  const refused = results.filter((r) => r.status !== 200);
  assert.is(ok.length, maxKeys);
  for (const r of refused) assert.is(r.body['message'], 'etcdserver: mvcc: database space exceeded');
  const usages: unknown[] = [];
  for (const m of members) {
    // a linearizable read first, so a follower has applied every write answered above
    await json(`${m.endpoint}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('x').toString('base64') }) });
    const got = await json(`${m.endpoint}/api/tenants/q`);
    usages.push((got.body['usage'] as { keys: number; bytes: number }).keys);
    const count = await json(`${m.endpoint}/v3/kv/range`, {
      method: 'POST',
      body: JSON.stringify({ key: Buffer.from('/tenants/q/').toString('base64'), range_end: Buffer.from('/tenants/q0').toString('base64'), count_only: true, serializable: true }),
    });
    assert.is(count.body['count'], String(maxKeys));
  }
  assert.equal(usages, [maxKeys, maxKeys, maxKeys]);
});

s.it('a member restarted with a stale tenants file never rolls the cluster back: it stays ready, saying it is stale (log, metric, /api/tenants), until restarted with the current file', async ({ cluster, other }) => {
  const enforced: unknown[] = [];
  for (const m of cluster.members) {
    await json(`${m.endpoint}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('x').toString('base64') }) });
    const q = (await json(`${m.endpoint}/api/tenants/q`)).body;
    enforced.push([q['generation'], q['limits']]);
  }
  assert.equal(enforced, [0, 1, 2].map(() => [2, { maxKeys }]));
  const m3 = cluster.members.find((m) => m.name === 'm3')!;
  for (const m of cluster.members) {
    // a stale file changes nothing the member enforces: in a rolling change every member not yet restarted is stale
    const ready = await fetch(`${m.endpoint}/readyz`);
    assert.is(ready.status, 200, `${m.name}: ${await ready.text()}`);
    const stale = m === m3;
    assert.is((await json(`${m.endpoint}/api/tenants/q`)).body['configState'], stale ? 'stale' : 'agrees', m.name);
    const metrics = await (await fetch(`${m.endpoint}/metrics`)).text();
    assert.match(metrics, `lattice_tenant_config_stale{tenant="q"} ${stale ? 1 : 0}`);
  }
  await waitUntil(async () => m3.process.output().includes('tenants: stale configuration'), { timeoutMs: 5_000, what: 'm3 warns of its stale file' });
  assert.match(m3.process.output(), /generation 1 here, 2 in the cluster/);
  writeFileSync(other, JSON.stringify([configured.m1]));
  await m3.restart();
  await waitUntil(async () => (await fetch(`${m3.endpoint}/readyz`)).status === 200, { timeoutMs: 10_000, what: 'm3 ready with the current file' });
  assert.is((await json(`${m3.endpoint}/api/tenants/q`)).body['configState'], 'agrees');
});

s.it('a tenant created through one member is known to every member', async ({ cluster }) => {
  const [first, ...others] = cluster.members;
  const created = await json(`${first!.endpoint}/api/tenants/made`, { method: 'PUT', body: JSON.stringify({ prefix: '/tenants/made/', limits: { maxKeys: 1 } }) });
  assert.is(created.status, 201);
  for (const m of others) {
    await waitUntil(async () => (await json(`${m.endpoint}/api/tenants/made`)).status === 200, { timeoutMs: 10_000, what: `tenant known at ${m.name}` });
    const put = async (k: string) => json(`${m.endpoint}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: Buffer.from(`/tenants/made/${k}`).toString('base64'), value: 'dg==' }) });
    if (m === others[0]) {
      assert.is((await put('a')).status, 200);
      assert.is((await put('b')).body['message'], 'etcdserver: mvcc: database space exceeded');
    }
  }
});

s.it('a tenant made inside a deleted tenant\'s prefix counts its keys alike on every member, a restarted one included', async ({ cluster }) => {
  const [first, second, third] = cluster.members;
  const put = (m: typeof first, k: string) =>
    json(`${m!.endpoint}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: Buffer.from(`/tenants/x/${k}`).toString('base64'), value: 'dg==' }) });
  assert.is((await json(`${first!.endpoint}/api/tenants/x`, { method: 'PUT', body: JSON.stringify({ prefix: '/tenants/x/' }) })).status, 201);
  assert.is((await json(`${first!.endpoint}/api/tenants/x`, { method: 'DELETE' })).status, 204);
  assert.is((await json(`${first!.endpoint}/api/tenants/y`, { method: 'PUT', body: JSON.stringify({ prefix: '/tenants/x/y/', limits: { maxKeys: 1 } }) })).status, 201);
  const results = [];
  for (let i = 0; i < 5; i++) results.push(await put(cluster.members[i % 3], `y/k${i}`));
  assert.is(results.filter((r) => r.status === 200).length, 1);
  await third!.restart();
  const usages: unknown[] = [];
  for (const m of [first, second, third]) {
    await waitUntil(async () => (await json(`${m!.endpoint}/api/tenants/y`)).status === 200, { timeoutMs: 10_000, what: `tenant y at ${m!.name}` });
    await json(`${m!.endpoint}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('x').toString('base64') }) });
    usages.push(((await json(`${m!.endpoint}/api/tenants/y`)).body['usage'] as { keys: number }).keys);
  }
  assert.equal(usages, [1, 1, 1]);
});

s.run();
