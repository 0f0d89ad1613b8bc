// The pure parts of tenants: the key mapping (etcd's namespace rules), lease ID ranges, the token
// bucket on a fake clock, the request mapping of a nested txn, and the apply-time size check of the
// usage book fed with records as the store applies them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Compare_CompareResult, Compare_CompareTarget, PutRequest, TxnRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { KvRecord } from '../../src/mvcc/kv-record.js';
import { TenantKeys } from '../../src/tenants/tenant-keys.js';
import { TenantLeaseIds, leaseTagOf } from '../../src/tenants/tenant-lease-ids.js';
import { TenantMapping } from '../../src/tenants/tenant-kv.js';
import { TenantState } from '../../src/tenants/tenant-state.js';
import { TenantUsageBook } from '../../src/tenants/tenant-usage-book.js';
import { TokenBucket } from '../../src/tenants/token-bucket.js';
import { tenantsProblem } from '../../src/tenants/tenant-validation.js';
import { parseTenantsJson } from '../../src/tenants/tenants-file.js';
import { specWriteProblem } from '../../src/tenants/tenant-spec-writes.js';
import { tenantSpecKeyPrefix } from '../../src/tenants/tenant-validation.js';
import { TenantDirectory } from '../../src/tenants/tenant-directory.js';
import { LeaseTable } from '../../src/actors/lease-table.js';
import type { AuthApplier } from '../../src/store/mvcc-store.js';
import { noUser } from '../../src/auth/auth-op.js';
import { openStore, rejectsWith, removeDir, tempDir, type OpenStore } from '../store/store-harness.js';
import { ScriptedLog } from '../log/scripted-log.js';
import { ManualTimers } from '../store/manual-timers.js';
import { LeaseIdGenerator } from '../../src/lease/lease-ids.js';
import { TenantRouter } from '../../src/tenants/tenant-routing.js';
import type { ServerApi } from '../../src/core/kv-api.js';
import type { GrpcMethod, GrpcServiceContext, MethodCall } from '../../src/adapters/grpc/service-module.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const spec = (name: string, prefix: string, limits = {}) => ({ name, prefix, users: [], certCommonNames: [], limits });

const keys = suite('tenant keys');

keys('a key and a range end move under the prefix; "\\0" becomes the prefix end and an empty end stays empty', () => {
  const k = new TenantKeys('/t/a/');
  assert.equal(k.toStored(b('foo')), b('/t/a/foo'));
  assert.equal(Buffer.from(k.toStoredEnd(b('zoo'))), b('/t/a/zoo'));
  assert.equal(Buffer.from(k.toStoredEnd(b('\0'))), b('/t/a0'));
  assert.is(k.toStoredEnd(new Uint8Array(0)).length, 0);
  assert.equal(k.toClient(b('/t/a/foo')), b('foo'));
  // back again, as the recipes' reads of stored keys reach the tenant's auth view
  for (const end of ['zoo', '\0', '']) assert.equal(Buffer.from(k.toClientEnd(k.toStoredEnd(b(end)))), b(end));
  assert.ok(k.contains(b('/t/a/x')));
  assert.not.ok(k.contains(b('/t/b/x')));
});

keys('a prefix of 0xff bytes ends at the end of the key space', () => {
  const k = new TenantKeys(Buffer.from([0x61, 0xff]));
  assert.equal(Buffer.from(k.toStoredEnd(b('\0'))), b('b'));
  const all = new TenantKeys(Buffer.from([0xff, 0xff]));
  assert.equal(Buffer.from(all.toStoredEnd(b('\0'))), b('\0'));
});

keys('a normalised watch range moves under the prefix, an open end stops at the prefix end, the empty start key is the prefix itself', () => {
  const k = new TenantKeys('/t/a/');
  assert.equal(k.toStoredRange({ kind: 'single', key: 'x' }), { kind: 'single', key: '/t/a/x' });
  assert.equal(k.toStoredRange({ kind: 'range', start: '\0', end: null }), { kind: 'range', start: '/t/a/', end: '/t/a0' });
  assert.equal(k.toStoredRange({ kind: 'range', start: 'a', end: 'b' }), { kind: 'range', start: '/t/a/a', end: '/t/a/b' });
});

