// Locks and elections from real clients: Go clientv3/concurrency (Mutex, Election with Observe, STM)
// and the v3lock/v3election services called directly (compared with real etcd), etcdctl lock and
// elect, and the npm etcd3 client's locks and elections.
import * as assert from 'uvu/assert';
import { Etcd3, EtcdLockFailedError } from 'etcd3';
import { startEtcd } from '../helpers/etcd-server.js';
import { buildGoProgram } from '../helpers/go-build.js';
import { engines, startLattice } from '../helpers/lattice-server.js';
import { runCommand, waitUntil } from '../helpers/processes.js';
import { serverSuite, startBoth, stopAll } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';

const programTimeoutMs = 150_000;
const testTimeoutMs = 180_000;

interface Hold {
  session: number;
  acquired: number;
  put: number;
  released: number;
}

async function runConcurrency(endpoint: string, mode: string): Promise<unknown> {
  const binary = await buildGoProgram('concurrency');
  const r = await runCommand(binary, ['--endpoints', endpoint, '--mode', mode], { timeoutMs: programTimeoutMs });
  if (r.code !== 0) throw new Error(`concurrency --mode ${mode} exited with ${r.code ?? r.signal}:\n${r.stderr}`);
  return JSON.parse(r.stdout) as unknown;
}

const differential = serverSuite(
  'lock and election services against real etcd',
  async () => {
    const [etcd, lattice] = await startBoth(() => startEtcd(), () => startLattice('memory'));
    return { etcd, lattice, stop: () => stopAll(etcd, lattice) };
  },
  missingTools(['etcd', 'go']),
);

differential.it('Campaign, Proclaim, Leader, Observe, Resign, Lock and Unlock give etcd results and errors; a lock waiter gets the lock when the holder lease is revoked', async ({ etcd, lattice }) => {
  const expected = await runConcurrency(etcd.endpoint, 'services');
  const actual = (await runConcurrency(lattice.endpoint, 'services')) as Record<string, unknown>;
  assert.equal(actual, expected);
  // A waiter queues behind the holder and is served once the holder's lease is revoked.
  assert.is(actual.waiter_before_revoke, 'waiting');
  assert.is(actual.waiter_served_within_2s, true);
}, testTimeoutMs);

differential.run();

