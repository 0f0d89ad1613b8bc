// The lease table: every lease with its TTL, its expiry and the keys attached to it, as etcd's lessor
// keeps them. It has two kinds of callers and keeps them apart:
// - the store, while applying the revision log in order (grant, revoke, attach/detach from applied
//   changes, restore at start-up): deterministic, the same on every member;
// - the lease front (renew, time-to-live, expiry), which depends on the clock and on being primary.
// Only the primary (the member holding leadership; a single member always is) tracks expiries; on any
// other member every lease lives forever until the primary revokes it through the log. promote()
// refreshes every expiry, so a lease never expires because the server was down or leadership moved.
// With checkpoints on, the primary also schedules each long lease's remaining TTL to be recorded
// through the log every checkpoint interval (etcd's lease checkpointing), and promote() starts a
// lease from its last recorded remaining TTL instead of the whole TTL.
import type { EtcdErrorKind } from '../core/errors.js';
import type { Key } from '../core/keys.js';
import type { KvRecord } from '../mvcc/kv-record.js';
import { IndexedMinHeap } from './indexed-min-heap.js';

/** etcd's remaining TTL of a lease that does not expire here: math.MaxInt64 nanoseconds, in whole seconds. */
const foreverRemainingSeconds = 9_223_372_036;
/** etcd lease.MaxLeaseTTL (seconds). */
export const maxLeaseTtlSeconds = 9_000_000_000;
/** etcd lease.leaseRevokeRate: at most this many expired leases are revoked per second. */
export const leaseRevokeRatePerSecond = 1000;
/** etcd defaultExpiredleaseRetryInterval: an expired lease whose revoke did not land is retried after this. */
export const expiredLeaseRetryMs = 3000;

export interface LeaseClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
}

export const systemClock: LeaseClock = { now: () => performance.now() };

interface Lease {
  readonly id: bigint;
  readonly ttlSeconds: number;
  /** The last checkpointed remaining TTL (etcd's LeaseCheckpoint); 0: unset, the full TTL counts. */
  remainingTtlSeconds: number;
  /** When the lease expires; Infinity while this member is not primary. */
  expiresAtMs: number;
  /** When the expiry loop next looks at it (expiresAtMs, or a retry time once expired). */
  dueAtMs: number;
  heapIndex: number;
  /** Allocated on first attach: most leases in a large table hold one key or none. */
  keys: Set<Key> | undefined;
  /** Renewals waiting for an expired lease's revoke to land. */
  goneWaiters: (() => void)[] | undefined;
}

export type GrantOutcome =
  | { readonly ok: true; readonly id: bigint; readonly ttlSeconds: number }
  | { readonly ok: false; readonly error: Extract<EtcdErrorKind, 'leaseNotFound' | 'leaseExists' | 'leaseTtlTooLarge'> };

export interface GrantRequest {
  readonly id: bigint;
  readonly ttlSeconds: bigint;
}

export type RenewOutcome =
  /** `checkpointed`: a remaining TTL is recorded for it; etcd then records 0 so a new primary grants the full TTL. */
  | { readonly kind: 'renewed'; readonly ttlSeconds: number; readonly checkpointed: boolean }
  | { readonly kind: 'notFound' }
  /** Past its expiry, its revoke not applied yet: etcd answers once the revoke lands. */
  | { readonly kind: 'expired'; readonly gone: Promise<void> }
  | { readonly kind: 'notPrimary' };

export interface LeaseStatusView {
  readonly id: bigint;
  readonly ttlSeconds: number;
  /** Seconds left, truncated toward zero as etcd's int64(Remaining().Seconds()). */
  readonly remainingSeconds: number;
  readonly keys: readonly Key[];
}

export interface LeaseTableOptions {
  /** etcd's minimum TTL: ceil(1.5 × election timeout) in seconds; smaller TTLs are raised to it. */
  readonly minTtlSeconds: number;
  readonly clock: LeaseClock;
  /** How often the primary records a lease's remaining TTL (etcd: 5 min); absent: checkpoints are off. */
  readonly checkpointIntervalMs?: number;
}

