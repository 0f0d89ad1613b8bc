// /api/watch/<key>: live watch over Server-Sent Events (GET with Accept: text/event-stream) and over
// WebSocket (an Upgrade on the same path). Each message is one revision; its id is the revision, so
// a client resumes with Last-Event-ID (or ?start_revision) and misses nothing. A client that does not
// read is cut off once its backlog stays over the bound, never buffered without limit.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ApiError, badRequest, errorBody } from './api-errors.js';
import { statusByKind } from '../grpc/error-status.js';
import type { ApiContext } from './api-context.js';
import { prefixEnd } from '../../core/keys.js';
import { HubWatch, type WatchOutput, type WatchSpec } from './api-hub-watch.js';
import type { Query } from './api-request.js';
import type { ApiAccess } from './api-identity.js';
import { compactRevisionOf } from './api-compact-revision.js';
import { responseGone } from '../http/response-gone.js';

/** A watch checked and counted against its address's bound; `release` (idempotent) uncounts it. */
export interface PreparedWatch {
  readonly spec: WatchSpec;
  readonly release: () => void;
}

export interface WatchLimits {
  /** Bytes a watch client may leave unread before its grace period starts. */
  readonly maxWatchBacklogBytes: number;
  /** How long the backlog may stay over maxWatchBacklogBytes before the client is cut off. */
  readonly slowWatchClientGraceMs: number;
  /** A backlog this large cuts the client off at once. */
  readonly hardWatchBacklogBytes: number;
  /** Open watch streams (SSE and WebSocket together) per client IP address. */
  readonly maxWatchesPerAddress: number;
  /** SSE comment / WebSocket ping interval, so proxies and dead peers are noticed. */
  readonly watchKeepaliveMs: number;
}

export const defaultWatchLimits: WatchLimits = {
  maxWatchBacklogBytes: 1024 * 1024,
  slowWatchClientGraceMs: 5_000,
  hardWatchBacklogBytes: 8 * 1024 * 1024,
  maxWatchesPerAddress: 64,
  watchKeepaliveMs: 15_000,
};

/** What a WebSocket client may send: nothing needs more than this. */
const maxWsIncomingBytes = 4096;

const watchFlags = new Set(['prefix', 'from_key', 'start_revision', 'prev_kv']);

/** A transport for one watch: SSE or WebSocket. */
interface WatchTransport {
  write(o: WatchOutput): void;
  backlogBytes(): number;
  onDrain(listener: () => void): void;
  onClose(listener: () => void): void;
  /** The client is already gone (it may leave while the request was being checked). */
  isClosed(): boolean;
  /** Ends cleanly (after a final message). */
  end(): void;
  /** Cuts the connection (slow reader). */
  destroy(): void;
  keepalive(): void;
}

