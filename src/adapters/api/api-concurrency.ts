// /api/locks and /api/elections: the v3lock and v3election services over plain HTTP. Waiting calls
// (lock, campaign) are cancelled when the client goes away, so no lock key is left behind for nobody.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LeaderKey } from '../../gen/etcd/etcdserver/api/v3election/v3electionpb/v3election.js';
import { ApiError, badRequest, sendJson } from './api-errors.js';
import type { ApiContext } from './api-context.js';
import type { LeaderSink, RecipeCaller } from '../../core/concurrency-api.js';
import { bytesOf, putBytes } from './api-bytes.js';
import { optionalCount, optionalId, optionalString, parseJsonObject, readBody, type BodyLimits, type JsonObject } from './api-request.js';
import { kvJson } from './api-kv-json.js';
import { responseGone } from '../http/response-gone.js';
import { EtcdError, isEtcdError } from '../../core/errors.js';

/** An AbortSignal that fires when the client closes the connection before the answer is sent. */
function leaderKeyJson(l: LeaderKey | undefined): Record<string, unknown> | null {
  if (l === undefined) return null;
  const o: Record<string, unknown> = {};
  putBytes(o, 'name', l.name);
  putBytes(o, 'key', l.key);
  o.rev = Number(l.rev);
  o.lease = l.lease.toString();
  return o;
}

function leaderKeyOf(o: JsonObject): LeaderKey {
  const l = o.leader;
  if (typeof l !== 'object' || l === null || Array.isArray(l)) throw badRequest('leader (as answered by campaign) is required');
  const f = l as JsonObject;
  const name = optionalString(f, 'name');
  const key = optionalString(f, 'key');
  if (name === undefined || key === undefined) throw badRequest('leader.name and leader.key are required');
  return {
    name: bytesOf(name, f.name_encoding, 'leader.name'),
    key: bytesOf(key, f.key_encoding, 'leader.key'),
    rev: BigInt(optionalCount(f, 'rev') ?? 0),
    lease: optionalId(f, 'lease') ?? 0n,
  };
}

const requireLease = (o: JsonObject): bigint => {
  const lease = optionalId(o, 'lease');
  if (lease === undefined || lease === 0n) throw new ApiError(400, 'invalidArgument', 'lease is required (the lock or candidacy ends with it)');
  return lease;
};

export class ConcurrencyRoutes {
  /**
   * The waits and observes in flight, each aborted when its client goes or by close() (a handler
   * taken out of use: a tenant changed or deleted). A plain set, not AbortSignal.any over one
   * long-lived signal, which on Node 20 keeps every combined signal it was given.
   */
  private readonly waits = new Set<AbortController>();
  private closed = false;

  constructor(
    private readonly ctx: ApiContext,
    private readonly body: BodyLimits,
  ) {}

  /**
   * Ends the waiting lock and campaign calls (503: the client retries and meets the tenant as it now
   * is) and the leader streams; each wait deletes its key as when its client goes.
   */
  close(): void {
    this.closed = true;
    for (const wait of this.waits) wait.abort();
    this.waits.clear();
  }

  /** Fires when the client goes or the routes are closed; forgotten when the response closes. */
  private waitSignal(res: ServerResponse): AbortSignal {
    const ac = new AbortController();
    if (this.closed) {
      ac.abort();
      return ac.signal;
    }
    this.waits.add(ac);
    res.once('close', () => {
      this.waits.delete(ac);
      if (!res.writableFinished) ac.abort();
    });
    // it may have left while its body was read
    if (responseGone(res) || res.socket?.destroyed === true) ac.abort();
    return ac.signal;
  }

  /** A request that reached routes closed while its body was read meets the tenant as it now is. */
  private requireOpen(): void {
    if (this.closed) throw new EtcdError('notCapable');
  }

  /** A wait ended by close() answers as unavailable; any other failure as it is. */
  private async closable<T>(wait: Promise<T>): Promise<T> {
    try {
      return await wait;
    } catch (e) {
      if (this.closed && isEtcdError(e) && e.kind === 'canceled') throw new EtcdError('notCapable');
      throw e;
    }
  }

  /** POST /api/locks/<name> {"lease"} → waits until held → {key}. */
  async lock(req: IncomingMessage, res: ServerResponse, name: Buffer, caller: RecipeCaller): Promise<void> {
    const o = parseJsonObject(await readBody(req, this.body), ['lease']);
    this.requireOpen();
    const signal = this.waitSignal(res);
    const r = await this.closable(this.ctx.api.lock.lock({ name, lease: requireLease(o) }, signal, caller));
    if (signal.aborted) {
      // taken as its client left or the routes closed: nobody will hear that they hold it
      await this.ctx.api.lock.unlock({ key: r.key }, caller).catch(() => undefined);
      this.requireOpen();
      throw new EtcdError('canceled', 'the request was cancelled');
    }
    const out: Record<string, unknown> = { revision: Number(r.header?.revision ?? 0n) };
    putBytes(out, 'key', r.key);
    sendJson(res, 200, out);
  }

