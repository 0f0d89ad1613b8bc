// The Cluster service over gRPC (src/adapters/grpc/cluster-service.ts), driven by grpc-js with the
// generated stubs against the client port, a real ClusterFront and Membership, and peers whose
// health the test sets: each method's response shape and every Cluster API error's etcd code and text.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { credentials, Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { startClientPort, type ClientPort } from '../../src/adapters/client-port.js';
import { ClusterFront } from '../../src/cluster/cluster-front.js';
import { Membership, throwIfRefused } from '../../src/cluster/membership.js';
import { ClusterClient } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { computeMemberId } from '../../src/server/member-id.js';
import { withTimeout } from '../helpers/spec.js';
import { makeTempDir, removeAllTempDirs } from '../helpers/temp-dirs.js';
import { FakeServerApi, fakeMember, fakeRaftTerm } from '../adapters/fake-server-api.js';

const callTimeoutMs = 5_000;
const testTimeoutMs = 30_000;
const now = 1_700_000_000;
const self = fakeMember.memberId;
const peer = { id: 0xb2n, name: 'm2', peerUrls: ['http://127.0.0.1:2390'], clientUrls: ['http://127.0.0.1:2391'], isLearner: false };

const test = suite('cluster: the Cluster service over gRPC');
const it = (name: string, body: () => Promise<void>): void => test(name, () => withTimeout(body(), testTimeoutMs, name));

let port: ClientPort | undefined;
let client: ClusterClient | undefined;
let membership: Membership | undefined;
const active = new Set<bigint>([self, peer.id]);
let index = 0;

test.before(async () => {
  const opened = await Membership.open(makeTempDir('cluster-service'), {
    members: [{ id: self, name: fakeMember.name, peerUrls: fakeMember.peerUrls, clientUrls: fakeMember.clientUrls, isLearner: false }, peer],
    index: 0,
  });
  membership = opened.membership;
  const m = membership;
  const cluster = new ClusterFront({
    selfId: self,
    membership: m,
    proposeConfChange: async (cc) => throwIfRefused(await m.apply(cc, ++index)),
    health: { isActive: (id) => active.has(id), isLearnerInSync: () => false },
    strictReconfigCheck: true,
    nowUnixSeconds: () => now,
    readBarrier: () => Promise.resolve(),
  });
  class Api extends FakeServerApi {
    override readonly cluster = cluster;
  }
  port = await startClientPort({ listenUrls: ['http://localhost:0'], api: new Api(), maxRequestBytes: 4096, maxTxnOps: 8, log: () => undefined });
  const a = port.addresses[0];
  if (a === undefined) throw new Error('no address');
  client = new ClusterClient(`${a.host}:${a.port}`, credentials.createInsecure());
});

test.after(async () => {
  client?.close();
  await port?.close();
  removeAllTempDirs();
});

type Outcome<Res> = { ok: true; res: Res } | { ok: false; err: ServiceError };

function c(): ClusterClient {
  if (client === undefined) throw new Error('client port did not start');
  return client;
}

function call<Req, Res>(
  method: (req: Req, md: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res: Res) => void) => unknown,
  req: Req,
): Promise<Outcome<Res>> {
  return new Promise((resolve) => {
    method.call(c(), req, new Metadata(), { deadline: Date.now() + callTimeoutMs }, (err: ServiceError | null, res: Res) =>
      resolve(err ? { ok: false, err } : { ok: true, res }),
    );
  });
}

async function ok<Res>(p: Promise<Outcome<Res>>): Promise<Res> {
  const o = await p;
  if (!o.ok) throw new Error(`expected success, got ${Status[o.err.code]} ${o.err.details}`);
  return o.res;
}

async function fails(p: Promise<Outcome<unknown>>, code: Status, details: string): Promise<void> {
  const o = await p;
  if (o.ok) throw new Error(`expected ${Status[code]} ${details}, got success`);
  assert.is(Status[o.err.code], Status[code], o.err.details);
  assert.is(o.err.details, details);
}

