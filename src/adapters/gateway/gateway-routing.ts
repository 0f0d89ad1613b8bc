// Which route a request path reaches, as etcd 3.4 decides it: Go's ServeMux holds the gateway under
// `/v3/` (with `/v3beta/` rewritten to `/v3/`), redirecting unclean paths and the bare prefixes with
// 301; inside, grpc-gateway's mux answers an unknown path 404 and a known path with another method 405.
// `/v3alpha/` is not served by 3.4.
import type { GatewayRoute } from './gateway-schema.js';

export type RouteDecision =
  | { readonly kind: 'route'; readonly route: GatewayRoute }
  | { readonly kind: 'redirect'; readonly location: string }
  | { readonly kind: 'notFound' }
  | { readonly kind: 'methodNotAllowed' }
  /** Not a gateway path: the next HTTP handler decides. */
  | { readonly kind: 'notGateway' };

const prefixes = ['/v3/', '/v3beta/'];

/** Go's path.Clean, keeping a trailing slash as ServeMux's cleanPath does. */
export function goCleanPath(p: string): string {
  if (p === '') return '/';
  // the common case: nothing to clean
  if (p.startsWith('/') && !p.includes('//') && !p.includes('/.')) return p;
  const rooted = p.startsWith('/') ? p : `/${p}`;
  const out: string[] = [];
  for (const part of rooted.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  let cleaned = `/${out.join('/')}`;
  if (p.endsWith('/') && cleaned !== '/') cleaned += '/';
  return cleaned;
}

export class GatewayRouter {
  private readonly byKey = new Map<string, GatewayRoute>();
  private readonly paths = new Set<string>();

  constructor(routes: readonly GatewayRoute[]) {
    for (const r of routes) {
      const key = `${r.httpMethod} ${r.path}`;
      if (!this.byKey.has(key)) this.byKey.set(key, r);
      this.paths.add(r.path);
    }
  }

  decide(httpMethod: string, rawPath: string, query: string): RouteDecision {
    const cleaned = goCleanPath(rawPath);
    const isPrefix = (p: string): boolean => prefixes.some((x) => p.startsWith(x) || p === x.slice(0, -1));
    if (!isPrefix(cleaned)) return { kind: 'notGateway' };
    if (cleaned !== rawPath) return { kind: 'redirect', location: cleaned + query };
    if (prefixes.some((x) => rawPath === x.slice(0, -1))) return { kind: 'redirect', location: `${rawPath}/${query}` };
    const path = rawPath.startsWith('/v3beta/') ? `/v3/${rawPath.slice('/v3beta/'.length)}` : rawPath;
    const route = this.byKey.get(`${httpMethod} ${path}`);
    if (route !== undefined) return { kind: 'route', route };
    return this.paths.has(path) ? { kind: 'methodNotAllowed' } : { kind: 'notFound' };
  }
}
