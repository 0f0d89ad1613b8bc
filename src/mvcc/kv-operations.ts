// etcd's applier for Range, Put, DeleteRange and Txn, run inside a StoreTxn. Semantics follow etcd
// 3.4's applierV3backend: the same checks, in the same order, with the same results; a Txn is checked
// completely before its first write, so a failing Txn writes nothing.
import type {
  Compare,
  DeleteRangeRequest,
  DeleteRangeResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseHeader,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
} from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { EtcdError, isEtcdError } from '../core/errors.js';
import { keyRange, toKey } from '../core/keys.js';
import type { KvRecord } from './kv-record.js';
import { toKeyValue } from './kv-record.js';
import type { StoreTxn } from './store-txn.js';

/** Asks whether a lease exists; the lease table plugs in here (none exist yet). */
export type LeaseLookup = (id: bigint) => boolean;

const header = (rev: number): ResponseHeader => ({ clusterId: 0n, memberId: 0n, revision: BigInt(rev), raftTerm: 0n });

export async function range(txn: StoreTxn, req: RangeRequest): Promise<RangeResponse> {
  const rr = await txn.rangeKeys(keyRange(req.key, req.rangeEnd), req.revision, rangeFetchLimit(req), req.countOnly);
  return rangeResponse(req, rr);
}

/** How many records a Range fetches: all of them to sort or filter, else one past its limit to learn `more`. */
export function rangeFetchLimit(req: RangeRequest): number {
  const filtered =
    req.sortOrder !== RangeRequest_SortOrder.NONE ||
    req.minModRevision !== 0n ||
    req.maxModRevision !== 0n ||
    req.minCreateRevision !== 0n ||
    req.maxCreateRevision !== 0n;
  return filtered || req.limit <= 0n ? 0 : Number(req.limit) + 1;
}

/** A Range's answer from the records fetched (rangeFetchLimit of them) at the transaction's revision `rev`. */
export function rangeResponse(req: RangeRequest, rr: { readonly records: readonly KvRecord[]; readonly count: number; readonly rev: number }): RangeResponse {
  let kvs = rr.records;
  if (req.maxModRevision !== 0n) kvs = kvs.filter((kv) => !(kv.modRevision > req.maxModRevision));
  if (req.minModRevision !== 0n) kvs = kvs.filter((kv) => !(kv.modRevision < req.minModRevision));
  if (req.maxCreateRevision !== 0n) kvs = kvs.filter((kv) => !(kv.createRevision > req.maxCreateRevision));
  if (req.minCreateRevision !== 0n) kvs = kvs.filter((kv) => !(kv.createRevision < req.minCreateRevision));

  let order = req.sortOrder;
  // Results come in ascending key order already; any other target sorts ascending by default.
  if (req.sortTarget !== RangeRequest_SortTarget.KEY && order === RangeRequest_SortOrder.NONE) {
    order = RangeRequest_SortOrder.ASCEND;
  }
  if (order === RangeRequest_SortOrder.ASCEND || order === RangeRequest_SortOrder.DESCEND) {
    const cmp = sortComparator(req.sortTarget);
    const sign = order === RangeRequest_SortOrder.DESCEND ? -1 : 1;
    kvs = kvs.slice().sort((a, b) => sign * cmp(a, b));
  }
  let more = false;
  if (req.limit > 0n && kvs.length > req.limit) {
    kvs = kvs.slice(0, Number(req.limit));
    more = true;
  }
  return {
    header: header(rr.rev),
    kvs: kvs.map((kv) => toKeyValue(kv, req.keysOnly)),
    more,
    count: BigInt(rr.count),
  };
}

