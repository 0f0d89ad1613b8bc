// The HTTP handlers for /metrics (Prometheus text format), /livez and /readyz, pluggable into the
// client port's router and into the --listen-metrics-urls listener (metrics-listener.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpHandler } from '../adapters/http/http-router.js';
import type { MemberMetrics } from './member-metrics.js';
import type { ReadinessCheck } from './readiness.js';

const pathOf = (req: IncomingMessage): string => {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
};

function text(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.end(body);
}

function onlyGet(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return true;
  res.setHeader('Allow', 'GET');
  text(res, 405, 'Method Not Allowed\n');
  return false;
}

export function metricsHandler(metrics: MemberMetrics): HttpHandler {
  return async (req, res) => {
    if (pathOf(req) !== '/metrics') return false;
    if (!onlyGet(req, res)) return true;
    text(res, 200, await metrics.render(), metrics.contentType);
    return true;
  };
}

/**
 * /livez: the process is up and its event loop runs handlers (answering at all shows it).
 * /readyz: 200 once caught up with the leader (readiness.ts), 503 with the reason otherwise.
 */
export function probeHandler(readiness: ReadinessCheck): HttpHandler {
  return async (req, res) => {
    const path = pathOf(req);
    if (path === '/livez') {
      if (onlyGet(req, res)) text(res, 200, 'ok\n');
      return true;
    }
    if (path !== '/readyz') return false;
    if (!onlyGet(req, res)) return true;
    const verdict = await readiness.check().catch((e: unknown) => ({ ready: false as const, reason: e instanceof Error ? e.message : String(e) }));
    if (verdict.ready) text(res, 200, 'ok\n');
    else text(res, 503, `not ready: ${verdict.reason}\n`);
    return true;
  };
}
