// Where a request meets its tenant. Every gRPC method (and so every JSON gateway call, which runs the
// same methods) and every /api request resolves its caller's tenant first: the authenticated user's
// (token, or the client certificate's CN when auth takes it), else the verified client certificate's
// CN. A request with a tenant is served by the same handlers built over that tenant's ServerApi
// (tenant-api.ts); one without is served as before. With no tenants defined nothing is resolved.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { EtcdError } from '../core/errors.js';
import { verifiedCommonNameOf } from '../tls/verified-common-name.js';
import type { ServerApi } from '../core/kv-api.js';
import type { GrpcMethod, GrpcServiceModule, GrpcServiceContext, MethodCall } from '../adapters/grpc/service-module.js';
import { defaultApiBodyTimeoutMs, type ApiHandler } from '../adapters/api/api-handler.js';
import { statusByKind, type ErrorLogger } from '../adapters/grpc/error-status.js';
import type { HttpHandler } from '../adapters/http/http-router.js';
import { createTenantAdminHandler } from './tenant-admin-api.js';
import { TenantAdmin } from './tenant-admin.js';
import { tenantAdminServiceModule, tenantAdminServiceName } from './tenant-admin-service.js';
import { authIdentity, type ApiIdentity, type IdentityResolver } from '../adapters/api/api-identity.js';
import { tenantServerApi } from './tenant-api.js';
import type { TenantDirectory } from './tenant-directory.js';
import type { TenantState } from './tenant-state.js';
import { UntenantedLease, type Random } from './tenant-lease.js';
import { maxTokenBytes } from '../auth/auth-front.js';
import { DelayedRefusals, refusalDelayMs } from './delayed-refusals.js';
import { RateRefusalHoldingCall } from './rate-refusal-call.js';

/**
 * What a tenant's client may not call: whole-cluster maintenance (a snapshot or hash holds every
 * tenant's data, defragmentation and alarms are the operator's), membership changes, auth
 * management (with auth off anyone may `auth enable`; a tenant must not) and the tenant admin service.
 */
const tenantRefusedPaths = new Set([
  '/etcdserverpb.Maintenance/Alarm',
  '/etcdserverpb.Maintenance/Defragment',
  '/etcdserverpb.Maintenance/Hash',
  '/etcdserverpb.Maintenance/HashKV',
  '/etcdserverpb.Maintenance/Snapshot',
  '/etcdserverpb.Maintenance/MoveLeader',
  '/etcdserverpb.Cluster/MemberAdd',
  '/etcdserverpb.Cluster/MemberRemove',
  '/etcdserverpb.Cluster/MemberUpdate',
  '/etcdserverpb.Cluster/MemberPromote',
]);

/**
 * The unary calls that wait, as long as it takes, for a key under the tenant's prefix: tracked like
 * streams. Failing one aborts its signal, so the recipe deletes its waiting key (lock.ts, election.ts).
 */
const waitingUnaryPaths = new Set(['/v3lockpb.Lock/Lock', '/v3electionpb.Election/Campaign']);

const refusedToTenants = (path: string): boolean =>
  tenantRefusedPaths.has(path) || path.startsWith(`/${tenantAdminServiceName}/`) || (path.startsWith('/etcdserverpb.Auth/') && path !== '/etcdserverpb.Auth/Authenticate');

/** Makes an /api handler over an API (client-port.ts's createApiHandler with the port's settings). */
export type ApiHandlerFactory = (api: ServerApi, identity?: IdentityResolver, routes?: HttpHandler) => ApiHandler;

/**
 * Callers whose tenant is known from an earlier call, by what identified it (a token that validated
 * to one of the tenant's users, else the certificate name), so a tenant over its request rate is
 * refused before its token is checked and its request read. At most this many; the least recently
 * used goes first.
 */
export const maxRememberedCallers = 10_000;

/**
 * The unary calls a tenant's handler admits against its request rate (tenant-kv.ts, tenant-lease.ts,
 * tenant-concurrency.ts): only these are refused early, so every other call answers as before.
 */
const rateLimitedUnaryPaths = new Set([
  '/etcdserverpb.KV/Range',
  '/etcdserverpb.KV/Put',
  '/etcdserverpb.KV/DeleteRange',
  '/etcdserverpb.KV/Txn',
  '/etcdserverpb.Lease/LeaseGrant',
  '/etcdserverpb.Lease/LeaseRevoke',
  '/etcdserverpb.Lease/LeaseTimeToLive',
  '/etcdserverpb.Lease/LeaseLeases',
  '/v3lockpb.Lock/Lock',
  '/v3lockpb.Lock/Unlock',
  '/v3electionpb.Election/Campaign',
  '/v3electionpb.Election/Proclaim',
  '/v3electionpb.Election/Leader',
  '/v3electionpb.Election/Resign',
]);

