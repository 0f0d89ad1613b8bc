// Forwards a lease request that only the leader can answer (renew, time-to-live, the lease list) over
// the peer port, as etcd's LeaseRenew and LeaseTimeToLive do: wait for a leader, call it, and on
// anything but an answer or "lease not found" try again (the leader may have just changed) until the
// request's deadline. Out of time while no leader was known: `etcdserver: no leader`; otherwise
// `etcdserver: request timed out`.
import { EtcdError } from '../core/errors.js';
import type { Timers } from '../core/timers.js';
import type { PeerCallResult } from '../peer/peer-call.js';
import type { LeaseCallMethod } from './lease-calls.js';

export interface LeaderCalls {
  readonly selfId: bigint;
  /** The leader's member ID, 0n when none is known. */
  leader(): bigint;
  /** Resolves at the next leader change or after timeoutMs. */
  leaderChanged(timeoutMs: number): Promise<void>;
  call(to: bigint, method: LeaseCallMethod, body: Uint8Array, timeoutMs: number): Promise<PeerCallResult>;
}

export interface LeaderForwarderOptions {
  readonly timers: Timers;
  /** etcd's ReqTimeout: 5 s plus two election timeouts. */
  readonly requestTimeoutMs: number;
  /** While there is no leader, how long one wait for an election lasts (etcd: one election timeout). */
  readonly electionTimeoutMs: number;
  /** After a failed call, how long before the next (sooner if the leader changes). */
  readonly retryIntervalMs: number;
}

export type Forwarded<T> = { readonly kind: 'answer'; readonly value: T } | { readonly kind: 'notFound' };

export class LeaderForwarder {
  constructor(
    private readonly calls: LeaderCalls,
    private readonly options: LeaderForwarderOptions,
  ) {}

  /** Rejects with EtcdError noLeader or timeout at the deadline. */
  async forward<T>(method: LeaseCallMethod, body: Uint8Array, decode: (answer: Uint8Array) => T): Promise<Forwarded<T>> {
    const { timers } = this.options;
    const deadline = timers.now() + this.options.requestTimeoutMs;
    let waitingForLeader = false;
    for (;;) {
      const leftMs = deadline - timers.now();
      if (leftMs <= 0) throw new EtcdError(waitingForLeader ? 'noLeader' : 'timeout');
      const lead = this.calls.leader();
      // The leader being this member while its lessor is not primary is a moment inside a change.
      if (lead === 0n || lead === this.calls.selfId) {
        waitingForLeader = lead === 0n;
        await this.calls.leaderChanged(Math.min(leftMs, lead === 0n ? this.options.electionTimeoutMs : this.options.retryIntervalMs));
        continue;
      }
      waitingForLeader = false;
      const result = await this.calls.call(lead, method, body, leftMs);
      if (result.kind === 'answer') {
        try {
          return { kind: 'answer', value: decode(result.body) };
        } catch {
          // a malformed answer is a failed call: retried
        }
      } else if (result.kind === 'refused' && result.code === 'leaseNotFound') {
        return { kind: 'notFound' };
      }
      const waitMs = Math.min(deadline - timers.now(), this.options.retryIntervalMs);
      if (waitMs > 0 && this.calls.leader() === lead) await this.calls.leaderChanged(waitMs);
    }
  }
}
