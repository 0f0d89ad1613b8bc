// A ServerApi per tenant: the one seam where the tenant's key space is applied. The gRPC services,
// the JSON gateway (which runs the same gRPC methods) and /api are built over it exactly as over the
// server's own ServerApi, so none of them knows about tenants.
import type { ServerApi } from '../core/kv-api.js';
import { tenantAuthView } from './tenant-auth-view.js';
import { TenantElection, TenantLock } from './tenant-concurrency.js';
import { TenantKv } from './tenant-kv.js';
import { TenantLease, type Random } from './tenant-lease.js';
import type { TenantState } from './tenant-state.js';
import { TenantWatch } from './tenant-watch.js';

export function tenantServerApi(base: ServerApi, tenant: TenantState, random: Random): ServerApi {
  return {
    ...base,
    // the spread copies the values of base's getters once; these stay live
    get member() {
      return base.member;
    },
    kv: new TenantKv(base.kv, tenant),
    watch: new TenantWatch(base.watch, tenant, () => Number(base.header().revision)),
    lease: new TenantLease(base.lease, tenant, random),
    lock: new TenantLock(base.lock, tenant),
    election: new TenantElection(base.election, tenant),
    ...(base.auth === undefined ? {} : { auth: tenantAuthView(base.auth, tenant) }),
  };
}