const ignoreMessage = (): void => undefined;
const ignoreEnd = (): void => undefined;

export class TenantRouter {
  private readonly rememberedCallers = new Map<string, TenantState>();
  /** The auth mode the remembered callers were identified under. */
  private callersAuthEnabled = false;
  private readonly apis = new WeakMap<TenantState, ServerApi>();
  /** Per tenant, per service: its methods built over the tenant's API. */
  private readonly methodTables = new WeakMap<TenantState, Map<string, ReadonlyMap<string, GrpcMethod>>>();
  /** The server's own API for callers without a tenant: it keeps them out of the tenants' lease IDs. */
  readonly untenanted: ServerApi;
  private readonly untenantedLeaseMethods = new Map<string, ReadonlyMap<string, GrpcMethod>>();
  /**
   * A tenant's open streams (watch, keepalive, observe) and waiting calls (lock, campaign), ended
   * when it is deleted or changed: they hold its state, and a wait would acquire under its old
   * prefix. As many as the client port lets calls be open at once.
   */
  private readonly openStreams = new Map<TenantState, Set<MethodCall>>();
  /** Early over-rate refusals, held a moment so that a hammering client slows down (delayed-refusals.ts). */
  private readonly refusals: DelayedRefusals<MethodCall>;
  private readonly holdRefusal: (call: MethodCall) => void;

  constructor(
    readonly base: ServerApi,
    readonly directory: TenantDirectory,
    private readonly random: Random,
    private readonly maxCallers = maxRememberedCallers,
    refusalDelay = refusalDelayMs,
  ) {
    this.refusals = new DelayedRefusals<MethodCall>((call) => call.end(statusByKind.tooManyRequests), refusalDelay);
    this.holdRefusal = (call) => this.refusals.refuse(call);
    this.untenanted = {
      ...base,
      // the spread copies the values of base's getters once; this one stays live
      get member() {
        return base.member;
      },
      lease: new UntenantedLease(base.lease, () => !directory.isEmpty),
    };
    // after the apply step that changed the directory, not inside it
    directory.onChange(() => queueMicrotask(() => this.endStreamsOfReplaced()));
  }

  /**
   * Ends the streams of a tenant no longer in effect as they were admitted: deleted, changed, or
   * replaced by a pending placeholder under the same name (deleted through another member).
   */
  private endStreamsOfReplaced(): void {
    for (const [tenant, calls] of this.openStreams) {
      const now = this.directory.get(tenant.name);
      if (now === tenant && !now.pending) continue;
      this.openStreams.delete(tenant);
      // A changed tenant's clients come back under the new spec: Unavailable is what clientv3 retries.
      const error = now !== undefined && !now.pending ? new EtcdError('notCapable') : new EtcdError('authPermissionDenied');
      for (const call of calls) call.fail(error);
    }
  }

  private trackStream(tenant: TenantState, call: MethodCall, stream: boolean): void {
    // ended while its caller was identified (a JWT verifies asynchronously): nothing would untrack it
    if (call.signal.aborted) return;
    let calls = this.openStreams.get(tenant);
    if (calls === undefined) {
      calls = new Set();
      this.openStreams.set(tenant, calls);
    }
    calls.add(call);
    const untrack = (): void => {
      calls.delete(call);
      if (calls.size === 0 && this.openStreams.get(tenant) === calls) this.openStreams.delete(tenant);
    };
    call.onEnd(untrack);
    // a call keeps one end listener, and a stream's handler sets its own (watch-service.ts): its
    // signal, which aborts when the client goes or the call fails, untracks it then
    if (stream) call.signal.addEventListener('abort', untrack, { once: true });
    // replaced while its caller was identified: the change's sweep has run already
    if (this.directory.get(tenant.name) !== tenant) queueMicrotask(() => this.endStreamsOfReplaced());
  }

  apiOf(tenant: TenantState): ServerApi {
    let api = this.apis.get(tenant);
    if (api === undefined) {
      api = tenantServerApi(this.base, tenant, this.random);
      this.apis.set(tenant, api);
    }
    return api;
  }

