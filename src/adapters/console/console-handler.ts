// The web console at /ui on the client port: index.html and its two hashed assets, from memory,
// under a strict Content-Security-Policy (no inline script or style, no other origin, no framing).
// The console is a client of /api; it has no endpoints of its own.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpHandler } from '../http/http-router.js';
import { allowAllHosts, apiAllowsHost, type HostWhitelist } from '../http/host-whitelist.js';
import { loadConsoleAssets, type ConsoleAssets, type ConsoleMissing } from './console-assets.js';

export const consolePrefix = '/ui';

export const consoleContentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Hashed assets never change under their name. */
const immutableCache = 'public, max-age=31536000, immutable';

export interface ConsoleHandlerOptions {
  /** Which Host headers /ui answers (DNS rebinding), the same rule as /api. */
  readonly hostWhitelist?: HostWhitelist;
  /** Loaded on the first request when absent (tests pass their own). */
  readonly assets?: ConsoleAssets | ConsoleMissing;
}

function setSafetyHeaders(res: ServerResponse): void {
  res.setHeader('Content-Security-Policy', consoleContentSecurityPolicy);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
}

function send(req: IncomingMessage, res: ServerResponse, status: number, contentType: string, body: Buffer | string, cache = 'no-store'): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Cache-Control', cache);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(req.method === 'HEAD' ? undefined : body);
}

const isConsolePath = (path: string): boolean => path === consolePrefix || path.startsWith(`${consolePrefix}/`);

export function createConsoleHandler(options: ConsoleHandlerOptions = {}): HttpHandler {
  const hosts = options.hostWhitelist ?? allowAllHosts;
  // Injected assets are kept as given; loaded ones are retried while the console is not built.
  const injected = options.assets;
  const load = (): ConsoleAssets | ConsoleMissing => injected ?? loadConsoleAssets();
  let assets = injected;
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (!isConsolePath(path)) return false;
    setSafetyHeaders(res);
    const text = 'text/plain; charset=utf-8';
    if (!apiAllowsHost(hosts, req)) {
      send(req, res, 403, text, 'Host is not accepted (DNS rebinding protection); add it to --host-whitelist or use TLS\n');
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(req, res, 405, text, 'Method Not Allowed\n');
      return true;
    }
    if (path === consolePrefix) {
      // relative asset URLs in index.html resolve under /ui/
      res.statusCode = 308;
      res.setHeader('Location', `${consolePrefix}/`);
      res.end();
      return true;
    }
    // Not built yet is not remembered: a build while the server runs is picked up by the next request.
    if (assets === undefined || 'missing' in assets) assets = load();
    if ('missing' in assets) {
      send(req, res, 503, text, 'the web console is not built; run npm run build\n');
      return true;
    }
    if (path === `${consolePrefix}/` || path === `${consolePrefix}/index.html`) {
      send(req, res, 200, 'text/html; charset=utf-8', assets.index, 'no-cache');
      return true;
    }
    const asset = path.startsWith(`${consolePrefix}/assets/`) ? assets.assets.get(path.slice(`${consolePrefix}/assets/`.length)) : undefined;
    if (asset === undefined) {
      send(req, res, 404, text, '404 page not found\n');
      return true;
    }
    send(req, res, 200, asset.contentType, asset.body, immutableCache);
    return true;
  };
}
