// Leadership behaviours etcd users rely on, each run against Lattice and a real 3-member etcd 3.4:
// `etcdctl move-leader` (success and every error), a SIGTERM'd leader handing over before it goes,
// a clientv3 WithRequireLeader watch cancelled when its member loses quorum, and a put on a member
// without quorum failing with etcd's error at etcd's deadline (5 s + 2 election timeouts).
import * as assert from 'uvu/assert';
import { credentials, Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { MaintenanceClient } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { startCluster, type ClusterKind, type TestCluster } from '../helpers/cluster.js';
import { errorLines, etcdctl } from '../helpers/etcdctl.js';
import { buildGoProgram } from '../helpers/go-build.js';
import type { Engine } from '../helpers/lattice-server.js';
import { spawnProcess, waitUntil } from '../helpers/processes.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';

const testTimeoutMs = 60_000;
/** etcd's default --election-timeout, which both kinds run with here. */
const electionTimeoutMs = 1000;
/** etcd's request timeout: 5 s + 2 × election timeout. */
const requestTimeoutMs = 5000 + 2 * electionTimeoutMs;

interface MemberStatus {
  readonly endpoint: string;
  /** Hex, as etcdctl prints member IDs. */
  readonly member: string;
  readonly leader: string;
}

const hex = (decimal: string): string => BigInt(decimal).toString(16);

async function statuses(endpoints: string): Promise<MemberStatus[]> {
  const r = await etcdctl(endpoints, ['endpoint', 'status', '-w', 'json']);
  const entries = r.stdout.match(/\{"Endpoint":"[^"]+","Status":\{"header":\{[^}]*\}[^}]*\}\}/g) ?? [];
  return entries.map((e) => ({
    endpoint: /"Endpoint":"([^"]+)"/.exec(e)![1]!,
    member: hex(/"member_id":(\d+)/.exec(e)![1]!),
    leader: hex(/"leader":(\d+)/.exec(e)![1]!),
  }));
}

/** The members' statuses once they all agree on one leader. */
async function settled(cluster: TestCluster, endpoints = cluster.endpoints): Promise<MemberStatus[]> {
  let st: MemberStatus[] = [];
  const expected = endpoints.split(',').length;
  await waitUntil(
    async () => {
      st = await statuses(endpoints);
      return st.length === expected && st.every((s) => s.leader !== '0' && s.leader === st[0]!.leader);
    },
    { timeoutMs: 15_000, what: 'every member to report the same leader' },
  );
  return st;
}

/** etcdctl's stderr without clientv3's warn lines, with member IDs and endpoints made comparable. */
const comparable = (out: string, ids: readonly string[]): string[] =>
  errorLines(out).map((line) => {
    let l = line.replace(/http:\/\/127\.0\.0\.1:\d+/g, '<endpoint>');
    for (const [i, id] of ids.entries()) l = l.replaceAll(id, `<m${i}>`);
    return l;
  });

const kinds: readonly ClusterKind[] = ['lattice', 'etcd'];

// ---- move-leader on 3 members: every answer compared with etcd's ----

const moveLeaderAnswers = new Map<ClusterKind, Record<string, string[]>>();