  /** The tenant of a call from its metadata and its connection's verified certificate CN, if any. */
  async tenantOf(metadata: IncomingHttpHeaders, verifiedCommonName: string | undefined): Promise<TenantState | undefined> {
    return (await this.identify(metadata, verifiedCommonName))?.tenant;
  }

  /** The tenant of a call and the key of what identified it (see callerKeys), for remembering the caller. */
  private async identify(
    metadata: IncomingHttpHeaders,
    verifiedCommonName: string | undefined,
  ): Promise<{ readonly tenant: TenantState; readonly caller: string; readonly authEnabled: boolean } | undefined> {
    if (this.directory.isEmpty) return undefined;
    const auth = this.base.auth;
    const authEnabled = auth?.enabled === true;
    if (authEnabled) {
      try {
        const h = await auth.caller(metadata, verifiedCommonName);
        const byUser = h.user === '' ? undefined : this.directory.forUser(h.user);
        if (byUser !== undefined) {
          const token = tokenOf(metadata);
          // without a token the user is the certificate's name (--client-cert-auth)
          if (token !== undefined) return { tenant: byUser, caller: `t:${token}`, authEnabled };
          // the CN as a user, a key of its own: a certificate name of another tenant may be spelled the same
          if (verifiedCommonName !== undefined) return { tenant: byUser, caller: `u:${verifiedCommonName}`, authEnabled };
        }
      } catch {
        // an invalid token: the handler finds out again and answers with etcd's status
      }
    }
    const byName = verifiedCommonName === undefined ? undefined : this.directory.forCommonName(verifiedCommonName);
    if (byName === undefined) return undefined;
    // keyed as callerKey() looks it up: with auth on and no token the name was tried as a user first
    const asUserFirst = authEnabled && tokenOf(metadata) === undefined;
    return { tenant: byName, caller: `${asUserFirst ? 'u' : 'c'}:${verifiedCommonName!}`, authEnabled };
  }

  /** The tenant of an HTTP request: its user's (token or Basic credentials), else its certificate CN's. */
  async tenantOfHttp(req: IncomingMessage): Promise<TenantState | undefined> {
    if (this.directory.isEmpty) return undefined;
    let user: string | undefined;
    try {
      const id = await authIdentity(this.base)(req);
      if (id.kind === 'user') user = id.user;
    } catch {
      // no valid credentials: no user
    }
    const byUser = user === undefined ? undefined : this.directory.forUser(user);
    const cn = verifiedCommonNameOf(req.socket);
    return byUser ?? (cn === undefined ? undefined : this.directory.forCommonName(cn));
  }

  /** The services with every method routed by tenant. */
  routeServices(services: readonly GrpcServiceModule[]): GrpcServiceModule[] {
    return services.map((service) => ({
      name: service.name,
      methods: (ctx: GrpcServiceContext) => service.methods(ctx).map((m) => this.routed(service, ctx, m)),
    }));
  }

  private routed(service: GrpcServiceModule, ctx: GrpcServiceContext, plain: GrpcMethod): GrpcMethod {
    return {
      path: plain.path,
      kind: plain.kind,
      serve: (call) => {
        if (this.directory.isEmpty) return plain.serve(call);
        // A refused call costs its neighbours as little as it can: no token lookup, no decoding.
        const rateLimited = rateLimitedUnaryPaths.has(plain.path);
        const caller = rateLimited ? this.callerKeyNow(call.metadata, call.verifiedCommonName) : undefined;
        // the status itself, not an EtcdError: capturing an Error's stack was the largest cost of a refusal
        if (caller !== undefined && this.refusedEarly(caller)) {
          // its request is read and dropped (not decoded), so that HTTP/2 does not buffer it while held
          call.receive(ignoreMessage, ignoreEnd);
          return this.refusals.refuse(call);
        }
        // The request stays buffered (HTTP/2 flow control, the gateway's early queue) until the
        // chosen method starts reading it.
        this.identify(call.metadata, call.verifiedCommonName).then(
          (identified) => {
            const tenant = identified?.tenant;
            if (identified !== undefined && rateLimited) this.rememberCaller(identified.caller, identified.tenant, identified.authEnabled);
            if (tenant === undefined) return (this.untenantedMethod(service, ctx, plain.path) ?? plain).serve(call);
            if (refusedToTenants(plain.path)) return call.fail(new EtcdError('authPermissionDenied'));
            const method = this.tenantMethods(service, ctx, tenant).get(plain.path);
            // fail closed: a tenant's call never reaches the server's own, unprefixed handler
            if (method === undefined) return call.fail(new EtcdError('authPermissionDenied'));
            const stream = plain.kind !== 'unary';
            if (stream || waitingUnaryPaths.has(plain.path)) this.trackStream(tenant, call, stream);
            method.serve(rateLimited ? new RateRefusalHoldingCall(call, this.holdRefusal) : call);
          },
          (err: unknown) => call.fail(err),
        );
      },
    };
  }