keys.run();

const leases = suite('tenant lease ids');

leases('a tenant owns exactly the IDs it maps to; another tenant and plain IDs are not its own', () => {
  const a = new TenantLeaseIds(leaseTagOf('a'));
  const other = new TenantLeaseIds(leaseTagOf('b'));
  const stored = a.toStored(12345n);
  assert.ok(a.owns(stored));
  assert.not.ok(other.owns(stored));
  assert.not.ok(a.owns(12345n));
  assert.is(a.toClient(stored), 12345n);
  assert.is(a.toClient(other.toStored(12345n)), 0n);
  assert.is(a.toStored(0n), 0n);
  assert.not.ok(a.fits(1n << 40n));
  assert.ok(stored > 0n && stored < 1n << 63n);
});

leases('server-chosen lease IDs keep bit 62 clear, whatever the member ID, so they never fall in a tenant range', () => {
  const ids = new LeaseIdGenerator(0xffffn, 1_000);
  for (let i = 0; i < 3; i++) {
    const id = ids.next();
    assert.ok(id > 0n && (id & (1n << 62n)) === 0n, id.toString(16));
  }
});

leases.run();

const routing = suite('tenant routing');

routing('a tenant call whose method has no tenant-built twin is refused, never served by the plain handler', async () => {
  const directory = new TenantDirectory([{ ...spec('t', '/t/'), certCommonNames: ['cn-t'] }], () => 0);
  const base = { lease: {}, kv: {}, watch: {}, lock: {}, election: {}, header: () => ({}) } as unknown as ServerApi;
  const router = new TenantRouter(base, directory, Math.random);
  let plainServed = 0;
  const plain: GrpcMethod = { path: '/x.S/M', kind: 'unary', serve: () => plainServed++ };
  // a service whose table over a tenant's API lacks the method
  const [service] = router.routeServices([{ name: 'x.S', methods: (ctx: GrpcServiceContext) => (ctx.api === base ? [plain] : []) }]);
  const [routed] = service!.methods({ api: base, maxRequestBytes: 1, maxTxnOps: 1, log: () => undefined });
  const failed = await new Promise<unknown>((resolve) => routed!.serve({ metadata: {}, verifiedCommonName: 'cn-t', fail: resolve } as unknown as MethodCall));
  assert.is((failed as Error).message, 'authPermissionDenied');
  assert.is(plainServed, 0);
});

