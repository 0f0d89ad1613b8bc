// What each party needs of the lease table. In the server both are the lease actor's client
// (LeaseTableRef, answers by promise); a test of one party alone may hand it a LeaseTable itself,
// which answers at once. Callers await every answer either way, so the order of their calls is the
// order the table sees.
import type { Key } from '../core/keys.js';
import type { KvRecord } from '../mvcc/kv-record.js';
import type { DueCheckpoint, GrantOutcome, GrantRequest, LeaseStatusView, RenewOutcome } from './lease-table.js';

export type Awaitable<T> = T | Promise<T>;

/** The store's half, called in log order while applying (and at start-up to restore). */
export interface LeaseLedger {
  /** The given IDs that name a lease (duplicates kept): one question for a whole run of writes. */
  liveOf(ids: readonly bigint[]): Awaitable<readonly bigint[]>;
  /** Grants in order, each answered as it would be alone: a run of grant entries is one question. */
  grantAll(requests: readonly GrantRequest[]): Awaitable<readonly GrantOutcome[]>;
  /** The keys a revoke deletes, in key order; undefined: no such lease. */
  keysOf(id: bigint): Awaitable<readonly Key[] | undefined>;
  remove(id: bigint): Awaitable<void>;
  checkpoint(id: bigint, remainingTtlSeconds: number): Awaitable<void>;
  /** No answer needed: an applied change moves its key between leases. Applied before any later call. */
  track(record: KvRecord): void;
  /** No answer needed: a lease read back from the engine at start-up. */
  restore(id: bigint, ttlSeconds: number): void;
  /** No answer needed: a key attached at start-up. */
  attach(id: bigint, key: Key): void;
  /**
   * Resolves once every track/restore/attach so far is applied; rejects with the first that failed,
   * so the apply that made them fails with it. Absent or undefined: they were applied at once.
   */
  flush?(): Promise<void> | undefined;
}

/** The primary's half (renewals, lease reads, expiry and checkpoint duties). */
export interface LeasePrimaryTable {
  /** Read without asking: the role last asked for (promote/demote); later asks queue behind that message. */
  readonly primary: boolean;
  renew(id: bigint): Awaitable<RenewOutcome>;
  status(id: bigint, withKeys: boolean): Awaitable<LeaseStatusView | undefined>;
  ids(): Awaitable<readonly bigint[]>;
  takeExpired(limit: number): Awaitable<readonly bigint[]>;
  takeDueCheckpoints(limit: number): Awaitable<readonly DueCheckpoint[]>;
}

/** Runs `then` with the answer: at once when there is one, on the reply otherwise (failures to `onError`). */
export function whenAnswered<T>(answer: Awaitable<T>, then: (value: T) => void, onError: (e: unknown) => void): void {
  if (answer instanceof Promise) answer.then(then).catch(onError);
  else then(answer);
}
