// The quota check in front of the KV and Lease APIs, as etcd wraps its KV and Lease servers
// (quotaKVServer, quotaLeaseServer): only requests that add data are checked.
import type { KvApi } from '../core/kv-api.js';
import type { LeaseApi } from '../core/lease-api.js';
import { isTxnReadOnly } from '../mvcc/kv-operations.js';
import { leaseGrantCost, putCost, txnCost, type BackendQuota } from './backend-quota.js';

export function quotaGuardedKv(kv: KvApi, quota: BackendQuota): KvApi {
  return {
    range: (req) => kv.range(req),
    put: async (req, auth) => {
      await quota.check(putCost(req));
      return kv.put(req, auth);
    },
    deleteRange: (req, auth) => kv.deleteRange(req, auth),
    txn: async (req, auth) => {
      if (!isTxnReadOnly(req)) await quota.check(txnCost(req));
      return kv.txn(req, auth);
    },
    compact: (req) => kv.compact(req),
  };
}

export function quotaGuardedLease(lease: LeaseApi, quota: BackendQuota): LeaseApi {
  return {
    grant: async (req) => {
      await quota.check(leaseGrantCost());
      return lease.grant(req);
    },
    revoke: (req, auth) => lease.revoke(req, auth),
    renew: (id) => lease.renew(id),
    timeToLive: (req) => lease.timeToLive(req),
    leases: () => lease.leases(),
    header: () => lease.header(),
  };
}
