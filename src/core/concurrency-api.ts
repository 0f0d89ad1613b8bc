// What the adapters call for etcd's v3lock and v3election services, in their own message shapes. The
// recipes behind them (src/concurrency/) are clientv3/concurrency's, run inside the server. Requests
// that wait (Lock, Campaign, Observe) take an AbortSignal: the adapter aborts it when the call goes.
// Every call runs for a caller (RecipeCaller): as in etcd, where the recipes go through v3client with
// the caller's context, each of their writes carries the caller's auth header and is checked when it
// is applied, and each of their reads is checked as a client's Range or Watch would be.
import type { AuthHeader } from '../auth/auth-op.js';
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

/** Who a recipe call runs for. */
export interface RecipeCaller {
  /**
   * The auth header each write is proposed with (the one writeHeaderOf makes for a client's KV
   * write), as the caller's credentials stand when the write is made. Undefined: unchecked (a server
   * without auth, tests).
   */
  writeHeader(): AuthHeader | undefined;
  /** Serves `read` of [key, rangeEnd) if the caller may read it, checked as a client's Range is (etcd's doSerialize). */
  read<T>(key: Uint8Array, rangeEnd: Uint8Array, read: () => Promise<T>): Promise<T>;
  /** Throws unless the caller may read [key, rangeEnd) now: a watch's check when it is created. */
  requireRead(key: Uint8Array, rangeEnd: Uint8Array): void;
}

/** A caller nobody checks: its writes carry no header (a server without auth, tests of the recipes alone). */
export const uncheckedCaller: RecipeCaller = {
  writeHeader: () => undefined,
  read: (_key, _rangeEnd, read) => read(),
  requireRead: () => undefined,
};

export interface LockApi {
  /** Resolves once the lock is held; rejects (and leaves no key behind) when `signal` aborts first. */
  lock(req: LockRequest, signal: AbortSignal, caller: RecipeCaller): Promise<LockResponse>;
  unlock(req: UnlockRequest, caller: RecipeCaller): Promise<UnlockResponse>;
}

/** Where an Observe stream's answers go. */
export interface LeaderSink {
  /** false: wait for `drained` before sending more. */
  send(res: LeaderResponse): boolean;
  drained(): Promise<void>;
}

export interface ElectionApi {
  campaign(req: CampaignRequest, signal: AbortSignal, caller: RecipeCaller): Promise<CampaignResponse>;
  proclaim(req: ProclaimRequest, caller: RecipeCaller): Promise<ProclaimResponse>;
  /** Rejects with electionNoLeader when nobody campaigns. */
  leader(req: LeaderRequest, caller: RecipeCaller): Promise<LeaderResponse>;
  resign(req: ResignRequest, caller: RecipeCaller): Promise<ResignResponse>;
  /** Sends the leader, then every change of it, until `signal` aborts. */
  observe(req: LeaderRequest, sink: LeaderSink, signal: AbortSignal, caller: RecipeCaller): Promise<void>;
}
