// Membership changes on real processes, driven by real etcdctl, on real etcd 3.4 first and then on
// Lattice, whose answers must match etcd's where they are comparable (exit codes, `Error:` lines,
// `member add` output after normalising IDs and ports):
// - growing a 3-member cluster: add a learner, start it with exactly the ETCD_* lines `member add`
//   printed, promote it once in sync (refused before), then lose a founding member: the 4 voters
//   still commit, so the new member votes. On Lattice the leader's log is compacted first
//   (--snapshot-count 20, --experimental-snapshot-catchup-entries 5), so the learner catches up from
//   a snapshot: it restarts in process to load it, and HashKV is equal on all members afterwards.
// - shrinking a 5-member cluster: remove a follower (it stops itself), remove the leader (a new one
//   is elected), update a member's peer URL and restart it there.
// - clientv3's Cluster API through all endpoints (test/interop/go/memberapi);
// - --strict-reconfig-check refusals with a member down; a member with a wrong token, and a member of
//   another cluster, are refused while the cluster keeps serving.
import * as assert from 'uvu/assert';
import { startCluster, type ClusterKind, type TestCluster } from '../helpers/cluster.js';
import { etcdctl } from '../helpers/etcdctl.js';
import { freePorts } from '../helpers/free-port.js';
import type { Engine } from '../helpers/lattice-server.js';
import { buildGoProgram } from '../helpers/go-build.js';
import { runCommand, spawnProcess, waitUntil } from '../helpers/processes.js';
import type { RestartableServer } from '../helpers/server-flags.js';
import { serverSuite, type Stoppable } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';
import {
  assertHashKvEqual,
  healthIntervalMs,
  leaderEndpoint,
  memberAddEnvironment,
  memberIdHex,
  normaliseMemberAdd,
  ok,
  reconfigure,
  refusal,
  restartOnPeerPort,
  spawnJoiner,
  startJoiner,
  statuses,
} from './membership-procs-steps.js';

const skipReason = missingTools(['etcd', 'etcdctl', 'go']);
const flowTimeoutMs = 90_000;
const keysBeforeJoin = 60;

/** What etcd answered, by step; Lattice's suites run later and compare. */
const etcdAnswers = new Map<string, string>();

function record(kind: ClusterKind, step: string, answer: string): void {
  if (kind === 'etcd') etcdAnswers.set(step, answer);
  else if (etcdAnswers.has(step)) assert.is(answer, etcdAnswers.get(step), `${step}: Lattice answers as etcd`);
}

interface Fixture extends Stoppable {
  readonly cluster: TestCluster;
  readonly token: string;
  readonly engine: Engine;
  /** Members started by the test itself (joiners, moved members); stopped with the cluster. */
  readonly extra: RestartableServer[];
}

async function startFixture(kind: ClusterKind, size: number, engine: Engine, latticeArgs: readonly string[] = []): Promise<Fixture> {
  const token = `${kind}-membership-${size}`;
  const cluster = await startCluster(kind, { size, engine, token, extraArgs: kind === 'lattice' ? latticeArgs : [] });
  const extra: RestartableServer[] = [];
  return {
    cluster,
    token,
    engine,
    extra,
    async stop() {
      await Promise.allSettled(extra.map((s) => s.stop()));
      await cluster.stop();
    },
  };
}

const logOf = (s: RestartableServer): string => s.process.output();

// ---- growing: learner, snapshot catch-up, promote, it votes ----------------------------------------

const snapshotArgs = ['--snapshot-count', '20', '--experimental-snapshot-catchup-entries', '5'];

