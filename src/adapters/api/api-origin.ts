// Browser safety for /api: a page on another origin must not be able to write to the store through a
// visitor's browser. Unsafe methods (and WebSocket upgrades, which browsers send cross-origin without
// asking) are refused when the request says it comes from elsewhere, unless that origin is listed in
// --api-cors-origins; listed origins get CORS headers, nobody else does.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './api-errors.js';

export interface OriginPolicy {
  /** Origins (scheme://host[:port]) allowed to call /api from a browser; `*` allows any. */
  readonly allowedOrigins: readonly string[];
}

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

const allowHeaders = 'Authorization, Content-Type, If-Match, If-None-Match, Last-Event-ID';
const allowMethods = 'GET, HEAD, PUT, POST, DELETE, OPTIONS';
const exposeHeaders = 'ETag, X-Revision';

function isListed(policy: OriginPolicy, origin: string): boolean {
  return policy.allowedOrigins.includes('*') || policy.allowedOrigins.includes(origin);
}

/** Same origin: the Origin's host is the Host the request was sent to. */
function isSameOrigin(req: IncomingMessage, origin: string): boolean {
  try {
    return new URL(origin).host === (req.headers.host ?? '');
  } catch {
    return false;
  }
}

/**
 * Throws 403 for a cross-origin write or socket from an origin not listed; sets CORS headers for a
 * listed one. `upgrade`: a WebSocket handshake, checked as a write.
 */
export function checkOrigin(policy: OriginPolicy, req: IncomingMessage, res: ServerResponse | undefined, upgrade = false): void {
  const origin = req.headers.origin;
  const site = req.headers['sec-fetch-site'];
  const listed = origin !== undefined && isListed(policy, origin);
  if (listed && res !== undefined) {
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Vary', 'Origin');
    res.setHeader('Access-Control-Expose-Headers', exposeHeaders);
  }
  if (!upgrade && safeMethods.has(req.method ?? 'GET')) return;
  if (listed) return;
  const crossBySite = site === 'cross-site' || site === 'same-site';
  const crossByOrigin = origin !== undefined && origin !== 'null' ? !isSameOrigin(req, origin) : origin === 'null';
  if (crossBySite || crossByOrigin) {
    throw new ApiError(403, 'crossOriginRefused', `cross-origin ${upgrade ? 'WebSocket' : 'write'} refused from origin ${origin ?? '(none)'}; list it in --api-cors-origins to allow it`);
  }
}

/** Answers a CORS preflight: 204 with the allowed methods for a listed origin, 403 otherwise. */
export function answerPreflight(policy: OriginPolicy, req: IncomingMessage, res: ServerResponse): void {
  const origin = req.headers.origin;
  if (origin === undefined || !isListed(policy, origin)) {
    throw new ApiError(403, 'crossOriginRefused', `origin ${origin ?? '(none)'} is not in --api-cors-origins`);
  }
  res.statusCode = 204;
  res.setHeader('Access-Control-Allow-Origin', origin);
  res.setHeader('Vary', 'Origin');
  res.setHeader('Access-Control-Allow-Methods', allowMethods);
  res.setHeader('Access-Control-Allow-Headers', allowHeaders);
  res.setHeader('Access-Control-Max-Age', '600');
  res.end();
}
