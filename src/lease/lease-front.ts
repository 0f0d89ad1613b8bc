// The Lease API over the store and the lease table. Grants and revokes are log entries (the store
// applies them to the table in order); renewals and time-to-live read the table, as etcd serves them
// from the leader's lessor without a log entry. While this member is primary, the expiry loop
// proposes a revoke for every lease past its expiry, at most etcd's leaseRevokeRate per second, so a
// mass expiry is spread out and never holds up other writes.
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
import { EtcdError } from '../core/errors.js';
import { keyBytes } from '../core/keys.js';
import type { LeaseApi } from '../core/lease-api.js';
import { leaseRevokeRatePerSecond, type LeaseTable } from '../actors/lease-table.js';
import type { LeaseIdGenerator } from './lease-ids.js';

/** How often the primary looks for expired leases (etcd: 500 ms); the revoke rate is spread over the checks. */
export const expiryCheckIntervalMs = 100;
const revokesPerCheck = Math.max(1, Math.floor((leaseRevokeRatePerSecond * expiryCheckIntervalMs) / 1000));

/** The store's lease writes: both go through the revision log. */
export interface LeaseWrites {
  leaseGrant(req: LeaseGrantRequest): Promise<LeaseGrantResponse>;
  leaseRevoke(req: LeaseRevokeRequest): Promise<LeaseRevokeResponse>;
}

export interface LeaseFrontOptions {
  readonly store: LeaseWrites;
  readonly table: LeaseTable;
  readonly ids: LeaseIdGenerator;
  /** A complete header at the store's current revision. */
  readonly header: () => ResponseHeader;
  /** A revoke the expiry loop proposed failed for a reason other than the lease being gone already. */
  readonly onExpiryError: (e: unknown) => void;
}

export class LeaseFront implements LeaseApi {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Renewals waiting for an expired lease's revoke; woken by stop() too. */
  private readonly waitingRenewals = new Set<() => void>();

  constructor(private readonly options: LeaseFrontOptions) {}

  /** Starts the expiry loop; it does nothing while the table is not primary. */
  start(): void {
    this.timer ??= setInterval(() => this.revokeExpired(), expiryCheckIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    for (const wake of this.waitingRenewals) wake();
  }

  header(): ResponseHeader {
    return this.options.header();
  }

  grant(req: LeaseGrantRequest): Promise<LeaseGrantResponse> {
    // The ID is chosen before proposing, so the log entry (and every member applying it) has it.
    return this.options.store.leaseGrant(req.ID === 0n ? { ...req, ID: this.options.ids.next() } : req);
  }

  revoke(req: LeaseRevokeRequest): Promise<LeaseRevokeResponse> {
    return this.options.store.leaseRevoke(req);
  }

  async renew(id: bigint): Promise<bigint> {
    const outcome = this.options.table.renew(id);
    switch (outcome.kind) {
      case 'renewed':
        return BigInt(outcome.ttlSeconds);
      case 'notFound':
        return 0n;
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
        if (!this.options.table.primary) throw new EtcdError('notCapable', 'not the primary lessor');
        return 0n;
      case 'notPrimary':
        // A Raft member will forward to the leader here; a single member is always primary.
        throw new EtcdError('notCapable', 'not the primary lessor');
    }
  }

  async timeToLive(req: LeaseTimeToLiveRequest): Promise<LeaseTimeToLiveResponse> {
    const status = this.options.table.status(req.ID, req.keys);
    const header = this.header();
    if (status === undefined) return { header, ID: req.ID, TTL: -1n, grantedTTL: 0n, keys: [] };
    return {
      header,
      ID: req.ID,
      TTL: BigInt(status.remainingSeconds),
      grantedTTL: BigInt(status.ttlSeconds),
      keys: status.keys.map(keyBytes),
    };
  }

  async leases(): Promise<LeaseLeasesResponse> {
    return { header: this.header(), leases: this.options.table.ids().map((ID) => ({ ID })) };
  }

  private revokeExpired(): void {
    if (this.stopped) return;
    for (const ID of this.options.table.takeExpired(revokesPerCheck)) {
      this.options.store.leaseRevoke({ ID }).catch((e: unknown) => {
        // Revoked by a client meanwhile: nothing left to do.
        if (e instanceof EtcdError && e.kind === 'leaseNotFound') return;
        if (this.stopped) return;
        // The store takes no more writes until a restart (fail-stop): retrying would only log the same
        // refusal every few seconds, and renewals waiting for these revokes would wait forever.
        if (e instanceof EtcdError && (e.kind === 'stopped' || e.kind === 'noSpace')) {
          this.options.onExpiryError(e);
          this.stop();
          return;
        }
        // Anything else is retried by the table.
        this.options.onExpiryError(e);
      });
    }
  }
}
