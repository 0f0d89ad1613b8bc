// clientv3/concurrency's waitDeletes: waits until every key under the prefix created at or before
// maxCreateRevision is deleted, newest first, each by watching it for its DELETE.
import { EtcdError } from '../core/errors.js';
import { keyRange } from '../core/keys.js';
import type { RecipeCaller } from '../core/concurrency-api.js';
import type { ResponseHeader } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { watchRange } from './key-events.js';
import { rangeAs, topByCreate, type RecipeDeps } from './recipe-deps.js';

/** Its reads and watches are checked against `caller`, as clientv3's Get and Watch with its context. */
export async function waitDeletes(deps: RecipeDeps, caller: RecipeCaller, prefix: Buffer, maxCreateRevision: bigint, signal: AbortSignal): Promise<ResponseHeader | undefined> {
  for (;;) {
    if (signal.aborted) throw new EtcdError('canceled', 'the request was cancelled');
    const resp = await rangeAs(deps, caller, topByCreate(prefix, 'last', maxCreateRevision));
    const last = resp.kvs[0];
    if (last === undefined) return resp.header;
    await waitDelete(deps, caller, last.key, Number(resp.header?.revision ?? 0n), signal);
  }
}

async function waitDelete(deps: RecipeDeps, caller: RecipeCaller, key: Buffer, fromRevision: number, signal: AbortSignal): Promise<void> {
  caller.requireRead(key, Buffer.alloc(0));
  const events = watchRange(deps.watch, keyRange(key, Buffer.alloc(0)), fromRevision, signal);
  for await (const change of events) {
    if (change.record.tombstone) return;
  }
}