/** One lease's remaining TTL to record (etcd's pb.LeaseCheckpoint). */
export interface DueCheckpoint {
  readonly ID: bigint;
  readonly remainingTTL: bigint;
}

const byDue = (a: Lease, b: Lease): boolean => a.dueAtMs < b.dueAtMs;
/** etcd's Lease.RemainingTTL(): the checkpointed remaining TTL if set, else the whole TTL. */
const promotedTtlSeconds = (l: Lease): number => (l.remainingTtlSeconds > 0 ? l.remainingTtlSeconds : l.ttlSeconds);

export class LeaseTable {
  private readonly leases = new Map<bigint, Lease>();
  /** Which lease each attached key belongs to (etcd's itemMap): a change detaches by key, not by the record it replaced. */
  private readonly leaseOfKey = new Map<Key, bigint>();
  private readonly expiries = new IndexedMinHeap<Lease>(byDue, (l, i) => (l.heapIndex = i));
  private isPrimary = false;
  /**
   * Leases whose remaining TTL is due to be recorded, by due time. Every due time is now plus the
   * same interval on a monotonic clock, so re-inserting on reschedule keeps the map in due order:
   * one entry per lease, no heap needed.
   */
  private readonly checkpointDue = new Map<bigint, number>();

  constructor(private readonly options: LeaseTableOptions) {}

  get size(): number {
    return this.leases.size;
  }

  get primary(): boolean {
    return this.isPrimary;
  }

  /** Keys attached to some lease: while 0, a change of a key without a lease has nothing to detach. */
  get attachedKeyCount(): number {
    return this.leaseOfKey.size;
  }

  // --- applied in log order by the store ---

  exists(id: bigint): boolean {
    return this.leases.has(id);
  }

  /** The given IDs that name a lease, in the given order (duplicates kept). */
  liveOf(ids: readonly bigint[]): bigint[] {
    return ids.filter((id) => this.leases.has(id));
  }

  /** etcd's lessor.Grant: the TTL is checked before the ID is, and raised to the minimum after. */
  grant(id: bigint, ttlSeconds: bigint): GrantOutcome {
    if (id === 0n) return { ok: false, error: 'leaseNotFound' };
    if (ttlSeconds > BigInt(maxLeaseTtlSeconds)) return { ok: false, error: 'leaseTtlTooLarge' };
    if (this.leases.has(id)) return { ok: false, error: 'leaseExists' };
    const ttl = Math.max(Number(ttlSeconds), this.options.minTtlSeconds);
    this.scheduleCheckpoint(this.add(id, ttl));
    return { ok: true, id, ttlSeconds: ttl };
  }

  grantAll(requests: readonly GrantRequest[]): GrantOutcome[] {
    return requests.map((r) => this.grant(r.id, r.ttlSeconds));
  }

  /** A lease read back from the engine at start-up: it lives forever until promote() refreshes it. */
  restore(id: bigint, ttlSeconds: number): void {
    if (!this.leases.has(id)) this.add(id, Math.max(ttlSeconds, this.options.minTtlSeconds));
  }

  /** The keys a revoke deletes, in key order (etcd sorts them so every member deletes alike); undefined if unknown. */
  keysOf(id: bigint): Key[] | undefined {
    const l = this.leases.get(id);
    return l === undefined ? undefined : [...(l.keys ?? [])].sort();
  }

  remove(id: bigint): void {
    const l = this.leases.get(id);
    if (l === undefined) return;
    this.leases.delete(id);
    this.expiries.remove(l);
    this.checkpointDue.delete(id);
    for (const key of l.keys ?? []) if (this.leaseOfKey.get(key) === id) this.leaseOfKey.delete(key);
    for (const wake of l.goneWaiters ?? []) wake();
  }

  /**
   * etcd's lessor.Checkpoint, applied from the log: only the remaining TTL is recorded; promote()
   * starts the lease from it, so a long lease does not begin afresh at every leader change.
   */
  checkpoint(id: bigint, remainingTtlSeconds: number): void {
    const l = this.leases.get(id);
    if (l === undefined) return;
    l.remainingTtlSeconds = Math.max(0, remainingTtlSeconds);
    // as etcd's Checkpoint on the primary: the next one is due an interval from now
    this.scheduleCheckpoint(l);
  }