const header = { clusterId: fakeMember.clusterId, memberId: self, revision: 0n, raftTerm: BigInt(fakeRaftTerm) };

it('member add answers the new member (ID, sorted peer URLs, learner flag) and every member, header without revision', async () => {
  const res = await ok(call(c().memberAdd, { peerURLs: ['http://127.0.0.1:7001', 'http://127.0.0.1:7000'], isLearner: true }));
  const id = computeMemberId(['http://127.0.0.1:7000', 'http://127.0.0.1:7001'], '', now);
  assert.equal(res.header, header);
  assert.equal(res.member, { ID: id, name: '', peerURLs: ['http://127.0.0.1:7000', 'http://127.0.0.1:7001'], clientURLs: [], isLearner: true });
  assert.equal(res.members.map((m) => m.ID).sort(), [self, peer.id, id].sort());
});

it('member list answers every member sorted by ID with name, URLs and learner flag', async () => {
  const res = await ok(call(c().memberList, {}));
  assert.equal(res.header, header);
  const ids = res.members.map((m) => m.ID);
  assert.equal(ids, [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  assert.equal(res.members.find((m) => m.ID === peer.id), { ID: peer.id, name: 'm2', peerURLs: peer.peerUrls, clientURLs: peer.clientUrls, isLearner: false });
});

it('invalid peer URLs are INVALID_ARGUMENT etcdserver: given member URLs are invalid', async () => {
  await fails(call(c().memberAdd, { peerURLs: [], isLearner: true }), Status.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid');
  await fails(call(c().memberAdd, { peerURLs: ['h:1'], isLearner: true }), Status.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid');
});

it('membership errors carry etcd codes: NOT_FOUND, FAILED_PRECONDITION (exists, peer URLs, learners, promote)', async () => {
  await fails(call(c().memberRemove, { ID: 0x99n }), Status.NOT_FOUND, 'etcdserver: member not found');
  await fails(call(c().memberUpdate, { ID: self, peerURLs: peer.peerUrls }), Status.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists');
  await fails(call(c().memberAdd, { peerURLs: ['http://127.0.0.1:7100'], isLearner: true }), Status.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster');
  await fails(call(c().memberPromote, { ID: self }), Status.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member');
  const learner = computeMemberId(['http://127.0.0.1:7000', 'http://127.0.0.1:7001'], '', now);
  await fails(
    call(c().memberPromote, { ID: learner }),
    Status.FAILED_PRECONDITION,
    'etcdserver: can only promote a learner member which is in sync with leader',
  );
});

it('reconfiguration checks: an unreachable voter makes the cluster UNAVAILABLE unhealthy', async () => {
  active.delete(peer.id);
  await fails(call(c().memberAdd, { peerURLs: ['http://127.0.0.1:7200'], isLearner: false }), Status.UNAVAILABLE, 'etcdserver: unhealthy cluster');
  active.add(peer.id);
  // Same peer URLs in the same second: the ID etcd derives is the learner's.
  await fails(
    call(c().memberAdd, { peerURLs: ['http://127.0.0.1:7000', 'http://127.0.0.1:7001'], isLearner: false }),
    Status.FAILED_PRECONDITION,
    'etcdserver: member ID already exist',
  );
});

it('member update and remove answer the members after the change', async () => {
  const updated = await ok(call(c().memberUpdate, { ID: peer.id, peerURLs: ['http://127.0.0.1:2399'] }));
  assert.equal(updated.header, header);
  assert.equal(updated.members.find((m) => m.ID === peer.id)?.peerURLs, ['http://127.0.0.1:2399']);
  const removed = await ok(call(c().memberRemove, { ID: peer.id }));
  assert.not.ok(removed.members.some((m) => m.ID === peer.id));
  // The last voter: etcd 3.4 sends this one as UNKNOWN (its error type is no gRPC status).
  await fails(call(c().memberRemove, { ID: self }), Status.UNKNOWN, 'etcdserver: re-configuration failed due to not enough started members');
  assert.ok(membership?.isRemoved(peer.id));
});

test.run();
