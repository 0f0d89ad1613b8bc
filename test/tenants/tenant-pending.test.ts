// Configured tenants the cluster does not enforce (pending placeholders that refuse their clients,
// never unconfined callers), their generations against the stored spec, the seed's retry after a
// lost race, and the bound on the router's remembered callers.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { TenantDirectory } from '../../src/tenants/tenant-directory.js';
import { TenantAdmin, TenantAdminError } from '../../src/tenants/tenant-admin.js';
import { seedConfiguredTenants } from '../../src/tenants/tenant-config-seed.js';
import { tenantSpecKeyPrefix } from '../../src/tenants/tenant-validation.js';
import { TenantRouter } from '../../src/tenants/tenant-routing.js';
import { tenantsFromToml } from '../../src/config/tenants-config.js';
import { parseTenantsJson } from '../../src/tenants/tenants-file.js';
import type { TenantSpec } from '../../src/tenants/tenant-spec.js';
import type { ServerApi } from '../../src/core/kv-api.js';
import type { Logger } from '../../src/server/logger.js';
import type { GrpcMethod, GrpcServiceContext, MethodCall } from '../../src/adapters/grpc/service-module.js';

const spec = (name: string, prefix: string, more: Partial<TenantSpec> = {}): TenantSpec => ({ name, prefix, users: [], certCommonNames: [], limits: {}, ...more });

let revision = 1;
function store(directory: TenantDirectory, s: TenantSpec): void {
  revision++;
  const value = Buffer.from(JSON.stringify(s));
  directory.book.track({ key: tenantSpecKeyPrefix + s.name, value, createRevision: revision, modRevision: revision, sub: 0, version: 1, lease: 0n, tombstone: false });
}

const quietLog = (): Logger & { lines: string[] } => {
  const lines: string[] = [];
  const at = (level: string) => (msg: string) => void lines.push(`${level} ${msg}`);
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as unknown as Logger & { lines: string[] };
};

const pending = suite('pending configured tenants');

pending('a configured tenant that clashes with a stored one refuses its users and certificate names instead of serving them unconfined', () => {
  const directory = new TenantDirectory([spec('a', '/a/', { users: ['alice'], certCommonNames: ['cn-a'] })], () => 0);
  store(directory, spec('b', '/a/x/'));
  const a = directory.forUser('alice');
  assert.ok(a !== undefined, 'alice is bound to the placeholder');
  assert.ok(a.pending);
  assert.is(directory.forCommonName('cn-a'), a);
  assert.throws(() => a.admit(1), (e: Error) => e.message === 'notCapable');
  assert.equal(directory.specs().map((s) => s.name), ['b'], 'the placeholder is not enforced');
  assert.match(directory.pendingReason('a') ?? '', /clashes with a tenant the cluster enforces: .*nested prefixes/);
  assert.match(directory.configDisagreement() ?? '', /tenant a from this member's configuration is not in the cluster's state: it clashes/);
});

pending('a placeholder never takes a user or certificate name from a tenant the cluster enforces', () => {
  const directory = new TenantDirectory([spec('a', '/a/', { users: ['alice', 'ann'] })], () => 0);
  store(directory, spec('b', '/b/', { users: ['alice'] }));
  assert.is(directory.forUser('alice')?.name, 'b');
  assert.is(directory.forUser('ann')?.name, 'a');
  assert.ok(directory.forUser('ann')!.pending);
});

