// The friendly HTTP API under /api on the client port: routing, the origin check, the identity seam
// and the request limits, in front of the route classes (api-kv.ts, api-leases.ts, api-watch.ts, …).
// Served straight from the ServerApi, like gRPC; no loopback call.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ServerApi } from '../../core/kv-api.js';
import { consoleErrorLogger, statusByKind, type ErrorLogger } from '../grpc/error-status.js';
import type { HttpHandler } from '../http/http-router.js';
import { ApiError, sendError, toApiError } from './api-errors.js';
import { decodePathBytes } from './api-bytes.js';
import type { ApiContext } from './api-context.js';
import { accessOf, authIdentity, type IdentityResolver } from './api-identity.js';
import { recipeCaller } from '../../auth/recipe-caller.js';
import { uncheckedCaller } from '../../core/concurrency-api.js';
import { answerPreflight, checkOrigin, type OriginPolicy } from './api-origin.js';
import { allowAllHosts, apiAllowsHost, hostnameOf, type HostWhitelist } from '../http/host-whitelist.js';
import { parseId, Query, type BodyLimits } from './api-request.js';
import { KvRoutes } from './api-kv.js';
import { LeaseRoutes } from './api-leases.js';
import { ClusterRoutes } from './api-cluster.js';
import { ConcurrencyRoutes } from './api-concurrency.js';
import { TransferRoutes } from './api-transfer.js';
import { TreeRoutes } from './api-tree.js';
import { defaultWatchLimits, refuseUpgrade, WatchRoutes, type WatchLimits } from './api-watch.js';
import { openApiDocument } from './api-openapi.js';

/** A request target longer than this is refused with 414 before anything is decoded (node drops a request whose head passes its 16 KiB header limit). */
export const maxApiUrlBytes = 8 * 1024;
/** A request body that has not arrived by then: 408 (slow client). */
export const defaultApiBodyTimeoutMs = 30_000;
const defaultMaxRequestBytes = 1.5 * 1024 * 1024;
const defaultMaxTxnOps = 128;

export interface ApiOptions {
  readonly api: ServerApi;
  /** etcd --max-request-bytes: the bound of every request body. */
  readonly maxRequestBytes?: number;
  readonly maxTxnOps?: number;
  /** --api-cors-origins: browser origins allowed to write (`*`: any); empty: same-origin only. */
  readonly corsOrigins?: readonly string[];
  /** --host-whitelist and the client URL hosts: which Host headers /api answers (DNS rebinding). */
  readonly hostWhitelist?: HostWhitelist;
  /** Turns a request into the caller's identity; default: the server's auth (anonymous while it is off). */
  readonly identity?: IdentityResolver;
  readonly bodyTimeoutMs?: number;
  readonly watchLimits?: Partial<WatchLimits>;
  readonly log?: ErrorLogger;
  /** Routes served after the Host and origin checks, ahead of /api's own (the tenant admin API); true: answered. */
  readonly routes?: HttpHandler;
}

/** Claims an HTTP Upgrade (true) or leaves it to the next handler (false). */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean;

export interface ApiHandler {
  readonly handle: HttpHandler;
  readonly upgrade: UpgradeHandler;
  /** Ends open watch and leader streams and waiting lock and campaign calls. */
  close(): void;
}

const apiPrefix = '/api';

interface Target {
  readonly path: string;
  readonly query: Query;
}

function targetOf(req: IncomingMessage): Target {
  const url = req.url ?? '/';
  if (url.length > maxApiUrlBytes) throw new ApiError(414, 'urlTooLong', `request URL longer than ${maxApiUrlBytes} bytes`);
  const q = url.indexOf('?');
  return { path: q === -1 ? url : url.slice(0, q), query: Query.parse(q === -1 ? '' : url.slice(q + 1)) };
}

const isApiPath = (url: string | undefined): boolean => url !== undefined && (url === apiPrefix || url.startsWith(`${apiPrefix}/`) || url.startsWith(`${apiPrefix}?`));

/** `rest` after `prefix/` as key bytes (`/api/kv` alone is the empty key, for ?prefix over everything). */
function suffixBytes(path: string, prefix: string): Buffer | undefined {
  if (path === prefix) return Buffer.alloc(0);
  if (!path.startsWith(`${prefix}/`)) return undefined;
  return decodePathBytes(path.slice(prefix.length + 1));
}

