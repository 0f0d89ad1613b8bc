// The Lease API as a tenant sees it: its lease IDs mapped into its own range (tenant-lease-ids.ts), so
// it can grant, revoke, keep alive, inspect and list only its own leases; TTLs kept within its
// bounds; the keys a lease lists filtered to the tenant's prefix and shown without it.
import { EtcdError, isEtcdError } from '../core/errors.js';
import type { LeaseApi } from '../core/lease-api.js';
import type { AuthHeader } from '../auth/auth-op.js';
import type {
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseLeasesResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  LeaseTimeToLiveRequest,
  LeaseTimeToLiveResponse,
  ResponseHeader,
} from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { isTenantLeaseId, tenantLeaseIdBits } from './tenant-lease-ids.js';
import type { TenantState } from './tenant-state.js';

/** Random IDs tried for a grant with ID 0 before giving up (a collision needs ~2^20 live leases to be likely). */
const maxGrantIdAttempts = 5;

export type Random = () => number;

export class TenantLease implements LeaseApi {
  constructor(
    private readonly base: LeaseApi,
    private readonly tenant: TenantState,
    private readonly random: Random,
  ) {}

  private storedId(id: bigint): bigint {
    if (id <= 0n || !this.tenant.leaseIds.fits(id)) throw new EtcdError('leaseNotFound');
    return this.tenant.leaseIds.toStored(id);
  }

  async grant(req: LeaseGrantRequest): Promise<LeaseGrantResponse> {
    this.tenant.admit(8);
    const TTL = this.tenant.leaseTtl(req.TTL);
    for (let attempt = 1; ; attempt++) {
      const clientId = req.ID !== 0n ? req.ID : this.randomId();
      try {
        const res = await this.base.grant({ ...req, TTL, ID: this.storedId(clientId) });
        return { ...res, ID: this.tenant.leaseIds.toClient(res.ID) };
      } catch (e) {
        if (req.ID !== 0n || attempt >= maxGrantIdAttempts || !isEtcdError(e) || e.kind !== 'leaseExists') throw e;
      }
    }
  }

  private randomId(): bigint {
    const hi = BigInt(Math.floor(this.random() * 2 ** (tenantLeaseIdBits - 20)));
    const lo = BigInt(Math.floor(this.random() * 2 ** 20));
    const id = (hi << 20n) | lo;
    return id === 0n ? 1n : id;
  }

  revoke(req: LeaseRevokeRequest, auth: AuthHeader | undefined): Promise<LeaseRevokeResponse> {
    this.tenant.admit(8);
    return this.base.revoke({ ...req, ID: this.storedId(req.ID) }, auth);
  }

  async renew(id: bigint): Promise<bigint> {
    this.tenant.admit(8);
    if (id <= 0n || !this.tenant.leaseIds.fits(id)) return 0n;
    return this.base.renew(this.tenant.leaseIds.toStored(id));
  }

  async timeToLive(req: LeaseTimeToLiveRequest): Promise<LeaseTimeToLiveResponse> {
    this.tenant.admit(8);
    if (req.ID <= 0n || !this.tenant.leaseIds.fits(req.ID)) {
      return { header: this.base.header(), ID: req.ID, TTL: -1n, grantedTTL: 0n, keys: [] };
    }
    const res = await this.base.timeToLive({ ...req, ID: this.tenant.leaseIds.toStored(req.ID) });
    const k = this.tenant.keys;
    return { ...res, ID: req.ID, keys: res.keys.filter((key) => k.contains(key)).map((key) => k.toClient(key)) };
  }

  async leases(): Promise<LeaseLeasesResponse> {
    this.tenant.admit(8);
    const res = await this.base.leases();
    const ids = this.tenant.leaseIds;
    return { ...res, leases: res.leases.filter((l) => ids.owns(l.ID)).map((l) => ({ ID: ids.toClient(l.ID) })) };
  }

  header(): ResponseHeader {
    return this.base.header();
  }
}

/**
 * The Lease API of a caller without a tenant while tenants are defined: a lease ID it chooses may not
 * lie in the tenants' range (bit 62), or it could name a lease a tenant's client then cannot grant,
 * or attach its keys to one. Server-chosen IDs never do (src/lease/lease-ids.ts).
 */
export class UntenantedLease implements LeaseApi {
  constructor(
    private readonly base: LeaseApi,
    private readonly tenantsDefined: () => boolean,
  ) {}

  grant(req: LeaseGrantRequest): Promise<LeaseGrantResponse> {
    if (this.tenantsDefined() && isTenantLeaseId(req.ID)) return Promise.reject(new EtcdError('leaseIdReserved'));
    return this.base.grant(req);
  }

  revoke(req: LeaseRevokeRequest, auth: AuthHeader | undefined): Promise<LeaseRevokeResponse> {
    return this.base.revoke(req, auth);
  }

  renew(id: bigint): Promise<bigint> {
    return this.base.renew(id);
  }

  timeToLive(req: LeaseTimeToLiveRequest): Promise<LeaseTimeToLiveResponse> {
    return this.base.timeToLive(req);
  }

  leases(): Promise<LeaseLeasesResponse> {
    return this.base.leases();
  }

  header(): ResponseHeader {
    return this.base.header();
  }
}
