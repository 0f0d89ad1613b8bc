// Alarms in a 3-member cluster: raised on one member, every member lists it (it is applied from the
// log) and refuses puts with NOSPACE; a disarm through another member lifts it everywhere.
import { AlarmAction, AlarmType, Etcd3 } from 'etcd3';
import * as assert from 'uvu/assert';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { etcdctl, errorLines } from '../helpers/etcdctl.js';
import { waitUntil } from '../helpers/processes.js';
import { missingTools } from '../helpers/tools.js';
import { serverSuite } from '../helpers/spec.js';

const spreadTimeoutMs = 10_000;

async function memberIdOf(endpoint: string): Promise<string> {
  const r = await etcdctl(endpoint, ['endpoint', 'status', '-w', 'json']);
  const m = /"member_id":(\d+)/.exec(r.stdout);
  assert.ok(m !== null, r.stdout + r.stderr);
  return m[1]!;
}

const alarmList = async (endpoint: string): Promise<string> => (await etcdctl(endpoint, ['alarm', 'list'])).stdout;

for (const kind of ['lattice', 'etcd'] as const) {
  const s = serverSuite(`NOSPACE alarm in a 3-member cluster (${kind})`, () => startCluster(kind, { size: 3 }), missingTools(kind === 'etcd' ? ['etcd', 'etcdctl'] : ['etcdctl']));

  s.it('raised on one member, listed through every member and refusing puts everywhere; disarmed through another', async (cluster: TestCluster) => {
    const [m1, m2, m3] = cluster.members;
    assert.ok(m1 !== undefined && m2 !== undefined && m3 !== undefined);
    const id1 = await memberIdOf(m1.endpoint);
    const client = new Etcd3({ hosts: m1.endpoint });
    try {
      const raised = await client.maintenance.alarm({ action: AlarmAction.Activate, memberID: id1, alarm: AlarmType.Nospace });
      assert.equal(raised.alarms, [{ memberID: id1, alarm: 'Nospace' }]);
    } finally {
      client.close();
    }
    const expected = `memberID:${id1} alarm:NOSPACE \n`;
    for (const m of [m1, m2, m3]) {
      await waitUntil(async () => (await alarmList(m.endpoint)) === expected, { timeoutMs: spreadTimeoutMs, what: `${m.name} to list the alarm` });
      assert.equal(errorLines((await etcdctl(m.endpoint, ['put', 'k', 'v'])).stderr), ['Error: etcdserver: mvcc: database space exceeded'], m.name);
      const h = await fetch(`${m.endpoint}/health`);
      assert.is(h.status, 503, m.name);
    }
    const disarm = await etcdctl(m3.endpoint, ['alarm', 'disarm']);
    assert.is(disarm.stdout, expected);
    for (const m of [m1, m2, m3]) {
      await waitUntil(async () => (await alarmList(m.endpoint)) === '', { timeoutMs: spreadTimeoutMs, what: `${m.name} to drop the alarm` });
      assert.is((await etcdctl(m.endpoint, ['put', 'k', m.name])).stdout, 'OK\n', m.name);
    }
  }, 90_000);

  s.run();
}