routing('a caller whose tenant is over its request rate is refused before its token is checked or its request read, for rate-limited calls only, the refusal held for the delay', async () => {
  let now = 0;
  const directory = new TenantDirectory([{ ...spec('t', '/t/'), certCommonNames: ['cn-t', 'cn-u'] }], () => now);
  const stored = JSON.stringify({ ...spec('t', '/t/', { requestsPerSecond: 1 }), certCommonNames: ['cn-t', 'cn-u'] });
  directory.book.track({ key: tenantSpecKeyPrefix + 't', value: b(stored), createRevision: 2, modRevision: 2, sub: 0, version: 1, lease: 0n, tombstone: false });
  assert.not.ok(directory.get('t')!.pending, 'the stored spec is the one in effect');
  const base = { lease: {}, kv: {}, watch: {}, lock: {}, election: {}, header: () => ({}) } as unknown as ServerApi;
  const delayMs = 40;
  const router = new TenantRouter(base, directory, Math.random, undefined, delayMs);
  let served = 0;
  let reached = 0;
  // the tenant's twin of the method admits like tenant-kv.ts does
  const methods = (ctx: GrpcServiceContext): GrpcMethod[] =>
    ['/etcdserverpb.KV/Range', '/etcdserverpb.Maintenance/Status'].map((path) => ({
      path,
      kind: 'unary' as const,
      serve: (call: MethodCall) => {
        if (ctx.api === base) return;
        reached++;
        try {
          if (path.endsWith('/Range')) directory.get('t')!.admit(1);
          served++;
          call.end();
        } catch (e) {
          call.fail(e);
        }
      },
    }));
  const [service] = router.routeServices([{ name: 'etcdserverpb.KV', methods }]);
  const [range, status] = service!.methods({ api: base, maxRequestBytes: 1, maxTxnOps: 1, log: () => undefined });
  const serve = (method: GrpcMethod, cn = 'cn-t'): Promise<string> =>
    new Promise((resolve) =>
      method.serve({ metadata: {}, verifiedCommonName: cn, kind: 'unary', receive: () => undefined, end: (status?: { details: string }) => resolve(status?.details ?? 'ok'), fail: (e: Error) => resolve(e.message) } as unknown as MethodCall),
    );
  assert.is(await serve(range!), 'ok');
  // the bucket (1 a second) is empty: refused before the tenant is looked up again, after the delay
  // (its timer does not keep a process alive: this one does, meanwhile)
  const keepAlive = setTimeout(() => undefined, 10_000);
  const started = performance.now();
  assert.is(await serve(range!), 'etcdserver: too many requests');
  assert.ok(performance.now() - started >= delayMs - 1, `held ${performance.now() - started} ms`);
  assert.is(served, 1);
  assert.is(reached, 1, 'the refused call never reached the method');
  // a caller not yet remembered passes the early check; the tenant's admit refuses it, held the same
  const startedU = performance.now();
  assert.is(await serve(range!, 'cn-u'), 'etcdserver: too many requests');
  assert.ok(performance.now() - startedU >= delayMs - 1, `held ${performance.now() - startedU} ms`);
  assert.is(reached, 2);
  clearTimeout(keepAlive);
  assert.is(await serve(status!), 'ok', 'a call that does not count against the rate is served');
  now += 1000;
  assert.is(await serve(range!), 'ok');
  assert.is(directory.usage('t')!.rejections, 2);
});

routing.run();

const bucket = suite('token bucket');

bucket('allows a second worth of burst, then refuses until time refills it', () => {
  let now = 0;
  const tb = new TokenBucket(3, () => now);
  assert.ok(tb.take(1) && tb.take(1) && tb.take(1));
  assert.not.ok(tb.take(1));
  now += 400;
  assert.ok(tb.take(1));
  assert.not.ok(tb.take(1));
});

bucket('a cost above the burst passes when the bucket is full and leaves it in debt', () => {
  let now = 0;
  const tb = new TokenBucket(10, () => now);
  assert.ok(tb.take(25));
  now += 1000;
  assert.not.ok(tb.take(1));
  now += 1600;
  assert.ok(tb.take(1));
});

bucket.run();

const mapping = suite('tenant request mapping');

mapping('a txn maps compares (lease targets too), nested txns and every op; answers lose the prefix', () => {
  const tenant = new TenantState(spec('a', '/t/a/'), () => 0);
  const m = new TenantMapping(tenant);
  const req = TxnRequest.fromPartial({
    compare: [{ key: b('k'), rangeEnd: b('\0'), target: Compare_CompareTarget.LEASE, result: Compare_CompareResult.EQUAL, lease: 7n }],
    success: [{ requestTxn: { compare: [], success: [{ requestPut: { key: b('in'), value: b('v'), lease: 7n } }], failure: [{ requestDeleteRange: { key: b('d'), rangeEnd: b('e') } }] } }],
    failure: [{ requestRange: { key: b('r'), rangeEnd: new Uint8Array(0) as Buffer } }],
  });
  const out = m.txn(req);
  assert.equal(out.compare[0]!.key, b('/t/a/k'));
  assert.equal(Buffer.from(out.compare[0]!.rangeEnd), b('/t/a0'));
  assert.is(out.compare[0]!.lease, tenant.leaseIds.toStored(7n));
  const nested = out.success[0]!.requestTxn!;
  assert.equal(nested.success[0]!.requestPut!.key, b('/t/a/in'));
  assert.is(nested.success[0]!.requestPut!.lease, tenant.leaseIds.toStored(7n));
  assert.equal(nested.failure[0]!.requestDeleteRange!.key, b('/t/a/d'));
  assert.equal(Buffer.from(nested.failure[0]!.requestDeleteRange!.rangeEnd), b('/t/a/e'));
  assert.equal(out.failure[0]!.requestRange!.key, b('/t/a/r'));
  const kv = { key: b('/t/a/in'), value: b('v'), createRevision: 2n, modRevision: 2n, version: 1n, lease: tenant.leaseIds.toStored(7n) };
  const answer = m.txnOut({ header: undefined, succeeded: true, responses: [{ responseTxn: { header: undefined, succeeded: true, responses: [{ responsePut: { header: undefined, prevKv: kv } }] } }] });
  const prev = answer.responses[0]!.responseTxn!.responses[0]!.responsePut!.prevKv!;
  assert.equal(prev.key, b('in'));
  assert.is(prev.lease, 7n);
});

