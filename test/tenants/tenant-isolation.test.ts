// Tenants on a running Lattice (one process for the whole file): every KV, Watch, Lease, Lock and
// Election call of a tenant's user stays inside its prefix and shows no prefix, through gRPC
// (grpc-js), the JSON gateway and /api; its limits answer with etcd's errors for that tenant only
// (a noisy neighbour at its rate limit leaves another tenant's calls succeeding); the admin API
// creates a tenant that every later request and a restart know. Success is asserted, never timing.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { credentials, makeGenericClientConstructor, Metadata, type ServiceError, type ClientDuplexStream, type Client } from '@grpc/grpc-js';
import { TenantsService, type TenantMessage } from '../../src/tenants/tenant-admin-codec.js';
import {
  AuthClient,
  Compare_CompareResult,
  Compare_CompareTarget,
  KVClient,
  LeaseClient,
  MaintenanceClient,
  WatchClient,
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
  type RangeResponse,
  type WatchRequest,
  type WatchResponse,
} from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { LockClient } from '../../src/gen/etcd/etcdserver/api/v3lock/v3lockpb/v3lock.js';
import { ElectionClient } from '../../src/gen/etcd/etcdserver/api/v3election/v3electionpb/v3election.js';
import { Permission_Type } from '../../src/gen/etcd/auth/authpb/auth.js';
import { startLattice, type LatticeServer } from '../helpers/lattice-server.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import { suiteStartTimeoutMs, withTimeout } from '../helpers/spec.js';
import { changedKeys, openSse, openWs } from '../api/api-client.js';
import { failure } from '../helpers/call-failure.js';

const tenants = [
  { name: 'a', prefix: '/tenants/a/', users: ['alice'], limits: { leaseTtlMinSeconds: 5, leaseTtlMaxSeconds: 600, maxWatchers: 3 } },
  { name: 'b', prefix: '/tenants/b/', users: ['bob'] },
  { name: 's', prefix: '/tenants/s/', users: ['sam'], limits: { maxKeys: 3, maxBytes: 200 } },
  { name: 'r', prefix: '/tenants/r/', users: ['rita'], limits: { requestsPerSecond: 5 } },
];

const b = (s: string): Buffer => Buffer.from(s);
const text = (x: Uint8Array | undefined): string => Buffer.from(x ?? []).toString();
const prefixEnd = (p: string): Buffer => {
  const e = b(p);
  e[e.length - 1]!++;
  return e;
};
const ALL = { key: b('\0'), rangeEnd: b('\0') };

// The generated clients' methods are overloaded; the last overload (request, metadata, options, callback) names both types.
type AnyMethod = (...args: any[]) => unknown;
type Req<M> = M extends (req: infer Q, md: any, opts: any, cb: any) => unknown ? Q : never;
type Res<M> = M extends (req: any, md: any, opts: any, cb: (e: any, r: infer R) => void) => unknown ? R : never;

interface Clients {
  readonly md: Metadata;
  readonly kv: KVClient;
  readonly watch: WatchClient;
  readonly lease: LeaseClient;
  readonly lock: LockClient;
  readonly election: ElectionClient;
  readonly maintenance: MaintenanceClient;
  readonly auth: AuthClient;
  token: string;
}

function call<M extends AnyMethod>(client: object, method: M, req: Req<M>, md: Metadata): Promise<Res<M>> {
  return new Promise((resolve, reject) => method.call(client, req, md, (e: ServiceError | null, r: Res<M>) => (e !== null ? reject(e) : resolve(r))));
}

