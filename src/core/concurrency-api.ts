// What the adapters call for etcd's v3lock and v3election services, in their own message shapes. The
// recipes behind them (src/concurrency/) are clientv3/concurrency's, run inside the server. Requests
// that wait (Lock, Campaign, Observe) take an AbortSignal: the adapter aborts it when the call goes.
import type { LockRequest, LockResponse, UnlockRequest, UnlockResponse } from '../gen/etcd/etcdserver/api/v3lock/v3lockpb/v3lock.js';
import type {
  CampaignRequest,
  CampaignResponse,
  LeaderRequest,
  LeaderResponse,
  ProclaimRequest,
  ProclaimResponse,
  ResignRequest,
  ResignResponse,
} from '../gen/etcd/etcdserver/api/v3election/v3electionpb/v3election.js';

export interface LockApi {
  /** Resolves once the lock is held; rejects (and leaves no key behind) when `signal` aborts first. */
  lock(req: LockRequest, signal: AbortSignal): Promise<LockResponse>;
  unlock(req: UnlockRequest): Promise<UnlockResponse>;
}

/** Where an Observe stream's answers go. */
export interface LeaderSink {
  /** false: wait for `drained` before sending more. */
  send(res: LeaderResponse): boolean;
  drained(): Promise<void>;
}

export interface ElectionApi {
  campaign(req: CampaignRequest, signal: AbortSignal): Promise<CampaignResponse>;
  proclaim(req: ProclaimRequest): Promise<ProclaimResponse>;
  /** Rejects with electionNoLeader when nobody campaigns. */
  leader(req: LeaderRequest): Promise<LeaderResponse>;
  resign(req: ResignRequest): Promise<ResignResponse>;
  /** Sends the leader, then every change of it, until `signal` aborts. */
  observe(req: LeaderRequest, sink: LeaderSink, signal: AbortSignal): Promise<void>;
}