mapping('a lease ID outside the tenant range is refused as not found', () => {
  const m = new TenantMapping(new TenantState(spec('a', '/t/a/'), () => 0));
  assert.throws(() => m.put(PutRequest.fromPartial({ key: b('k'), lease: 1n << 41n })), (e: Error) => e.message === 'leaseNotFound');
});

mapping.run();

const book = suite('tenant usage book');

let rev = 1;
const put = (key: string, value: string): KvRecord => ({ key, value: b(value), createRevision: rev, modRevision: rev++, sub: 0, version: 1, lease: 0n, tombstone: false });
const tomb = (key: string): KvRecord => ({ key, value: b(''), createRevision: 0, modRevision: rev++, sub: 0, version: 0, lease: 0n, tombstone: true });
const putCmd = (key: string, value: string) => ({ type: 'put' as const, req: PutRequest.fromPartial({ key: b(key), value: b(value) }) });

book('counts keys and bytes from applied records and refuses a put that would pass maxKeys, not one that overwrites', () => {
  const u = new TenantUsageBook();
  u.setTenants([{ name: 's', storedPrefix: '/s/', limits: { maxKeys: 2 } }, { name: 'o', storedPrefix: '/o/', limits: {} }]);
  u.track(put('/s/a', '1'));
  u.track(put('/s/b', '22'));
  u.track(put('/o/x', 'zzz'));
  assert.equal(u.usage('/s/'), { keys: 2, bytes: 4 + 1 + 4 + 2 });
  assert.ok(u.mayGrowLimited(putCmd('/s/c', 'x')));
  assert.not.ok(u.mayGrowLimited(putCmd('/o/c', 'x')));
  assert.is(u.refusal(putCmd('/s/c', 'x')), 'noSpace');
  assert.is(u.refusal(putCmd('/s/a', 'xx')), undefined);
  assert.is(u.refusal(putCmd('/o/c', 'x')), undefined);
  u.track(tomb('/s/a'));
  assert.equal(u.usage('/s/'), { keys: 1, bytes: 6 });
  assert.is(u.refusal(putCmd('/s/c', 'x')), undefined);
});

book('a txn is checked by its larger branch, nested txns included, against maxBytes', () => {
  const u = new TenantUsageBook();
  u.setTenants([{ name: 's', storedPrefix: '/s/', limits: { maxBytes: 20 } }]);
  u.track(put('/s/a', '0123456789'));
  const small = TxnRequest.fromPartial({ success: [{ requestPut: { key: b('/s/b'), value: b('x') } }], failure: [] });
  const big = TxnRequest.fromPartial({ success: [], failure: [{ requestTxn: { success: [{ requestPut: { key: b('/s/c'), value: b('0123456789') } }] } }] });
  assert.is(u.refusal({ type: 'txn', req: small }), undefined);
  assert.is(u.refusal({ type: 'txn', req: big }), 'noSpace');
});

