// With auth enabled, the Cluster and Maintenance calls etcd 3.4 keeps for root (MemberAdd, MemberRemove,
// MemberUpdate, MemberPromote, Defragment, Snapshot, Hash, HashKV) refuse a user without the root role
// and a caller without a token with etcd's code and text, and serve root. Alarm, MemberList and Status
// need no role in etcd 3.4 (Alarm is not among the raft requests its auth applier keeps for root:
// any authenticated user may even raise and clear the NOSPACE alarm).
// The same grpc-js calls against real etcd and Lattice on each engine; each call's outcome must match.
import * as assert from 'uvu/assert';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  AlarmRequest_AlarmAction,
  AlarmType,
  AuthClient,
  ClusterClient,
  MaintenanceClient,
  type Member,
} from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { startEtcd } from '../helpers/etcd-server.js';
import { freePorts, loopbackHost } from '../helpers/free-port.js';
import { engines, startLattice, type Engine } from '../helpers/lattice-server.js';
import type { RestartableServer } from '../helpers/server-flags.js';
import { serverSuite, stopAll } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';
import { setUpUsers } from './auth-clients.js';

const target = (endpoint: string): string => endpoint.replace(/^https?:\/\//, '');

/** What one call came to: "ok" or "<grpc code> <details>", the part of an answer etcd fixes. */
type Outcome = string;

interface Clients {
  readonly cluster: InstanceType<typeof ClusterClient>;
  readonly maintenance: InstanceType<typeof MaintenanceClient>;
  readonly auth: InstanceType<typeof AuthClient>;
  readonly endpoint: string;
  close(): void;
}

function clientsFor(endpoint: string): Clients {
  const cluster = new ClusterClient(target(endpoint), credentials.createInsecure());
  const maintenance = new MaintenanceClient(target(endpoint), credentials.createInsecure());
  const auth = new AuthClient(target(endpoint), credentials.createInsecure());
  return { cluster, maintenance, auth, endpoint, close: () => [cluster, maintenance, auth].forEach((c) => c.close()) };
}

const metadataOf = (token: string | undefined): Metadata => {
  const m = new Metadata();
  if (token !== undefined) m.set('token', token);
  return m;
};

const describe = (err: ServiceError): Outcome => `${err.code} ${err.details}`;

/** Runs a unary call (method bound to its client) and reports its outcome; `onOk` sees the response. */
function unary<Res>(call: (md: Metadata, cb: (err: ServiceError | null, res: Res) => void) => unknown, token: string | undefined, onOk?: (res: Res) => void): Promise<Outcome> {
  return new Promise((resolve) => {
    call(metadataOf(token), (err, res) => {
      if (err) return resolve(describe(err));
      onOk?.(res);
      resolve('ok');
    });
  });
}

/** Reads a whole Snapshot stream; ok when it ends with no error. */
function snapshot(c: Clients, token: string | undefined): Promise<Outcome> {
  return new Promise((resolve) => {
    const stream = c.maintenance.snapshot({}, metadataOf(token));
    stream.on('data', () => undefined);
    stream.on('error', (err: ServiceError) => resolve(describe(err)));
    stream.on('end', () => resolve('ok'));
  });
}

/**
 * The admin calls as `who` (a token, or none), with the learner `id` as the member to change (to
 * `spareUrl`) and `addUrl` as a new learner's URL.
 * Each line: "<who> <call>: <outcome>".
 */
async function adminCalls(c: Clients, who: string, token: string | undefined, id: bigint, spareUrl: string, addUrl: string): Promise<string[]> {
  const lines: string[] = [];
  const record = async (call: string, outcome: Promise<Outcome>): Promise<void> => {
    stepOf.set(c.endpoint, `${who} ${call}`);
    lines.push(`${who} ${call}: ${await outcome}`);
  };
  await record('MemberUpdate', unary((md, cb) => c.cluster.memberUpdate({ ID: id, peerURLs: [spareUrl] }, md, cb), token));
  await record('MemberPromote', unary((md, cb) => c.cluster.memberPromote({ ID: id }, md, cb), token));
  await record('MemberRemove', unary((md, cb) => c.cluster.memberRemove({ ID: id }, md, cb), token));
  // after the remove: etcd 3.4 takes one learner at a time; a URL no member has had (etcd derives the
  // ID from the URLs and the second, so a reused URL could meet a removed ID)
  await record('MemberAdd', unary((md, cb) => c.cluster.memberAdd({ peerURLs: [addUrl], isLearner: true }, md, cb), token));
  await record('Defragment', unary((md, cb) => c.maintenance.defragment({}, md, cb), token));
  await record('Snapshot', snapshot(c, token));
  await record('Hash', unary((md, cb) => c.maintenance.hash({}, md, cb), token));
  await record('HashKV', unary((md, cb) => c.maintenance.hashKv({ revision: 0n }, md, cb), token));
  await record('Alarm GET', unary((md, cb) => c.maintenance.alarm({ action: AlarmRequest_AlarmAction.GET, memberID: 0n, alarm: 0 }, md, cb), token));
  await record('MemberList', unary((md, cb) => c.cluster.memberList({ linearizable: false }, md, cb), token));
  await record('Status', unary((md, cb) => c.maintenance.status({}, md, cb), token));
  return lines;
}

async function authenticate(c: Clients, name: string, password: string): Promise<string> {
  return new Promise((resolve, reject) => c.auth.authenticate({ name, password }, (err, res) => (err ? reject(err) : resolve(res.token))));
}

/** Each script's current step, by endpoint: a test that waits too long says where each one is. */
const stepOf = new Map<string, string>();

/** Waits for a script, failing after ms with every script's current step instead of a bare timeout. */
async function awaitScript(p: Promise<string[]>, ms = 50_000): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`a script is stuck; steps: ${JSON.stringify(Object.fromEntries(stepOf))}`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The whole script against one server: root adds a learner, alice and a caller without a token try every admin call, then root does. */
async function script(endpoint: string): Promise<string[]> {
  stepOf.set(endpoint, 'setting up users');
  await setUpUsers(endpoint);
  const c = clientsFor(endpoint);
  try {
    stepOf.set(endpoint, 'authenticating');
    const rootToken = await authenticate(c, 'root', 'rootpw');
    const aliceToken = await authenticate(c, 'alice', 'apw');
    // a learner counts toward no quorum: the single member keeps committing with it unstarted
    const [learnerPort, sparePort, addPort] = await freePorts(3);
    let members: readonly Member[] = [];
    stepOf.set(endpoint, 'root MemberAdd (learner)');
    const added = await unary(
      (md, cb) => c.cluster.memberAdd({ peerURLs: [`http://${loopbackHost}:${learnerPort}`], isLearner: true }, md, cb),
      rootToken,
      (res: { members: Member[] }) => (members = res.members),
    );
    const learner = members.find((m) => m.isLearner);
    assert.ok(added === 'ok' && learner !== undefined, `root adds a learner: ${added}`);
    const [spareUrl, addUrl] = [sparePort, addPort].map((p) => `http://${loopbackHost}:${String(p)}`) as [string, string];
    const self = members.find((m) => !m.isLearner);
    assert.ok(self !== undefined);
    const alarm = (action: AlarmRequest_AlarmAction, token: string | undefined) => unary((md, cb) => c.maintenance.alarm({ action, memberID: self.ID, alarm: AlarmType.NOSPACE }, md, cb), token);
    /** How many alarms are raised, as root sees them. */
    const raised = async (): Promise<string> => {
      let count = -1;
      const outcome = await unary((md, cb) => c.maintenance.alarm({ action: AlarmRequest_AlarmAction.GET, memberID: 0n, alarm: AlarmType.NONE }, md, cb), rootToken, (res: { alarms: unknown[] }) => (count = res.alarms.length));
      return `${outcome}, ${count} raised`;
    };
    stepOf.set(endpoint, 'alarms');
    return [
      `root MemberAdd (learner): ${added}`,
      // etcd 3.4 keeps no Alarm action for root: alice, and even a caller without a token, may
      // raise and clear NOSPACE
      `alice Alarm ACTIVATE NOSPACE: ${await alarm(AlarmRequest_AlarmAction.ACTIVATE, aliceToken)}`,
      `root Alarm GET: ${await raised()}`,
      `alice Alarm DEACTIVATE NOSPACE: ${await alarm(AlarmRequest_AlarmAction.DEACTIVATE, aliceToken)}`,
      `no token Alarm ACTIVATE NOSPACE: ${await alarm(AlarmRequest_AlarmAction.ACTIVATE, undefined)}`,
      `root Alarm GET: ${await raised()}`,
      `no token Alarm DEACTIVATE NOSPACE: ${await alarm(AlarmRequest_AlarmAction.DEACTIVATE, undefined)}`,
      `root Alarm GET: ${await raised()}`,
      ...(await adminCalls(c, 'alice', aliceToken, learner.ID, spareUrl, addUrl)),
      ...(await adminCalls(c, 'no token', undefined, learner.ID, spareUrl, addUrl)),
      // root last: it moves, fails to promote (never in sync) and removes the learner, then adds another
      ...(await adminCalls(c, 'root', rootToken, learner.ID, spareUrl, addUrl)),
    ];
  } finally {
    c.close();
  }
}

interface Fixture {
  readonly etcd: RestartableServer;
  readonly lattice: Readonly<Record<Engine, RestartableServer>>;
  stop(): Promise<void>;
}

const s = serverSuite<Fixture>(
  'admin calls with auth enabled (etcd 3.4 vs Lattice on each engine)',
  async () => {
    const started = await Promise.allSettled([startEtcd(), startLattice('memory'), startLattice('rocksdb')]);
    const ok = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      await stopAll(...ok).catch(() => undefined);
      throw failed.reason;
    }
    const [etcd, memory, rocksdb] = ok as [RestartableServer, RestartableServer, RestartableServer];
    return { etcd, lattice: { memory, rocksdb }, stop: () => stopAll(etcd, memory, rocksdb) };
  },
  missingTools(['etcd', 'etcdctl']),
);