for (const [kind, engine] of [['etcd', 'memory'], ['lattice', 'memory'], ['lattice', 'rocksdb']] as const) {
  const s = serverSuite(`growing a 3-member ${kind} cluster (${kind === 'lattice' ? engine : 'bbolt'})`, () => startFixture(kind, 3, engine, snapshotArgs), skipReason);

  s.it('a learner added with member add starts from the printed ETCD_* lines, catches up, is promoted once in sync and then votes', async (f) => {
    const { cluster } = f;
    const first = cluster.members[0]!.endpoint;
    for (let i = 0; i < keysBeforeJoin; i++) await ok(first, ['put', `/grow/${i}`, `v${i}`]);

    const [peerPort] = await freePorts(1);
    const peerUrl = `http://127.0.0.1:${peerPort!}`;
    const added = await reconfigure(first, ['member', 'add', 'm4', '--learner', `--peer-urls=${peerUrl}`]);
    record(kind, 'member add m4 --learner', normaliseMemberAdd(added));
    const env = memberAddEnvironment(added);
    assert.is(env.ETCD_NAME, 'm4');
    assert.is(env.ETCD_INITIAL_CLUSTER_STATE, 'existing');
    assert.is(env.ETCD_INITIAL_ADVERTISE_PEER_URLS, peerUrl);
    const learnerId = /Member +([0-9a-f]+) added/.exec(added)![1]!;

    // Nothing runs at its URL yet: the leader has no progress for it.
    record(kind, 'promote a learner that has not started', await refusal(first, ['member', 'promote', learnerId]));

    const joiner = await startJoiner({ kind, engine: f.engine, env, token: f.token, peerPort: peerPort!, extraArgs: kind === 'lattice' ? snapshotArgs : [] });
    f.extra.push(joiner);
    await waitUntil(async () => (await ok(first, ['member', 'list'])).includes(`${learnerId}, started, m4, ${peerUrl}, ${joiner.endpoint}, true`), {
      timeoutMs: 20_000,
      what: 'member list to show m4 started as a learner',
    });
    const learnerStatus = (await statuses(joiner.endpoint))[0]!;
    assert.ok(learnerStatus.isLearner, 'endpoint status says is_learner');
    await waitUntil(async () => (await ok(joiner.endpoint, ['get', '/grow/', '--prefix', '--keys-only', '--consistency=s'])).split('\n').filter((l) => l !== '').length === keysBeforeJoin, {
      timeoutMs: 20_000,
      what: 'the learner to hold every key',
    });
    // A learner serves only Status and serializable reads (clientv3 does not retry a refused write).
    record(kind, 'a write at the learner', await refusal(joiner.endpoint, ['put', '/grow/learner', 'x']));
    // etcd's JSON gateway goes through the same gRPC checks.
    const viaGateway = await fetch(`${joiner.endpoint}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: 'L2dyb3cvbGVhcm5lcg==', value: 'eA==' }) });
    record(kind, 'a gateway write at the learner', `${viaGateway.status} ${await viaGateway.text()}`);
    if (kind === 'lattice') {
      assert.match(logOf(joiner), 'successfully received and saved database snapshot', 'the learner caught up from a snapshot');
      assert.match(logOf(joiner), 'restarting the member to load a snapshot received from the leader');
    }
    // Through a follower: it forwards the promotion to the leader, the only member that can tell.
    const leader = await leaderEndpoint(cluster.endpoints);
    const follower = cluster.members.find((m) => m.endpoint !== leader)!.endpoint;
    await waitUntil(async () => (await etcdctl(follower, ['member', 'promote', learnerId])).code === 0, { timeoutMs: 20_000, what: 'member promote to succeed' });
    // Only now: etcd answers HashKV on a learner with "rpc not supported for learner".
    await assertHashKvEqual(first, 4);
    assert.ok((await ok(first, ['member', 'list'])).includes(`${learnerId}, started, m4, ${peerUrl}, ${joiner.endpoint}, false`));
    record(kind, 'promote a member that is a voter', await refusal(first, ['member', 'promote', learnerId]));

    // 4 voters, one down: the remaining 3 are a quorum only with m4's vote.
    await cluster.members[0]!.kill9();
    const live = cluster.members[1]!.endpoint;
    await waitUntil(async () => (await etcdctl(live, ['put', '/grow/after-kill', 'x'])).code === 0, { timeoutMs: 20_000, what: 'a write with a founding member down' });
    assert.is(await ok(joiner.endpoint, ['get', '/grow/after-kill', '--print-value-only']), 'x\n');
    await cluster.members[0]!.restart();
    await assertHashKvEqual(live, 4);
  }, flowTimeoutMs);

  s.run();
}

// ---- shrinking a 5-member cluster: remove a follower, remove the leader, move a member -------------

const removedMessage = 'the member has been permanently removed from the cluster';

for (const kind of ['etcd', 'lattice'] as const) {
  const s = serverSuite(`shrinking a 5-member ${kind} cluster`, () => startFixture(kind, 5, 'memory'), skipReason);

  s.it('a removed follower stops itself, a removed leader is replaced, and a member moves to a new peer URL', async (f) => {
    const { cluster } = f;
    const all = cluster.endpoints;
    const leader = await leaderEndpoint(all);
    const byEndpoint = (e: string): (typeof cluster.members)[number] => cluster.members.find((m) => m.endpoint === e)!;
    const followers = cluster.members.filter((m) => m.endpoint !== leader);

    // A follower: it learns of its removal and stops with etcd's message.
    const follower = followers[0]!;
    const out = await reconfigure(leader, ['member', 'remove', await memberIdHex(follower.endpoint)]);
    assert.match(out, /^Member +[0-9a-f]+ removed from cluster +[0-9a-f]+\n$/);
    await waitUntil(() => !follower.process.running, { timeoutMs: 15_000, what: 'the removed follower to stop' });
    assert.match(follower.process.output(), removedMessage);
    await ok(leader, ['put', '/shrink/a', '1']);
    assert.is((await ok(leader, ['member', 'list'])).split('\n').filter((l) => l !== '').length, 4);

    // The leader, through itself: it commits its removal, steps down and stops; the others elect.
    const oldLeader = byEndpoint(leader);
    const survivors = followers.slice(1);
    const leaderId = await memberIdHex(leader);
    const removal = await reconfigure(leader, ['member', 'remove', leaderId]).then(
      () => undefined,
      (e: unknown) => e,
    );
    await waitUntil(() => !oldLeader.process.running, { timeoutMs: 15_000, what: 'the removed leader to stop' });
    const survivorEndpoints = survivors.map((m) => m.endpoint).join(',');
    // On a loaded machine the leader may stop before its answer leaves (etcd as well): what counts is
    // that the removal was committed.
    if (removal !== undefined && (await ok(survivorEndpoints, ['member', 'list'])).includes(leaderId)) throw removal;
    const newLeader = await leaderEndpoint(survivorEndpoints);
    assert.is.not(newLeader, leader);
    await waitUntil(async () => (await etcdctl(survivors[0]!.endpoint, ['put', '/shrink/b', '2'])).code === 0, { timeoutMs: 20_000, what: 'a write after the leader left' });

    // member update, then the member restarts on the new URL.
    const moving = survivors.find((m) => m.endpoint !== newLeader)!;
    const movingIndex = cluster.members.indexOf(moving);
    const movingId = await memberIdHex(moving.endpoint);
    const [newPort] = await freePorts(1);
    const newUrl = `http://127.0.0.1:${newPort!}`;
    // etcdctl prints the ID with %16x: padded with spaces when it has fewer than 16 hex digits.
    assert.match(await ok(newLeader, ['member', 'update', movingId, `--peer-urls=${newUrl}`]), new RegExp(`Member +${movingId} updated in cluster`));
    await moving.shutdown();
    const moved = await restartOnPeerPort(cluster, movingIndex, newPort!, f.token, f.engine);
    f.extra.push(moved);
    assert.ok((await ok(newLeader, ['member', 'list'])).includes(`${movingId}, started, ${moving.name}, ${newUrl}, ${moved.endpoint}, false`));
    await ok(moved.endpoint, ['put', '/shrink/c', '3']);
    assert.is(await ok(newLeader, ['get', '/shrink/', '--prefix', '--print-value-only']), '1\n2\n3\n');
    await assertHashKvEqual(newLeader, 3);
    // etcdctl 3.4 prints the health lines on stderr.
    const health = await etcdctl(newLeader, ['endpoint', 'health', '--cluster']);
    assert.is(health.code, 0);
    assert.is(`${health.stdout}${health.stderr}`.split('\n').filter((l) => l.includes(' is healthy: ')).length, 3, health.stderr);
  }, flowTimeoutMs);

  s.run();
}

// ---- strict reconfiguration checks and members that do not belong ---------------------------------

for (const kind of ['etcd', 'lattice'] as const) {
  const s = serverSuite(`reconfiguration checks on a 3-member ${kind} cluster`, () => startFixture(kind, 3, 'memory'), skipReason);

  s.it('clientv3 through all endpoints: Sync, MemberList, MemberAddAsLearner, MemberPromote, MemberUpdate and MemberRemove answer as etcd', async (f) => {
    const binary = await buildGoProgram('memberapi');
    const [learnerPort, movedPort] = await freePorts(2);
    // MemberList is served from each member's own view (not linearizable in 3.4): wait until every
    // member has applied every member's published client URL, or the first list may race a publish.
    for (const m of f.cluster.members) {
      await waitUntil(async () => (await ok(m.endpoint, ['member', 'list'])).split('\n').filter((l) => /, started, .*, http:\/\/\S+, false$/.test(l)).length === 3, {
        timeoutMs: 10_000,
        what: `every member's client URL in ${m.name}'s member list`,
      });
    }
    const r = await runCommand(binary, ['--endpoints', f.cluster.endpoints, '--learner-url', `http://127.0.0.1:${learnerPort!}`, '--moved-url', `http://127.0.0.1:${movedPort!}`], {
      timeoutMs: flowTimeoutMs,
    });
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, 'sync: ok, 3 endpoints, same as given: true');
    assert.match(r.stdout, 'member promote of the unstarted learner: error: etcdserver: can only promote a learner member which is in sync with leader');
    assert.match(r.stdout, 'put: ok\nget: ok');
    record(kind, 'clientv3 Cluster API', r.stdout);
  }, flowTimeoutMs);

  s.it('with a member down, adding a voter and removing a live voter are refused; removing the down member is allowed', async (f) => {
    const { cluster } = f;
    const leader = await leaderEndpoint(cluster.endpoints);
    // Every peer connection counts as up only after etcd's HealthInterval.
    await new Promise((resolve) => setTimeout(resolve, healthIntervalMs + 500));
    const [down, live] = cluster.members.filter((m) => m.endpoint !== leader);
    const downId = await memberIdHex(down!.endpoint);
    const liveId = await memberIdHex(live!.endpoint);
    await down!.kill9();
    record(kind, 'add a voter with a member down', await refusal(leader, ['member', 'add', 'x1', '--peer-urls=http://127.0.0.1:1']));
    record(kind, 'add a voter with a member down, again', await refusal(leader, ['member', 'add', 'x2', '--peer-urls=http://127.0.0.1:2']));
    record(kind, 'add a learner with a member down', await refusal(leader, ['member', 'add', 'x3', '--learner', '--peer-urls=http://127.0.0.1:3']));
    record(kind, 'remove a live voter with a member down', await refusal(leader, ['member', 'remove', liveId]));
    assert.ok(etcdAnswers.get('remove a live voter with a member down')?.includes('etcdserver: unhealthy cluster') ?? kind === 'lattice');
    record(kind, 'remove the member that is down', await refusal(leader, ['member', 'remove', downId]));
    assert.is((await ok(leader, ['member', 'list'])).split('\n').filter((l) => l !== '').length, 2);
    await ok(live!.endpoint, ['put', '/strict/after', 'ok']);
  }, flowTimeoutMs);

  if (kind === 'lattice') {
    s.it('a member restarted with another --initial-cluster-token is refused at start; the cluster keeps serving', async (f) => {
      const m = f.cluster.members.find((x) => x.process.running)!;
      // The fixture's members were started with the token; swap it on the command line of a copy.
      const live = f.cluster.members.filter((x) => x.process.running);
      const victim = live[live.length - 1]!;
      await victim.shutdown();
      const args = victim.process.commandLine.split(' ').slice(1);
      const tokenAt = args.indexOf('--initial-cluster-token');
      args[tokenAt + 1] = 'another-cluster';
      const refused = spawnProcess({ name: 'lattice wrong token', command: process.execPath, args });
      const exit = await refused.exited;
      assert.is(exit.code, 1);
      assert.match(refused.output(), 'another-cluster');
      await victim.restart();
      await ok(m.endpoint, ['put', '/strict/token', 'ok']);
    }, flowTimeoutMs);
  }

  s.it('a member of another cluster naming these peers never joins; the members refuse it and keep serving', async (f) => {
    const { cluster } = f;
    const live = cluster.members.filter((m) => m.process.running);
    const [peerPort] = await freePorts(1);
    const outsiderUrl = `http://127.0.0.1:${peerPort!}`;
    const initialCluster = [...live.map((m) => `${m.name}=${m.peerUrl}`), `outsider=${outsiderUrl}`].join(',');
    const env = { ETCD_NAME: 'outsider', ETCD_INITIAL_CLUSTER: initialCluster, ETCD_INITIAL_ADVERTISE_PEER_URLS: outsiderUrl, ETCD_INITIAL_CLUSTER_STATE: 'new' };
    const outsider = await spawnJoiner({ kind, engine: f.engine, env, token: 'another-cluster', peerPort: peerPort!, extraArgs: [] });
    try {
      const refusedLine = kind === 'etcd' ? /cluster ID mismatch/ : /refused a peer connection/;
      await waitUntil(() => live.some((m) => refusedLine.test(m.process.output())), { timeoutMs: 15_000, what: 'a member to log the refusal' });
      // It cannot get a quorum, so it never serves.
      assert.not.match(outsider.process.output(), 'ready to serve client requests');
      await ok(live[0]!.endpoint, ['put', '/strict/outsider', 'ok']);
      assert.not.match(await ok(live[0]!.endpoint, ['member', 'list']), 'outsider');
    } finally {
      await outsider.remove();
    }
  }, flowTimeoutMs);

  s.run();
}