  attach(id: bigint, key: Key): void {
    const l = this.leases.get(id);
    if (l === undefined) return;
    this.detach(key);
    (l.keys ??= new Set()).add(key);
    this.leaseOfKey.set(key, id);
  }

  /**
   * An applied change moves its key from the lease it is attached to now to the record's own (none
   * for a delete). By key, as etcd's lessor does: within one Txn a key may be put with a lease and
   * then deleted, so the record a change replaced is not always the one from before the Txn.
   */
  track(record: KvRecord): void {
    if (!record.tombstone && record.lease !== 0n) this.attach(record.lease, record.key);
    else this.detach(record.key);
  }

  private detach(key: Key): void {
    const id = this.leaseOfKey.get(key);
    if (id === undefined) return;
    this.leaseOfKey.delete(key);
    this.leases.get(id)?.keys?.delete(key);
  }

  // --- the primary's side: clock-dependent, never part of the log ---

  /**
   * Becomes primary: every lease expires its TTL plus `extendMs` from now, and when there are enough
   * leases for a pile-up, expiries are spread so that no more than 3/4 of the revoke rate fall in one
   * second (etcd's Promote, the fix for revoke storms after a leader change).
   */
  promote(extendMs: number): void {
    this.isPrimary = true;
    const now = this.options.clock.now();
    for (const l of this.leases.values()) {
      this.setExpiry(l, now + promotedTtlSeconds(l) * 1000 + extendMs);
      this.scheduleCheckpoint(l);
    }
    if (this.leases.size < leaseRevokeRatePerSecond) return;
    const sorted = [...this.leases.values()].sort((a, b) => a.expiresAtMs - b.expiresAtMs);
    const targetPerSecond = (3 * leaseRevokeRatePerSecond) / 4;
    let baseMs = sorted[0]!.expiresAtMs - now;
    let nextWindowMs = baseMs + 1000;
    let expires = 0;
    for (const l of sorted) {
      const remainingMs = l.expiresAtMs - now;
      if (remainingMs > nextWindowMs) {
        baseMs = remainingMs;
        nextWindowMs = baseMs + 1000;
        expires = 1;
        continue;
      }
      expires++;
      if (expires <= targetPerSecond) continue;
      const delayMs = (1000 * expires) / targetPerSecond - (remainingMs - baseMs);
      nextWindowMs = baseMs + delayMs;
      this.setExpiry(l, now + promotedTtlSeconds(l) * 1000 + delayMs + extendMs);
    }
  }

  /** Stops being primary: no lease expires here until promoted again. */
  demote(): void {
    this.isPrimary = false;
    this.checkpointDue.clear();
    for (const l of this.leases.values()) {
      this.setExpiry(l, Infinity);
      // Renewals waiting for this member's revoke would wait for a revoke it no longer makes: as etcd's
      // Renew does on demotion, they end and the client retries against the new primary.
      for (const wake of l.goneWaiters ?? []) wake();
      l.goneWaiters = undefined;
    }
  }

  renew(id: bigint): RenewOutcome {
    if (!this.isPrimary) return { kind: 'notPrimary' };
    const l = this.leases.get(id);
    if (l === undefined) return { kind: 'notFound' };
    const now = this.options.clock.now();
    if (l.expiresAtMs <= now) {
      const gone = new Promise<void>((resolve) => (l.goneWaiters ??= []).push(resolve));
      return { kind: 'expired', gone };
    }
    this.setExpiry(l, now + l.ttlSeconds * 1000);
    return { kind: 'renewed', ttlSeconds: l.ttlSeconds, checkpointed: this.options.checkpointIntervalMs !== undefined && l.remainingTtlSeconds > 0 };
  }

  status(id: bigint, withKeys: boolean): LeaseStatusView | undefined {
    const l = this.leases.get(id);
    if (l === undefined) return undefined;
    return {
      id,
      ttlSeconds: l.ttlSeconds,
      remainingSeconds: this.remainingSeconds(l),
      keys: withKeys ? [...(l.keys ?? [])].sort() : [],
    };
  }