// the three servers run the script at once (each on its own server): the file's time is one run's
let runs: { readonly etcd: Promise<string[]>; readonly lattice: Readonly<Record<Engine, Promise<string[]>>> } | undefined;
/** Started now, awaited by a later test: marked handled so a failure waits for that test to report it. */
const startedScript = (endpoint: string): Promise<string[]> => {
  const p = script(endpoint);
  p.catch(() => undefined);
  return p;
};
const scripts = (f: Fixture): NonNullable<typeof runs> =>
  (runs ??= { etcd: startedScript(f.etcd.endpoint), lattice: { memory: startedScript(f.lattice.memory.endpoint), rocksdb: startedScript(f.lattice.rocksdb.endpoint) } });
const etcdScript = (f: Fixture): Promise<string[]> => scripts(f).etcd;

s.it("etcd's answers: root-only calls refuse alice and no token, Alarm/MemberList/Status do not, root gets every call", async (f) => {
  const lines = await awaitScript(etcdScript(f));
  // pins what the differential below compares against, so a changed etcd shows here first. The
  // Maintenance calls give the auth store's bare error (code 2 UNKNOWN, "auth: ..."): etcd 3.4's
  // authMaintenanceServer returns it without turning it into its gRPC error as the Cluster calls do.
  for (const who of ['alice', 'no token'] as const) {
    const denied = who === 'alice' ? 'permission denied' : 'user name is empty';
    for (const call of ['MemberAdd', 'MemberUpdate', 'MemberPromote', 'MemberRemove']) assert.ok(lines.includes(`${who} ${call}: ${who === 'alice' ? 7 : 3} etcdserver: ${denied}`), `${who} ${call}\n${lines.join('\n')}`);
    for (const call of ['Defragment', 'Snapshot', 'Hash', 'HashKV']) assert.ok(lines.includes(`${who} ${call}: 2 auth: ${denied}`), `${who} ${call}\n${lines.join('\n')}`);
    for (const call of ['Alarm GET', 'MemberList', 'Status']) assert.ok(lines.includes(`${who} ${call}: ok`), `${who} ${call}\n${lines.join('\n')}`);
  }
  for (const call of ['MemberUpdate', 'MemberRemove', 'MemberAdd', 'Defragment', 'Snapshot', 'Hash', 'HashKV']) assert.ok(lines.includes(`root ${call}: ok`), `root ${call}\n${lines.join('\n')}`);
  assert.ok(lines.includes('root MemberPromote: 9 etcdserver: can only promote a learner member which is in sync with leader'), lines.join('\n'));
  assert.equal(
    lines.filter((l) => (l.includes('Alarm') && l.includes('NOSPACE')) || l.startsWith('root Alarm GET: ok,')),
    ['alice Alarm ACTIVATE NOSPACE: ok', 'root Alarm GET: ok, 1 raised', 'alice Alarm DEACTIVATE NOSPACE: ok', 'no token Alarm ACTIVATE NOSPACE: ok', 'root Alarm GET: ok, 1 raised', 'no token Alarm DEACTIVATE NOSPACE: ok', 'root Alarm GET: ok, 0 raised'],
  );
});

for (const engine of engines) {
  s.it(`Lattice (${engine}) answers every call as etcd does, code and text`, async (f) => {
    const want = await awaitScript(etcdScript(f));
    const got = await awaitScript(scripts(f).lattice[engine]);
    assert.equal(got, want);
  });
}

s.run();