  /**
   * A remembered caller's tenant is over its request rate. The tenant must still be the one in
   * effect (a changed or deleted tenant is a new state). The token is not checked again here: an
   * expired or revoked token of a tenant over its rate is refused for the rate, and for the token
   * once the bucket lets the call through to the full path.
   */
  private refusedEarly(caller: string): boolean {
    const tenant = this.rememberedCallers.get(caller);
    if (tenant === undefined) return false;
    this.rememberedCallers.delete(caller);
    if (this.directory.get(tenant.name) !== tenant) return false;
    // a hit moves the caller to the young end (Map order): churn evicts the idle, not the busy
    this.rememberedCallers.set(caller, tenant);
    return tenant.refusesRequestNow();
  }

  /**
   * The key a caller is remembered under in the current auth mode. The entries made in the other mode
   * all go when the mode changes: the same certificate name identifies a user with auth on and a
   * certificate name with it off, perhaps of different tenants.
   */
  private callerKeyNow(metadata: IncomingHttpHeaders, verifiedCommonName: string | undefined): string | undefined {
    const authEnabled = this.base.auth?.enabled === true;
    if (authEnabled !== this.callersAuthEnabled) {
      this.rememberedCallers.clear();
      this.callersAuthEnabled = authEnabled;
    }
    return callerKey(metadata, verifiedCommonName, authEnabled);
  }

  private rememberCaller(caller: string, tenant: TenantState, authEnabled: boolean): void {
    // identified under another auth mode than the entries' (it changed meanwhile): not kept
    if (authEnabled !== this.callersAuthEnabled) return;
    this.rememberedCallers.delete(caller);
    if (this.rememberedCallers.size >= this.maxCallers) this.rememberedCallers.delete(this.rememberedCallers.keys().next().value!);
    this.rememberedCallers.set(caller, tenant);
  }

  /** The remembered callers' keys, least recently used first (for tests and diagnostics). */
  rememberedCallerKeys(): string[] {
    return [...this.rememberedCallers.keys()];
  }

  /** The Lease service's methods over `untenanted` (the other services need no guard). */
  private untenantedMethod(service: GrpcServiceModule, ctx: GrpcServiceContext, path: string): GrpcMethod | undefined {
    if (service.name !== 'etcdserverpb.Lease') return undefined;
    let table = this.untenantedLeaseMethods.get(service.name);
    if (table === undefined) {
      table = new Map(service.methods({ ...ctx, api: this.untenanted }).map((m) => [m.path, m]));
      this.untenantedLeaseMethods.set(service.name, table);
    }
    return table.get(path);
  }

  private tenantMethods(service: GrpcServiceModule, ctx: GrpcServiceContext, tenant: TenantState): ReadonlyMap<string, GrpcMethod> {
    let services = this.methodTables.get(tenant);
    if (services === undefined) {
      services = new Map();
      this.methodTables.set(tenant, services);
    }
    let table = services.get(service.name);
    if (table === undefined) {
      table = new Map(service.methods({ ...ctx, api: this.apiOf(tenant) }).map((m) => [m.path, m]));
      services.set(service.name, table);
    }
    return table;
  }