book('a deleted tenant leaves no count behind: a tenant made inside its old prefix counts its own keys', () => {
  const u = new TenantUsageBook();
  u.setTenants([{ name: 'x', storedPrefix: '/x/', limits: {} }]);
  u.track(put('/x/old', '1'));
  u.setTenants([]);
  assert.equal(u.usage('/x/'), { keys: 0, bytes: 0 });
  u.setTenants([{ name: 'y', storedPrefix: '/x/y/', limits: { maxKeys: 1 } }]);
  u.track(put('/x/y/k1', 'v'));
  assert.equal(u.usage('/x/y/'), { keys: 1, bytes: 8 });
  assert.is(u.refusal(putCmd('/x/y/k2', 'v')), 'noSpace');
});

book.run();

const specWrites = suite('tenant spec writes at apply');

const specValue = (name: string, prefix: string, extra = {}): Buffer => b(JSON.stringify({ ...spec(name, prefix), ...extra }));
const emptyCompare = (prefix: string, end: string) => ({ key: b(prefix), rangeEnd: b(end), target: Compare_CompareTarget.CREATE, result: Compare_CompareResult.EQUAL, createRevision: 0n });
const createTxn = (name: string, prefix: string, end: string) => ({
  type: 'txn' as const,
  req: TxnRequest.fromPartial({ compare: [emptyCompare(prefix, end)], success: [{ requestPut: { key: b(tenantSpecKeyPrefix + name), value: specValue(name, prefix) } }], failure: [] }),
});

specWrites('a new tenant needs a txn comparing its prefix empty; an existing one keeps its prefix; a bad record is refused', () => {
  const inEffect = [spec('a', '/a/')];
  assert.is(specWriteProblem(createTxn('n', '/n/', '/n0'), inEffect), undefined);
  assert.match(specWriteProblem(putCmd(tenantSpecKeyPrefix + 'n', JSON.stringify(spec('n', '/n/'))), inEffect) ?? '', /compares its prefix empty/);
  assert.match(specWriteProblem(createTxn('n', '/n/', '/n1'), inEffect) ?? '', /compares its prefix empty/);
  assert.is(specWriteProblem(putCmd(tenantSpecKeyPrefix + 'a', JSON.stringify(spec('a', '/a/', { maxKeys: 3 }))), inEffect), undefined);
  assert.match(specWriteProblem(putCmd(tenantSpecKeyPrefix + 'a', JSON.stringify(spec('a', '/b/'))), inEffect) ?? '', /keeps its prefix/);
  assert.match(specWriteProblem(putCmd(tenantSpecKeyPrefix + 'a', JSON.stringify({ ...spec('a', '/a/'), extra: 1 })), inEffect) ?? '', /not a tenant spec/);
  assert.match(specWriteProblem(createTxn('n', '/a/n/', '/a/n0'), inEffect) ?? '', /nested prefixes/);
  assert.is(specWriteProblem(putCmd('/a/k', 'v'), inEffect), undefined);
});

specWrites.run();

interface StoreCtx {
  dir: string;
  open: OpenStore[];
}
const applied = suite<StoreCtx>('tenant checks in the store', { dir: '', open: [] });
applied.before.each(async (ctx) => {
  ctx.dir = await tempDir();
  ctx.open = [];
});
applied.after.each(async (ctx) => {
  for (const o of ctx.open) await o.close().catch(() => undefined);
  await removeDir(ctx.dir);
});

const noAuth: AuthApplier = { apply: () => ({ ok: false, error: 'authNotEnabled' }), writeRefusal: () => undefined, checkReadsWrittenState: () => false, readsLeaseKeys: () => false, leaseRevokeRefusal: () => undefined };