  /** DELETE /api/locks/<lock key> (the key lock answered) → {revision}. */
  async unlock(res: ServerResponse, key: Buffer, caller: RecipeCaller): Promise<void> {
    const r = await this.ctx.api.lock.unlock({ key }, caller);
    sendJson(res, 200, { revision: Number(r.header?.revision ?? 0n) });
  }

  /** POST /api/elections/<name>/campaign {"lease", "value", "value_encoding"?} → waits until leader → {leader}. */
  async campaign(req: IncomingMessage, res: ServerResponse, name: Buffer, caller: RecipeCaller): Promise<void> {
    const o = parseJsonObject(await readBody(req, this.body), ['lease', 'value', 'value_encoding']);
    const value = bytesOf(optionalString(o, 'value') ?? '', o.value_encoding, 'value');
    this.requireOpen();
    const signal = this.waitSignal(res);
    const r = await this.closable(this.ctx.api.election.campaign({ name, lease: requireLease(o), value }, signal, caller));
    if (signal.aborted) {
      if (r.leader !== undefined) await this.ctx.api.election.resign({ leader: r.leader }, caller).catch(() => undefined);
      this.requireOpen();
      throw new EtcdError('canceled', 'the request was cancelled');
    }
    sendJson(res, 200, { revision: Number(r.header?.revision ?? 0n), leader: leaderKeyJson(r.leader) });
  }

  /** GET /api/elections/<name> → {kv} of the current leader; 404 when nobody leads. */
  async leader(res: ServerResponse, name: Buffer, caller: RecipeCaller): Promise<void> {
    const r = await this.ctx.api.election.leader({ name }, caller);
    sendJson(res, 200, { revision: Number(r.header?.revision ?? 0n), kv: r.kv === undefined ? null : kvJson(r.kv) });
  }

  /**
   * GET /api/elections/<name> with Accept: text/event-stream: `leader` events ({kv}) for the current
   * leader and every change of it, until the client goes. A reader that falls behind holds the
   * recipe back (its sink waits for drain), so nothing piles up.
   */
  /** `release`: uncounts the stream from its address's bound (WatchRoutes.reserveStream) when it ends. */
  observe(res: ServerResponse, name: Buffer, caller: RecipeCaller, release: () => void = () => undefined): void {
    res.once('close', release);
    res.statusCode = 200;
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.flushHeaders();
    const signal = this.waitSignal(res);
    const sink: LeaderSink = {
      send: (r) => {
        const data = { revision: Number(r.header?.revision ?? 0n), kv: r.kv === undefined ? null : kvJson(r.kv) };
        return res.write(`id: ${data.revision}\nevent: leader\ndata: ${JSON.stringify(data)}\n\n`);
      },
      drained: () => new Promise<void>((resolve) => {
        res.once('drain', resolve);
        res.once('close', resolve);
      }),
    };
    this.ctx.api.election.observe({ name }, sink, signal, caller).then(
      () => res.end(),
      (err: unknown) => {
        if (!signal.aborted) this.ctx.log('election observe over /api failed', err);
        res.destroy();
      },
    );
  }

  /** POST /api/elections/<name>/proclaim {"leader", "value"} → {revision}. */
  async proclaim(req: IncomingMessage, res: ServerResponse, caller: RecipeCaller): Promise<void> {
    const o = parseJsonObject(await readBody(req, this.body), ['leader', 'value', 'value_encoding']);
    const value = bytesOf(optionalString(o, 'value') ?? '', o.value_encoding, 'value');
    const r = await this.ctx.api.election.proclaim({ leader: leaderKeyOf(o), value }, caller);
    sendJson(res, 200, { revision: Number(r.header?.revision ?? 0n) });
  }

  /** POST /api/elections/<name>/resign {"leader"} → {revision}. */
  async resign(req: IncomingMessage, res: ServerResponse, caller: RecipeCaller): Promise<void> {
    const o = parseJsonObject(await readBody(req, this.body), ['leader']);
    const r = await this.ctx.api.election.resign({ leader: leaderKeyOf(o) }, caller);
    sendJson(res, 200, { revision: Number(r.header?.revision ?? 0n) });
  }
}
