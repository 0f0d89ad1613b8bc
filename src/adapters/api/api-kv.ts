// /api/kv/<key>: read, write and delete keys addressed by their percent-encoded bytes, with
// compare-and-swap on the mod revision (If-Match) and create-only writes (If-None-Match: *).
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  type RequestOp,
  type ResponseHeader,
  type TxnResponse,
} from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { KeyValue } from '../../gen/etcd/mvcc/mvccpb/kv.js';
import { raftRequestBytes } from '../grpc/request-size.js';
import { encodeShared } from '../../core/shared-proto-writer.js';
import { rememberEncoding } from '../../core/received-encoding.js';
import { checkPutRequest, checkRangeRequest } from '../grpc/validate.js';
import { statusByKind } from '../grpc/error-status.js';
import { ApiError, badRequest, sendJson } from './api-errors.js';
import { prefixEnd } from '../../core/keys.js';
import { bytesOf } from './api-bytes.js';
import { continueToken, keyAfter, pageLimitOf, parseContinue } from './api-page.js';
import type { ApiContext } from './api-context.js';
import { kvJson } from './api-kv-json.js';
import { readBody, type BodyLimits, type Query } from './api-request.js';
import { readKeyHistory } from './api-history.js';
import type { AuthHeader } from '../../auth/auth-op.js';
import { unrestricted, type ApiAccess } from './api-identity.js';

const keyNotFound = (): ApiError => new ApiError(404, 'keyNotFound', statusByKind.keyNotFound.details);

const getFlags = new Set(['prefix', 'from_key', 'revision', 'limit', 'keys_only', 'count_only', 'raw', 'json', 'history', 'start_revision', 'serializable', 'continue']);
const putFlags = new Set(['lease', 'prev_kv', 'encoding', 'ignore_lease']);
const deleteFlags = new Set(['prefix', 'from_key', 'prev_kv']);

function refuseUnknown(query: Query, known: ReadonlySet<string>): void {
  const unknown = query.unknown(known);
  if (unknown.length > 0) throw new ApiError(400, 'unknownField', `unknown query parameter(s): ${unknown.join(', ')}`, { fields: unknown });
}

/** The range end a query asks for: ?prefix, ?from_key, or the single key. */
function rangeEndOf(key: Buffer, query: Query): Buffer {
  const prefix = query.flag('prefix');
  const fromKey = query.flag('from_key');
  if (prefix && fromKey) throw badRequest('?prefix and ?from_key exclude each other');
  if (prefix) return key.length === 0 ? Buffer.from([0]) : prefixEnd(key);
  if (fromKey) return Buffer.from([0]);
  return Buffer.alloc(0);
}

/** `If-Match: 7`, `"7"` or `W/"7"` → 7; `*` → 'exists'. */
function ifMatchOf(req: IncomingMessage): number | 'exists' | undefined {
  const h = req.headers['if-match'];
  if (h === undefined) return undefined;
  const t = h.trim();
  if (t === '*') return 'exists';
  const m = /^(?:W\/)?"?(\d{1,15})"?$/.exec(t);
  if (m === null) throw badRequest('If-Match must be a mod_revision (a number) or *');
  return Number(m[1]);
}

function ifNoneMatchStar(req: IncomingMessage): boolean {
  const h = req.headers['if-none-match'];
  if (h === undefined) return false;
  if (h.trim() !== '*') throw badRequest('If-None-Match supports only * (create the key only if it does not exist)');
  return true;
}

const headerRevision = (h: ResponseHeader | undefined): number => Number(h?.revision ?? 0n);

export class KvRoutes {
  constructor(
    private readonly ctx: ApiContext,
    private readonly body: BodyLimits,
  ) {}

