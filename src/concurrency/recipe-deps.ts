// What the Lock and Election recipes use: the same KV, Watch and Lease APIs a client would, so their
// keys and revisions are exactly those a clientv3/concurrency client produces and sees.
import type { KvApi } from '../core/kv-api.js';
import { prefixEnd } from '../core/keys.js';
import type { LeaseApi } from '../core/lease-api.js';
import type { WatchApi } from '../core/watch-api.js';
import type { RangeRequest, RangeResponse } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { RecipeCaller } from '../core/concurrency-api.js';
import { RangeRequest_SortOrder, RangeRequest_SortTarget } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';

export interface RecipeDeps {
  readonly kv: KvApi;
  readonly watch: WatchApi;
  readonly lease: LeaseApi;
}

/** A Range as the caller's (clientv3's Get with its context): checked against it. */
export const rangeAs = (deps: RecipeDeps, caller: RecipeCaller, req: RangeRequest): Promise<RangeResponse> => caller.read(req.key, req.rangeEnd, () => deps.kv.range(req));

/** clientv3.NewSession's default TTL when no lease is given. */
export const defaultSessionTtlSeconds = 60n;


/** clientv3.WithFirstCreate / WithLastCreate: the key of the prefix created first / last. */
export function topByCreate(prefix: Buffer, order: 'first' | 'last', maxCreateRevision = 0n): RangeRequest {
  return {
    key: prefix,
    rangeEnd: prefixEnd(prefix),
    limit: 1n,
    revision: 0n,
    sortOrder: order === 'first' ? RangeRequest_SortOrder.ASCEND : RangeRequest_SortOrder.DESCEND,
    sortTarget: RangeRequest_SortTarget.CREATE,
    serializable: false,
    keysOnly: false,
    countOnly: false,
    minModRevision: 0n,
    maxModRevision: 0n,
    minCreateRevision: 0n,
    maxCreateRevision,
  };
}

export const singleKey = (key: Buffer): RangeRequest => ({ ...topByCreate(key, 'first'), rangeEnd: Buffer.alloc(0), limit: 0n, sortOrder: RangeRequest_SortOrder.NONE, sortTarget: RangeRequest_SortTarget.KEY });

/** Go's %x of an int64 lease ID, as the recipes put it in key names (negative IDs get a '-'). */
export const leaseHex = (id: bigint): string => (id < 0n ? '-' + (-id).toString(16) : id.toString(16));

/** A session's lease: the one given, or a fresh one with the default TTL (never kept alive: the servers orphan it). */
export async function sessionLease(deps: RecipeDeps, lease: bigint): Promise<bigint> {
  if (lease !== 0n) return lease;
  return (await deps.lease.grant({ ID: 0n, TTL: defaultSessionTtlSeconds })).ID;
}
