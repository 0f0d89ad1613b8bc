// etcd 3.4's request checks from etcdserver/api/v3rpc/key.go, run before the core is called.
// Each check returns the failure kind, or undefined when the request is acceptable.
import {
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type DeleteRangeRequest,
  type PutRequest,
  type RangeRequest,
  type RequestOp,
  type TxnRequest,
} from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { AdapterErrorKind } from './error-status.js';

export type CheckResult = AdapterErrorKind | undefined;

const isKnownSortTarget = (t: number): boolean => t >= RangeRequest_SortTarget.KEY && t <= RangeRequest_SortTarget.VALUE;

/**
 * etcd 3.4 only checks the key. It does not validate sort fields, but its apply path
 * (etcdserver/apply.go Range) dereferences a nil sorter when it has to sort by an unknown target,
 * which crashes the member (verified against etcd 3.4.23: "Connection dropped", panic in the log).
 * We answer that one case the way etcd 3.5 does (INVALID_ARGUMENT "etcdserver: invalid sort option")
 * and accept everything 3.4 accepts: an unknown sort order with a known target is served unsorted.
 */
export function checkRangeRequest(r: RangeRequest): CheckResult {
  if (r.key.length === 0) return 'emptyKey';
  const target = r.sortTarget as number;
  let order = r.sortOrder as number;
  if (target !== RangeRequest_SortTarget.KEY && order === RangeRequest_SortOrder.NONE) {
    order = RangeRequest_SortOrder.ASCEND;
  }
  const sorts = order === RangeRequest_SortOrder.ASCEND || order === RangeRequest_SortOrder.DESCEND;
  if (sorts && !isKnownSortTarget(target)) return 'invalidSortOption';
  return undefined;
}

export function checkPutRequest(r: PutRequest): CheckResult {
  if (r.key.length === 0) return 'emptyKey';
  if (r.ignoreValue && r.value.length !== 0) return 'valueProvided';
  if (r.ignoreLease && r.lease !== 0n) return 'leaseProvided';
  return undefined;
}

export function checkDeleteRequest(r: DeleteRangeRequest): CheckResult {
  if (r.key.length === 0) return 'emptyKey';
  return undefined;
}

export type RequestOpCase =
  | { readonly type: 'range'; readonly req: RangeRequest }
  | { readonly type: 'put'; readonly req: PutRequest }
  | { readonly type: 'deleteRange'; readonly req: DeleteRangeRequest }
  | { readonly type: 'txn'; readonly req: TxnRequest }
  | { readonly type: 'empty' };

/**
 * The oneof case of a RequestOp. ts-proto keeps every case it saw on the wire; Go keeps the last
 * one. We cannot know the wire order here, so with several set the first in field order wins
 * (clients never send more than one).
 */
export function requestOpCase(op: RequestOp): RequestOpCase {
  if (op.requestRange !== undefined) return { type: 'range', req: op.requestRange };
  if (op.requestPut !== undefined) return { type: 'put', req: op.requestPut };
  if (op.requestDeleteRange !== undefined) return { type: 'deleteRange', req: op.requestDeleteRange };
  if (op.requestTxn !== undefined) return { type: 'txn', req: op.requestTxn };
  return { type: 'empty' };
}

function checkRequestOp(op: RequestOp, maxTxnOps: number): CheckResult {
  const c = requestOpCase(op);
  switch (c.type) {
    case 'range':
      return checkRangeRequest(c.req);
    case 'put':
      return checkPutRequest(c.req);
    case 'deleteRange':
      return checkDeleteRequest(c.req);
    case 'txn':
      return checkTxnRequest(c.req, maxTxnOps);
    case 'empty':
      return 'keyNotFound'; // etcd: "empty op / nil entry"
  }
}

/**
 * etcd's checkTxnRequest: the op count is the largest of compare/success/failure (compares count
 * too), and a nested txn gets the budget left over (maxTxnOps - that count). Compares only need a key.
 */
export function checkTxnRequest(r: TxnRequest, maxTxnOps: number): CheckResult {
  const opc = Math.max(r.compare.length, r.success.length, r.failure.length);
  if (opc > maxTxnOps) return 'tooManyOps';
  for (const c of r.compare) {
    if (c.key.length === 0) return 'emptyKey';
  }
  for (const op of r.success) {
    const e = checkRequestOp(op, maxTxnOps - opc);
    if (e !== undefined) return e;
  }
  for (const op of r.failure) {
    const e = checkRequestOp(op, maxTxnOps - opc);
    if (e !== undefined) return e;
  }
  return undefined;
}