async function tenantStore(ctx: StoreCtx): Promise<{ log: ScriptedLog; store: OpenStore['store']; directory: TenantDirectory }> {
  const log = new ScriptedLog();
  const directory = new TenantDirectory([], () => 0);
  const leases = directory.wrapLedger(new LeaseTable({ minTtlSeconds: 1, clock: new ManualTimers() }));
  const o = await openStore({ engine: 'memory', shards: 1, placement: 'main' }, ctx.dir, { revisionLog: log, leases, hooks: { auth: directory.wrapApplier(noAuth) } });
  ctx.open.push(o);
  return { log, store: o.store, directory };
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

applied('a write right after the spec that limits its tenant is refused in the same batch as when applied alone', async (ctx) => {
  const { log, store } = await tenantStore(ctx);
  const limited = TxnRequest.fromPartial({
    compare: [emptyCompare('/b/', '/b0')],
    success: [{ requestPut: { key: b(tenantSpecKeyPrefix + 'b'), value: specValue('b', '/b/', { limits: { maxKeys: 0 } }) } }],
    failure: [],
  });
  const created = store.txn(limited, undefined);
  const write = store.put(PutRequest.fromPartial({ key: b('/b/k'), value: b('v') }), noUser);
  await settle();
  assert.is(log.pending.length, 2);
  log.commitPending();
  assert.ok((await created).succeeded);
  await rejectsWith(write, 'noSpace');
});

applied('writes without an auth header (the Lock and Election recipes) are held to size limits too', async (ctx) => {
  const { log, store, directory } = await tenantStore(ctx);
  log.autoCommit = true;
  const created = await store.txn(createTxn('c', '/c/', '/c0').req, undefined);
  assert.ok(created.succeeded);
  assert.ok(directory.get('c') !== undefined);
  await store.txn(TxnRequest.fromPartial({ compare: [], success: [{ requestPut: { key: b(tenantSpecKeyPrefix + 'c'), value: specValue('c', '/c/', { limits: { maxKeys: 1 } }) } }], failure: [] }), undefined);
  await store.put(PutRequest.fromPartial({ key: b('/c/1'), value: b('v') }), undefined);
  await rejectsWith(store.put(PutRequest.fromPartial({ key: b('/c/2'), value: b('v') }), undefined), 'noSpace');
});

applied('a raw spec put creating a tenant over a used prefix is refused, and the admin txn fails its compare', async (ctx) => {
  const { log, store, directory } = await tenantStore(ctx);
  log.autoCommit = true;
  await store.put(PutRequest.fromPartial({ key: b('/u/k'), value: b('v') }), undefined);
  await rejectsWith(store.put(PutRequest.fromPartial({ key: b(tenantSpecKeyPrefix + 'u'), value: specValue('u', '/u/') }), undefined), 'authPermissionDenied');
  assert.not.ok((await store.txn(createTxn('u', '/u/', '/u0').req, undefined)).succeeded);
  assert.is(directory.get('u'), undefined);
});

applied.run();

const validation = suite('tenant validation');

validation('nested prefixes, a user in two tenants and bad names are refused; a JSON tenants file fills defaults', () => {
  assert.match(tenantsProblem([spec('a', '/t/'), spec('b', '/t/b/')]) ?? '', /nested prefixes/);
  assert.match(tenantsProblem([{ ...spec('a', '/a/'), users: ['u'] }, { ...spec('b', '/b/'), users: ['u'] }]) ?? '', /user u/);
  assert.match(tenantsProblem([spec('A', '/a/')]) ?? '', /must match/);
  const parsed = parseTenantsJson(JSON.stringify([{ name: 'a', prefix: '/a/', users: ['alice'] }]), 'f.json');
  assert.equal(parsed, [{ name: 'a', prefix: '/a/', users: ['alice'], certCommonNames: [], limits: {} }]);
  assert.throws(() => parseTenantsJson('{}', 'f.json'), /array/);
  assert.throws(() => parseTenantsJson(JSON.stringify([{ name: 'a', prefix: '/a/', limits: { maxKey: 3 } }]), 'f.json'), /unknown limit maxKey/);
  assert.throws(() => parseTenantsJson(JSON.stringify([{ name: 'a', prefix: '/a/', user: ['alice'] }]), 'f.json'), /unknown field user/);
});

validation.run();
