// Which permissions a request needs, as etcd's authApplierV3 and v3_server check them
// (etcdserver/apply_auth.go): Put needs write on its key (and read with prev_kv, and write on every
// key already attached to its lease), DeleteRange write on its range (and read with prev_kv), Txn
// read on every compare and the needs of every op in both branches, Range read.
// A put inside a Txn needs only write, as in etcd 3.4 (its prev_kv and its lease's keys unchecked):
// these checks run when an entry is applied, so every member, of every build, must decide them alike
// (docs/security.md, "Known risks").
import type { DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { EtcdErrorKind } from '../core/errors.js';
import { keyBytes } from '../core/keys.js';
import type { AuthHeader } from './auth-op.js';
import type { PermissionKind } from './auth-state.js';

/** The permission check of the auth state (AuthState.refusal). */
export type PermissionCheck = (h: AuthHeader, key: Uint8Array, rangeEnd: Uint8Array, kind: PermissionKind) => EtcdErrorKind | undefined;
/** The keys attached to a lease (undefined: no such lease). */
export type LeaseKeys = (id: bigint) => readonly string[] | undefined;
/** The same, asked of the lease actor (the server) or read at once (tests). */
export type AskedLeaseKeys = (id: bigint) => readonly string[] | undefined | Promise<readonly string[] | undefined>;

const none = new Uint8Array(0);

/** etcd's checkLeasePuts: write on every key the lease holds. */
export function leaseRefusal(check: PermissionCheck, h: AuthHeader, leaseKeys: LeaseKeys, id: bigint): EtcdErrorKind | undefined {
  for (const key of leaseKeys(id) ?? []) {
    const refused = check(h, keyBytes(key), none, 'write');
    if (refused !== undefined) return refused;
  }
  return undefined;
}

/**
 * etcd 3.4.26's checkLeaseTimeToLive (CVE-2023-32082): read on every key a lease holds, before its
 * key names are shown. Given the keys answered (the leader's table), not this member's.
 */
export function keysReadRefusal(check: PermissionCheck, h: AuthHeader, keys: readonly Uint8Array[]): EtcdErrorKind | undefined {
  for (const key of keys) {
    const refused = check(h, key, none, 'read');
    if (refused !== undefined) return refused;
  }
  return undefined;
}

export function rangeRefusal(check: PermissionCheck, h: AuthHeader, req: Pick<RangeRequest, 'key' | 'rangeEnd'>): EtcdErrorKind | undefined {
  return check(h, req.key, req.rangeEnd, 'read');
}

export function putRefusal(check: PermissionCheck, h: AuthHeader, req: PutRequest, leaseKeys?: LeaseKeys): EtcdErrorKind | undefined {
  return (
    check(h, req.key, none, 'write') ??
    (leaseKeys !== undefined && req.lease !== 0n ? leaseRefusal(check, h, leaseKeys, req.lease) : undefined) ??
    (req.prevKv ? check(h, req.key, none, 'read') : undefined)
  );
}

export function deleteRefusal(check: PermissionCheck, h: AuthHeader, req: DeleteRangeRequest): EtcdErrorKind | undefined {
  return check(h, req.key, req.rangeEnd, 'write') ?? (req.prevKv ? check(h, req.key, req.rangeEnd, 'read') : undefined);
}

function opsRefusal(check: PermissionCheck, h: AuthHeader, ops: readonly RequestOp[]): EtcdErrorKind | undefined {
  for (const op of ops) {
    let refused: EtcdErrorKind | undefined;
    if (op.requestRange !== undefined) refused = check(h, op.requestRange.key, op.requestRange.rangeEnd, 'read');
    else if (op.requestPut !== undefined) refused = check(h, op.requestPut.key, none, 'write');
    else if (op.requestDeleteRange !== undefined) {
      const d = op.requestDeleteRange;
      refused = (d.prevKv ? check(h, d.key, d.rangeEnd, 'read') : undefined) ?? check(h, d.key, d.rangeEnd, 'write');
    } else if (op.requestTxn !== undefined) refused = txnRefusal(check, h, op.requestTxn);
    if (refused !== undefined) return refused;
  }
  return undefined;
}

/** etcd's checkTxnAuth: every compare, then every op of the success and the failure branch, nested Txns too. */
export function txnRefusal(check: PermissionCheck, h: AuthHeader, req: TxnRequest): EtcdErrorKind | undefined {
  for (const c of req.compare) {
    const refused = check(h, c.key, c.rangeEnd, 'read');
    if (refused !== undefined) return refused;
  }
  return opsRefusal(check, h, req.success) ?? opsRefusal(check, h, req.failure);
}
