// Export and import of a prefix as JSON, for moving a subtree between clusters or backing it up from
// a console. Export is one consistent read; import writes in transactions of at most --max-txn-ops
// puts each (so a large import is not atomic: the answer lists the revision of every transaction).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PutRequest, RangeRequest, type RequestOp } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { ApiError, badRequest, sendJson } from './api-errors.js';
import type { ApiContext } from './api-context.js';
import { prefixEnd } from '../../core/keys.js';
import { bytesOf, putBytes } from './api-bytes.js';
import { kvJson } from './api-kv-json.js';
import { optionalId, optionalString, parseJsonObject, readBody, type BodyLimits, type JsonObject, type Query } from './api-request.js';
import { statusByKind } from '../grpc/error-status.js';
import type { AuthHeader } from '../../auth/auth-op.js';
import type { ApiAccess } from './api-identity.js';
import { continueToken, keyAfter, pageLimitOf, parseContinue } from './api-page.js';

export class TransferRoutes {
  constructor(
    private readonly ctx: ApiContext,
    private readonly body: BodyLimits,
  ) {}

  /**
   * GET /api/export/<prefix>[?revision=R][&limit=N][&continue=T] → {prefix, revision, kvs, next?}: at
   * most a page of keys (api-page.ts); `next` continues at the same revision.
   */
  async export(res: ServerResponse, prefix: Buffer, query: Query, access: ApiAccess): Promise<void> {
    const unknown = query.unknown(new Set(['revision', 'limit', 'continue']));
    if (unknown.length > 0) throw new ApiError(400, 'unknownField', `unknown query parameter(s): ${unknown.join(', ')}`, { fields: unknown });
    const page = parseContinue(query.string('continue'), query.count('revision') ?? 0);
    const req = RangeRequest.fromPartial({
      key: page.fromKey ?? (prefix.length === 0 ? Buffer.from([0]) : prefix),
      rangeEnd: prefix.length === 0 ? Buffer.from([0]) : prefixEnd(prefix),
      revision: BigInt(page.revision),
      limit: BigInt(pageLimitOf(query.count('limit'))),
    });
    access.requireRead(req.key, req.rangeEnd);
    const r = await this.ctx.api.kv.range(req);
    const revision = Number(r.header?.revision ?? 0n);
    const out: Record<string, unknown> = {};
    putBytes(out, 'prefix', prefix);
    const last = r.kvs[r.kvs.length - 1];
    const next = r.more && last !== undefined ? { next: continueToken(page.revision > 0 ? page.revision : revision, keyAfter(last.key)) } : {};
    sendJson(res, 200, { ...out, revision, kvs: r.kvs.map((kv) => kvJson(kv)), ...next });
  }

  /** POST /api/import {"kvs": [{key, value, key_encoding?, value_encoding?, lease?}]} → {imported, revisions}. */
  async import(req: IncomingMessage, res: ServerResponse, auth?: AuthHeader): Promise<void> {
    const o = parseJsonObject(await readBody(req, this.body), ['kvs', 'prefix', 'prefix_encoding', 'revision']);
    if (!Array.isArray(o.kvs)) throw badRequest('kvs must be an array');
    const puts: RequestOp[] = (o.kvs as unknown[]).map((item, i) => {
      if (typeof item !== 'object' || item === null || Array.isArray(item)) throw badRequest(`kvs[${i}] must be an object`);
      const kv = item as JsonObject;
      const allowed = ['key', 'value', 'key_encoding', 'value_encoding', 'lease', 'create_revision', 'mod_revision', 'version'];
      const extra = Object.keys(kv).filter((k) => !allowed.includes(k));
      if (extra.length > 0) throw new ApiError(400, 'unknownField', `kvs[${i}]: unknown field(s): ${extra.join(', ')}`, { fields: extra });
      const key = optionalString(kv, 'key');
      if (key === undefined || key === '') throw new ApiError(400, 'emptyKey', `kvs[${i}]: ${statusByKind.emptyKey.details}`);
      return {
        requestPut: PutRequest.fromPartial({
          key: bytesOf(key, kv.key_encoding, 'key'),
          value: bytesOf(optionalString(kv, 'value') ?? '', kv.value_encoding, 'value'),
          lease: optionalId(kv, 'lease') ?? 0n,
        }),
      };
    });
    // etcd refuses a txn that puts one key twice; say which entry repeats instead
    const seen = new Set<string>();
    puts.forEach((op, i) => {
      const k = op.requestPut!.key.toString('latin1');
      if (seen.has(k)) throw new ApiError(400, 'duplicateKey', `kvs[${i}]: ${statusByKind.duplicateKey.details}`);
      seen.add(k);
    });
    const revisions: number[] = [];
    for (let i = 0; i < puts.length; i += this.ctx.maxTxnOps) {
      const t = await this.ctx.api.kv.txn({ compare: [], success: puts.slice(i, i + this.ctx.maxTxnOps), failure: [] }, auth);
      revisions.push(Number(t.header?.revision ?? 0n));
    }
    sendJson(res, 200, { imported: puts.length, revisions });
  }
}
