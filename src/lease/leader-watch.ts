// Who the leader is, as this member's Raft last said, and a way to wait for that to change (a
// request with no leader waits for an election instead of polling).
import { EtcdError } from '../core/errors.js';
import type { Timers } from '../core/timers.js';

/** Requests waiting for a leader change at once; more are refused with `too many requests`. */
export const maxLeaderWaiters = 10_000;

export class LeaderWatch {
  private lead = 0n;
  private readonly waiters = new Set<() => void>();

  constructor(private readonly timers: Timers) {}

  /** The leader's member ID; 0n while there is none. */
  get leader(): bigint {
    return this.lead;
  }

  set(lead: bigint): void {
    if (lead === this.lead) return;
    this.lead = lead;
    const woken = [...this.waiters];
    this.waiters.clear();
    for (const wake of woken) wake();
  }

  /** Resolves at the next leader change or after timeoutMs, whichever comes first. */
  changed(timeoutMs: number): Promise<void> {
    if (this.waiters.size >= maxLeaderWaiters) return Promise.reject(new EtcdError('tooManyRequests'));
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        this.waiters.delete(wake);
        cancel();
        resolve();
      };
      const cancel = this.timers.after(Math.max(0, timeoutMs), wake);
      this.waiters.add(wake);
    });
  }
}