  async get(res: ServerResponse, key: Buffer, query: Query, access: ApiAccess = unrestricted): Promise<void> {
    refuseUnknown(query, getFlags);
    if (query.has('history')) {
      if (query.has('prefix') || query.has('from_key')) throw badRequest('?history reads one key; drop ?prefix/?from_key');
      access.requireRead(key, Buffer.alloc(0));
      return sendJson(res, 200, await readKeyHistory(this.ctx.api, key, query.count('limit'), query.count('start_revision')));
    }
    const rangeEnd = rangeEndOf(key, query);
    const single = rangeEnd.length === 0;
    if (single && query.has('continue')) throw badRequest('?continue goes with ?prefix or ?from_key');
    // a range is read in pages (api-page.ts); a single key or a count needs no bound
    const paged = !single && !query.flag('count_only');
    const page = parseContinue(query.string('continue'), query.count('revision') ?? 0);
    const req = RangeRequest.fromPartial({
      // every key: etcd's "\0" to "\0"
      key: page.fromKey ?? (!single && key.length === 0 ? Buffer.from([0]) : key),
      rangeEnd,
      limit: BigInt(paged ? pageLimitOf(query.count('limit')) : (query.count('limit') ?? 0)),
      revision: BigInt(page.revision),
      keysOnly: query.flag('keys_only'),
      countOnly: query.flag('count_only'),
      serializable: query.flag('serializable'),
    });
    if (single && req.key.length === 0) throw new ApiError(400, 'emptyKey', statusByKind.emptyKey.details);
    const bad = checkRangeRequest(req);
    if (bad !== undefined) throw new ApiError(400, bad, statusByKind[bad].details);
    access.requireRead(req.key, req.rangeEnd);
    const r = await this.ctx.api.kv.range(req);
    const revision = headerRevision(r.header);
    const opts = { keysOnly: req.keysOnly, parseJson: query.flag('json') };
    if (single) {
      const kv = r.kvs[0];
      if (kv === undefined) throw keyNotFound();
      const headers = { ETag: `"${kv.modRevision}"`, 'X-Revision': String(revision) };
      if (query.flag('raw')) {
        res.statusCode = 200;
        for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
        res.setHeader('Content-Type', 'application/octet-stream');
        res.setHeader('Content-Length', kv.value.length);
        res.setHeader('Cache-Control', 'no-store');
        res.end(kv.value);
        return;
      }
      return sendJson(res, 200, { revision, kv: kvJson(kv, opts) }, headers);
    }
    const last = r.kvs[r.kvs.length - 1];
    const next = paged && r.more && last !== undefined ? { next: continueToken(page.revision > 0 ? page.revision : revision, keyAfter(last.key)) } : {};
    sendJson(res, 200, { revision, count: Number(r.count), more: r.more, kvs: r.kvs.map((kv) => kvJson(kv, opts)), ...next }, { 'X-Revision': String(revision) });
  }

  async put(req: IncomingMessage, res: ServerResponse, key: Buffer, query: Query, auth?: AuthHeader): Promise<void> {
    refuseUnknown(query, putFlags);
    const raw = await readBody(req, this.body);
    const encoding = query.string('encoding');
    const value = encoding === undefined ? raw : bytesOf(raw.toString('latin1'), encoding, 'value');
    const put = PutRequest.fromPartial({ key, value, lease: query.id('lease') ?? 0n, prevKv: query.flag('prev_kv'), ignoreLease: query.flag('ignore_lease') });
    const bad = checkPutRequest(put);
    if (bad !== undefined) throw new ApiError(400, bad, statusByKind[bad].details);
    // encoded once: the size check reads it and the log writes it as the entry's body
    const encoded = encodeShared(PutRequest.encode, put);
    rememberEncoding(put, encoded);
    if (raftRequestBytes(encoded.length, this.ctx.api.member.memberId) > this.ctx.maxRequestBytes) {
      throw new ApiError(413, 'requestTooLarge', statusByKind.requestTooLarge.details);
    }
    const guard = this.guardOf(req, key);
    if (guard === undefined) {
      const r = await this.ctx.api.kv.put(put, auth);
      const out: Record<string, unknown> = { revision: headerRevision(r.header) };
      if (r.prevKv !== undefined) out.prev_kv = kvJson(r.prevKv);
      return sendJson(res, 200, out, { ETag: `"${headerRevision(r.header)}"` });
    }
    const t = await this.guarded(guard, key, { requestPut: put }, auth);
    const r = t.responses[0]?.responsePut;
    const revision = headerRevision(t.header);
    const out: Record<string, unknown> = { revision };
    if (r?.prevKv !== undefined) out.prev_kv = kvJson(r.prevKv);
    sendJson(res, guard.kind === 'absent' ? 201 : 200, out, { ETag: `"${revision}"` });
  }

