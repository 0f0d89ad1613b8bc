// /api/tree/<prefix>: one level of the key tree under a prefix, split on a delimiter ("/" unless
// ?delimiter says otherwise), the way object stores list "folders": the keys directly under the
// prefix, and each deeper path once as a dir. Reads in batches at one revision and skips over a dir's
// keys once it has been seen, so a folder with a million keys costs one read, not a million.
import type { ServerResponse } from 'node:http';
import { RangeRequest } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { ApiError, badRequest, sendJson } from './api-errors.js';
import type { ApiContext } from './api-context.js';
import { prefixEnd } from '../../core/keys.js';
import { putBytes } from './api-bytes.js';
import { kvJson } from './api-kv-json.js';
import type { Query } from './api-request.js';
import type { ApiAccess } from './api-identity.js';

/** Entries (keys + dirs) answered when ?limit is not given, and the most one call may ask for. */
export const defaultTreeEntries = 1000;
export const maxTreeEntries = 10_000;
/** Keys read per range while listing. */
const treeBatchKeys = 1000;
const maxDelimiterBytes = 16;

const treeFlags = new Set(['delimiter', 'limit', 'revision', 'after']);

export class TreeRoutes {
  constructor(private readonly ctx: ApiContext) {}

  /** GET /api/tree/<prefix>[?delimiter=/&limit=N&revision=R&after=<key>] → {revision, dirs, keys, more}. */
  async list(res: ServerResponse, prefix: Buffer, query: Query, access: ApiAccess): Promise<void> {
    const unknown = query.unknown(treeFlags);
    if (unknown.length > 0) throw new ApiError(400, 'unknownField', `unknown query parameter(s): ${unknown.join(', ')}`, { fields: unknown });
    const delimiter = Buffer.from(query.string('delimiter') ?? '/', 'utf8');
    if (delimiter.length === 0 || delimiter.length > maxDelimiterBytes) throw badRequest(`?delimiter must be 1 to ${maxDelimiterBytes} bytes`);
    const limit = Math.min(Math.max(query.count('limit') ?? defaultTreeEntries, 1), maxTreeEntries);
    const start = prefix.length === 0 ? Buffer.from([0]) : prefix;
    const end = prefix.length === 0 ? Buffer.from([0]) : prefixEnd(prefix);
    access.requireRead(start, end);
    // paging: ?after=<the last dir or key of the previous page>, continuing behind it
    const after = query.string('after');
    let cursor = start;
    if (after !== undefined) {
      const a = Buffer.from(after, 'utf8');
      cursor = a.subarray(-delimiter.length).equals(delimiter) ? prefixEnd(a) : Buffer.concat([a, Buffer.from([0])]);
      if (Buffer.compare(cursor, start) < 0) cursor = start;
    }
    let revision = query.count('revision') ?? 0;
    const dirs: Record<string, unknown>[] = [];
    const keys: Record<string, unknown>[] = [];
    let more = false;
    scan: for (;;) {
      const r = await this.ctx.api.kv.range(RangeRequest.fromPartial({ key: cursor, rangeEnd: end, limit: BigInt(treeBatchKeys), revision: BigInt(revision), keysOnly: true }));
      revision = Number(r.header?.revision ?? 0n);
      let next: Buffer | undefined;
      for (const kv of r.kvs) {
        if (next !== undefined && Buffer.compare(kv.key, next) < 0) continue;
        if (dirs.length + keys.length >= limit) {
          more = true;
          break scan;
        }
        const at = kv.key.indexOf(delimiter, prefix.length);
        if (at === -1) {
          keys.push(kvJson(kv, { keysOnly: true }));
          next = undefined;
          continue;
        }
        const dir = kv.key.subarray(0, at + delimiter.length);
        const out: Record<string, unknown> = {};
        putBytes(out, 'key', dir);
        dirs.push(out);
        // everything else under this dir is skipped: the next read starts behind it
        next = prefixEnd(dir);
      }
      const last = r.kvs[r.kvs.length - 1];
      if (!r.more || last === undefined) break;
      cursor = next ?? Buffer.concat([last.key, Buffer.from([0])]);
      if (Buffer.compare(cursor, end) >= 0 && !(end.length === 1 && end[0] === 0)) break;
    }
    const out: Record<string, unknown> = {};
    putBytes(out, 'prefix', prefix);
    sendJson(res, 200, { ...out, revision, delimiter: delimiter.toString('utf8'), dirs, keys, more });
  }
}
