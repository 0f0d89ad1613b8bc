// The Lock and Election services as a tenant sees them: lock and election names are keys like any
// other, so they live under the tenant's prefix; the keys and leases in answers are the tenant's view.
// The caller came from the tenant's auth view, which checks the keys a client names: the recipe's
// reads (of stored keys) reach it as the client's keys. Its write header names no key and passes as is.
import type { ElectionApi, LeaderSink, LockApi, RecipeCaller } from '../core/concurrency-api.js';
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
import type { TenantKeys } from './tenant-keys.js';

/** The caller as the recipe over stored keys meets it. */
function storedCaller(caller: RecipeCaller, keys: TenantKeys): RecipeCaller {
  return {
    writeHeader: () => caller.writeHeader(),
    read: (key, rangeEnd, read) => caller.read(keys.toClient(key), keys.toClientEnd(rangeEnd), read),
    requireRead: (key, rangeEnd) => caller.requireRead(keys.toClient(key), keys.toClientEnd(rangeEnd)),
  };
}

export class TenantLock implements LockApi {
  private readonly map: TenantMapping;
  constructor(
    private readonly base: LockApi,
    private readonly tenant: TenantState,
  ) {
    this.map = new TenantMapping(tenant);
  }

  async lock(req: LockRequest, signal: AbortSignal, caller: RecipeCaller): Promise<LockResponse> {
    this.tenant.admit(requestBytes(req.name));
    const res = await this.base.lock({ name: this.tenant.keys.toStored(req.name), lease: this.map.leaseIn(req.lease) }, signal, storedCaller(caller, this.tenant.keys));
    return { ...res, key: this.tenant.keys.toClient(res.key) };
  }

  unlock(req: UnlockRequest, caller: RecipeCaller): Promise<UnlockResponse> {
    this.tenant.admit(requestBytes(req.key));
    return this.base.unlock({ key: this.tenant.keys.toStored(req.key) }, storedCaller(caller, this.tenant.keys));
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

  private stored(caller: RecipeCaller): RecipeCaller {
    return storedCaller(caller, this.tenant.keys);
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

  async campaign(req: CampaignRequest, signal: AbortSignal, caller: RecipeCaller): Promise<CampaignResponse> {
    this.tenant.admit(requestBytes(req.name, req.value));
    const res = await this.base.campaign({ ...req, name: this.tenant.keys.toStored(req.name), lease: this.map.leaseIn(req.lease) }, signal, this.stored(caller));
    return { ...res, leader: this.leaderOut(res.leader) };
  }

  proclaim(req: ProclaimRequest, caller: RecipeCaller): Promise<ProclaimResponse> {
    this.tenant.admit(requestBytes(req.leader?.key, req.value));
    return this.base.proclaim({ ...req, leader: this.leaderIn(req.leader) }, this.stored(caller));
  }

  async leader(req: LeaderRequest, caller: RecipeCaller): Promise<LeaderResponse> {
    this.tenant.admit(requestBytes(req.name));
    return this.leaderResponseOut(await this.base.leader({ name: this.tenant.keys.toStored(req.name) }, this.stored(caller)));
  }

  resign(req: ResignRequest, caller: RecipeCaller): Promise<ResignResponse> {
    this.tenant.admit(requestBytes(req.leader?.key));
    return this.base.resign({ leader: this.leaderIn(req.leader) }, this.stored(caller));
  }

  observe(req: LeaderRequest, sink: LeaderSink, signal: AbortSignal, caller: RecipeCaller): Promise<void> {
    this.tenant.admit(requestBytes(req.name));
    const mapped: LeaderSink = { send: (res) => sink.send(this.leaderResponseOut(res)), drained: () => sink.drained() };
    return this.base.observe({ name: this.tenant.keys.toStored(req.name) }, mapped, signal, this.stored(caller));
  }
}
