// The auth front as a tenant's requests meet it. With auth on, a tenant's users are ordinary etcd
// users whose roles are checked against the keys as stored (prefix included), exactly as etcd checks
// a client behind its namespace proxy; the adapters check the keys a client sent, so this view moves
// them under the prefix first. Everything else (tokens, admin checks, the apply side) is the front's
// own: the view is a prototype child that overrides only the key- and lease-taking checks.
import type { AuthFront } from '../auth/auth-front.js';
import type { AuthHeader } from '../auth/auth-op.js';
import type { AuthState } from '../auth/auth-state.js';
import type { PermissionCheck } from '../auth/request-permissions.js';
import type { EtcdErrorKind } from '../core/errors.js';
import type { TenantState } from './tenant-state.js';

export function tenantAuthView(base: AuthFront, tenant: TenantState): AuthFront {
  const keys = tenant.keys;
  const storedLease = (id: bigint): bigint => (tenant.leaseIds.fits(id) ? tenant.leaseIds.toStored(id) : 0n);
  const state: AuthState = Object.create(base.state) as AuthState;
  Object.defineProperty(state, 'refusal', {
    value: (h: AuthHeader, key: Uint8Array, rangeEnd: Uint8Array, kind: Parameters<PermissionCheck>[3]): EtcdErrorKind | undefined =>
      base.state.refusal(h, keys.toStored(key), keys.toStoredEnd(rangeEnd), kind),
  });
  const check: PermissionCheck = (h, key, rangeEnd, kind) => base.check(h, keys.toStored(key), keys.toStoredEnd(rangeEnd), kind);
  const view = Object.create(base) as AuthFront;
  Object.defineProperties(view, {
    state: { value: state },
    check: { value: check },
    // The lease table holds stored keys: these checks run on the front itself, with the stored ID.
    leaseRefusalAsked: { value: (h: AuthHeader, id: bigint) => base.leaseRefusalAsked(h, storedLease(id)) },
  });
  return view;
}
