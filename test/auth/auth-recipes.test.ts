// Lock, Election and LeaseRevoke with auth on, against real etcd: the same calls with alice's token
// (readwrite on the prefix /a/) give the same answers and errors. etcd runs its lock and election
// recipes with the caller's token, so a name or a leader key outside the caller's grants is refused;
// LeaseRevoke needs write on every key attached to the lease.
import * as assert from 'uvu/assert';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { startEtcd } from '../helpers/etcd-server.js';
import { startLattice } from '../helpers/lattice-server.js';
import { serverSuite, startBoth, stopAll } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';
import { setUpUsers } from './auth-clients.js';
import { AuthClient, KVClient, LeaseClient, PutRequest, type LeaseGrantRequest, type LeaseGrantResponse } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { LockClient, LockRequest, UnlockRequest, type LockResponse } from '../../src/gen/etcd/etcdserver/api/v3lock/v3lockpb/v3lock.js';
import { CampaignRequest, ElectionClient, ProclaimRequest, type CampaignResponse, type LeaderKey } from '../../src/gen/etcd/etcdserver/api/v3election/v3electionpb/v3election.js';

type Callback<R> = (err: ServiceError | null, res: R) => void;
/** Any generated unary method: (request, metadata, callback). */
type Unary<Q, R> = (req: Q, metadata: Metadata, callback: Callback<R>) => unknown;

function call<Q, R>(method: Unary<Q, R>, req: Q, token: string): Promise<R> {
  const md = new Metadata();
  md.set('token', token);
  return new Promise((resolve, reject) => method(req, md, (err, res) => (err ? reject(err) : resolve(res))));
}

/** "ok", or the status a call failed with. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    const err = e as ServiceError;
    return `${err.code} ${err.details}`;
  }
}

/** The scenario, run against one server: each step's outcome. */
async function scenario(endpoint: string): Promise<string[]> {
  await setUpUsers(endpoint);
  const target = endpoint.replace(/^https?:\/\//, '');
  const auth = new AuthClient(target, credentials.createInsecure());
  const kv = new KVClient(target, credentials.createInsecure());
  const lease = new LeaseClient(target, credentials.createInsecure());
  const lock = new LockClient(target, credentials.createInsecure());
  const election = new ElectionClient(target, credentials.createInsecure());
  const b = (s: string): Buffer => Buffer.from(s);
  const out: string[] = [];
  try {
    const tokenOf = (name: string, password: string): Promise<string> =>
      new Promise((resolve, reject) => auth.authenticate({ name, password }, (err: ServiceError | null, res) => (err ? reject(err) : resolve(res.token))));
    const alice = await tokenOf('alice', 'apw');
    const root = await tokenOf('root', 'rootpw');
    const grant = async (token: string): Promise<bigint> => (await call<LeaseGrantRequest, LeaseGrantResponse>(lease.leaseGrant.bind(lease), { TTL: 60n, ID: 0n }, token)).ID;
    const aliceLease = await grant(alice);

    const held = await call<LockRequest, LockResponse>(lock.lock.bind(lock), LockRequest.fromPartial({ name: b('/a/l'), lease: aliceLease }), alice);
    out.push(`lock /a/l: ok, key under /a/l/: ${held.key.toString().startsWith('/a/l/')}`);
    out.push(`unlock it: ${await outcome(call(lock.unlock.bind(lock), UnlockRequest.fromPartial({ key: held.key }), alice))}`);
    out.push(`lock /b/l: ${await outcome(call(lock.lock.bind(lock), LockRequest.fromPartial({ name: b('/b/l'), lease: aliceLease }), alice))}`);

    const won = await call<CampaignRequest, CampaignResponse>(election.campaign.bind(election), CampaignRequest.fromPartial({ name: b('/a/e'), lease: aliceLease, value: b('v1') }), alice);
    const leader = won.leader as LeaderKey;
    out.push(`campaign /a/e: ok, key under /a/e/: ${leader.key.toString().startsWith('/a/e/')}`);
    out.push(`proclaim on its own leader key: ${await outcome(call(election.proclaim.bind(election), ProclaimRequest.fromPartial({ leader, value: b('v2') }), alice))}`);
    const foreign = { ...leader, key: b('/b/x') };
    out.push(`proclaim naming a key outside the grant: ${await outcome(call(election.proclaim.bind(election), ProclaimRequest.fromPartial({ leader: foreign, value: b('v3') }), alice))}`);
    out.push(`campaign /b/e: ${await outcome(call(election.campaign.bind(election), CampaignRequest.fromPartial({ name: b('/b/e'), lease: aliceLease, value: b('v') }), alice))}`);

    const rootLease = await grant(root);
    await call(kv.put.bind(kv), PutRequest.fromPartial({ key: b('/b/x'), value: b('root'), lease: rootLease }), root);
    out.push(`/b/x untouched by the foreign proclaim: ${await outcome(call(kv.range.bind(kv), { key: b('/b/x') } as never, root))}`);
    out.push(`alice revokes a lease holding /b/x: ${await outcome(call(lease.leaseRevoke.bind(lease), { ID: rootLease }, alice))}`);
    out.push(`alice revokes her own lease: ${await outcome(call(lease.leaseRevoke.bind(lease), { ID: aliceLease }, alice))}`);
    out.push(`root revokes the lease holding /b/x: ${await outcome(call(lease.leaseRevoke.bind(lease), { ID: rootLease }, root))}`);
  } finally {
    for (const c of [auth, kv, lease, lock, election]) c.close();
  }
  return out;
}

const s = serverSuite(
  'lock, election and lease revoke with auth against real etcd',
  async () => {
    const [etcd, lattice] = await startBoth(() => startEtcd(), () => startLattice('memory'));
    return { etcd, lattice, stop: () => stopAll(etcd, lattice) };
  },
  missingTools(['etcd', 'etcdctl']),
);

s.it(
  'a lock or election outside the caller grants, a Proclaim on a foreign key and a LeaseRevoke of foreign keys are refused as by etcd',
  async ({ etcd, lattice }) => {
    const expected = await scenario(etcd.endpoint);
    const actual = await scenario(lattice.endpoint);
    assert.equal(actual, expected);
    assert.ok(expected.filter((o) => !o.endsWith('ok') && !o.endsWith('true')).length >= 4, expected.join('\n'));
  },
  120_000,
);

s.run();
