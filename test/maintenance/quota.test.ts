// The space quota end to end, Lattice beside a real etcd 3.4 with the same small quota: fill past it,
// then writes fail with etcd's error while reads, deletes and compaction work, `alarm list` shows
// NOSPACE, /health is false; the alarm survives a restart; compact + defrag + disarm restores writes
// and `endpoint status` dbSize falls after defrag. Alarm's answers for an unknown member and for NONE.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { AlarmAction, AlarmType, Etcd3 } from 'etcd3';
import * as assert from 'uvu/assert';
import { etcdctl, errorLines } from '../helpers/etcdctl.js';
import { engines, startLattice, type LatticeServer } from '../helpers/lattice-server.js';
import { allocateAddress, etcdFlags, launchRestartable, type RestartableServer } from '../helpers/server-flags.js';
import { missingTools } from '../helpers/tools.js';
import { serverSuite } from '../helpers/spec.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';

/** Small enough to fill in a second or two, large enough for the start-up state of both servers. */
const quotaBytes = 400_000;
/** Random (incompressible: RocksDB compresses its WAL) values; 20 keys overwritten in turn. */
const valueBytes = 1500;
const keyCount = 20;
const maxPuts = Math.ceil((3 * quotaBytes) / valueBytes);

interface Pair {
  lattice: LatticeServer;
  etcd: RestartableServer;
  stop(): Promise<void>;
}

async function startEtcdWithQuota(): Promise<RestartableServer> {
  const root = makeTempDir('etcd-quota');
  const address = await allocateAddress('etcd', join(root, 'data'));
  return launchRestartable(
    { label: 'etcd', command: 'etcd', args: [...etcdFlags(address), '--quota-backend-bytes', String(quotaBytes)], logFile: join(root, 'etcd.log') },
    address,
    () => removeTempDir(root),
  );
}

async function startPair(engine: (typeof engines)[number]): Promise<Pair> {
  const lattice = await startLattice(engine, 'lattice', ['--quota-backend-bytes', String(quotaBytes)]);
  const etcd = await startEtcdWithQuota().catch(async (e: unknown) => {
    await lattice.stop();
    throw e;
  });
  return { lattice, etcd, stop: async () => void (await Promise.all([lattice.stop(), etcd.stop()])) };
}

/** Puts until one fails; returns the failure's message and how many puts fit. */
async function fill(endpoint: string): Promise<{ message: string; puts: number }> {
  const client = new Etcd3({ hosts: endpoint });
  try {
    for (let i = 0; i < maxPuts; i++) {
      const failed = await client
        .put(`fill/${i % keyCount}`)
        .value(randomBytes(valueBytes).toString('base64'))
        .then(() => undefined, (e: Error) => e.message);
      if (failed !== undefined) return { message: failed, puts: i };
    }
    throw new Error(`${maxPuts} puts fit under a ${quotaBytes}-byte quota`);
  } finally {
    client.close();
  }
}

/** `alarm list` with member IDs replaced, so Lattice's and etcd's answers compare. */
async function alarmList(endpoint: string): Promise<string> {
  const r = await etcdctl(endpoint, ['alarm', 'list']);
  assert.is(r.code, 0, r.stderr);
  return r.stdout.replace(/memberID:\d+/g, 'memberID:<id>');
}

async function dbSize(endpoint: string): Promise<number> {
  const r = await etcdctl(endpoint, ['endpoint', 'status', '-w', 'json']);
  assert.is(r.code, 0, r.stderr);
  const m = /"dbSize":(\d+)/.exec(r.stdout);
  assert.ok(m !== null, r.stdout);
  return Number(m[1]);
}

async function currentRevision(endpoint: string): Promise<number> {
  const r = await etcdctl(endpoint, ['endpoint', 'status', '-w', 'json']);
  const m = /"revision":(\d+)/.exec(r.stdout);
  assert.ok(m !== null, r.stdout);
  return Number(m[1]);
}

/** What a few requests answer under NOSPACE: each one's first error line, or OK. */
async function answersUnderNoSpace(endpoint: string): Promise<Record<string, string>> {
  const first = async (args: string[], input?: string): Promise<string> => {
    const r = await etcdctl(endpoint, args, input);
    return r.code === 0 ? 'OK' : (errorLines(r.stderr)[0] ?? r.stderr.trim());
  };
  return {
    put: await first(['put', 'small', 'x']),
    'txn with a put': await first(['txn'], '\nput small x\n\n'),
    'txn with a delete only': await first(['txn'], '\ndel fill/1\n\n'),
    'lease grant': await first(['lease', 'grant', '100']),
    get: await first(['get', 'fill/0', '--print-value-only']),
    delete: await first(['del', 'fill/2']),
  };
}