// --- checkIntervals -------------------------------------------------------------------------------
// etcd keeps deletes in an adt.IntervalTree of StringAffine intervals ("" sorts after every other
// string) and asks whether a put's point [k, k+"\x00") intersects any of them. A linear list with the
// same Compare gives the same answers (the tree is only an index). Consequences we keep on purpose:
// a delete whose range_end is "\x00" (etcdctl --from-key) or lies at/below its key is an empty or
// inverted interval and never conflicts with a put (verified against etcd 3.4.23).

interface Interval {
  readonly begin: Buffer;
  readonly end: Buffer;
}

const NUL = Buffer.from([0]);

function affineCompare(a: Buffer, b: Buffer): number {
  if (a.length === 0) return b.length === 0 ? 0 : 1;
  if (b.length === 0) return -1;
  return Buffer.compare(a, b);
}

/** adt.Interval.Compare(a, b) === 0, i.e. a overlaps b. */
function overlaps(a: Interval, b: Interval): boolean {
  if (affineCompare(a.begin, b.begin) < 0 && affineCompare(a.end, b.begin) <= 0) return false;
  if (affineCompare(a.begin, b.end) >= 0) return false;
  return true;
}

const point = (k: Buffer): Interval => ({ begin: k, end: Buffer.concat([k, NUL]) });

const intersectsAny = (dels: readonly Interval[], k: Buffer): boolean => {
  const p = point(k);
  return dels.some((d) => overlaps(p, d));
};

interface IntervalSets {
  /** put keys (latin1 keeps bytes 1:1) → key bytes */
  readonly puts: Map<string, Buffer>;
  readonly dels: Interval[];
}

const keyId = (k: Buffer): string => k.toString('latin1');

/** Mirrors etcd 3.4's checkIntervals for one branch (success or failure) of a txn, recursively. */
function checkIntervals(reqs: readonly RequestOp[]): IntervalSets | 'duplicateKey' {
  const dels: Interval[] = [];
  // this level's deletes first, so lower-level puts are checked against them
  for (const op of reqs) {
    const c = requestOpCase(op);
    if (c.type !== 'deleteRange') continue;
    const d = c.req;
    dels.push(d.rangeEnd.length !== 0 ? { begin: d.key, end: d.rangeEnd } : point(d.key));
  }

  // children: each child txn's puts are checked against puts and deletes collected so far, and only
  // then its deletes join this level's (so "child puts k, later child deletes k" passes, as in etcd)
  const puts = new Map<string, Buffer>();
  for (const op of reqs) {
    const c = requestOpCase(op);
    if (c.type !== 'txn') continue;
    const thenSets = checkIntervals(c.req.success);
    if (thenSets === 'duplicateKey') return thenSets;
    const elseSets = checkIntervals(c.req.failure);
    if (elseSets === 'duplicateKey') return elseSets;
    for (const [id, k] of thenSets.puts) {
      if (puts.has(id)) return 'duplicateKey';
      if (intersectsAny(dels, k)) return 'duplicateKey';
      puts.set(id, k);
    }
    for (const [id, k] of elseSets.puts) {
      // then/else are mutually exclusive, so the same key in both is fine
      if (puts.has(id) && !thenSets.puts.has(id)) return 'duplicateKey';
      if (intersectsAny(dels, k)) return 'duplicateKey';
      puts.set(id, k);
    }
    // etcd unions with a filter ["\x00", "") that only drops intervals ending at "\x00", which
    // never intersect a point anyway; copying everything is equivalent.
    dels.push(...thenSets.dels, ...elseSets.dels);
  }

  // this level's puts
  for (const op of reqs) {
    const c = requestOpCase(op);
    if (c.type !== 'put') continue;
    const k = c.req.key;
    const id = keyId(k);
    if (puts.has(id)) return 'duplicateKey';
    if (intersectsAny(dels, k)) return 'duplicateKey';
    puts.set(id, k);
  }
  return { puts, dels };
}

/** The full Txn check in etcd's order: structure first, then overlaps per branch (success, failure). */
export function validateTxn(r: TxnRequest, maxTxnOps: number): CheckResult {
  const e = checkTxnRequest(r, maxTxnOps);
  if (e !== undefined) return e;
  const s = checkIntervals(r.success);
  if (s === 'duplicateKey') return s;
  const f = checkIntervals(r.failure);
  if (f === 'duplicateKey') return f;
  return undefined;
}