  /** Every lease ID, soonest expiry first (etcd's Leases()). */
  ids(): bigint[] {
    // Not primary, every expiry is Infinity (Infinity - Infinity is NaN): keep the table's order then.
    const byExpiry = (a: Lease, b: Lease): number => (a.expiresAtMs === b.expiresAtMs ? 0 : a.expiresAtMs < b.expiresAtMs ? -1 : 1);
    return [...this.leases.values()].sort(byExpiry).map((l) => l.id);
  }

  /**
   * Up to `limit` leases past their expiry, soonest first. Each is looked at again only after
   * expiredLeaseRetryMs, so a revoke in flight is not proposed twice unless it did not land.
   */
  takeExpired(limit: number): bigint[] {
    if (!this.isPrimary) return [];
    const now = this.options.clock.now();
    const out: bigint[] = [];
    while (out.length < limit) {
      const l = this.expiries.peek();
      if (l === undefined || l.dueAtMs > now) break;
      out.push(l.id);
      l.dueAtMs = now + expiredLeaseRetryMs;
      this.expiries.update(l);
    }
    return out;
  }

  /**
   * Up to `limit` remaining TTLs due to be recorded, in seconds rounded up (etcd's
   * findDueScheduledCheckpoints). Each is scheduled again an interval later right away, so a
   * checkpoint lost with a leader change costs one interval, not the rest of the lease's life. A
   * lease renewed within the last second has nothing to record (its full TTL is what a new primary
   * grants) and is only rescheduled, where etcd drops it until the next promotion.
   */
  takeDueCheckpoints(limit: number): DueCheckpoint[] {
    if (!this.isPrimary || this.options.checkpointIntervalMs === undefined) return [];
    const now = this.options.clock.now();
    const out: DueCheckpoint[] = [];
    for (const [id, dueAtMs] of this.checkpointDue) {
      if (dueAtMs > now || out.length >= limit) break;
      this.checkpointDue.delete(id);
      const l = this.leases.get(id);
      if (l === undefined || l.expiresAtMs <= now) continue;
      const remaining = Math.ceil((l.expiresAtMs - now) / 1000);
      this.scheduleCheckpoint(l);
      if (remaining >= l.ttlSeconds) continue;
      out.push({ ID: id, remainingTTL: BigInt(remaining) });
    }
    return out;
  }

  /** When the soonest expiry is due (Infinity when none). */
  nextDueAtMs(): number {
    return this.expiries.peek()?.dueAtMs ?? Infinity;
  }

  private add(id: bigint, ttlSeconds: number): Lease {
    const expiresAtMs = this.isPrimary ? this.options.clock.now() + ttlSeconds * 1000 : Infinity;
    const l: Lease = { id, ttlSeconds, remainingTtlSeconds: 0, expiresAtMs, dueAtMs: expiresAtMs, heapIndex: -1, keys: undefined, goneWaiters: undefined };
    this.leases.set(id, l);
    this.expiries.push(l);
    return l;
  }

  /** etcd's scheduleCheckpointIfNeeded: only a lease with more than an interval to live is worth recording. */
  private scheduleCheckpoint(l: Lease): void {
    const intervalMs = this.options.checkpointIntervalMs;
    if (intervalMs === undefined || !this.isPrimary) return;
    if (promotedTtlSeconds(l) * 1000 <= intervalMs) return;
    this.checkpointDue.delete(l.id);
    this.checkpointDue.set(l.id, this.options.clock.now() + intervalMs);
  }

  private setExpiry(l: Lease, atMs: number): void {
    l.expiresAtMs = atMs;
    l.dueAtMs = atMs;
    this.expiries.update(l);
  }

  private remainingSeconds(l: Lease): number {
    // etcd's Remaining() for a lease that never expires is the largest Duration: 9,223,372,036 s.
    if (l.expiresAtMs === Infinity) return foreverRemainingSeconds;
    return Math.trunc((l.expiresAtMs - this.options.clock.now()) / 1000);
  }
}