async function health(endpoint: string): Promise<string> {
  const res = await fetch(`${endpoint}/health`);
  return `${res.status} ${await res.text()}`;
}

const missing = missingTools(['etcd', 'etcdctl']);
for (const engine of engines) {
  const s = serverSuite(`space quota (${engine})`, () => startPair(engine), missing);

  s.it('past the quota, writes fail with etcd\'s error and NOSPACE is raised while reads, deletes and /health answer as etcd', async ({ lattice, etcd }) => {
    const [l, e] = await Promise.all([fill(lattice.endpoint), fill(etcd.endpoint)]);
    assert.match(l.message, /database space exceeded/);
    assert.is(l.message, e.message);
    assert.ok(l.puts > 50, `only ${l.puts} puts fit in ${quotaBytes} bytes`);
    assert.is(await alarmList(lattice.endpoint), await alarmList(etcd.endpoint));
    assert.match(await alarmList(lattice.endpoint), /^memberID:<id> alarm:NOSPACE \n$/);
    assert.equal(await answersUnderNoSpace(lattice.endpoint), await answersUnderNoSpace(etcd.endpoint));
    assert.is(await health(lattice.endpoint), await health(etcd.endpoint));
    assert.is(await health(lattice.endpoint), '503 {"health":"false"}\n');
  }, 120_000);

  s.it('the alarm survives a restart', async ({ lattice }) => {
    await lattice.restart();
    assert.match(await alarmList(lattice.endpoint), /alarm:NOSPACE/);
    const r = await etcdctl(lattice.endpoint, ['put', 'small', 'x']);
    assert.equal(errorLines(r.stderr), ['Error: etcdserver: mvcc: database space exceeded']);
  });

  s.it('compact, defrag and alarm disarm restore writes, and dbSize falls after defrag', async ({ lattice, etcd }) => {
    for (const server of [lattice, etcd]) {
      const ep = server.endpoint;
      assert.is((await etcdctl(ep, ['compact', String(await currentRevision(ep))])).code, 0);
      const before = await dbSize(ep);
      const defrag = await etcdctl(ep, ['defrag']);
      assert.match(defrag.stdout, /^Finished defragmenting etcd member\[/, defrag.stderr);
      const after = await dbSize(ep);
      assert.ok(after < before / 2, `${server === lattice ? 'Lattice' : 'etcd'}: dbSize ${before} → ${after} after defrag`);
      // Still refused until the alarm is disarmed.
      assert.equal(errorLines((await etcdctl(ep, ['put', 'small', 'x'])).stderr), ['Error: etcdserver: mvcc: database space exceeded']);
      const disarm = await etcdctl(ep, ['alarm', 'disarm']);
      assert.match(disarm.stdout.replace(/memberID:\d+/g, 'memberID:<id>'), /^memberID:<id> alarm:NOSPACE \n$/);
      assert.is((await etcdctl(ep, ['put', 'small', 'x'])).stdout, 'OK\n');
      assert.is(await alarmList(ep), '');
      assert.is(await health(ep), '200 {"health":"true"}');
    }
  }, 120_000);

  s.it('Alarm answers as etcd for an unknown member, a repeated activate, NONE and a deactivate of nothing', async ({ lattice, etcd }) => {
    const script = async (endpoint: string): Promise<unknown[]> => {
      const client = new Etcd3({ hosts: endpoint });
      const m = client.maintenance;
      const alarms = async (action: AlarmAction, memberID: string, alarm: AlarmType) =>
        // etcd lists from a map: its order is not part of the answer.
        (await m.alarm({ action, memberID, alarm })).alarms.map((a) => `${a.memberID}:${a.alarm}`).sort();
      try {
        return [
          await alarms(AlarmAction.Activate, '12345', AlarmType.Nospace),
          await alarms(AlarmAction.Activate, '12345', AlarmType.Nospace),
          await alarms(AlarmAction.Activate, '777', AlarmType.Corrupt),
          await alarms(AlarmAction.Get, '0', AlarmType.None),
          await alarms(AlarmAction.Get, '0', AlarmType.Corrupt),
          await alarms(AlarmAction.Deactivate, '999', AlarmType.Nospace),
          await alarms(AlarmAction.Deactivate, '12345', AlarmType.Nospace),
          await alarms(AlarmAction.Deactivate, '777', AlarmType.Corrupt),
          await alarms(AlarmAction.Get, '0', AlarmType.None),
        ];
      } finally {
        client.close();
      }
    };
    const l = await script(lattice.endpoint);
    assert.equal(l, await script(etcd.endpoint));
    assert.equal(l[3], ['12345:Nospace', '777:Corrupt']);
  });

  s.run();
}
