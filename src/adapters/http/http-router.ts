// Plain HTTP/1.1 on the client port, as etcd serves it beside gRPC: CORS headers on everything
// (embed/serve.go corsHandler), /health and /version (etcdserver/api/etcdhttp), then pluggable
// handlers (the JSON gateway is one, gateway/gateway-handler.ts), then Go's text 404.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerApi } from '../../core/kv-api.js';
import { RangeRequest } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { consoleErrorLogger, type ErrorLogger } from '../grpc/error-status.js';

/** Returns true when it answered the request; false lets the next handler try. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

export interface HttpRouterOptions {
  readonly api: ServerApi;
  /** Consulted in order after /health and /version. */
  readonly handlers?: readonly HttpHandler[];
  /** Consulted first, before etcd's CORS headers and OPTIONS answer: handlers with their own origin rules (/api). */
  readonly preHandlers?: readonly HttpHandler[];
  readonly log?: ErrorLogger;
  /** etcd's /health gives its probe one second. */
  readonly healthTimeoutMs?: number;
}

export type HttpRequestListener = (req: IncomingMessage, res: ServerResponse) => void;

const pathOf = (req: IncomingMessage): string => {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
};

/** The key etcd's health probe reads. */
const healthKey = Buffer.from('health');

function addCorsHeaders(res: ServerResponse): void {
  res.setHeader('Access-Control-Allow-Methods', 'POST, GET, OPTIONS, PUT, DELETE');
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Headers', 'accept, content-type, authorization');
}

/** Go's http.Error: text/plain body with a trailing newline. */
function goHttpError(res: ServerResponse, status: number, body: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.end(`${body}\n`);
}

function methodNotAllowed(res: ServerResponse): void {
  res.setHeader('Allow', 'GET');
  goHttpError(res, 405, 'Method Not Allowed');
}

/** "3.4.23" → "3.4.0", what etcd reports as the cluster version of a single 3.4 member. */
export const clusterVersionOf = (serverVersion: string): string => {
  const m = /^(\d+)\.(\d+)/.exec(serverVersion);
  return m ? `${m[1]}.${m[2]}.0` : 'not_decided';
};

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

export function createHttpRouter(options: HttpRouterOptions): HttpRequestListener {
  const { api } = options;
  const handlers = options.handlers ?? [];
  const log = options.log ?? consoleErrorLogger;
  const healthTimeoutMs = options.healthTimeoutMs ?? 1000;

  const health = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET') return methodNotAllowed(res);
    let ok = true;
    // etcd 3.5's ?serializable=true: no leader needed, and the probe read is served locally
    const serializable = new URLSearchParams((req.url ?? '').split('?')[1] ?? '').get('serializable') === 'true';
    // One deadline for the whole probe, as etcd gives its check one second.
    const deadline = Date.now() + healthTimeoutMs;
    try {
      const st = await withTimeout(api.status(), healthTimeoutMs);
      // etcd's /health is false while an alarm is raised; a member stopped on a storage fault is too.
      // …and while it has no leader (etcd's checkHealth).
      ok = st.alarms.length === 0 && st.errors.length === 0 && (serializable || api.raft().leader !== 0n);
      // then a read of one key, linearizable unless asked otherwise, as etcd's checkAPI does
      if (ok) await withTimeout(api.kv.range(RangeRequest.create({ key: healthKey, countOnly: true, serializable })), Math.max(0, deadline - Date.now()));
    } catch (err) {
      log('/health probe failed', err);
      ok = false;
    }
    const body = JSON.stringify({ health: ok ? 'true' : 'false' });
    if (!ok) return goHttpError(res, 503, body);
    // etcd writes the JSON without a content type; Go sniffs it as text/plain
    res.statusCode = 200;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end(body);
  };

  const version = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== 'GET') return methodNotAllowed(res);
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ etcdserver: api.version, etcdcluster: clusterVersionOf(api.version) }));
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // a handler's plain boolean is taken as it is: an await would cost a trip through the microtask
    // queue, and most handlers decline most requests synchronously
    for (const h of options.preHandlers ?? []) {
      const r = h(req, res);
      if (r === true || (r !== false && (await r))) return;
    }
    addCorsHeaders(res);
    if (req.method === 'OPTIONS') {
      res.statusCode = 200;
      res.end();
      return;
    }
    const path = pathOf(req);
    if (path === '/health') return health(req, res);
    if (path === '/version') return version(req, res);
    for (const h of handlers) {
      const r = h(req, res);
      if (r === true || (r !== false && (await r))) return;
    }
    // Go's http.NotFound, which etcd's mux answers for a path nothing serves
    goHttpError(res, 404, '404 page not found');
  };

  return (req, res) => {
    route(req, res).catch((err: unknown) => {
      log(`HTTP handler failed for ${req.method ?? '?'} ${req.url ?? '?'}`, err);
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ error: 'internal server error', code: 500 }));
      } else {
        res.destroy();
      }
    });
  };
}