function learnerServes(method: string, path: string, query: Query): boolean {
  if (method !== 'GET') return false;
  if (path === '/api/status') return true;
  return path.startsWith('/api/kv') && query.flag('serializable') && !query.has('history');
}

/** 403 for a Host that /api does not answer to: a DNS-rebinding page would send its own name. */
function checkHost(hosts: HostWhitelist, req: IncomingMessage): void {
  if (apiAllowsHost(hosts, req)) return;
  const host = hostnameOf(req.headers.host);
  throw new ApiError(403, 'hostRefused', `Host ${JSON.stringify(host)} is not accepted (DNS rebinding protection); add it to --host-whitelist or use TLS`);
}

function methodNotAllowed(allowed: readonly string[]): ApiError {
  return new ApiError(405, 'methodNotAllowed', `method not allowed; use ${allowed.join(', ')}`, { allow: allowed });
}

export function createApiHandler(options: ApiOptions): ApiHandler {
  const log = options.log ?? consoleErrorLogger;
  const ctx: ApiContext = {
    api: options.api,
    maxRequestBytes: options.maxRequestBytes ?? defaultMaxRequestBytes,
    maxTxnOps: options.maxTxnOps ?? defaultMaxTxnOps,
    log,
  };
  const body: BodyLimits = { maxBodyBytes: ctx.maxRequestBytes, bodyTimeoutMs: options.bodyTimeoutMs ?? defaultApiBodyTimeoutMs };
  const origins: OriginPolicy = { allowedOrigins: options.corsOrigins ?? [] };
  const hosts = options.hostWhitelist ?? allowAllHosts;
  const identity = options.identity ?? authIdentity(options.api);
  const kv = new KvRoutes(ctx, body);
  const leases = new LeaseRoutes(ctx, body);
  const cluster = new ClusterRoutes(ctx, body);
  const concurrency = new ConcurrencyRoutes(ctx, body);
  const transfer = new TransferRoutes(ctx, body);
  const tree = new TreeRoutes(ctx);
  const watches = new WatchRoutes(ctx, { ...defaultWatchLimits, ...options.watchLimits });
  const openApi = JSON.stringify(openApiDocument);

  const route = async (req: IncomingMessage, res: ServerResponse, { path, query }: Target): Promise<void> => {
    // HEAD is GET without the body (node leaves it out): a cheap existence / ETag check
    const method = req.method === 'HEAD' || req.method === undefined ? 'GET' : req.method;
    const only = (allowed: readonly string[]): void => {
      if (!allowed.includes(method)) {
        res.setHeader('Allow', allowed.join(', '));
        throw methodNotAllowed(allowed);
      }
    };
    if (path === '/api/openapi.json') {
      only(['GET']);
      res.statusCode = 200;
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('Cache-Control', 'no-store');
      res.end(openApi);
      return;
    }
    // 401 before any store access when auth is on; each route then applies the caller's permissions
    const access = accessOf(ctx.api, await identity(req));
    const who = access.header;
    // a learner answers only what it can alone, as etcd's isRPCSupportedForLearner: status and serializable reads
    if (ctx.api.raft().isLearner && !learnerServes(method, path, query)) {
      throw new ApiError(503, 'notSupportedForLearner', statusByKind.notSupportedForLearner.details);
    }
    const key = suffixBytes(path, '/api/kv');
    if (key !== undefined) {
      only(['GET', 'PUT', 'DELETE']);
      if (method === 'GET') return kv.get(res, key, query, access);
      if (method === 'PUT') return kv.put(req, res, key, query, who);
      return kv.delete(req, res, key, query, who);
    }
    const watched = suffixBytes(path, '/api/watch');
    if (watched !== undefined) {
      only(['GET']);
      if (!/text\/event-stream/.test(req.headers.accept ?? '')) {
        throw new ApiError(406, 'invalidArgument', 'watch with Accept: text/event-stream (Server-Sent Events) or as a WebSocket');
      }
      return watches.sse(req, res, await watches.prepare(req, watched, query, access));
    }
    if (path === '/api/leases') {
      only(['GET', 'POST']);
      return method === 'GET' ? leases.list(res) : leases.grant(req, res);
    }
    const lease = /^\/api\/leases\/([^/]+)(\/keepalive)?$/.exec(path);
    if (lease !== null) {
      const id = parseId(lease[1] ?? '', 'lease ID');
      if (lease[2] !== undefined) {
        only(['POST']);
        return leases.keepAlive(res, id);
      }
      only(['GET', 'DELETE']);
      return method === 'GET' ? leases.show(res, id, access) : leases.revoke(res, id, who);
    }
    if (path === '/api/members') {
      only(['GET']);
      return cluster.members(res);
    }
    if (path === '/api/status') {
      only(['GET']);
      return cluster.status(res);
    }
    if (path === '/api/compaction') {
      only(['POST']);
      return cluster.compact(req, res);
    }
    const lockName = suffixBytes(path, '/api/locks');
    // /api's own rule: locks and elections are for root while auth is on
    const concurrencyCall = (lockName !== undefined && lockName.length > 0) || path.startsWith('/api/elections/');
    if (concurrencyCall) access.requireAdmin();
    // their writes carry the caller, checked when applied like any write (`auth enable` in between: refused)
    const caller = concurrencyCall ? recipeCaller(ctx.api.auth, who) : uncheckedCaller;
    if (lockName !== undefined && lockName.length > 0) {
      only(['POST', 'DELETE']);
      return method === 'POST' ? concurrency.lock(req, res, lockName, caller) : concurrency.unlock(res, lockName, caller);
    }
    const election = /^\/api\/elections\/(.+?)(?:\/(campaign|proclaim|resign))?$/.exec(path);
    if (election !== null) {
      const name = decodePathBytes(election[1] ?? '');
      const action = election[2];
      if (action === undefined) {
        only(['GET']);
        if (/text\/event-stream/.test(req.headers.accept ?? '')) return concurrency.observe(res, name, caller, watches.reserveStream(req));
        return concurrency.leader(res, name, caller);
      }
      only(['POST']);
      if (action === 'campaign') return concurrency.campaign(req, res, name, caller);
      if (action === 'proclaim') return concurrency.proclaim(req, res, caller);
      return concurrency.resign(req, res, caller);
    }
    const folder = suffixBytes(path, '/api/tree');
    if (folder !== undefined) {
      only(['GET']);
      return tree.list(res, folder, query, access);
    }
    const exported = suffixBytes(path, '/api/export');
    if (exported !== undefined) {
      only(['GET']);
      return transfer.export(res, exported, query, access);
    }
    if (path === '/api/import') {
      only(['POST']);
      return transfer.import(req, res, who);
    }
    throw new ApiError(404, 'notFound', `no such endpoint: ${path} (see /api/openapi.json)`);
  };

  const serveApi = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    try {
      checkHost(hosts, req);
      if (req.method === 'OPTIONS') {
        answerPreflight(origins, req, res);
        return true;
      }
      checkOrigin(origins, req, res);
      if (options.routes !== undefined && (await options.routes(req, res))) return true;
      await route(req, res, targetOf(req));
    } catch (err) {
      sendError(res, toApiError(err, log));
    }
    return true;
  };

  // other paths are answered "not mine" at once: no promise for every request the port serves
  const handle: HttpHandler = (req, res) => (isApiPath(req.url) ? serveApi(req, res) : false);

  const upgrade: UpgradeHandler = (req, socket, head) => {
    if (!isApiPath(req.url)) return false;
    void (async () => {
      try {
        checkHost(hosts, req);
        checkOrigin(origins, req, undefined, true);
        const { path, query } = targetOf(req);
        const watched = suffixBytes(path, '/api/watch');
        if (watched === undefined || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
          throw new ApiError(404, 'notFound', `no WebSocket endpoint at ${path}`);
        }
        const access = accessOf(ctx.api, await identity(req));
        // a learner serves no watch, as over HTTP (etcd's isRPCSupportedForLearner)
        if (ctx.api.raft().isLearner) throw new ApiError(503, 'notSupportedForLearner', statusByKind.notSupportedForLearner.details);
        watches.upgrade(req, socket, head, await watches.prepare(req, watched, query, access));
      } catch (err) {
        refuseUpgrade(socket, toApiError(err, log));
      }
    })();
    return true;
  };

  return {
    handle,
    upgrade,
    close: () => {
      watches.close();
      concurrency.close();
    },
  };
}

