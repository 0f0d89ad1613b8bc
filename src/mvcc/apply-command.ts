// Applies one committed write (or serves one read) against a keyspace view. The same function runs
// inside a shard actor for single-shard entries and in the store for entries spanning shards.
import type {
  DeleteRangeResponse,
  PutRequest,
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
import { StoreTxn, putRecord, readRevision, type KeyspaceView, type RevisionState } from './store-txn.js';
import { keyRange, toKey, type Key, type KeyRange } from '../core/keys.js';
import type { RangeScan } from './key-history-index.js';

export type WriteCommand = Extract<Command, { type: 'put' | 'deleteRange' | 'txn' }>;

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

/** For reads: a read-only Txn never checks a lease. */
const noLeases: ops.LeaseLookup = () => false;

/** The live ones among the leases a command names: the lease table's answer, carried to the shard. */
export function leasesNamedBy(cmd: WriteCommand): bigint[] {
  const ids: bigint[] = [];
  const fromTxn = (req: TxnRequest): void => {
    for (const op of [...req.success, ...req.failure]) {
      if (op.requestPut !== undefined && op.requestPut.lease !== 0n) ids.push(op.requestPut.lease);
      if (op.requestTxn !== undefined) fromTxn(op.requestTxn);
    }
  };
  if (cmd.type === 'put' && cmd.req.lease !== 0n) ids.push(cmd.req.lease);
  if (cmd.type === 'txn') fromTxn(cmd.req);
  return ids;
}

/** `liveLeases`: which of the leases the command names exist when it is applied. */
export async function applyWrite(view: KeyspaceView, cmd: WriteCommand, revs: RevisionState, liveLeases: ReadonlySet<bigint> = new Set()): Promise<ApplyOutcome> {
  const leaseExists: ops.LeaseLookup = (id) => liveLeases.has(id);
  const txn = new StoreTxn(view, revs);
  try {
    let result: WriteResponse;
    switch (cmd.type) {
      case 'put':
        result = { type: 'put', response: await ops.put(txn, cmd.req, leaseExists) };
        break;
      case 'deleteRange':
        result = { type: 'deleteRange', response: await ops.deleteRange(txn, cmd.req) };
        break;
      case 'txn':
        result = { type: 'txn', response: await ops.txn(txn, cmd.req, leaseExists) };
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

/** A key index that reads and appends at once (a shard's own). */
export interface KeyspaceNow {
  /** The key's live record at `rev`, if any. */
  get(key: Key, rev: number): KvRecord | undefined;
  append(record: KvRecord): void;
}

/**
 * applyWrite of a Put on an index that answers at once: the same checks in the same order, record and
 * outcome as the StoreTxn path (ops.put), in one synchronous step without a transaction object or an
 * async step per layer (every put takes this path).
 */
export function applyPutNow(index: KeyspaceNow, req: PutRequest, beginRev: number, liveLeases: ReadonlySet<bigint>): ApplyOutcome {
  if (req.lease !== 0n && !liveLeases.has(req.lease)) return { ok: false, error: 'leaseNotFound' };
  const key = toKey(req.key);
  // StoreTxn.put reads the live record for every put: its create revision and version carry on.
  const prev = index.get(key, beginRev);
  if (ops.putNeedsLiveKey(req) && prev === undefined) return { ok: false, error: 'keyNotFound' };
  const writeRev = beginRev + 1;
  const record = putRecord(key, ops.putValue(req, prev), ops.putLease(req, prev), prev, writeRev, 0);
  index.append(record);
  return { ok: true, result: { type: 'put', response: ops.putResponse(req, prev, writeRev) }, changes: [record], prevs: [prev] };
}

/** A scan that answers at once (a shard's own index). */
export type ScanNow = (range: KeyRange, rev: number, limit: number, countOnly: boolean) => RangeScan;

/**
 * serveRead of a Range on a view that scans at once: the same answer and errors as a read-only
 * StoreTxn gives, without an async step per layer (every get takes this path).
 */
export function serveRangeNow(scan: ScanNow, req: RangeRequest, revs: RevisionState): ReadOutcome {
  try {
    const range = keyRange(req.key, req.rangeEnd);
    // a read-only transaction reads at its begin revision
    const rev = readRevision(req.revision, revs.beginRev, revs.compactRev);
    const s = scan(range, rev, ops.rangeFetchLimit(req), req.countOnly);
    return { ok: true, result: { type: 'range', response: ops.rangeResponse(req, { records: s.records, count: s.count, rev: revs.beginRev }) } };
  } catch (e) {
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
