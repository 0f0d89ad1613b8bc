// etcd's v3lock service: clientv3/concurrency's Mutex on a session whose lease the caller gives (or a
// fresh 60 s lease that nobody keeps alive, as etcd's server does for lease 0). The lock key is
// `<name>/<lease in hex>`; the waiter whose key was created first holds the lock, the others each
// wait for the deletion of every key created before theirs, so waiters are served in revision order
// and a holder whose lease expires or is revoked loses the lock as soon as its key is deleted.
import type { ResponseHeader, TxnRequest } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { Compare_CompareResult, Compare_CompareTarget } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { LockRequest, LockResponse, UnlockRequest, UnlockResponse } from '../gen/etcd/etcdserver/api/v3lock/v3lockpb/v3lock.js';
import type { LockApi, RecipeCaller } from '../core/concurrency-api.js';
import { leaseHex, sessionLease, singleKey, topByCreate, type RecipeDeps } from './recipe-deps.js';
import { waitDeletes } from './wait-deletes.js';

/** The Mutex's first transaction: queue my key unless it exists, and read the current holder either way. */
export function enqueueTxn(prefix: Buffer, myKey: Buffer, lease: bigint): TxnRequest {
  const owner = { requestRange: topByCreate(prefix, 'first') };
  return {
    compare: [{ key: myKey, rangeEnd: Buffer.alloc(0), target: Compare_CompareTarget.CREATE, result: Compare_CompareResult.EQUAL, createRevision: 0n }],
    success: [{ requestPut: { key: myKey, value: Buffer.alloc(0), lease, prevKv: false, ignoreValue: false, ignoreLease: false } }, owner],
    failure: [{ requestRange: singleKey(myKey) }, owner],
  };
}

export class LockRecipe implements LockApi {
  constructor(private readonly deps: RecipeDeps) {}

  async lock(req: LockRequest, signal: AbortSignal, caller: RecipeCaller): Promise<LockResponse> {
    const lease = await sessionLease(this.deps, req.lease);
    const prefix = Buffer.concat([req.name, Buffer.from('/')]);
    const myKey = Buffer.concat([prefix, Buffer.from(leaseHex(lease))]);
    const resp = await this.deps.kv.txn(enqueueTxn(prefix, myKey, lease), caller.writeHeader());
    const myRev = resp.succeeded ? (resp.header?.revision ?? 0n) : (resp.responses[0]?.responseRange?.kvs[0]?.createRevision ?? 0n);
    const owner = resp.responses[1]?.responseRange?.kvs[0];
    if (owner === undefined || owner.createRevision === myRev) return { header: resp.header, key: myKey };
    let header: ResponseHeader | undefined;
    try {
      header = await waitDeletes(this.deps, caller, prefix, myRev - 1n, signal);
    } catch (e) {
      // Mutex.Lock releases its key when the wait fails (the caller went away). etcd's does it
      // without the caller's token (refused once auth is on, the key left to its lease); here it is
      // the caller's own write, checked as such.
      await this.deps.kv.deleteRange({ key: myKey, rangeEnd: Buffer.alloc(0), prevKv: false }, caller.writeHeader()).catch(() => undefined);
      throw e;
    }
    return { header, key: myKey };
  }

  async unlock(req: UnlockRequest, caller: RecipeCaller): Promise<UnlockResponse> {
    const resp = await this.deps.kv.deleteRange({ key: req.key, rangeEnd: Buffer.alloc(0), prevKv: false }, caller.writeHeader());
    return { header: resp.header };
  }
}