export class WatchRoutes {
  private readonly openByAddress = new Map<string, number>();
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: maxWsIncomingBytes, perMessageDeflate: false });
  private readonly live = new Set<() => void>();

  constructor(
    private readonly ctx: ApiContext,
    private readonly limits: WatchLimits,
  ) {}

  /**
   * Counts a long-lived stream (watch or election observe) against its client address now, before
   * any await or handshake, so parallel requests cannot all pass the check. Throws 429 past the bound.
   */
  reserveStream(req: IncomingMessage): () => void {
    const address = addressOf(req);
    const open = this.openByAddress.get(address) ?? 0;
    if (open >= this.limits.maxWatchesPerAddress) {
      throw new ApiError(429, 'tooManyWatches', `too many open watches from this address (at most ${this.limits.maxWatchesPerAddress})`);
    }
    this.openByAddress.set(address, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.openByAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.openByAddress.delete(address);
      else this.openByAddress.set(address, left);
    };
  }

  /** Parses the watch request, checks it against compaction and counts it against the per-address bound. */
  async prepare(req: IncomingMessage, key: Buffer, query: Query, access: ApiAccess): Promise<PreparedWatch> {
    const unknown = query.unknown(watchFlags);
    if (unknown.length > 0) throw new ApiError(400, 'unknownField', `unknown query parameter(s): ${unknown.join(', ')}`, { fields: unknown });
    const prefix = query.flag('prefix');
    const fromKey = query.flag('from_key');
    if (prefix && fromKey) throw badRequest('?prefix and ?from_key exclude each other');
    if (!prefix && !fromKey && key.length === 0) throw new ApiError(400, 'emptyKey', statusByKind.emptyKey.details);
    const rangeEnd = prefix ? (key.length === 0 ? Buffer.from([0]) : prefixEnd(key)) : fromKey ? Buffer.from([0]) : Buffer.alloc(0);
    // what the hub will watch: an empty key means "\0" (etcd's normalisation)
    access.requireRead(key.length === 0 ? Buffer.from([0]) : key, rangeEnd);
    let start = query.count('start_revision') ?? 0;
    const lastEventId = req.headers['last-event-id'];
    if (typeof lastEventId === 'string' && lastEventId !== '') {
      if (!/^\d{1,15}$/.test(lastEventId)) throw badRequest('Last-Event-ID must be a revision');
      start = Number(lastEventId) + 1;
    }
    const release = this.reserveStream(req);
    try {
      if (start > 0) {
        const compactRevision = await compactRevisionOf(this.ctx.api);
        if (start <= compactRevision) {
          throw new ApiError(410, 'compacted', statusByKind.compacted.details, { compact_revision: compactRevision });
        }
      }
    } catch (err) {
      release();
      throw err;
    }
    return { spec: { key, rangeEnd, startRevision: start, prevKv: query.flag('prev_kv') }, release };
  }

  /** GET /api/watch/<key> with Accept: text/event-stream. */
  sse(req: IncomingMessage, res: ServerResponse, prepared: PreparedWatch): void {
    res.statusCode = 200;
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    const transport: WatchTransport = {
      write: (o) => {
        res.write(sseMessage(o));
      },
      backlogBytes: () => res.writableLength,
      onDrain: (l) => res.on('drain', l),
      onClose: (l) => res.once('close', l),
      isClosed: () => responseGone(res) || req.socket.destroyed,
      end: () => res.end(),
      destroy: () => res.destroy(),
      keepalive: () => {
        res.write(': keepalive\n\n');
      },
    };
    this.run(prepared, transport);
  }

  /** An Upgrade on /api/watch/<key>: the WebSocket handshake, then the same stream as SSE. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, prepared: PreparedWatch): void {
    // counted since prepare: a handshake that fails (the socket closes, no callback) uncounts it
    if (socket.destroyed) return prepared.release();
    socket.once('close', prepared.release);
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const transport: WatchTransport = {
        write: (o) => ws.send(JSON.stringify(wsMessage(o))),
        // what ws has queued plus what the socket has not written out
        backlogBytes: () => ws.bufferedAmount + socket.writableLength,
        onDrain: (l) => socket.on('drain', l),
        onClose: (l) => ws.once('close', l),
        isClosed: () => ws.readyState !== ws.OPEN,
        end: () => ws.close(1000, 'watch ended'),
        destroy: () => ws.terminate(),
        keepalive: () => ws.ping(),
      };
      // clients only ever need to close; anything they send is ignored (and bounded by maxPayload)
      ws.on('error', () => ws.terminate());
      this.run(prepared, transport);
    });
  }

  /** Ends every open watch (server closing). */
  close(): void {
    for (const stop of [...this.live]) stop();
    this.wss.close();
  }

  private run({ spec, release }: PreparedWatch, t: WatchTransport): void {
    let over: NodeJS.Timeout | undefined;
    let stopped = false;
    const stop = (how: 'end' | 'destroy'): void => {
      if (stopped) return;
      stopped = true;
      this.live.delete(endNow);
      clearInterval(keepalive);
      clearTimeout(over);
      watch.close();
      release();
      if (how === 'end') t.end();
      else t.destroy();
    };
    const endNow = (): void => stop('end');
    this.live.add(endNow);
    const checkBacklog = (): void => {
      const backlog = t.backlogBytes();
      if (backlog > this.limits.hardWatchBacklogBytes) return stop('destroy');
      if (backlog > this.limits.maxWatchBacklogBytes && over === undefined) {
        over = setTimeout(() => {
          if (t.backlogBytes() > this.limits.maxWatchBacklogBytes) stop('destroy');
          over = undefined;
        }, this.limits.slowWatchClientGraceMs);
      }
    };
    const onOutput = (o: WatchOutput): void => {
      if (stopped) return;
      t.write(o);
      if (o.type === 'compacted' || o.type === 'failed') {
        // the hub may answer while the watch is still being created
        queueMicrotask(() => stop('end'));
        return;
      }
      checkBacklog();
    };
    const keepalive = setInterval(() => {
      t.keepalive();
      checkBacklog();
    }, this.limits.watchKeepaliveMs);
    keepalive.unref();
    const watch = new HubWatch(this.ctx.api.watch, spec, onOutput, () => t.backlogBytes());
    t.onDrain(() => {
      if (stopped) return;
      clearTimeout(over);
      over = undefined;
      watch.drained();
    });
    t.onClose(() => stop('destroy'));
    if (t.isClosed()) stop('destroy');
  }
}

const addressOf = (req: IncomingMessage): string => req.socket.remoteAddress ?? '';

function compactedError(o: { compactRevision: number }): Record<string, unknown> {
  return errorBody(new ApiError(410, 'compacted', statusByKind.compacted.details, { compact_revision: o.compactRevision }));
}

/** One SSE message; `id` only on changes, so Last-Event-ID is always a revision fully delivered. */
function sseMessage(o: WatchOutput): string {
  switch (o.type) {
    case 'created':
      return `event: created\ndata: ${JSON.stringify({ revision: o.revision })}\n\n`;
    case 'change':
      return `id: ${o.revision}\nevent: change\ndata: ${JSON.stringify({ revision: o.revision, events: o.events })}\n\n`;
    case 'progress':
      return `event: progress\ndata: ${JSON.stringify({ revision: o.revision })}\n\n`;
    case 'compacted':
      return `event: compacted\ndata: ${JSON.stringify(compactedError(o))}\n\n`;
    case 'failed':
      return `event: error\ndata: ${JSON.stringify({ error: { code: 'internal', message: o.message } })}\n\n`;
  }
}

/** One WebSocket text message: `{type, …}` with the same fields as the SSE data. */
function wsMessage(o: WatchOutput): Record<string, unknown> {
  switch (o.type) {
    case 'created':
    case 'progress':
      return { type: o.type, revision: o.revision };
    case 'change':
      return { type: 'change', revision: o.revision, events: o.events };
    case 'compacted':
      return { type: 'compacted', ...compactedError(o) };
    case 'failed':
      return { type: 'error', error: { code: 'internal', message: o.message } };
  }
}

/** Answers a refused WebSocket handshake with a plain HTTP error on the raw socket. */
export function refuseUpgrade(socket: Duplex, e: ApiError): void {
  const body = JSON.stringify(errorBody(e));
  socket.end(
    `HTTP/1.1 ${e.status} ${statusText(e.status)}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function statusText(status: number): string {
  const texts: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 410: 'Gone', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable' };
  return texts[status] ?? 'Error';
}
