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
  assert.ok(k.contains(b('/t/a/x')));
  assert.not.ok(k.contains(b('/t/b/x')));
});

keys('a prefix of 0xff bytes ends at the end of the key space', () => {
  const k = new TenantKeys(Buffer.from([0x61, 0xff]));
  assert.equal(Buffer.from(k.toStoredEnd(b('\0'))), b('b'));
  const all = new TenantKeys(Buffer.from([0xff, 0xff]));
  assert.equal(Buffer.from(all.toStoredEnd(b('\0'))), b('\0'));
});

keys('a normalised watch range moves under the prefix, an open end stops at the prefix end', () => {
  const k = new TenantKeys('/t/a/');
  assert.equal(k.toStoredRange({ kind: 'single', key: 'x' }), { kind: 'single', key: '/t/a/x' });
  assert.equal(k.toStoredRange({ kind: 'range', start: '\0', end: null }), { kind: 'range', start: '/t/a/\0', end: '/t/a0' });
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

leases.run();

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

book.run();

const validation = suite('tenant validation');

validation('nested prefixes, a user in two tenants and bad names are refused; a JSON tenants file fills defaults', () => {
  assert.match(tenantsProblem([spec('a', '/t/'), spec('b', '/t/b/')]) ?? '', /nested prefixes/);
  assert.match(tenantsProblem([{ ...spec('a', '/a/'), users: ['u'] }, { ...spec('b', '/b/'), users: ['u'] }]) ?? '', /user u/);
  assert.match(tenantsProblem([spec('A', '/a/')]) ?? '', /must match/);
  const parsed = parseTenantsJson(JSON.stringify([{ name: 'a', prefix: '/a/', users: ['alice'] }]), 'f.json');
  assert.equal(parsed, [{ name: 'a', prefix: '/a/', users: ['alice'], certCommonNames: [], limits: {} }]);
  assert.throws(() => parseTenantsJson('{}', 'f.json'), /array/);
});

validation.run();
