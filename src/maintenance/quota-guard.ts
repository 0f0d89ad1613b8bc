// The quota check in front of the KV and Lease APIs, as etcd wraps its KV and Lease servers
// (quotaKVServer, quotaLeaseServer): only requests that add data are checked.
import type { KvApi } from '../core/kv-api.js';
import type { LeaseApi } from '../core/lease-api.js';
import { isTxnReadOnly } from '../mvcc/kv-operations.js';
import { leaseGrantCost, putCost, txnCost, type BackendQuota } from './backend-quota.js';

export function quotaGuardedKv(kv: KvApi, quota: BackendQuota): KvApi {
  return {
    range: (req) => kv.range(req),
    // Most puts fit a fresh measurement: they go on without an extra await (every put passes here).
    put: (req, auth) => {
      const cost = putCost(req);
      return quota.fitsNow(cost) ? kv.put(req, auth) : quota.check(cost).then(() => kv.put(req, auth));
    },
    deleteRange: (req, auth) => kv.deleteRange(req, auth),
    txn: (req, auth) => {
      const cost = isTxnReadOnly(req) ? 0 : txnCost(req);
      return quota.fitsNow(cost) ? kv.txn(req, auth) : quota.check(cost).then(() => kv.txn(req, auth));
    },
    compact: (req) => kv.compact(req),
  };
}

export function quotaGuardedLease(lease: LeaseApi, quota: BackendQuota): LeaseApi {
  return {
    grant: (req) => (quota.fitsNow(leaseGrantCost()) ? lease.grant(req) : quota.check(leaseGrantCost()).then(() => lease.grant(req))),
    revoke: (req, auth) => lease.revoke(req, auth),
    renew: (id) => lease.renew(id),
    timeToLive: (req) => lease.timeToLive(req),
    leases: () => lease.leases(),
    header: () => lease.header(),
  };
}