function clientsFor(endpoint: string): Clients {
  const target = endpoint.replace(/^https?:\/\//, '');
  const insecure = credentials.createInsecure();
  const kv = new KVClient(target, insecure);
  const channelOverride = kv.getChannel();
  return {
    md: new Metadata(),
    kv,
    watch: new WatchClient(target, insecure, { channelOverride }),
    lease: new LeaseClient(target, insecure, { channelOverride }),
    lock: new LockClient(target, insecure, { channelOverride }),
    election: new ElectionClient(target, insecure, { channelOverride }),
    maintenance: new MaintenanceClient(target, insecure, { channelOverride }),
    auth: new AuthClient(target, insecure, { channelOverride }),
    token: '',
  };
}

const close = (c: Clients): void => {
  for (const x of [c.kv, c.watch, c.lease, c.lock, c.election, c.maintenance, c.auth]) x.close();
};

interface Fixture {
  server: LatticeServer;
  root: Clients;
  users: Record<string, Clients>;
  dir: string;
}

const password = 'pw';

async function login(server: LatticeServer, name: string): Promise<Clients> {
  const c = clientsFor(server.endpoint);
  const res = await call(c.auth, c.auth.authenticate, { name, password }, new Metadata());
  c.md.set('token', res.token);
  c.token = res.token;
  return c;
}

async function addTenantUser(root: Clients, user: string, prefix: string): Promise<void> {
  await call(root.auth, root.auth.userAdd, { name: user, password, options: undefined }, root.md);
  await call(root.auth, root.auth.roleAdd, { name: `${user}-role` }, root.md);
  await call(root.auth, root.auth.roleGrantPermission, { name: `${user}-role`, perm: { permType: Permission_Type.READWRITE, key: b(prefix), rangeEnd: prefixEnd(prefix) } }, root.md);
  await call(root.auth, root.auth.userGrantRole, { user, role: `${user}-role` }, root.md);
}

async function start(): Promise<Fixture> {
  const dir = makeTempDir('tenants');
  const file = join(dir, 'tenants.json');
  writeFileSync(file, JSON.stringify(tenants));
  const server = await startLattice('rocksdb', 'tenants', ['--tenants-file', file, '--bcrypt-cost', '4']);
  const setup = clientsFor(server.endpoint);
  await call(setup.auth, setup.auth.userAdd, { name: 'root', password, options: undefined }, setup.md);
  await call(setup.auth, setup.auth.userGrantRole, { user: 'root', role: 'root' }, setup.md);
  for (const t of tenants) for (const u of t.users) await addTenantUser(setup, u, t.prefix);
  await call(setup.auth, setup.auth.authEnable, {}, setup.md);
  close(setup);
  const root = await login(server, 'root');
  const users: Record<string, Clients> = {};
  for (const t of tenants) for (const u of t.users) users[u] = await login(server, u);
  return { server, root, users, dir };
}

const s = suite<{ f?: Fixture }>('tenants on a running server');
s.before(async (ctx) => {
  ctx.f = await withTimeout(start(), suiteStartTimeoutMs, 'starting Lattice with tenants');
});
s.after(async (ctx) => {
  if (ctx.f === undefined) return;
  close(ctx.f.root);
  for (const c of Object.values(ctx.f.users)) close(c);
  await ctx.f.server.stop();
  removeTempDir(ctx.f.dir);
});

const fx = (ctx: { f?: Fixture }): Fixture => {
  if (ctx.f === undefined) throw new Error('the server did not start');
  return ctx.f;
};
const range = (c: Clients, req: { key: Buffer; rangeEnd?: Buffer }): Promise<RangeResponse> =>
  call(c.kv, c.kv.range, { rangeEnd: b(''), limit: 0n, revision: 0n, sortOrder: 0, sortTarget: 0, serializable: false, keysOnly: false, countOnly: false, minModRevision: 0n, maxModRevision: 0n, minCreateRevision: 0n, maxCreateRevision: 0n, ...req }, c.md);
const put = (c: Clients, key: string, value: string, lease = 0n) =>
  call(c.kv, c.kv.put, { key: b(key), value: b(value), lease, prevKv: true, ignoreValue: false, ignoreLease: false }, c.md);
const keysOf = (r: RangeResponse): string[] => r.kvs.map((kv) => text(kv.key));

s('a tenant reads and writes its own keys without the prefix; others and root see them where they are stored', async (ctx) => {
  const { root, users } = fx(ctx);
  const alice = users['alice']!;
  const bob = users['bob']!;
  await put(alice, 'foo', 'a1');
  await put(bob, 'foo', 'b1');
  assert.equal(keysOf(await range(alice, { key: b('foo') })), ['foo']);
  assert.is(text((await range(alice, { key: b('foo') })).kvs[0]?.value), 'a1');
  assert.is(text((await range(bob, { key: b('foo') })).kvs[0]?.value), 'b1');
  assert.is(text((await range(root, { key: b('/tenants/a/foo') })).kvs[0]?.value), 'a1');
  // the other tenant's stored key names a key inside the caller's own prefix
  assert.is((await range(alice, { key: b('/tenants/b/foo') })).kvs.length, 0);
  // a put's prev_kv is shown without the prefix
  const again = await put(alice, 'foo', 'a2');
  assert.is(text(again.prevKv?.key), 'foo');
});

s('range ends map like etcd namespaces: "\\0" stops at the prefix end, a plain end moves under the prefix', async (ctx) => {
  const { users } = fx(ctx);
  const alice = users['alice']!;
  for (const k of ['k1', 'k2', 'k3']) await put(alice, k, 'v');
  await put(users['bob']!, 'k9', 'v');
  assert.equal(keysOf(await range(alice, { key: b('k1'), rangeEnd: b('k3') })), ['k1', 'k2']);
  assert.equal(keysOf(await range(alice, { key: b('k2'), rangeEnd: b('\0') })), ['k2', 'k3']);
  assert.equal(keysOf(await range(alice, ALL)), ['foo', 'k1', 'k2', 'k3']);
  assert.is((await range(alice, { ...ALL, countOnly: true } as never)).count, 4n);
});

s('delete of every key deletes only the tenant keys and returns them without the prefix', async (ctx) => {
  const { users, root } = fx(ctx);
  const bob = users['bob']!;
  await put(bob, 'del1', 'x');
  const res = await call(bob.kv, bob.kv.deleteRange, { ...ALL, prevKv: true }, bob.md);
  assert.equal(res.prevKvs.map((kv) => text(kv.key)).sort(), ['del1', 'foo', 'k9']);
  assert.is((await range(root, { key: b('/tenants/a/foo') })).kvs.length, 1);
  assert.is((await range(root, { key: b('/tenants/b/'), rangeEnd: prefixEnd('/tenants/b/') })).kvs.length, 0);
});

s('txn compares and nested ops act inside the prefix and answer without it', async (ctx) => {
  const { users, root } = fx(ctx);
  const alice = users['alice']!;
  const res = await call(
    alice.kv,
    alice.kv.txn,
    {
      compare: [{ key: b('foo'), rangeEnd: b(''), target: Compare_CompareTarget.VALUE, result: Compare_CompareResult.EQUAL, value: b('a2') }],
      success: [
        { requestPut: { key: b('t1'), value: b('x'), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } },
        { requestTxn: { compare: [], success: [{ requestRange: { ...ALL, limit: 0n, revision: 0n, sortOrder: 0, sortTarget: 0, serializable: false, keysOnly: true, countOnly: false, minModRevision: 0n, maxModRevision: 0n, minCreateRevision: 0n, maxCreateRevision: 0n } }], failure: [] } },
      ],
      failure: [],
    },
    alice.md,
  );
  assert.ok(res.succeeded);
  const nested = res.responses[1]?.responseTxn?.responses[0]?.responseRange;
  assert.equal(nested?.kvs.map((kv) => text(kv.key)), ['foo', 'k1', 'k2', 'k3', 't1']);
  assert.is((await range(root, { key: b('/tenants/a/t1') })).kvs.length, 1);
  const other = await call(alice.kv, alice.kv.txn, { compare: [{ key: b('/tenants/b/x'), rangeEnd: b(''), target: Compare_CompareTarget.VERSION, result: Compare_CompareResult.GREATER, version: 0n }], success: [], failure: [] }, alice.md);
  assert.not.ok(other.succeeded);
});

s('compaction, whole-store maintenance and auth management are refused to a tenant with permission denied; status is not', async (ctx) => {
  const { users } = fx(ctx);
  const alice = users['alice']!;
  const compact = await failure(call(alice.kv, alice.kv.compact, { revision: 2n, physical: false }, alice.md));
  assert.is(compact.details, 'etcdserver: permission denied');
  const hash = await failure(call(alice.maintenance, alice.maintenance.hashKv, { revision: 0n }, alice.md));
  assert.is(hash.details, 'etcdserver: permission denied');
  const authChange = await failure(call(alice.auth, alice.auth.authDisable, {}, alice.md));
  assert.is(authChange.details, 'etcdserver: permission denied');
  await call(alice.maintenance, alice.maintenance.status, {}, alice.md);
});

function openWatch(c: Clients): { stream: ClientDuplexStream<WatchRequest, WatchResponse>; responses: WatchResponse[]; next(pred: (r: WatchResponse) => boolean): Promise<WatchResponse> } {
  const stream = c.watch.watch(c.md);
  const responses: WatchResponse[] = [];
  const waiters: { pred: (r: WatchResponse) => boolean; resolve: (r: WatchResponse) => void }[] = [];
  stream.on('data', (r: WatchResponse) => {
    responses.push(r);
    for (const w of [...waiters]) if (w.pred(r)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(r);
    }
  });
  stream.on('error', () => undefined);
  return {
    stream,
    responses,
    next: (pred) => {
      const seen = responses.find(pred);
      if (seen !== undefined) return Promise.resolve(seen);
      return withTimeout(new Promise((resolve) => waiters.push({ pred, resolve })), 10_000, 'watch response');
    },
  };
}

const create = (key: Buffer, rangeEnd: Buffer, watchId = 0n): WatchRequest => ({
  createRequest: { key, rangeEnd, startRevision: 0n, progressNotify: false, filters: [], prevKv: true, watchId, fragment: false },
});

s('a watch on every key sees only the tenant events, keys without the prefix', async (ctx) => {
  const { users } = fx(ctx);
  const alice = users['alice']!;
  const w = openWatch(alice);
  w.stream.write(create(ALL.key, ALL.rangeEnd));
  await w.next((r) => r.created);
  await put(users['bob']!, 'w', 'bob');
  await put(alice, 'w', 'alice');
  const ev = await w.next((r) => r.events.length > 0);
  assert.equal(ev.events.map((e) => text(e.kv?.key)), ['w']);
  assert.is(text(ev.events[0]?.kv?.value), 'alice');
  assert.is(w.responses.flatMap((r) => r.events).length, 1);
  w.stream.end();
  w.stream.cancel();
});

s('watchers past maxWatchers are refused with too many requests; the stream keeps its others', async (ctx) => {
  const { users } = fx(ctx);
  const alice = users['alice']!;
  const w = openWatch(alice);
  for (let i = 1n; i <= 4n; i++) w.stream.write(create(b(`x${i}`), b(''), i));
  const refused = await w.next((r) => r.canceled);
  assert.is(refused.cancelReason, 'etcdserver: too many requests');
  assert.is(w.responses.filter((r) => r.created && !r.canceled).length, 3);
  await put(alice, 'x1', 'v');
  await w.next((r) => r.events.length > 0 && r.watchId === 1n);
  w.stream.cancel();
});

s('a tenant sees, keeps alive and revokes only its own leases; TTLs keep its bounds', async (ctx) => {
  const { users, root } = fx(ctx);
  const alice = users['alice']!;
  const bob = users['bob']!;
  const grant = await call(alice.lease, alice.lease.leaseGrant, { TTL: 60n, ID: 0n }, alice.md);
  assert.ok(grant.ID > 0n && grant.ID < 1n << 40n, `small client ID ${grant.ID}`);
  await put(alice, 'leased', 'v', grant.ID);
  const kv = (await range(alice, { key: b('leased') })).kvs[0];
  assert.is(kv?.lease, grant.ID);
  const ttl = await call(alice.lease, alice.lease.leaseTimeToLive, { ID: grant.ID, keys: true }, alice.md);
  assert.equal(ttl.keys.map(text), ['leased']);
  assert.is(ttl.ID, grant.ID);
  const bobTtl = await call(bob.lease, bob.lease.leaseTimeToLive, { ID: grant.ID, keys: true }, bob.md);
  assert.is(bobTtl.TTL, -1n);
  const revoke = await failure(call(bob.lease, bob.lease.leaseRevoke, { ID: grant.ID }, bob.md));
  assert.is(revoke.details, 'etcdserver: requested lease not found');
  assert.not.ok((await call(bob.lease, bob.lease.leaseLeases, {}, bob.md)).leases.some((l) => l.ID === grant.ID));
  assert.ok((await call(alice.lease, alice.lease.leaseLeases, {}, alice.md)).leases.some((l) => l.ID === grant.ID));
  const rootIds = (await call(root.lease, root.lease.leaseLeases, {}, root.md)).leases.map((l) => l.ID);
  assert.ok(rootIds.some((id) => id >= 1n << 62n), 'root sees the stored ID');
  // bob's keepalive of alice's ID is answered as for an unknown lease
  const ka = bob.lease.leaseKeepAlive(bob.md) as ClientDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse>;
  ka.on('error', () => undefined);
  const answered = withTimeout(new Promise<LeaseKeepAliveResponse>((resolve) => ka.once('data', resolve)), 10_000, 'keepalive');
  ka.write({ ID: grant.ID });
  assert.is((await answered).TTL, 0n);
  ka.cancel();
  await call(alice.lease, alice.lease.leaseRevoke, { ID: grant.ID }, alice.md);
  assert.is((await range(root, { key: b('/tenants/a/leased') })).kvs.length, 0);
  const short = await call(alice.lease, alice.lease.leaseGrant, { TTL: 1n, ID: 0n }, alice.md);
  assert.is(short.TTL, 5n);
  const long = await failure(call(alice.lease, alice.lease.leaseGrant, { TTL: 1000n, ID: 0n }, alice.md));
  assert.is(long.details, 'etcdserver: too large lease TTL');
  // a caller without a tenant may not choose an ID in the tenants' range
  const reserved = await failure(call(root.lease, root.lease.leaseGrant, { TTL: 60n, ID: (1n << 62n) | 5n }, root.md));
  assert.is(reserved.code, 3, 'INVALID_ARGUMENT');
  assert.is(reserved.details, 'lattice: lease IDs with bit 62 set are reserved for tenants');
});

s('locks and elections of the same name in two tenants are separate, their keys under each prefix', async (ctx) => {
  const { users, root } = fx(ctx);
  const alice = users['alice']!;
  const bob = users['bob']!;
  const la = await call(alice.lock, alice.lock.lock, { name: b('m'), lease: 0n }, alice.md);
  const lb = await call(bob.lock, bob.lock.lock, { name: b('m'), lease: 0n }, bob.md);
  assert.ok(text(la.key).startsWith('m/'), text(la.key));
  assert.ok(text(lb.key).startsWith('m/'), text(lb.key));
  assert.is((await range(root, { key: b('/tenants/a/m/'), rangeEnd: prefixEnd('/tenants/a/m/') })).kvs.length, 1);
  await call(alice.lock, alice.lock.unlock, { key: la.key }, alice.md);
  await call(bob.lock, bob.lock.unlock, { key: lb.key }, bob.md);
  const lease = await call(alice.lease, alice.lease.leaseGrant, { TTL: 60n, ID: 0n }, alice.md);
  const camp = await call(alice.election, alice.election.campaign, { name: b('e'), lease: lease.ID, value: b('va') }, alice.md);
  assert.is(text(camp.leader?.name), 'e');
  assert.is(camp.leader?.lease, lease.ID);
  const leader = await call(alice.election, alice.election.leader, { name: b('e') }, alice.md);
  assert.is(text(leader.kv?.value), 'va');
  assert.ok(text(leader.kv?.key).startsWith('e/'));
  const none = await failure(call(bob.election, bob.election.leader, { name: b('e') }, bob.md));
  assert.is(none.details, 'election: no leader');
  await call(alice.election, alice.election.proclaim, { leader: camp.leader, value: b('vb') }, alice.md);
  const observe = alice.election.observe({ name: b('e') }, alice.md);
  observe.on('error', () => undefined);
  const observed = await withTimeout(new Promise<{ kv?: { key: Buffer; value: Buffer } }>((resolve) => observe.once('data', resolve)), 10_000, 'observe');
  observe.cancel();
  assert.is(text(observed.kv?.value), 'vb');
  assert.ok(text(observed.kv?.key).startsWith('e/'));
  // another tenant cannot attach a key to this tenant's lease
  const foreign = await failure(put(bob, 'k', 'v', lease.ID));
  assert.is(foreign.details, 'etcdserver: requested lease not found');
  await call(alice.election, alice.election.resign, { leader: camp.leader }, alice.md);
});

const http = async (f: Fixture, path: string, init: RequestInit & { auth?: string } = {}): Promise<Response> =>
  fetch(`${f.server.endpoint}${path}`, { ...init, headers: { ...(init.auth === undefined ? {} : { Authorization: init.auth }), 'Content-Type': 'application/json', ...(init.headers as Record<string, string> | undefined) } });
/** A raw request, for the headers fetch will not send as given (Host, Origin). */
const rawStatus = (f: Fixture, method: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const req = httpRequest(`${f.server.endpoint}${path}`, { method, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(method === 'PUT' ? JSON.stringify({ prefix: '/tenants/z/' }) : undefined);
  });
const basic = (user: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

s('the JSON gateway and /api serve a tenant its own keys without the prefix', async (ctx) => {
  const f = fx(ctx);
  const alice = f.users['alice']!;
  const expected = keysOf(await range(alice, ALL));
  assert.ok(expected.includes('foo') && expected.every((k) => !k.startsWith('/tenants/')));
  const gw = await http(f, '/v3/kv/range', { method: 'POST', auth: alice.token, body: JSON.stringify({ key: Buffer.from('\0').toString('base64'), range_end: Buffer.from('\0').toString('base64') }) });
  assert.is(gw.status, 200);
  const gwBody = (await gw.json()) as { kvs: { key: string }[] };
  assert.equal(gwBody.kvs.map((kv) => Buffer.from(kv.key, 'base64').toString()), expected);
  const api = await http(f, '/api/kv?prefix', { auth: `Bearer ${alice.token}` });
  assert.is(api.status, 200);
  const apiBody = (await api.json()) as { kvs: { key: string }[] };
  assert.equal(apiBody.kvs.map((kv) => kv.key), expected);
  const putRes = await http(f, '/api/kv/from-api', { method: 'PUT', auth: basic('bob'), body: 'v' , headers: { 'Content-Type': 'text/plain' } });
  assert.is(putRes.status, 200, await putRes.clone().text());
  assert.is((await range(f.root, { key: b('/tenants/b/from-api') })).kvs.length, 1);
});

s('/api watches over SSE and WebSocket see only the tenant keys, without the prefix', async (ctx) => {
  const f = fx(ctx);
  const alice = f.users['alice']!;
  const bob = f.users['bob']!;
  const ws = await openWs(`${f.server.endpoint.replace('http', 'ws')}/api/watch?prefix`, { Authorization: `Bearer ${bob.token}` });
  assert.is(ws.status, 101);
  const sse = await openSse(`${f.server.endpoint}/api/watch/sse-?prefix`, { Authorization: `Bearer ${alice.token}` });
  assert.is(sse.status, 200);
  await ws.stream.waitFor('created', (m) => m.event === 'created');
  await sse.stream.waitFor('created', (m) => m.event === 'created');
  await put(alice, 'sse-a', 'v');
  await put(bob, 'ws-b', 'v');
  await put(bob, 'sse-b', 'v');
  const bobSaw = await ws.stream.waitFor('bob sees his put', (m) => changedKeys(m).includes('sse-b'));
  const aliceSaw = await sse.stream.waitFor('alice sees her put', (m) => changedKeys(m).includes('sse-a'));
  assert.ok(bobSaw !== undefined && aliceSaw !== undefined);
  const bobKeys = ws.stream.messages.flatMap(changedKeys);
  const aliceKeys = sse.stream.messages.flatMap(changedKeys);
  assert.equal(bobKeys, ['ws-b', 'sse-b']);
  assert.equal(aliceKeys, ['sse-a']);
  ws.ws.close();
  sse.close();
});

s('past maxKeys or maxBytes a tenant write fails with database space exceeded; overwrites and other tenants go on', async (ctx) => {
  const { users } = fx(ctx);
  const sam = users['sam']!;
  for (const k of ['s1', 's2', 's3']) await put(sam, k, 'v');
  const over = await failure(put(sam, 's4', 'v'));
  assert.is(over.details, 'etcdserver: mvcc: database space exceeded');
  await put(sam, 's1', 'v2');
  await put(users['alice']!, 'still-fine', 'v');
  await call(sam.kv, sam.kv.deleteRange, { key: b('s3'), rangeEnd: b(''), prevKv: false }, sam.md);
  const big = await failure(put(sam, 's3', 'x'.repeat(250)));
  assert.is(big.details, 'etcdserver: mvcc: database space exceeded');
  await put(sam, 's3', 'small');
  // the Lock recipe's writes (as the caller's) are held to the same limits
  const lock = await failure(call(sam.lock, sam.lock.lock, { name: b('m'), lease: 0n }, sam.md));
  assert.is(lock.details, 'etcdserver: mvcc: database space exceeded');
});

s('a tenant hammering at its request rate gets too many requests while another tenant calls all succeed', async (ctx) => {
  const { users } = fx(ctx);
  const rita = users['rita']!;
  const alice = users['alice']!;
  // the noisy tenant keeps 10 calls in flight until the quiet tenant's calls are done
  const noisy: PromiseSettledResult<RangeResponse>[] = [];
  let quietDone = false;
  const hammer = async (): Promise<void> => {
    while (!quietDone || noisy.length < 40) noisy.push(...(await Promise.allSettled(Array.from({ length: 10 }, () => range(rita, { key: b('n') })))));
  };
  const hammering = hammer();
  const quiet = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => put(alice, `quiet${i % 4}`, 'v')));
  quietDone = true;
  await hammering;
  const refused = noisy.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  assert.ok(refused.length > 0, 'some of the noisy tenant calls are refused');
  assert.ok(noisy.some((r) => r.status === 'fulfilled'), 'the noisy tenant still gets its rate');
  for (const r of refused) assert.is((r.reason as ServiceError).details, 'etcdserver: too many requests');
  assert.is((refused[0]!.reason as ServiceError).code, 8, 'RESOURCE_EXHAUSTED');
  assert.ok(quiet.every((r) => r.status === 'fulfilled'), 'every call of the other tenant succeeded');
  // refused early (before its token is checked) only where a call counts against the rate
  assert.ok((await call(rita.maintenance, rita.maintenance.status, {}, rita.md)).header);
  // a rate refusal is the noisy tenant's alone, and it shows in its usage
  const usage = (await (await http(fx(ctx), '/api/tenants/r', { auth: basic('root') })).json()) as { usage: { rejections: number; requests: number } };
  assert.ok(usage.usage.rejections >= refused.length);
});

s('the admin API lists tenants with usage, is root only, and its tenants work at once and after a restart', async (ctx) => {
  const f = fx(ctx);
  const list = await http(f, '/api/tenants', { auth: basic('root') });
  assert.is(list.status, 200);
  const body = (await list.json()) as { tenants: { name: string; usage: { keys: number } }[] };
  assert.equal(body.tenants.map((t) => t.name).sort(), ['a', 'b', 'r', 's']);
  assert.is(body.tenants.find((t) => t.name === 's')?.usage.keys, 3);
  assert.is((await http(f, '/api/tenants', { auth: basic('alice') })).status, 403);
  // the same browser checks as the rest of /api: no DNS-rebound Host, no cross-origin write
  const rebound = await rawStatus(f, 'GET', '/api/tenants', { Authorization: basic('root'), Host: 'evil.example' });
  assert.is(rebound.status, 403);
  assert.match(rebound.body, /hostRefused/);
  const crossOrigin = await rawStatus(f, 'PUT', '/api/tenants/z', { Authorization: basic('root'), 'Content-Type': 'application/json', Origin: 'http://evil.example' });
  assert.is(crossOrigin.status, 403);
  assert.match(crossOrigin.body, /crossOriginRefused/);
  const created = await http(f, '/api/tenants/c', { method: 'PUT', auth: basic('root'), body: JSON.stringify({ prefix: '/tenants/c/', users: ['carol'], limits: { maxKeys: 10 } }) });
  assert.is(created.status, 201, await created.clone().text());
  const nested = await http(f, '/api/tenants/c', { method: 'PUT', auth: basic('root'), body: JSON.stringify({ prefix: '/tenants/a/x/' }) });
  assert.is(nested.status, 400);
  assert.match(((await nested.json()) as { error: { message: string } }).error.message, /nested prefixes/);
  await put(f.root, '/used/k', 'v');
  const used = await http(f, '/api/tenants/d', { method: 'PUT', auth: basic('root'), body: JSON.stringify({ prefix: '/used/' }) });
  assert.is(used.status, 409);
  assert.is((await range(f.root, { key: b('\0lattice/tenants/d') })).kvs.length, 0, 'a refused create leaves no spec behind');
  await addTenantUser(f.root, 'carol', '/tenants/c/');
  const carol = await login(f.server, 'carol');
  await put(carol, 'x', 'v');
  assert.is((await range(f.root, { key: b('/tenants/c/x') })).kvs.length, 1);
  close(carol);
  for (const c of [f.root, ...Object.values(f.users)]) close(c);
  await f.server.restart();
  f.root = await login(f.server, 'root');
  for (const u of Object.keys(f.users)) f.users[u] = await login(f.server, u);
  const carolAgain = await login(f.server, 'carol');
  assert.equal(keysOf(await range(carolAgain, ALL)), ['x']);
  // a deleted tenant's open streams end: they must not outlive it
  const carolWatch = openWatch(carolAgain);
  carolWatch.stream.write(create(ALL.key, ALL.rangeEnd));
  await carolWatch.next((r) => r.created);
  const ended = withTimeout(new Promise<ServiceError>((resolve) => carolWatch.stream.on('error', resolve)), 10_000, 'the deleted tenant watch ends');
  const got = (await (await http(f, '/api/tenants/c', { auth: basic('root') })).json()) as { source: string; usage: { keys: number } };
  assert.is(got.source, 'admin');
  assert.is(got.usage.keys, 1);
  const sUsage = (await (await http(f, '/api/tenants/s', { auth: basic('root') })).json()) as { usage: { keys: number } };
  assert.is(sUsage.usage.keys, 3, 'usage is counted again from the store at start-up');
  assert.is((await http(f, '/api/tenants/c', { method: 'DELETE', auth: basic('root') })).status, 204);
  assert.is((await ended).details, 'etcdserver: permission denied');
  close(carolAgain);
  assert.is((await http(f, '/api/tenants/a', { method: 'DELETE', auth: basic('root') })).status, 409);
  // a configured tenant is changed in the configuration, which every member proposes (tenant-config-seed.ts)
  const changed = await http(f, '/api/tenants/a', { method: 'PUT', auth: basic('root'), body: JSON.stringify({ prefix: '/tenants/a/' }) });
  assert.is(changed.status, 409);
  assert.match(((await changed.json()) as { error: { message: string } }).error.message, /defined in this member's configuration/);
});

s('the gRPC admin service lists, creates, reads and deletes tenants for root and refuses a tenant', async (ctx) => {
  const f = fx(ctx);
  const Tenants = makeGenericClientConstructor(TenantsService, 'lattice.tenants.v1.Tenants');
  const client = new Tenants(f.server.endpoint.replace(/^https?:\/\//, ''), credentials.createInsecure()) as Client & Record<string, (req: unknown, md: Metadata, cb: (e: ServiceError | null, r: unknown) => void) => void>;
  const rpc = <T>(name: string, req: unknown, md: Metadata): Promise<T> =>
    new Promise((resolve, reject) => client[name]!(req, md, (e, r) => (e !== null ? reject(e) : resolve(r as T))));
  try {
    const all = await rpc<TenantMessage[]>('list', {}, f.root.md);
    assert.ok(all.some((t) => t.name === 'a' && t.source === 'config'));
    const made = await rpc<TenantMessage>('put', { name: 'g', prefix: '/tenants/g/', users: ['gina'], certCommonNames: [], limits: { maxKeys: 5, requestsPerSecond: 2.5 } }, f.root.md);
    assert.equal(made.limits, { requestsPerSecond: 2.5, maxKeys: 5 });
    assert.is(made.source, 'admin');
    assert.is((await rpc<TenantMessage>('get', 'g', f.root.md)).prefix, '/tenants/g/');
    await rpc('delete', { name: 'g' }, f.root.md);
    const gone = await failure(rpc('get', 'g', f.root.md));
    assert.is(gone.code, 5, 'NOT_FOUND');
    const bad = await failure(rpc('put', { name: 'h', prefix: '/tenants/a/h/', users: [], certCommonNames: [], limits: {} }, f.root.md));
    assert.is(bad.code, 3, 'INVALID_ARGUMENT');
    const tenant = await failure(rpc('list', {}, f.users['alice']!.md));
    assert.is(tenant.details, 'etcdserver: permission denied');
  } finally {
    client.close();
  }
});

s.run();
