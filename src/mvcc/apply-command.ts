// Applies one committed write (or serves one read) against a keyspace view. The same function runs
// inside a shard actor for single-shard entries and in the store for entries spanning shards.
import type {
  DeleteRangeResponse,
  PutResponse,
  RangeRequest,
  RangeResponse,
  TxnRequest,
  TxnResponse,
} from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { isEtcdError, type EtcdErrorKind } from '../core/errors.js';
import type { Command } from '../log/command.js';
import * as ops from './kv-operations.js';
import type { KvRecord } from './kv-record.js';
import { StoreTxn, type KeyspaceView, type RevisionState } from './store-txn.js';

export type WriteCommand = Exclude<Command, { type: 'compact' }>;

export type WriteResponse =
  | { readonly type: 'put'; readonly response: PutResponse }
  | { readonly type: 'deleteRange'; readonly response: DeleteRangeResponse }
  | { readonly type: 'txn'; readonly response: TxnResponse };

export type ApplyOutcome =
  | {
      readonly ok: true;
      readonly result: WriteResponse;
      readonly changes: readonly KvRecord[];
      /** prevs[i] is changes[i]'s key as it was before this entry (a watcher's prev_kv). */
      readonly prevs: readonly (KvRecord | undefined)[];
    }
  | { readonly ok: false; readonly error: EtcdErrorKind };

export type ReadRequest =
  | { readonly type: 'range'; readonly req: RangeRequest }
  | { readonly type: 'txn'; readonly req: TxnRequest };

export type ReadResponse =
  | { readonly type: 'range'; readonly response: RangeResponse }
  | { readonly type: 'txn'; readonly response: TxnResponse };

export type ReadOutcome = { readonly ok: true; readonly result: ReadResponse } | { readonly ok: false; readonly error: EtcdErrorKind };

/** No lease exists until the lease table arrives: every non-zero lease is missing, as etcd reports. */
export const noLeases: ops.LeaseLookup = () => false;

export async function applyWrite(view: KeyspaceView, cmd: WriteCommand, revs: RevisionState): Promise<ApplyOutcome> {
  const txn = new StoreTxn(view, revs);
  try {
    let result: WriteResponse;
    switch (cmd.type) {
      case 'put':
        result = { type: 'put', response: await ops.put(txn, cmd.req, noLeases) };
        break;
      case 'deleteRange':
        result = { type: 'deleteRange', response: await ops.deleteRange(txn, cmd.req) };
        break;
      case 'txn':
        result = { type: 'txn', response: await ops.txn(txn, cmd.req, noLeases) };
        break;
    }
    return { ok: true, result, changes: txn.changes, prevs: txn.prevs };
  } catch (e) {
    // The checks before the first write catch almost every error, but not all: etcd 3.4 panics on a
    // Txn whose from-key delete removes the key a later ignore_value put in it needs. Undoing makes
    // such an entry fail cleanly (no revision used), and again the same way when the log is replayed.
    await txn.undo();
    if (isEtcdError(e)) return { ok: false, error: e.kind };
    throw e;
  }
}

export async function serveRead(view: KeyspaceView, read: ReadRequest, revs: RevisionState): Promise<ReadOutcome> {
  const txn = new StoreTxn(view, revs);
  try {
    if (read.type === 'range') return { ok: true, result: { type: 'range', response: await ops.range(txn, read.req) } };
    return { ok: true, result: { type: 'txn', response: await ops.txn(txn, read.req, noLeases) } };
  } catch (e) {
    if (isEtcdError(e)) return { ok: false, error: e.kind };
    throw e;
  }
}

/** How many revisions an applied outcome used: one if it changed anything. */
export const revisionsUsed = (o: ApplyOutcome): number => (o.ok && o.changes.length > 0 ? 1 : 0);