  /**
   * The /api handler: each request goes to the handler of its tenant (made on first use) or to the
   * server's own; `admin` answers /api/tenants, inside the server's own handler so that the same
   * Host (DNS rebinding) and origin (CORS) checks come first.
   */
  apiHandler(make: ApiHandlerFactory, admin: HttpHandler): ApiHandler {
    const resolved = new WeakMap<IncomingMessage, ApiIdentity>();
    const baseIdentity = authIdentity(this.base);
    const identity: IdentityResolver = (req) => {
      const known = resolved.get(req);
      return known !== undefined ? Promise.resolve(known) : baseIdentity(req);
    };
    const plain = make(this.untenanted, identity, admin);
    // One handler per tenant, replaced when the tenant's spec changes (the old one's watches end)
    const handlers = new Map<string, { readonly tenant: TenantState; readonly handler: ApiHandler }>();
    // a deleted or changed tenant's handler goes at once, ending its SSE and WebSocket watches
    this.directory.onChange(() =>
      queueMicrotask(() => {
        for (const [name, known] of handlers) {
          if (this.directory.get(name) === known.tenant) continue;
          handlers.delete(name);
          known.handler.close();
        }
      }),
    );
    const handlerOf = (tenant: TenantState | undefined): ApiHandler => {
      if (tenant === undefined) return plain;
      const known = handlers.get(tenant.name);
      if (known !== undefined && known.tenant === tenant) return known.handler;
      known?.handler.close();
      const handler = make(this.apiOf(tenant), identity);
      handlers.set(tenant.name, { tenant, handler });
      return handler;
    };
    const choose = async (req: IncomingMessage): Promise<ApiHandler> => {
      if (this.directory.isEmpty) return plain;
      let id: ApiIdentity;
      try {
        id = await baseIdentity(req);
      } catch {
        // no valid credentials: the plain handler answers 401 as it always does
        return plain;
      }
      resolved.set(req, id);
      const byUser = id.kind === 'user' ? this.directory.forUser(id.user) : undefined;
      const cn = verifiedCommonNameOf(req.socket);
      return handlerOf(byUser ?? (cn === undefined ? undefined : this.directory.forCommonName(cn)));
    };
    return {
      // not async: the client port asks this of every request, and most are not /api ones
      handle: (req, res) => {
        if (!isApiUrl(req.url) || isTenantsUrl(req.url)) return plain.handle(req, res);
        return choose(req).then((h) => h.handle(req, res));
      },
      upgrade: (req, socket, head) => {
        if (this.directory.isEmpty) return plain.upgrade(req, socket, head);
        if (!isApiUrl(req.url)) return false;
        void choose(req).then((h) => {
          if (!h.upgrade(req, socket, head)) socket.destroy();
        });
        return true;
      },
      close: () => {
        // the port is closing: held refusals are answered now rather than when their delay ends
        this.refusals.flush();
        plain.close();
        for (const { handler } of handlers.values()) handler.close();
      },
    };
  }
}

const tokenOf = (metadata: IncomingHttpHeaders): string | undefined => {
  const raw = metadata['token'] ?? metadata['authorization'];
  return Array.isArray(raw) ? raw[0] : raw;
};

/**
 * Where to look a gRPC caller up before its token is checked, as identify() remembers it: with auth
 * on, a token that could be valid (only a token that validated to a tenant's user is remembered, so
 * an unknown one finds nothing and takes the full path: it may belong to another tenant); else, and
 * for a token too long to be valid, the verified certificate name, as tenantOf falls back to it.
 */
function callerKey(metadata: IncomingHttpHeaders, verifiedCommonName: string | undefined, authEnabled: boolean): string | undefined {
  const token = authEnabled ? tokenOf(metadata) : undefined;
  if (token !== undefined && token.length <= maxTokenBytes) return `t:${token}`;
  if (verifiedCommonName === undefined) return undefined;
  // with auth on and no token the name is first looked up as a user (--client-cert-auth), as identify() does
  return authEnabled && token === undefined ? `u:${verifiedCommonName}` : `c:${verifiedCommonName}`;
}

const isTenantsUrl = (url: string | undefined): boolean => url !== undefined && /^\/api\/tenants(?:[/?]|$)/.test(url);

const isApiUrl = (url: string | undefined): boolean => url !== undefined && (url === '/api' || url.startsWith('/api/') || url.startsWith('/api?'));

/**
 * What the client port takes to serve tenants: the gRPC services routed by tenant plus the tenant
 * admin service, and the /api handler with /api/tenants.
 */
export function tenantPortOptions(
  router: TenantRouter,
  services: readonly GrpcServiceModule[],
  limits: { readonly maxRequestBytes: number; readonly log: ErrorLogger },
): { grpcServices: GrpcServiceModule[]; apiHandler: (make: ApiHandlerFactory) => ApiHandler } {
  const tenantAdmin = new TenantAdmin(router.base, router.directory);
  const admin = createTenantAdminHandler({
    admin: tenantAdmin,
    api: router.base,
    isTenantRequest: async (req) => (await router.tenantOfHttp(req)) !== undefined,
    body: { maxBodyBytes: limits.maxRequestBytes, bodyTimeoutMs: defaultApiBodyTimeoutMs },
    log: limits.log,
  });
  return { grpcServices: router.routeServices([...services, tenantAdminServiceModule(tenantAdmin)]), apiHandler: (make) => router.apiHandler(make, admin) };
}