pending('the admin view of a pending tenant says why; it goes once the cluster stores it', () => {
  const directory = new TenantDirectory([spec('a', '/a/')], () => 0);
  const admin = new TenantAdmin({} as ServerApi, directory);
  assert.match(admin.get('a').pending ?? '', /not in the cluster's state yet/);
  store(directory, spec('a', '/a/'));
  assert.is(admin.get('a').pending, undefined);
  assert.is(directory.configDisagreement(), undefined);
});

pending('the reason is recomputed: a clash goes with the clashing tenant, and a deleted tenant says it was deleted', () => {
  const directory = new TenantDirectory([spec('a', '/a/')], () => 0);
  store(directory, spec('b', '/a/x/'));
  assert.match(directory.pendingReason('a') ?? '', /clashes/);
  revision++;
  directory.book.track({ key: tenantSpecKeyPrefix + 'b', value: Buffer.alloc(0), createRevision: 0, modRevision: revision, sub: 0, version: 0, lease: 0n, tombstone: true });
  assert.match(directory.pendingReason('a') ?? '', /not in the cluster's state yet/);
  store(directory, spec('a', '/a/'));
  assert.is(directory.configDisagreement(), undefined);
  revision++;
  directory.book.track({ key: tenantSpecKeyPrefix + 'a', value: Buffer.alloc(0), createRevision: 0, modRevision: revision, sub: 0, version: 0, lease: 0n, tombstone: true });
  assert.match(directory.configDisagreement() ?? '', /deleted from the cluster's state since this member started/);
});

pending('a configured tenant refused for a clash is proposed again once the tenants change', async () => {
  const directory = new TenantDirectory([spec('a', '/a/')], () => 0);
  store(directory, spec('b', '/a/x/'));
  let calls = 0;
  const admin = {
    seed: async () => {
      calls++;
      if (directory.clashOf('a') !== undefined) throw new TenantAdminError('invalid', 'nested prefixes');
      store(directory, spec('a', '/a/'));
      return 'created' as const;
    },
  } as unknown as TenantAdmin;
  const seed = seedConfiguredTenants(admin, directory, quietLog(), 5_000);
  await seed.firstPass;
  assert.is(calls, 1);
  revision++;
  directory.book.track({ key: tenantSpecKeyPrefix + 'b', value: Buffer.alloc(0), createRevision: 0, modRevision: revision, sub: 0, version: 0, lease: 0n, tombstone: true });
  const deadline = Date.now() + 2_000;
  while (directory.replicated('a') === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  seed.close();
  assert.is(calls, 2);
  assert.is(directory.configDisagreement(), undefined);
});

const generations = suite('configured tenant generations');

const fakeApi = { kv: { range: async () => ({ kvs: [], count: 0n, more: false }) } } as unknown as ServerApi;

generations('a lower generation is stale and an equal one with another spec a mismatch: neither is proposed, only this member is unready', async () => {
  const stale = new TenantDirectory([spec('q', '/q/', { limits: { maxKeys: 5 }, generation: 1 })], () => 0);
  store(stale, spec('q', '/q/', { limits: { maxKeys: 9 }, generation: 2 }));
  assert.is(await new TenantAdmin(fakeApi, stale).seed(stale.configuredSpecs()[0]!), 'stale');
  assert.match(stale.configDisagreement() ?? '', /stale \(generation 1 here, 2 in the cluster\)/);
  const mismatch = new TenantDirectory([spec('q', '/q/', { limits: { maxKeys: 5 } })], () => 0);
  store(mismatch, spec('q', '/q/', { limits: { maxKeys: 9 } }));
  assert.is(await new TenantAdmin(fakeApi, mismatch).seed(mismatch.configuredSpecs()[0]!), 'mismatch', 'no generation counts as 0');
  assert.match(mismatch.configDisagreement() ?? '', /at the same generation 0 \(limits\.maxKeys: 5 here, 9 in the cluster\)/);
  const same = new TenantDirectory([spec('q', '/q/', { generation: 3 })], () => 0);
  store(same, spec('q', '/q/', { generation: 3 }));
  assert.is(await new TenantAdmin(fakeApi, same).seed(same.configuredSpecs()[0]!), 'unchanged');
  assert.is(same.configDisagreement(), undefined);
});

generations('the generation is read from the TOML tables and the JSON file, and a bad one is refused', () => {
  const ok = tenantsFromToml({ a: { prefix: '/a/', generation: 4 } });
  assert.equal(ok.problems, []);
  assert.is(ok.tenants[0]!.generation, 4);
  const bad = tenantsFromToml({ a: { prefix: '/a/', generation: -1 }, b: { prefix: '/b/', generation: 1.5 } });
  assert.equal(bad.problems.map((p) => p.path.join('.')), ['tenants.a.generation', 'tenants.b.generation']);
  assert.is(parseTenantsJson('[{"name":"a","prefix":"/a/","generation":2}]', 'f')[0]!.generation, 2);
  assert.throws(() => parseTenantsJson('[{"name":"a","prefix":"/a/","generation":"2"}]', 'f'), /generation must be a non-negative integer/);
});

generations('a seed that lost a race reads again and retries, a bounded number of times', async () => {
  const directory = new TenantDirectory([spec('q', '/q/')], () => 0);
  let calls = 0;
  const admin = {
    seed: async () => {
      calls++;
      if (calls < 3) throw new TenantAdminError('conflict', 'tenant q was created at the same time; try again', true);
      store(directory, spec('q', '/q/'));
      return 'created' as const;
    },
  } as unknown as TenantAdmin;
  const seed = seedConfiguredTenants(admin, directory, quietLog(), 5_000);
  await seed.firstPass;
  seed.close();
  assert.is(calls, 3);
  assert.is(directory.configDisagreement(), undefined);
  let races = 0;
  const losing = { seed: async () => (races++, Promise.reject(new TenantAdminError('conflict', 'raced', true))) } as unknown as TenantAdmin;
  const other = new TenantDirectory([spec('r', '/r/')], () => 0);
  const log = quietLog();
  const again = seedConfiguredTenants(losing, other, log, 5_000);
  await again.firstPass;
  again.close();
  assert.is(races, 4, 'the first attempt and three retries');
  assert.match(other.pendingReason('r') ?? '', /raced/);
});

const callers = suite('remembered callers');

callers('garbage tokens from a tenant certificate add no entry; a hit keeps a caller from being evicted first', async () => {
  let now = 0;
  const directory = new TenantDirectory([], () => now);
  store(directory, spec('t', '/t/', { certCommonNames: ['cn-1', 'cn-2', 'cn-3'], limits: { requestsPerSecond: 1000 } }));
  const base = { lease: {}, kv: {}, watch: {}, lock: {}, election: {}, header: () => ({}) } as unknown as ServerApi;
  const router = new TenantRouter(base, directory, Math.random, 2);
  const methods = (ctx: GrpcServiceContext): GrpcMethod[] => [{ path: '/etcdserverpb.KV/Range', kind: 'unary', serve: (call: MethodCall) => (ctx.api === base ? undefined : call.end()) }];
  const [service] = router.routeServices([{ name: 'etcdserverpb.KV', methods }]);
  const [range] = service!.methods({ api: base, maxRequestBytes: 1, maxTxnOps: 1, log: () => undefined });
  const serve = (cn: string, token?: string): Promise<void> =>
    new Promise((resolve) => range!.serve({ metadata: token === undefined ? {} : { token }, verifiedCommonName: cn, kind: 'unary', end: () => resolve(), fail: () => resolve() } as unknown as MethodCall));
  for (let i = 0; i < 50; i++) await serve('cn-1', `garbage-${i}-${'x'.repeat(1000)}`);
  assert.equal(router.rememberedCallerKeys(), ['c:cn-1'], 'auth off: the token is ignored, the certificate name identifies');
  await serve('cn-2');
  await serve('cn-1'); // a hit: cn-1 is now the most recently used
  await serve('cn-3');
  assert.equal(router.rememberedCallerKeys(), ['c:cn-1', 'c:cn-3'], 'the idle cn-2 went first');
});

pending.run();
generations.run();
callers.run();