for (const engine of engines) {
  const test = serverSuite(
    `locks and elections (${engine})`,
    async () => {
      const lattice = await startLattice(engine);
      const client = new Etcd3({ hosts: lattice.endpoint });
      return { lattice, client, stop: async () => (client.close(), await lattice.stop()) };
    },
    missingTools(['go', 'etcdctl']),
  );

  test.it('20 clientv3 sessions (Mutex and the Lock service) increment a counter 50 times each: exact total, no overlapping holds', async ({ lattice }) => {
    const out = (await runConcurrency(lattice.endpoint, 'mutex')) as { counter: string; holds: Hold[] };
    assert.is(out.counter, '1000');
    assert.is(out.holds.length, 1000);
    const holds = [...out.holds].sort((a, b) => a.acquired - b.acquired);
    holds.forEach((h, i) => {
      assert.ok(h.acquired < h.put && h.put < h.released, `hold ${JSON.stringify(h)} wrote outside its lock`);
      const next = holds[i + 1];
      if (next !== undefined) assert.ok(next.acquired >= h.released, `holds overlap: ${JSON.stringify(h)} and ${JSON.stringify(next)}`);
    });
  }, testTimeoutMs);

  test.it('clientv3 Election: campaigns in order, proclaim, resign, a revoked leader loses, Observe sees each leader value', async ({ lattice }) => {
    const out = await runConcurrency(lattice.endpoint, 'election');
    assert.equal(out, {
      no_leader: 'election: no leader',
      leader_while_a: 'a2',
      won: ['c1', 'c2'],
      not_leader: 'election: not leader',
      observed: ['a1', 'a2', 'c1', 'c2', 'c2-final'],
    });
  }, testTimeoutMs);

  test.it('clientv3 STM transfers between accounts keep the total', async ({ lattice }) => {
    assert.equal(await runConcurrency(lattice.endpoint, 'stm'), { total: 500, accounts: 5 });
  }, testTimeoutMs);

  test.it('etcdctl lock runs a command under the lock, and a second etcdctl lock waits for the first', async ({ lattice }) => {
    const ep = lattice.endpoint;
    const once = await runCommand('etcdctl', ['--endpoints', ep, 'lock', 'ctl-lock', 'echo', 'inside'], { timeoutMs: 30_000 });
    assert.is(once.stdout, 'inside\n');
    const first = runCommand('etcdctl', ['--endpoints', ep, 'lock', 'ctl-lock', '--', 'sh', '-c', 'echo first; sleep 2'], { timeoutMs: 30_000 });
    await waitUntil(async () => (await runCommand('etcdctl', ['--endpoints', ep, 'get', '--prefix', '--keys-only', 'ctl-lock/'])).stdout.trim() !== '', { timeoutMs: 10_000, what: 'the first lock holder' });
    const startedSecondAt = Date.now();
    const second = await runCommand('etcdctl', ['--endpoints', ep, 'lock', 'ctl-lock', 'echo', 'second'], { timeoutMs: 30_000 });
    assert.is((await first).stdout, 'first\n');
    assert.is(second.stdout, 'second\n');
    assert.ok(Date.now() - startedSecondAt >= 1000, 'the second lock did not wait for the first holder');
  }, testTimeoutMs);

  test.it('etcdctl elect campaigns and prints the leader; elect -l lists the leader', async ({ lattice }) => {
    const ep = lattice.endpoint;
    const candidate = runCommand('timeout', ['4', 'etcdctl', '--endpoints', ep, 'elect', 'ctl-elect', 'alice'], { timeoutMs: 30_000 });
    await waitUntil(async () => (await runCommand('etcdctl', ['--endpoints', ep, 'get', '--prefix', '--print-value-only', 'ctl-elect/'])).stdout === 'alice\n', { timeoutMs: 10_000, what: 'alice to lead' });
    const listener = await runCommand('timeout', ['2', 'etcdctl', '--endpoints', ep, 'elect', '-l', 'ctl-elect'], { timeoutMs: 30_000 });
    assert.match(listener.stdout, /^ctl-elect\/[0-9a-f]+\nalice\n/);
    assert.match((await candidate).stdout, /^ctl-elect\/[0-9a-f]+\nalice\n/);
  }, testTimeoutMs);

  test.it('etcd3 locks serialise 5 workers incrementing a counter, and an etcd3 election elects and observes', async ({ client }) => {
    await client.put('npm/counter').value('0');
    const worker = async (): Promise<void> => {
      for (let n = 0; n < 10; ) {
        try {
          await client.lock('npm/lock').ttl(10).do(async () => {
            const v = Number(await client.get('npm/counter').string());
            await client.put('npm/counter').value(String(v + 1));
          });
          n++;
        } catch (e) {
          if (!(e instanceof EtcdLockFailedError)) throw e;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
    };
    await Promise.all(Array.from({ length: 5 }, worker));
    assert.is(await client.get('npm/counter').string(), '50');

    const election = client.election('npm-elect', 5);
    const observer = await election.observe();
    const seen: string[] = [];
    observer.on('change', (leader) => seen.push(leader ?? ''));
    const first = election.campaign('first');
    let second: ReturnType<typeof election.campaign> | undefined;
    try {
      await first.wait();
      second = election.campaign('second');
      assert.is(await election.leader(), 'first');
      await first.resign();
      await second.wait();
      assert.is(await election.leader(), 'second');
      await waitUntil(() => seen.includes('second'), { timeoutMs: 10_000, what: 'the observer to see the second leader' });
    } finally {
      // Whatever failed, nothing of the election may keep the test process alive.
      await Promise.allSettled([first.resign(), second?.resign(), observer.cancel()]);
    }
  }, testTimeoutMs);

  test.run();
}
