// The primary lessor's periodic work: propose a revoke for every lease past its expiry (at most
// etcd's leaseRevokeRate per second, so a mass expiry is spread out and never holds up other writes)
// and, with checkpoints on, propose the remaining TTLs that are due to be recorded, in batches of at
// most etcd's maxLeaseCheckpointBatchSize. Both only while this member's Raft is leader at that very
// moment: the table learns of a demotion a little later (with the next Ready), and a proposal made by
// a follower would be forwarded to the leader, so a deposed leader would revoke leases the new leader
// keeps alive.
import type { LeaseCheckpointRequest, LeaseRevokeRequest } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { EtcdError } from '../core/errors.js';
import { leaseRevokeRatePerSecond } from '../actors/lease-table.js';
import { whenAnswered, type LeasePrimaryTable } from '../actors/lease-table-ports.js';

/** How often the primary looks for expired leases and due checkpoints (etcd: 500 ms). */
export const leaseDutyIntervalMs = 100;
const revokesPerCheck = Math.max(1, Math.floor((leaseRevokeRatePerSecond * leaseDutyIntervalMs) / 1000));
/** etcd's maxLeaseCheckpointBatchSize: checkpoints in one log entry. */
export const maxLeaseCheckpointBatchSize = 1000;
/** etcd's leaseCheckpointRate (1000 per second), as batches per check. */
const leaseCheckpointRatePerSecond = 1000;
const checkpointBatchesPerCheck = Math.max(1, Math.floor((leaseCheckpointRatePerSecond * leaseDutyIntervalMs) / 1000 / 2));

export interface LeaseDutyWrites {
  /** `auth` is always undefined here: expiry revokes as the server (etcd's WithRoot), unchecked. */
  leaseRevoke(req: LeaseRevokeRequest, auth: undefined): Promise<unknown>;
  leaseCheckpoint(req: LeaseCheckpointRequest): Promise<unknown>;
}

export interface LeaseDutiesOptions {
  /** The lease actor's client; a LeaseTable itself answers at once, and a round then proposes at once. */
  readonly table: LeasePrimaryTable;
  readonly store: LeaseDutyWrites;
  /** Is this member's Raft leader right now (not as of the last leader change it was told of)? */
  readonly isLeaderNow: () => boolean;
  /** A revoke failed for a reason other than the lease being gone already. */
  readonly onExpiryError: (e: unknown) => void;
  /** An expired lease was revoked (etcd_debugging_server_lease_expired_total). */
  readonly onExpired?: (() => void) | undefined;
  readonly onCheckpointError: (e: unknown) => void;
  /** The store takes no more writes (fail-stop): nothing more will be proposed. */
  readonly onFatal: () => void;
}

export class LeaseDuties {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: LeaseDutiesOptions) {}

  start(): void {
    if (this.stopped) return;
    this.timer ??= setInterval(() => this.check(), leaseDutyIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round; public for tests that drive the clock by hand. */
  check(): void {
    if (this.stopped || !this.options.table.primary || !this.options.isLeaderNow()) return;
    whenAnswered(this.options.table.takeExpired(revokesPerCheck), (ids) => this.revokeExpired(ids), this.askFailed);
    this.proposeCheckpoints(0);
  }

  /**
   * The table could not be asked: it stopped, or an update to it failed and it answers nothing more.
   * Either way no later round can do better, so the duties stop as on a fail-stopped store.
   */
  private readonly askFailed = (e: unknown): void => {
    if (this.stopped) return;
    this.options.onExpiryError(e);
    this.stop();
    this.options.onFatal();
  };

  private revokeExpired(ids: readonly bigint[]): void {
    for (const ID of ids) {
      this.options.store.leaseRevoke({ ID }, undefined).then(this.options.onExpired, (e: unknown) => {
        // Revoked by a client meanwhile: nothing left to do.
        if (e instanceof EtcdError && e.kind === 'leaseNotFound') return;
        if (this.stopped) return;
        // The store takes no more writes until a restart (fail-stop): retrying would only log the same
        // refusal every few seconds, and renewals waiting for these revokes would wait forever.
        if (e instanceof EtcdError && (e.kind === 'stopped' || e.kind === 'noSpace')) {
          this.options.onExpiryError(e);
          this.stop();
          this.options.onFatal();
          return;
        }
        // Anything else is retried by the table.
        this.options.onExpiryError(e);
      });
    }
  }

  /** Batch `batch` of this round, then (if it was full) the next. */
  private proposeCheckpoints(batch: number): void {
    if (batch >= checkpointBatchesPerCheck) return;
    whenAnswered(
      this.options.table.takeDueCheckpoints(maxLeaseCheckpointBatchSize),
      (checkpoints) => {
        if (checkpoints.length === 0) return;
        // Lost ones are taken again an interval later (the table has rescheduled them already).
        this.options.store.leaseCheckpoint({ checkpoints: [...checkpoints] }).catch((e: unknown) => {
          if (!this.stopped) this.options.onCheckpointError(e);
        });
        if (checkpoints.length === maxLeaseCheckpointBatchSize) this.proposeCheckpoints(batch + 1);
      },
      this.askFailed,
    );
  }
}
