// What only the primary lessor (the leader) answers: renewals, remaining TTLs and the lease list,
// from its own table, for its clients and for calls forwarded by other members. Every answer says
// 'notPrimary' when this member is not (or stopped being) the primary, so the caller forwards.
// A lease this member does not know yet may be granted by an entry it has not applied: before
// answering "not found" it passes a linearizable read barrier (etcd waits for its applied index).
import { EtcdError } from '../core/errors.js';
import type { Key } from '../core/keys.js';
import type { LeaseCheckpointRequest } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { LeaseStatusView } from '../actors/lease-table.js';
import type { LeasePrimaryTable } from '../actors/lease-table-ports.js';

export type PrimaryAnswer<T> = { readonly kind: 'answer'; readonly value: T } | { readonly kind: 'notFound' } | { readonly kind: 'notPrimary' };

export interface LeasePrimaryOptions {
  /** The lease actor's client: every answer is asked; `primary` is the role last asked for. */
  readonly table: LeasePrimaryTable;
  /** Resolves once the applied state reflects every write acknowledged before the call. */
  readonly readBarrier: () => Promise<void>;
  /** Proposes checkpoints through the log; absent: checkpoints are off. */
  readonly proposeCheckpoint?: (req: LeaseCheckpointRequest) => Promise<unknown>;
  readonly onCheckpointError: (e: unknown) => void;
}

export interface TimeToLiveView {
  readonly ttlSeconds: number;
  readonly remainingSeconds: number;
  readonly keys: readonly Key[];
}

export class LeasePrimary {
  private stopped = false;
  /** Renewals waiting for an expired lease's revoke; woken by stop() too. */
  private readonly waitingRenewals = new Set<() => void>();

  constructor(private readonly options: LeasePrimaryOptions) {}

  get isPrimary(): boolean {
    return this.options.table.primary;
  }

  stop(): void {
    this.stopped = true;
    for (const wake of this.waitingRenewals) wake();
  }

  /** The granted TTL, as etcd's lessor.Renew. */
  async renew(id: bigint): Promise<PrimaryAnswer<bigint>> {
    const table = this.options.table;
    let outcome = await table.renew(id);
    if (outcome.kind === 'notFound') {
      if (!(await this.caughtUp())) return { kind: 'notPrimary' };
      outcome = await table.renew(id);
    }
    switch (outcome.kind) {
      case 'renewed':
        if (outcome.checkpointed) this.clearCheckpoint(id);
        return { kind: 'answer', value: BigInt(outcome.ttlSeconds) };
      case 'notFound':
        return { kind: 'notFound' };
      case 'notPrimary':
        return { kind: 'notPrimary' };
      case 'expired':
        // etcd answers once the revoke has landed, so a client never sees an expired lease renewed.
        await new Promise<void>((resolve) => {
          const wake = (): void => {
            this.waitingRenewals.delete(wake);
            resolve();
          };
          this.waitingRenewals.add(wake);
          void outcome.gone.then(wake);
        });
        if (this.stopped) throw new EtcdError('stopped');
        // demoted while waiting: the new primary decides
        return table.primary ? { kind: 'notFound' } : { kind: 'notPrimary' };
    }
  }

  async timeToLive(id: bigint, withKeys: boolean): Promise<PrimaryAnswer<TimeToLiveView>> {
    const table = this.options.table;
    if (!table.primary) return { kind: 'notPrimary' };
    let status: LeaseStatusView | undefined = await table.status(id, withKeys);
    if (status === undefined) {
      if (!(await this.caughtUp())) return { kind: 'notPrimary' };
      status = await table.status(id, withKeys);
    }
    if (!table.primary) return { kind: 'notPrimary' };
    if (status === undefined) return { kind: 'notFound' };
    return { kind: 'answer', value: { ttlSeconds: status.ttlSeconds, remainingSeconds: status.remainingSeconds, keys: status.keys } };
  }

  /** Every lease ID, soonest expiry first, including every grant acknowledged before the call. */
  async leases(): Promise<PrimaryAnswer<bigint[]>> {
    if (!this.options.table.primary) return { kind: 'notPrimary' };
    if (!(await this.caughtUp())) return { kind: 'notPrimary' };
    const ids = await this.options.table.ids();
    return this.options.table.primary ? { kind: 'answer', value: [...ids] } : { kind: 'notPrimary' };
  }

  /** False when the barrier failed (leader changed, no leader, timed out): the caller goes elsewhere. */
  private async caughtUp(): Promise<boolean> {
    try {
      await this.options.readBarrier();
      return this.options.table.primary;
    } catch (e) {
      if (e instanceof EtcdError && e.kind === 'stopped') throw e;
      return false;
    }
  }

  /**
   * etcd's Renew with checkpoints on: a lease with a recorded remaining TTL gets 0 recorded, so a new
   * primary grants it its full TTL instead of what was left at the last checkpoint. Only then: at
   * most two entries per lease per checkpoint interval.
   */
  private clearCheckpoint(id: bigint): void {
    const propose = this.options.proposeCheckpoint;
    if (propose === undefined) return;
    propose({ checkpoints: [{ ID: id, remainingTTL: 0n }] }).catch((e: unknown) => this.options.onCheckpointError(e));
  }
}
