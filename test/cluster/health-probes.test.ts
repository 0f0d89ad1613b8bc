// /livez, /readyz and the Raft and peer metrics of a 3-member cluster: every member is ready and
// sees one leader; peer metrics carry etcd's To/From labels (compared with a real etcd cluster);
// a member that lost its quorum stays live but is no longer ready nor healthy.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { hasEtcd, missingTools, skip } from '../helpers/tools.js';
import { labelNamesOf, parsePrometheusText, sampleValue, type MetricFamily } from '../helpers/prom-text.js';

const test = suite('cluster: /livez, /readyz and Raft metrics on 3 members');

const timingFlags = ['--heartbeat-interval', '50', '--election-timeout', '500'];
let lattice: TestCluster | undefined;
let etcd: TestCluster | undefined;

async function scrape(endpoint: string): Promise<Map<string, MetricFamily>> {
  const res = await fetch(`${endpoint}/metrics`);
  assert.is(res.status, 200);
  return parsePrometheusText(await res.text());
}

async function status(url: string): Promise<number> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(3000) })).status;
  } catch {
    return 0;
  }
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test.before(async () => {
  // both settle before either failure is thrown, so a cluster that did start is stopped
  const [l, e] = await Promise.allSettled([
    startCluster('lattice', { size: 3, engine: 'memory', extraArgs: timingFlags }),
    hasEtcd() ? startCluster('etcd', { size: 3, extraArgs: timingFlags }) : Promise.resolve(undefined),
  ]);
  if (l.status === 'fulfilled') lattice = l.value;
  if (e.status === 'fulfilled') etcd = e.value;
  if (l.status === 'rejected' || e.status === 'rejected') {
    await Promise.all([lattice?.stop(), etcd?.stop()]);
    throw l.status === 'rejected' ? l.reason : (e as PromiseRejectedResult).reason;
  }
});

test.after(async () => {
  await Promise.all([lattice?.stop(), etcd?.stop()]);
});

test('every member becomes ready and agrees on one leader', async () => {
  for (const m of lattice!.members) await eventually(`${m.name} is ready`, async () => (await status(`${m.endpoint}/readyz`)) === 200);
  const scraped = await Promise.all(lattice!.members.map((m) => scrape(m.endpoint)));
  assert.equal(scraped.map((f) => sampleValue(f, 'etcd_server_has_leader')), [1, 1, 1]);
  assert.is(scraped.reduce((n, f) => n + (sampleValue(f, 'etcd_server_is_leader') ?? 0), 0), 1);
  for (const f of scraped) {
    const sent = f.get('etcd_network_peer_sent_bytes_total')!.samples;
    assert.is(sent.length, 2, 'one series per peer');
    // followers talk to the leader only: every member has sent to someone
    assert.ok(sent.some((s) => s.value > 0));
    assert.is(f.get('etcd_network_peer_received_bytes_total')!.samples.length, 2);
    assert.equal(f.get('etcd_network_active_peers')!.samples.map((s) => s.value), [1, 1]);
  }
});

test('peer metrics have the label names of a real etcd cluster', async () => {
  if (etcd === undefined) return skip(missingTools(['etcd']) ?? 'etcd missing');
  const [ours, theirs] = await Promise.all([scrape(lattice!.members[0]!.endpoint), scrape(etcd.members[0]!.endpoint)]);
  for (const name of ['etcd_network_peer_sent_bytes_total', 'etcd_network_peer_received_bytes_total', 'etcd_network_active_peers', 'etcd_network_peer_round_trip_time_seconds']) {
    const theirFamily = theirs.get(name);
    if (theirFamily === undefined || theirFamily.samples.length === 0) continue;
    assert.is(ours.get(name)?.type, theirFamily.type, name);
    assert.equal(labelNamesOf(ours.get(name)!), labelNamesOf(theirFamily), name);
  }
});

test('a member whose peers are gone stays live but is not ready nor healthy', async () => {
  const [survivor, ...others] = lattice!.members;
  await Promise.all(others.map((m) => m.shutdown()));
  await eventually('the survivor has no leader', async () => (await status(`${survivor!.endpoint}/readyz`)) === 503);
  const res = await fetch(`${survivor!.endpoint}/readyz`);
  assert.match(await res.text(), /not ready: no leader/);
  assert.is(await status(`${survivor!.endpoint}/livez`), 200);
  assert.is(await status(`${survivor!.endpoint}/health`), 503);
  assert.is(sampleValue(await scrape(survivor!.endpoint), 'etcd_server_has_leader'), 0);
  // it becomes ready again once a quorum is back
  await others[0]!.restart();
  await eventually('the survivor is ready again', async () => (await status(`${survivor!.endpoint}/readyz`)) === 200);
});

test.run();
