// clientv3/concurrency's waitDeletes: waits until every key under the prefix created at or before
// maxCreateRevision is deleted, newest first, each by watching it for its DELETE.
import { EtcdError } from '../core/errors.js';
import { keyRange } from '../core/keys.js';
import type { ResponseHeader } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { watchRange } from './key-events.js';
import { topByCreate, type RecipeDeps } from './recipe-deps.js';

export async function waitDeletes(deps: RecipeDeps, prefix: Buffer, maxCreateRevision: bigint, signal: AbortSignal): Promise<ResponseHeader | undefined> {
  for (;;) {
    if (signal.aborted) throw new EtcdError('canceled', 'the request was cancelled');
    const resp = await deps.kv.range(topByCreate(prefix, 'last', maxCreateRevision));
    const last = resp.kvs[0];
    if (last === undefined) return resp.header;
    await waitDelete(deps, last.key, Number(resp.header?.revision ?? 0n), signal);
  }
}

async function waitDelete(deps: RecipeDeps, key: Buffer, fromRevision: number, signal: AbortSignal): Promise<void> {
  const events = watchRange(deps.watch, keyRange(key, Buffer.alloc(0)), fromRevision, signal);
  for await (const change of events) {
    if (change.record.tombstone) return;
  }
}