  async delete(req: IncomingMessage, res: ServerResponse, key: Buffer, query: Query, auth?: AuthHeader): Promise<void> {
    refuseUnknown(query, deleteFlags);
    const rangeEnd = rangeEndOf(key, query);
    const single = rangeEnd.length === 0;
    if (single && key.length === 0) throw new ApiError(400, 'emptyKey', statusByKind.emptyKey.details);
    const del = DeleteRangeRequest.fromPartial({ key: key.length === 0 ? Buffer.from([0]) : key, rangeEnd, prevKv: query.flag('prev_kv') });
    const guard = this.guardOf(req, key);
    if (guard !== undefined && !single) throw badRequest('If-Match / If-None-Match apply to a single key, not a range');
    let revision: number;
    let deleted: number;
    let prevKvs: readonly KeyValue[];
    if (guard === undefined) {
      const r = await this.ctx.api.kv.deleteRange(del, auth);
      revision = headerRevision(r.header);
      deleted = Number(r.deleted);
      prevKvs = r.prevKvs;
    } else {
      const t = await this.guarded(guard, key, { requestDeleteRange: del }, auth);
      const r = t.responses[0]?.responseDeleteRange;
      revision = headerRevision(t.header);
      deleted = Number(r?.deleted ?? 0n);
      prevKvs = r?.prevKvs ?? [];
    }
    if (single && deleted === 0) throw keyNotFound();
    const out: Record<string, unknown> = { revision, deleted };
    if (del.prevKv) out.prev_kvs = prevKvs.map((kv) => kvJson(kv));
    sendJson(res, 200, out);
  }

  private guardOf(req: IncomingMessage, key: Buffer): Guard | undefined {
    const match = ifMatchOf(req);
    const none = ifNoneMatchStar(req);
    if (match !== undefined && none) throw badRequest('If-Match and If-None-Match exclude each other');
    if (none) return { kind: 'absent' };
    if (match === undefined) return undefined;
    if (key.length === 0) throw new ApiError(400, 'emptyKey', statusByKind.emptyKey.details);
    return match === 'exists' ? { kind: 'exists' } : { kind: 'modRevision', modRevision: match };
  }

  /** Runs `op` only if the guard holds; otherwise 412 with the key's current state. */
  private async guarded(guard: Guard, key: Buffer, op: RequestOp, auth: AuthHeader | undefined): Promise<TxnResponse> {
    const compare =
      guard.kind === 'modRevision'
        ? Compare.fromPartial({ key, target: Compare_CompareTarget.MOD, result: Compare_CompareResult.EQUAL, modRevision: BigInt(guard.modRevision) })
        : Compare.fromPartial({
            key,
            target: Compare_CompareTarget.VERSION,
            result: guard.kind === 'absent' ? Compare_CompareResult.EQUAL : Compare_CompareResult.GREATER,
            version: 0n,
          });
    const t = await this.ctx.api.kv.txn({ compare: [compare], success: [op], failure: [{ requestRange: RangeRequest.fromPartial({ key }) }] }, auth);
    if (t.succeeded) return t;
    const current = t.responses[0]?.responseRange?.kvs[0];
    const currentMod = current === undefined ? 0 : Number(current.modRevision);
    const details = { current_mod_revision: currentMod, revision: headerRevision(t.header), current: current === undefined ? null : kvJson(current) };
    if (guard.kind === 'absent') throw new ApiError(412, 'keyExists', `the key exists (mod_revision ${currentMod})`, details);
    if (guard.kind === 'exists') throw new ApiError(412, 'revisionMismatch', 'the key does not exist', details);
    throw new ApiError(412, 'revisionMismatch', `the key's mod_revision is ${currentMod}, not ${guard.modRevision}`, details);
  }
}

type Guard = { readonly kind: 'absent' } | { readonly kind: 'exists' } | { readonly kind: 'modRevision'; readonly modRevision: number };
