// Configured tenants the cluster does not enforce (pending placeholders that refuse their clients,
// never unconfined callers), their generations against the stored spec, the seed's retry after a
// lost race, the open streams and waiting calls of a replaced tenant, the admin DELETE judged on the
// stored spec, and the router's remembered callers.
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
import { Compare_CompareResult, Compare_CompareTarget, type RangeRequest, type TxnRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
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
  assert.match(directory.configDisagreement() ?? '', /tenant a from this member's configuration is not enforced by the cluster: it clashes/);
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

pending('a placeholder over an enforced tenant\'s prefix reports no stored usage and takes none of its rejections', () => {
  const directory = new TenantDirectory([spec('a', '/a/')], () => 0);
  store(directory, spec('b', '/a/', { limits: { maxKeys: 1 } }));
  revision++;
  directory.book.track({ key: '/a/k', value: Buffer.from('v'), createRevision: revision, modRevision: revision, sub: 0, version: 1, lease: 0n, tombstone: false });
  assert.ok(directory.get('a')!.pending);
  assert.is(directory.usage('b')!.keys, 1);
  assert.is(directory.usage('a')!.keys, 0);
  assert.is(directory.usage('a')!.bytes, 0);
  const applier = directory.wrapApplier({ writeRefusal: () => undefined } as unknown as Parameters<TenantDirectory['wrapApplier']>[0]);
  const refused = applier.writeRefusal({ type: 'put', req: { key: Buffer.from('/a/k2'), value: Buffer.from('v') } } as unknown as Parameters<typeof applier.writeRefusal>[0]);
  assert.ok(refused !== undefined, 'b is at its maxKeys');
  assert.is(directory.usage('b')!.rejections, 1);
  assert.is(directory.usage('a')!.rejections, 0);
});

const generations = suite('configured tenant generations');

const fakeApi = { kv: { range: async () => ({ kvs: [], count: 0n, more: false }) } } as unknown as ServerApi;

generations('a lower generation is stale (reported, still ready) and an equal one with another spec a mismatch (unready): neither is proposed', async () => {
  const stale = new TenantDirectory([spec('q', '/q/', { limits: { maxKeys: 5 }, generation: 1 })], () => 0);
  store(stale, spec('q', '/q/', { limits: { maxKeys: 9 }, generation: 2 }));
  assert.is(await new TenantAdmin(fakeApi, stale).seed(stale.configuredSpecs()[0]!), 'stale');
  assert.is(stale.configDisagreement(), undefined, 'a stale file changes nothing the member enforces');
  assert.match(stale.configStale() ?? '', /stale for tenant q \(generation 1 here, 2 in the cluster\)/);
  assert.is(stale.configState('q'), 'stale');
  assert.is(new TenantAdmin(fakeApi, stale).get('q').configState, 'stale');
  assert.equal(stale.usages().map((u) => [u.name, u.configStale]), [['q', true]]);
  const mismatch = new TenantDirectory([spec('q', '/q/', { limits: { maxKeys: 5 } })], () => 0);
  store(mismatch, spec('q', '/q/', { limits: { maxKeys: 9 } }));
  assert.is(await new TenantAdmin(fakeApi, mismatch).seed(mismatch.configuredSpecs()[0]!), 'mismatch', 'no generation counts as 0');
  assert.match(mismatch.configDisagreement() ?? '', /at the same generation 0 \(limits\.maxKeys: 5 here, 9 in the cluster\)/);
  assert.is(mismatch.configState('q'), 'mismatch');
  assert.is(mismatch.configStale(), undefined);
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

generations('an admin PUT or DELETE of a tenant stored with a generation is refused on a member that does not configure it; DELETE with its generation removes it', async () => {
  const directory = new TenantDirectory([], () => 0);
  store(directory, spec('q', '/q/', { generation: 2 }));
  let deletes = 0;
  const api = { kv: { ...storedSpecKv(spec('q', '/q/', { generation: 2 })).kv, txn: async () => (deletes++, { succeeded: true }) } } as unknown as ServerApi;
  const admin = new TenantAdmin(api, directory);
  const conflict = (e: unknown): boolean => e instanceof TenantAdminError && e.kind === 'conflict' && /generation 2/.test(e.message);
  try {
    await admin.put(spec('q', '/q/', { limits: { maxKeys: 1 } }));
    assert.unreachable('the PUT would drop the generation');
  } catch (e) {
    assert.ok(conflict(e), String(e));
  }
  for (const confirm of [undefined, 1]) {
    try {
      await admin.delete('q', confirm);
      assert.unreachable('the DELETE would leave members serving it');
    } catch (e) {
      assert.ok(conflict(e), String(e));
    }
  }
  assert.is(deletes, 0);
  await admin.delete('q', 2);
  assert.is(deletes, 1);
});

/** A KV whose range answers `stored` as the spec key's record at `modRevision`; txns are recorded and answered `succeeded`. */
function storedSpecKv(stored: TenantSpec | undefined, modRevision = 9n, succeeded = true) {
  const txns: TxnRequest[] = [];
  const kv = {
    range: async (req: RangeRequest) =>
      stored === undefined ? { kvs: [], count: 0n, more: false } : { kvs: [{ key: req.key, value: Buffer.from(JSON.stringify(stored)), modRevision, createRevision: 2n, version: 1n, lease: 0n }], count: 1n, more: false },
    txn: async (req: TxnRequest) => (txns.push(req), { succeeded, responses: [] }),
  };
  return { kv, txns };
}

generations('DELETE judges the generation the cluster stores, not the one this member applied, and deletes comparing the spec key as read', async () => {
  const directory = new TenantDirectory([], () => 0);
  store(directory, spec('q', '/q/', { generation: 1 }));
  const { kv, txns } = storedSpecKv(spec('q', '/q/', { generation: 2 }), 41n);
  const admin = new TenantAdmin({ kv } as unknown as ServerApi, directory);
  try {
    await admin.delete('q', 1);
    assert.unreachable('generation 1 is stale: the cluster stores 2');
  } catch (e) {
    assert.ok(e instanceof TenantAdminError && e.kind === 'conflict' && /generation 2/.test(e.message), String(e));
  }
  assert.is(txns.length, 0);
  await admin.delete('q', 2);
  const [txn] = txns;
  assert.equal(txn?.compare.map((c) => [Buffer.from(c.key).toString('latin1'), c.target, c.result, c.modRevision]), [[tenantSpecKeyPrefix + 'q', Compare_CompareTarget.MOD, Compare_CompareResult.EQUAL, 41n]]);
  assert.equal(txn?.success.map((op) => Buffer.from(op.requestDeleteRange?.key ?? []).toString('latin1')), [tenantSpecKeyPrefix + 'q']);
  const none = new TenantAdmin({ kv: storedSpecKv(undefined).kv } as unknown as ServerApi, directory);
  try {
    await none.delete('q', 2);
    assert.unreachable('the cluster stores no spec of q');
  } catch (e) {
    assert.ok(e instanceof TenantAdminError && e.kind === 'notFound', String(e));
  }
});

generations('a DELETE whose spec key changed between its read and its txn is refused as raced, and nothing is deleted', async () => {
  const directory = new TenantDirectory([], () => 0);
  store(directory, spec('q', '/q/', { generation: 2 }));
  const { kv, txns } = storedSpecKv(spec('q', '/q/', { generation: 2 }), 41n, false);
  const admin = new TenantAdmin({ kv } as unknown as ServerApi, directory);
  try {
    await admin.delete('q', 2);
    assert.unreachable('the compare failed');
  } catch (e) {
    assert.ok(e instanceof TenantAdminError && e.kind === 'conflict' && e.raced && /changed at the same time; try again/.test(e.message), String(e));
  }
  assert.is(txns.length, 1);
});

const callers = suite('remembered callers');

callers('garbage tokens from a tenant certificate add no entry; a hit keeps a caller from being evicted first', async () => {
  let now = 0;
  const directory = new TenantDirectory([], () => now);
  store(directory, spec('t', '/t/', { certCommonNames: ['cn-1', 'cn-2', 'cn-3'], limits: { requestsPerSecond: 1000 } }));
  const base = { lease: {}, kv: {}, watch: {}, lock: {}, election: {}, header: () => ({}) } as unknown as ServerApi;
  const router = new TenantRouter(base, directory, Math.random, 2, 0); // refusals answered at once: the delay has its own tests
  const methods = (ctx: GrpcServiceContext): GrpcMethod[] => [{ path: '/etcdserverpb.KV/Range', kind: 'unary', serve: (call: MethodCall) => (ctx.api === base ? undefined : call.end()) }];
  const [service] = router.routeServices([{ name: 'etcdserverpb.KV', methods }]);
  const [range] = service!.methods({ api: base, maxRequestBytes: 1, maxTxnOps: 1, log: () => undefined });
  const serve = (cn: string, token?: string): Promise<void> =>
    new Promise((resolve) => range!.serve({ metadata: token === undefined ? {} : { token }, verifiedCommonName: cn, kind: 'unary', receive: () => undefined, end: () => resolve(), fail: () => resolve() } as unknown as MethodCall));
  for (let i = 0; i < 50; i++) await serve('cn-1', `garbage-${i}-${'x'.repeat(1000)}`);
  assert.equal(router.rememberedCallerKeys(), ['c:cn-1'], 'auth off: the token is ignored, the certificate name identifies');
  await serve('cn-2');
  await serve('cn-1'); // a hit: cn-1 is now the most recently used
  await serve('cn-3');
  assert.equal(router.rememberedCallerKeys(), ['c:cn-1', 'c:cn-3'], 'the idle cn-2 went first');
});

/** A router over `directory` with one rate-limited unary method and one stream, their tenant twins admitting like tenant-kv.ts. */
function routerOver(directory: TenantDirectory, base: ServerApi, maxCallers?: number) {
  const router = new TenantRouter(base, directory, Math.random, maxCallers, 0);
  const tenantOf = (api: ServerApi) => directory.list().find((t) => router.apiOf(t) === api);
  const methods = (ctx: GrpcServiceContext): GrpcMethod[] => [
    {
      path: '/etcdserverpb.KV/Range',
      kind: 'unary',
      serve: (call: MethodCall) => {
        if (ctx.api === base) return call.end();
        try {
          tenantOf(ctx.api)!.admit(1);
          call.end();
        } catch (e) {
          call.fail(e);
        }
      },
    },
    { path: '/etcdserverpb.Watch/Watch', kind: 'bidi', serve: () => undefined },
  ];
  const [service] = router.routeServices([{ name: 'etcdserverpb.KV', methods }]);
  const [range, watch] = service!.methods({ api: base, maxRequestBytes: 1, maxTxnOps: 1, log: () => undefined });
  /** Resolves with 'ok', the early refusal's details or the error's message. */
  const call = (cn: string, token?: string): Promise<string> =>
    new Promise((resolve) =>
      range!.serve({
        metadata: token === undefined ? {} : { token },
        verifiedCommonName: cn,
        kind: 'unary',
        receive: () => undefined,
        end: (status?: { details: string }) => resolve(status?.details ?? 'ok'),
        fail: (e: Error) => resolve(e.message),
      } as unknown as MethodCall),
    );
  /** A watch whose handler keeps the call's one end listener for itself, as watch-service.ts does; `cancel` is its client going. */
  const open = (cn: string): { ended: () => string | undefined; cancel: () => void } => {
    let ended: string | undefined;
    const controller = new AbortController();
    watch!.serve({ metadata: {}, verifiedCommonName: cn, kind: 'bidi', signal: controller.signal, onEnd: () => undefined, fail: (e: Error) => (ended = e.message) } as unknown as MethodCall);
    return { ended: () => ended, cancel: () => controller.abort() };
  };
  return { router, call, open };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));
const plainBase = (): ServerApi => ({ lease: {}, kv: {}, watch: {}, lock: {}, election: {}, header: () => ({}) }) as unknown as ServerApi;
const tombstone = (directory: TenantDirectory, name: string): void => {
  revision++;
  directory.book.track({ key: tenantSpecKeyPrefix + name, value: Buffer.alloc(0), createRevision: 0, modRevision: revision, sub: 0, version: 0, lease: 0n, tombstone: true });
};

const streams = suite('open streams');

streams('a configured tenant deleted through another member ends its open streams, though a placeholder takes its name', async () => {
  const directory = new TenantDirectory([spec('a', '/a/', { certCommonNames: ['cn-a'] })], () => 0);
  store(directory, spec('a', '/a/', { certCommonNames: ['cn-a'] }));
  const { open } = routerOver(directory, plainBase());
  const stream = open('cn-a');
  await tick();
  store(directory, spec('b', '/b/'));
  await tick();
  assert.is(stream.ended(), undefined, 'another tenant\'s change leaves it open');
  tombstone(directory, 'a');
  assert.ok(directory.get('a')!.pending);
  await tick();
  assert.is(stream.ended(), 'authPermissionDenied');
});

streams('a stream its client cancelled is no longer tracked, though its handler took the end listener', async () => {
  const directory = new TenantDirectory([], () => 0);
  store(directory, spec('a', '/a/', { certCommonNames: ['cn-a'] }));
  const { open } = routerOver(directory, plainBase());
  const gone = open('cn-a');
  const live = open('cn-a');
  await tick();
  gone.cancel();
  tombstone(directory, 'a');
  await tick();
  assert.equal([gone.ended(), live.ended()], [undefined, 'authPermissionDenied']);
});

streams('the same spec stored again leaves a tenant\'s streams open; a changed spec ends them with an error clients retry', async () => {
  const directory = new TenantDirectory([], () => 0);
  store(directory, spec('a', '/a/', { certCommonNames: ['cn-a'] }));
  const { open } = routerOver(directory, plainBase());
  const stream = open('cn-a');
  await tick();
  store(directory, spec('a', '/a/', { certCommonNames: ['cn-a'] }));
  await tick();
  assert.is(stream.ended(), undefined, 'an unchanged spec stored again');
  store(directory, spec('a', '/a/', { certCommonNames: ['cn-a'], limits: { requestsPerSecond: 5 } }));
  await tick();
  assert.is(stream.ended(), 'notCapable');
});

/**
 * A router over `directory` with the Lock and Campaign methods, their handlers waiting until their
 * call's signal aborts (as the recipes do); the fake call aborts it when failed, as server-call.ts does.
 */
function waitingRouter(directory: TenantDirectory) {
  const router = new TenantRouter(plainBase(), directory, Math.random, undefined, 0);
  const waiting = (path: string): GrpcMethod => ({ path, kind: 'unary', serve: () => undefined });
  const [lockService, electionService] = router.routeServices([
    { name: 'v3lockpb.Lock', methods: () => [waiting('/v3lockpb.Lock/Lock')] },
    { name: 'v3electionpb.Election', methods: () => [waiting('/v3electionpb.Election/Campaign')] },
  ]);
  const ctx = { api: plainBase(), maxRequestBytes: 1, maxTxnOps: 1, log: () => undefined };
  const methods = { lock: lockService!.methods(ctx)[0]!, campaign: electionService!.methods(ctx)[0]! };
  const open = (which: 'lock' | 'campaign', cn: string) => {
    const controller = new AbortController();
    let ended: string | undefined;
    let onEnd: ((cancelled: boolean) => void) | undefined;
    const finish = (how: string): void => {
      if (ended !== undefined) return;
      ended = how;
      onEnd?.(false);
    };
    const call = {
      metadata: {},
      verifiedCommonName: cn,
      kind: 'unary',
      signal: controller.signal,
      onEnd: (l: (cancelled: boolean) => void) => (onEnd = l),
      fail: (e: Error) => {
        finish(e.message);
        controller.abort();
      },
    };
    methods[which].serve(call as unknown as MethodCall);
    return { ended: () => ended, aborted: () => controller.signal.aborted, answer: () => finish('ok') };
  };
  return { open };
}

streams('a deleted tenant\'s waiting Lock and Campaign calls end with permission denied and abort their waits; a finished one is left alone', async () => {
  const directory = new TenantDirectory([], () => 0);
  store(directory, spec('a', '/a/', { certCommonNames: ['cn-a'] }));
  const { open } = waitingRouter(directory);
  const lock = open('lock', 'cn-a');
  const campaign = open('campaign', 'cn-a');
  const answered = open('lock', 'cn-a');
  await tick();
  answered.answer();
  tombstone(directory, 'a');
  await tick();
  assert.equal([lock.ended(), lock.aborted()], ['authPermissionDenied', true]);
  assert.equal([campaign.ended(), campaign.aborted()], ['authPermissionDenied', true]);
  assert.equal([answered.ended(), answered.aborted()], ['ok', false]);
});

streams('a changed tenant\'s waiting Campaign ends with an error clients retry', async () => {
  const directory = new TenantDirectory([], () => 0);
  store(directory, spec('a', '/a/', { certCommonNames: ['cn-a'] }));
  const { open } = waitingRouter(directory);
  const campaign = open('campaign', 'cn-a');
  await tick();
  store(directory, spec('a', '/a/', { certCommonNames: ['cn-a'], limits: { maxKeys: 5 } }));
  await tick();
  assert.equal([campaign.ended(), campaign.aborted()], ['notCapable', true]);
});

callers('a certificate name authenticated as a user and the same name bound as another tenant\'s certificate name are different callers; turning auth off forgets them', async () => {
  const directory = new TenantDirectory([], () => 0);
  store(directory, spec('z', '/z/', { users: ['alice'], limits: { requestsPerSecond: 1 } }));
  store(directory, spec('y', '/y/', { certCommonNames: ['alice'] }));
  const auth = { enabled: true, state: {}, caller: async (_m: unknown, cn: string | undefined) => ({ user: cn ?? '' }) };
  const { router, call } = routerOver(directory, { ...plainBase(), auth } as unknown as ServerApi);
  assert.is(await call('alice'), 'ok');
  assert.is(await call('alice'), 'etcdserver: too many requests', 'z is over its rate: refused early');
  assert.equal(router.rememberedCallerKeys(), ['u:alice']);
  auth.enabled = false;
  assert.is(await call('alice'), 'ok', 'the certificate name is y\'s, which has no limit');
  assert.equal(router.rememberedCallerKeys(), ['c:alice']);
});

callers('a caller refused early counts as used: the idle one is evicted first', async () => {
  const directory = new TenantDirectory([], () => 0);
  store(directory, spec('t', '/t/', { certCommonNames: ['cn-1', 'cn-2', 'cn-3'], limits: { requestsPerSecond: 1 } }));
  const { router, call } = routerOver(directory, plainBase(), 2);
  assert.is(await call('cn-1'), 'ok');
  // refused by the admit, answered as the early path answers (delayed-refusals.ts)
  assert.is(await call('cn-2'), 'etcdserver: too many requests', 'not yet remembered: refused by the admit');
  assert.equal(router.rememberedCallerKeys(), ['c:cn-1', 'c:cn-2']);
  assert.is(await call('cn-1'), 'etcdserver: too many requests', 'a refused hit');
  assert.equal(router.rememberedCallerKeys(), ['c:cn-2', 'c:cn-1']);
  await call('cn-3');
  assert.equal(router.rememberedCallerKeys(), ['c:cn-1', 'c:cn-3']);
});

pending.run();
streams.run();
generations.run();
callers.run();