function sortComparator(target: RangeRequest_SortTarget): (a: KvRecord, b: KvRecord) => number {
  switch (target) {
    case RangeRequest_SortTarget.VERSION:
      return (a, b) => a.version - b.version;
    case RangeRequest_SortTarget.CREATE:
      return (a, b) => a.createRevision - b.createRevision;
    case RangeRequest_SortTarget.MOD:
      return (a, b) => a.modRevision - b.modRevision;
    case RangeRequest_SortTarget.VALUE:
      return (a, b) => Buffer.compare(a.value, b.value);
    default:
      return (a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  }
}

export async function put(txn: StoreTxn, req: PutRequest, leaseExists: LeaseLookup | null): Promise<PutResponse> {
  // Outside a Txn the lease is checked here; inside one, checkPut did it before any write.
  if (leaseExists !== null && req.lease !== 0n && !leaseExists(req.lease)) throw new EtcdError('leaseNotFound');
  const key = toKey(req.key);
  const prev = req.ignoreValue || req.ignoreLease || req.prevKv ? await txn.get(key) : undefined;
  if (putNeedsLiveKey(req) && prev === undefined) throw new EtcdError('keyNotFound');
  await txn.put(key, putValue(req, prev), putLease(req, prev));
  return putResponse(req, prev, txn.writeRev);
}

/** ignore_value and ignore_lease keep the live record's value or lease: without one the put fails (keyNotFound). */
export const putNeedsLiveKey = (req: PutRequest): boolean => req.ignoreValue || req.ignoreLease;
/** The value a put writes, given its key's live record (`prev`). */
export const putValue = (req: PutRequest, prev: KvRecord | undefined): Buffer => (req.ignoreValue && prev !== undefined ? prev.value : req.value);
/** The lease a put attaches, given its key's live record (`prev`). */
export const putLease = (req: PutRequest, prev: KvRecord | undefined): bigint => (req.ignoreLease && prev !== undefined ? prev.lease : req.lease);
/** A put's answer at the revision it wrote; prev_kv is the key's live record before it. */
export const putResponse = (req: PutRequest, prev: KvRecord | undefined, writeRev: number): PutResponse => ({
  header: header(writeRev),
  prevKv: req.prevKv && prev !== undefined ? toKeyValue(prev) : undefined,
});

export async function deleteRange(txn: StoreTxn, req: DeleteRangeRequest): Promise<DeleteRangeResponse> {
  const r = keyRange(req.key, req.rangeEnd);
  const prevKvs = req.prevKv ? (await txn.rangeKeys(r, 0n, 0, false)).records.map((kv) => toKeyValue(kv)) : [];
  const deleted = await txn.deleteRange(r);
  const rev = deleted !== 0 || txn.changes.length > 0 ? txn.writeRev : txn.beginRev;
  return { header: header(rev), deleted: BigInt(deleted), prevKvs };
}

/** True when every op of both branches is a Range (a nested Txn counts as a write, as in etcd). */
export function isTxnReadOnly(req: TxnRequest): boolean {
  return [...req.success, ...req.failure].every((op) => op.requestRange !== undefined);
}

export async function txn(storeTxn: StoreTxn, req: TxnRequest, leaseExists: LeaseLookup): Promise<TxnResponse> {
  const path = await comparePath(storeTxn, req);
  if (!isTxnReadOnly(req)) await checkOps(storeTxn, req, path, (op) => checkPut(storeTxn, op, leaseExists));
  await checkOps(storeTxn, req, path, async (op) => checkRange(storeTxn, op));
  const { resp } = await applyTxnPath(storeTxn, req, path);
  resp.header = header(storeTxn.changes.length > 0 ? storeTxn.writeRev : storeTxn.beginRev);
  return resp;
}

/** Decides every branch (nested ones too) against the state before the Txn, as etcd does. */
async function comparePath(storeTxn: StoreTxn, req: TxnRequest): Promise<boolean[]> {
  let succeeded = true;
  for (const c of req.compare) {
    if (!(await applyCompare(storeTxn, c))) {
      succeeded = false;
      break;
    }
  }
  const path = [succeeded];
  for (const op of succeeded ? req.success : req.failure) {
    if (op.requestTxn !== undefined) path.push(...(await comparePath(storeTxn, op.requestTxn)));
  }
  return path;
}

async function applyCompare(storeTxn: StoreTxn, c: Compare): Promise<boolean> {
  let rr;
  try {
    rr = await storeTxn.rangeKeys(keyRange(c.key, c.rangeEnd), 0n, 0, false);
  } catch (e) {
    // etcd treats a compare whose range cannot be read as false; anything else is a bug.
    if (isEtcdError(e)) return false;
    throw e;
  }
  if (rr.records.length === 0) {
    // Comparing a value of a missing key always fails: nil and empty are the same in gRPC.
    if (c.target === Compare_CompareTarget.VALUE) return false;
    return compareKv(c, undefined);
  }
  return rr.records.every((kv) => compareKv(c, kv));
}

function compareKv(c: Compare, kv: KvRecord | undefined): boolean {
  let result: number;
  switch (c.target) {
    case Compare_CompareTarget.VALUE:
      result = Buffer.compare(kv?.value ?? Buffer.alloc(0), c.value ?? Buffer.alloc(0));
      break;
    case Compare_CompareTarget.CREATE:
      result = compareInt(BigInt(kv?.createRevision ?? 0), c.createRevision ?? 0n);
      break;
    case Compare_CompareTarget.MOD:
      result = compareInt(BigInt(kv?.modRevision ?? 0), c.modRevision ?? 0n);
      break;
    case Compare_CompareTarget.VERSION:
      result = compareInt(BigInt(kv?.version ?? 0), c.version ?? 0n);
      break;
    case Compare_CompareTarget.LEASE:
      result = compareInt(kv?.lease ?? 0n, c.lease ?? 0n);
      break;
    default:
      result = 0;
  }
  switch (c.result) {
    case Compare_CompareResult.EQUAL:
      return result === 0;
    case Compare_CompareResult.NOT_EQUAL:
      return result !== 0;
    case Compare_CompareResult.GREATER:
      return result > 0;
    case Compare_CompareResult.LESS:
      return result < 0;
    default:
      return true;
  }
}

const compareInt = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

/** Walks the chosen branch of every level, as etcd's checkRequests does; `path` is consumed in order. */
async function checkOps(
  storeTxn: StoreTxn,
  req: TxnRequest,
  path: readonly boolean[],
  check: (op: RequestOp) => Promise<void>,
): Promise<number> {
  let used = 1;
  for (const op of path[0] ? req.success : req.failure) {
    if (op.requestTxn !== undefined) used += await checkOps(storeTxn, op.requestTxn, path.slice(used), check);
    else await check(op);
  }
  return used;
}

async function checkPut(storeTxn: StoreTxn, op: RequestOp, leaseExists: LeaseLookup): Promise<void> {
  const p = op.requestPut;
  if (p === undefined) return;
  if ((p.ignoreValue || p.ignoreLease) && (await storeTxn.get(toKey(p.key))) === undefined) {
    throw new EtcdError('keyNotFound');
  }
  if (p.lease !== 0n && !leaseExists(p.lease)) throw new EtcdError('leaseNotFound');
}

async function checkRange(storeTxn: StoreTxn, op: RequestOp): Promise<void> {
  const r = op.requestRange;
  if (r === undefined || r.revision === 0n) return;
  if (r.revision > storeTxn.currentRev) throw new EtcdError('futureRev');
  if (r.revision < storeTxn.compactRev) throw new EtcdError('compacted');
}

/** Applies the chosen branch; returns the response and how many path entries this level (and its nested Txns) used. */
async function applyTxnPath(storeTxn: StoreTxn, req: TxnRequest, path: readonly boolean[]): Promise<{ resp: TxnResponse; used: number }> {
  const succeeded = path[0] === true;
  const responses: ResponseOp[] = [];
  let used = 1;
  for (const op of succeeded ? req.success : req.failure) {
    if (op.requestRange !== undefined) {
      responses.push({ responseRange: await range(storeTxn, op.requestRange) });
    } else if (op.requestPut !== undefined) {
      responses.push({ responsePut: await put(storeTxn, op.requestPut, null) });
    } else if (op.requestDeleteRange !== undefined) {
      responses.push({ responseDeleteRange: await deleteRange(storeTxn, op.requestDeleteRange) });
    } else if (op.requestTxn !== undefined) {
      const nested = await applyTxnPath(storeTxn, op.requestTxn, path.slice(used));
      used += nested.used;
      responses.push({ responseTxn: nested.resp });
    } else {
      responses.push({});
    }
  }
  return { resp: { header: header(0), succeeded, responses }, used };
}
