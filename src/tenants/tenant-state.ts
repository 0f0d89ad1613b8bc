// One tenant as this member serves it: its spec, its key and lease mappings, its rate buckets and
// what it has done here (requests, rejections, open watchers). The stored keys and bytes are the
// usage book's (kept in log order); the rest is this member's own.
import { EtcdError } from '../core/errors.js';
import { TenantKeys } from './tenant-keys.js';
import { TenantLeaseIds, leaseTagOf } from './tenant-lease-ids.js';
import type { TenantSpec } from './tenant-spec.js';
import { TokenBucket, type Clock } from './token-bucket.js';

/** A tenant's usage, for the admin API and metrics. */
export interface TenantUsage {
  /** Keys and bytes (keys + values) stored under the prefix: the same on every member. */
  readonly keys: number;
  readonly bytes: number;
  /** Requests this member admitted for the tenant since it started. */
  readonly requests: number;
  /** Requests refused for a limit: rate here, size when this member applied the refused write. */
  readonly rejections: number;
  /** Watchers open on this member. */
  readonly watchers: number;
}

/** What a tenant did on this member; one object outlives changes to the tenant's spec. */
export interface TenantCounters {
  requests: number;
  rejections: number;
  watchers: number;
}

/** A tenant's request or byte rate refused a call: `tooManyRequests`, told apart from the server's own (delayed-refusals.ts holds only these). */
export class TenantRateRefusal extends EtcdError {
  constructor() {
    super('tooManyRequests');
  }
}

export class TenantState {
  readonly keys: TenantKeys;
  readonly leaseIds: TenantLeaseIds;
  private readonly requestBucket: TokenBucket | undefined;
  private readonly byteBucket: TokenBucket | undefined;

  constructor(
    readonly spec: TenantSpec,
    clock: Clock,
    /** Shared with the state this one replaces: open watchers of the old spec close against it. */
    readonly counters: TenantCounters = { requests: 0, rejections: 0, watchers: 0 },
    /** A configured tenant the cluster has not taken yet: its clients are refused until it has. */
    readonly pending = false,
  ) {
    this.keys = new TenantKeys(spec.prefix);
    this.leaseIds = new TenantLeaseIds(leaseTagOf(spec.name));
    const { requestsPerSecond, bytesPerSecond } = spec.limits;
    this.requestBucket = requestsPerSecond === undefined ? undefined : new TokenBucket(requestsPerSecond, clock);
    this.byteBucket = bytesPerSecond === undefined ? undefined : new TokenBucket(bytesPerSecond, clock);
  }

  get name(): string {
    return this.spec.name;
  }

  get requests(): number {
    return this.counters.requests;
  }

  get rejections(): number {
    return this.counters.rejections;
  }

  get watchers(): number {
    return this.counters.watchers;
  }

  /** A refusal made elsewhere (the apply-time size check). */
  rejected(): void {
    this.counters.rejections++;
  }

  /** Counts one request of `bytes` request bytes; rejects with tooManyRequests past a rate limit (notCapable while pending). */
  admit(bytes: number): void {
    // refused rather than served unconfined or under limits the cluster does not enforce
    if (this.pending) throw new EtcdError('notCapable');
    if ((this.requestBucket !== undefined && !this.requestBucket.take(1)) || (this.byteBucket !== undefined && !this.byteBucket.take(bytes))) {
      this.counters.rejections++;
      throw new TenantRateRefusal();
    }
    this.counters.requests++;
  }

  /**
   * True, counting a rejection, when the next request would be refused for the request rate: for
   * refusing a call before its caller's token is checked or its request read (tenant-routing.ts).
   * Takes nothing from the bucket: a call let through is admitted as usual.
   */
  refusesRequestNow(): boolean {
    if (this.pending || this.requestBucket === undefined || !this.requestBucket.wouldRefuse(1)) return false;
    this.counters.rejections++;
    return true;
  }

  /** A new watcher; rejects with tooManyRequests past maxWatchers. */
  openWatcher(): void {
    const max = this.spec.limits.maxWatchers;
    if (max !== undefined && this.counters.watchers >= max) {
      this.counters.rejections++;
      throw new EtcdError('tooManyRequests');
    }
    this.counters.watchers++;
  }

  closeWatcher(): void {
    if (this.counters.watchers > 0) this.counters.watchers--;
  }

  /** etcd-style bounds on a grant's TTL: raised to the minimum, refused above the maximum. */
  leaseTtl(ttlSeconds: bigint): bigint {
    const { leaseTtlMinSeconds: min, leaseTtlMaxSeconds: max } = this.spec.limits;
    if (max !== undefined && ttlSeconds > BigInt(max)) {
      this.counters.rejections++;
      throw new EtcdError('leaseTtlTooLarge');
    }
    if (min !== undefined && ttlSeconds < BigInt(min)) return BigInt(min);
    return ttlSeconds;
  }
}
