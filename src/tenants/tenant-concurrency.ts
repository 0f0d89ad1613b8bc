// The Lock and Election services as a tenant sees them: lock and election names are keys like any
// other, so they live under the tenant's prefix; the keys and leases in answers are the tenant's view.
import type { ElectionApi, LeaderSink, LockApi } from '../core/concurrency-api.js';
import type { LockRequest, LockResponse, UnlockRequest, UnlockResponse } from '../gen/etcd/etcdserver/api/v3lock/v3lockpb/v3lock.js';
import type {
  CampaignRequest,
  CampaignResponse,
  LeaderKey,
  LeaderRequest,
  LeaderResponse,
  ProclaimRequest,
  ProclaimResponse,
  ResignRequest,
  ResignResponse,
} from '../gen/etcd/etcdserver/api/v3election/v3electionpb/v3election.js';
import { requestBytes, TenantMapping } from './tenant-kv.js';
import type { TenantState } from './tenant-state.js';

export class TenantLock implements LockApi {
  private readonly map: TenantMapping;
  constructor(
    private readonly base: LockApi,
    private readonly tenant: TenantState,
  ) {
    this.map = new TenantMapping(tenant);
  }

  async lock(req: LockRequest, signal: AbortSignal): Promise<LockResponse> {
    this.tenant.admit(requestBytes(req.name));
    const res = await this.base.lock({ name: this.tenant.keys.toStored(req.name), lease: this.map.leaseIn(req.lease) }, signal);
    return { ...res, key: this.tenant.keys.toClient(res.key) };
  }

  unlock(req: UnlockRequest): Promise<UnlockResponse> {
    this.tenant.admit(requestBytes(req.key));
    return this.base.unlock({ key: this.tenant.keys.toStored(req.key) });
  }
}

export class TenantElection implements ElectionApi {
  private readonly map: TenantMapping;
  constructor(
    private readonly base: ElectionApi,
    private readonly tenant: TenantState,
  ) {
    this.map = new TenantMapping(tenant);
  }

  private leaderIn(l: LeaderKey | undefined): LeaderKey | undefined {
    if (l === undefined) return undefined;
    const k = this.tenant.keys;
    return { name: k.toStored(l.name), key: k.toStored(l.key), rev: l.rev, lease: this.map.leaseIn(l.lease) };
  }

  private leaderOut(l: LeaderKey | undefined): LeaderKey | undefined {
    if (l === undefined) return undefined;
    const k = this.tenant.keys;
    return { name: k.toClient(l.name), key: k.toClient(l.key), rev: l.rev, lease: this.tenant.leaseIds.toClient(l.lease) };
  }

  private leaderResponseOut(res: LeaderResponse): LeaderResponse {
    return res.kv === undefined ? res : { ...res, kv: this.map.kvOut(res.kv) };
  }

  async campaign(req: CampaignRequest, signal: AbortSignal): Promise<CampaignResponse> {
    this.tenant.admit(requestBytes(req.name, req.value));
    const res = await this.base.campaign({ ...req, name: this.tenant.keys.toStored(req.name), lease: this.map.leaseIn(req.lease) }, signal);
    return { ...res, leader: this.leaderOut(res.leader) };
  }

  proclaim(req: ProclaimRequest): Promise<ProclaimResponse> {
    this.tenant.admit(requestBytes(req.leader?.key, req.value));
    return this.base.proclaim({ ...req, leader: this.leaderIn(req.leader) });
  }

  async leader(req: LeaderRequest): Promise<LeaderResponse> {
    this.tenant.admit(requestBytes(req.name));
    return this.leaderResponseOut(await this.base.leader({ name: this.tenant.keys.toStored(req.name) }));
  }

  resign(req: ResignRequest): Promise<ResignResponse> {
    this.tenant.admit(requestBytes(req.leader?.key));
    return this.base.resign({ leader: this.leaderIn(req.leader) });
  }

  observe(req: LeaderRequest, sink: LeaderSink, signal: AbortSignal): Promise<void> {
    this.tenant.admit(requestBytes(req.name));
    const mapped: LeaderSink = { send: (res) => sink.send(this.leaderResponseOut(res)), drained: () => sink.drained() };
    return this.base.observe({ name: this.tenant.keys.toStored(req.name) }, mapped, signal);
  }
}