for (const kind of kinds) {
  const s = serverSuite(`etcdctl move-leader on a 3-member ${kind} cluster`, () => startCluster(kind, { size: 3 }), missingTools(['etcdctl', 'etcd']));
  const answers: Record<string, string[]> = {};
  moveLeaderAnswers.set(kind, answers);

  s.it('move-leader to a follower makes it the leader, and every member reports it', async (cluster) => {
    const st = await settled(cluster);
    const leader = st[0]!.leader;
    const target = st.find((m) => m.member !== leader)!.member;
    const r = await etcdctl(cluster.endpoints, ['move-leader', target]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, `Leadership transferred from ${leader} to ${target}\n`);
    // etcd answers once the transferee leads: the others follow it within a heartbeat or so.
    const after = await settled(cluster);
    assert.ok(after.every((m) => m.leader === target), JSON.stringify(after));
  }, testTimeoutMs);

  s.it('move-leader to the leader itself succeeds at once', async (cluster) => {
    const leader = (await settled(cluster))[0]!.leader;
    const r = await etcdctl(cluster.endpoints, ['move-leader', leader]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, `Leadership transferred from ${leader} to ${leader}\n`);
  }, testTimeoutMs);

  s.it('move-leader to an unknown member fails with etcdserver: bad leader transferee', async (cluster) => {
    const r = await etcdctl(cluster.endpoints, ['move-leader', 'abcdef']);
    assert.is(r.code, 1);
    answers.unknown = errorLines(r.stderr);
    assert.equal(answers.unknown, ['Error: etcdserver: bad leader transferee']);
  }, testTimeoutMs);

  s.it('move-leader given only followers finds no leader endpoint', async (cluster) => {
    const st = await settled(cluster);
    const follower = st.find((m) => m.member !== m.leader)!;
    const r = await etcdctl(follower.endpoint, ['move-leader', follower.member]);
    assert.is(r.code, 128);
    answers.followersOnly = comparable(r.stderr, []);
    assert.equal(answers.followersOnly, ['Error: no leader endpoint given at [<endpoint>]']);
  }, testTimeoutMs);

  s.it('MoveLeader sent straight to a follower fails with etcdserver: not leader', async (cluster) => {
    const st = await settled(cluster);
    const follower = st.find((m) => m.member !== m.leader)!;
    const client = new MaintenanceClient(follower.endpoint.replace(/^http:\/\//, ''), credentials.createInsecure());
    try {
      const err = await new Promise<ServiceError | null>((resolve) =>
        client.moveLeader({ targetID: BigInt(`0x${follower.member}`) }, new Metadata(), { deadline: Date.now() + 5000 }, (e) => resolve(e)),
      );
      assert.is(err?.code, Status.FAILED_PRECONDITION);
      assert.is(err?.details, 'etcdserver: not leader');
    } finally {
      client.close();
    }
  }, testTimeoutMs);

  s.it('move-leader to a paused member fails at the client deadline with etcd\'s answer', async (cluster) => {
    const st = await settled(cluster);
    const leader = st[0]!.leader;
    const pausedIndex = cluster.members.findIndex((m) => st.find((x) => x.endpoint === m.endpoint)!.member !== leader);
    const paused = cluster.members[pausedIndex]!;
    const pausedId = st.find((x) => x.endpoint === paused.endpoint)!.member;
    const others = cluster.members.filter((_, i) => i !== pausedIndex).map((m) => m.endpoint).join(',');
    paused.pause();
    try {
      const started = Date.now();
      const r = await etcdctl(others, ['move-leader', pausedId, '--command-timeout=2s']);
      const tookMs = Date.now() - started;
      assert.is(r.code, 1);
      // The server waits on the client's deadline: whichever side notices first answers (etcd too).
      const answer = errorLines(r.stderr);
      assert.ok(
        [['Error: context deadline exceeded'], ['Error: rpc error: code = Unknown desc = etcdserver: request timed out, leader transfer took too long']].some(
          (expected) => JSON.stringify(expected) === JSON.stringify(answer),
        ),
        r.stderr,
      );
      assert.ok(tookMs >= 1900 && tookMs < 4000, `took ${tookMs} ms`);
    } finally {
      paused.resume();
    }
    // The TimeoutNow queued for the paused member may still make it campaign once resumed.
    await settled(cluster);
  }, testTimeoutMs);

  s.run();
}

// ---- a leader stopped with SIGTERM hands over first ----

for (const kind of kinds) {
  const s = serverSuite(`SIGTERM of the leader of a 3-member ${kind} cluster`, () => startCluster(kind, { size: 3 }), missingTools(['etcdctl', 'etcd']));

  s.it('the others have a new leader well within an election timeout of the SIGTERM', async (cluster) => {
    const st = await settled(cluster);
    const leaderIndex = cluster.members.findIndex((m) => st.find((x) => x.endpoint === m.endpoint)!.member === st[0]!.leader);
    const leader = cluster.members[leaderIndex]!;
    const rest = cluster.members.filter((_, i) => i !== leaderIndex).map((m) => m.endpoint).join(',');
    const started = Date.now();
    const stopping = leader.shutdown();
    let tookMs = 0;
    await waitUntil(
      async () => {
        const now = await statuses(rest).catch(() => []);
        const ok = now.length === 2 && now.every((m) => m.leader !== '0' && m.leader !== st[0]!.leader && m.leader === now[0]!.leader);
        if (ok) tookMs = Date.now() - started;
        return ok;
      },
      { timeoutMs: 10_000, intervalMs: 20, what: 'a new leader among the remaining members' },
    );
    await stopping;
    console.log(`  ${kind}: new leader seen ${tookMs} ms after SIGTERM of the leader`);
    // Without a transfer the others would wait an election timeout before even campaigning.
    assert.ok(tookMs < electionTimeoutMs, `new leader after ${tookMs} ms`);
    await leader.restart();
    await settled(cluster);
  }, testTimeoutMs);

  s.run();
}

// ---- a member that loses quorum ----

const quorumCases: readonly { kind: ClusterKind; engine?: Engine }[] = [{ kind: 'lattice', engine: 'rocksdb' }, { kind: 'etcd' }];

for (const { kind, engine } of quorumCases) {
  const s = serverSuite(
    `a member of a 3-member ${kind} cluster${engine === undefined ? '' : ` (${engine})`} whose two peers are killed`,
    () => startCluster(kind, { size: 3, engine }),
    missingTools(['etcdctl', 'etcd', 'go']),
  );

  s.it('cancels its WithRequireLeader watch with etcdserver: no leader, refuses new ones, and times a put out with etcdserver: request timed out', async (cluster) => {
    await settled(cluster);
    const survivor = cluster.members[0]!;
    const binary = await buildGoProgram('requireleader');
    const watcher = spawnProcess({ name: 'requireleader', command: binary, args: ['--endpoint', survivor.endpoint, '--key', '/rl', '--wait', '30s'] });
    await watcher.waitForLine(/"event":"created"/, 15_000);
    const killedAt = Date.now();
    await Promise.all([cluster.members[1]!.kill9(), cluster.members[2]!.kill9()]);

    const put = (async () => {
      const started = Date.now();
      const r = await etcdctl(survivor.endpoint, ['put', '/k', 'v', '--command-timeout=20s']);
      return { r, tookMs: Date.now() - started };
    })();

    await watcher.waitForLine(/"event":"(ended|closed)"/, 30_000);
    const endedMs = Date.now() - killedAt;
    const w = { stdout: watcher.output() };
    const lines = w.stdout.split('\n').filter((l) => l.startsWith('{"event"')).map((l) => JSON.parse(l) as { event: string; error?: string });
    assert.equal(lines[0], { event: 'created', ms: 0 });
    assert.is(lines.at(-1)?.event, 'ended', w.stdout);
    assert.is(lines.at(-1)?.error, 'etcdserver: no leader');
    console.log(`  ${kind}: WithRequireLeader watch ended ${endedMs} ms after the peers were killed`);
    // etcd checks every election timeout and cancels after 3 checks in a row without a leader.
    assert.ok(endedMs < 6 * electionTimeoutMs, `ended after ${endedMs} ms`);

    // etcdctl watch asks WithRequireLeader too: refused at once now, which etcdctl reports so.
    const refused = await etcdctl(survivor.endpoint, ['watch', '/rl']);
    assert.ok(refused.stderr.includes('watch was canceled (etcdserver: no leader)'), refused.stderr);
    assert.equal(errorLines(refused.stderr), ['Error: watch is canceled by the server'], refused.stderr);
    // etcd's JSON gateway forwards Grpc-Metadata-* headers as metadata, so the same refusal over HTTP.
    const viaGateway = await fetch(`${survivor.endpoint}/v3/kv/range`, {
      method: 'POST',
      headers: { 'Grpc-Metadata-hasleader': 'true' },
      body: JSON.stringify({ key: 'L2s=' }),
    });
    assert.is(viaGateway.status, 503);
    assert.equal(await viaGateway.json(), { error: 'etcdserver: no leader', code: 14, message: 'etcdserver: no leader' });

    const { r, tookMs } = await put;
    assert.is(r.code, 1);
    assert.equal(errorLines(r.stderr), ['Error: etcdserver: request timed out'], r.stderr);
    console.log(`  ${kind}: put without quorum failed after ${tookMs} ms`);
    assert.ok(tookMs > requestTimeoutMs - 500 && tookMs < requestTimeoutMs + 2000, `put failed after ${tookMs} ms`);
  }, testTimeoutMs);

  s.run();
}

// ---- a single member ----

const single = serverSuite('leadership on a 1-member Lattice', () => startCluster('lattice', { size: 1 }), missingTools(['etcdctl']));

single.it('move-leader to itself succeeds, to another ID fails with bad leader transferee', async (cluster) => {
  const [self] = await settled(cluster);
  const ok = await etcdctl(cluster.endpoints, ['move-leader', self!.member]);
  assert.is(ok.stdout, `Leadership transferred from ${self!.member} to ${self!.member}\n`);
  const bad = await etcdctl(cluster.endpoints, ['move-leader', '1234']);
  assert.equal(errorLines(bad.stderr), ['Error: etcdserver: bad leader transferee']);
}, testTimeoutMs);

single.it('SIGTERM skips the transfer (a single voter) and the member restarts as leader', async (cluster) => {
  const m = cluster.members[0]!;
  await m.shutdown();
  await m.restart();
  const [self] = await settled(cluster);
  assert.is(self!.leader, self!.member);
}, testTimeoutMs);

single.run();
