// The lease table as an actor: it owns the LeaseTable, takes typed messages one at a time in arrival
// order, and publishes the few facts others read without asking (size, primary, attached keys).
// Two kinds of senders share its mailbox: the store, which sends in log order while applying and
// awaits every answer it uses before going on (so every member decides alike), and the primary's
// side (renewals, lease reads, the expiry and checkpoint duties), whose messages simply queue
// between the store's.
//
// Main thread only. A renewal of an expired lease answers with a promise that resolves when that
// lease's revoke lands (etcd answers only then), and a promise cannot cross a thread; the table
// also reads the process's monotonic clock, which the primary's expiry decisions must share with
// the timers of the duty loop. So no 'lease' actor kind exists for worker placement.
import type { Key } from '../core/keys.js';
import type { KvRecord } from '../mvcc/kv-record.js';
import type { Actor } from './actor.js';
import { MainThreadActor } from './main-thread-actor.js';
import { LeaseTable, type DueCheckpoint, type GrantOutcome, type GrantRequest, type LeaseStatusView, type LeaseTableOptions, type RenewOutcome } from './lease-table.js';
import type { LeaseLedger, LeasePrimaryTable } from './lease-table-ports.js';

export type LeaseRequest =
  // --- in log order, from the store ---
  | { readonly type: 'liveOf'; readonly ids: readonly bigint[] }
  | { readonly type: 'grantAll'; readonly requests: readonly GrantRequest[] }
  | { readonly type: 'keysOf'; readonly id: bigint }
  | { readonly type: 'remove'; readonly id: bigint }
  | { readonly type: 'checkpoint'; readonly id: bigint; readonly remainingTtlSeconds: number }
  /** Applied changes, in log order: each moves its key to its record's lease (none for a delete). */
  | { readonly type: 'track'; readonly records: readonly KvRecord[] }
  /** Leases read back from the engine at start-up. */
  | { readonly type: 'restore'; readonly leases: readonly (readonly [id: bigint, ttlSeconds: number])[] }
  /** Each live key's lease, read back from the engine at start-up. */
  | { readonly type: 'attach'; readonly keys: readonly (readonly [id: bigint, key: Key])[] }
  // --- the primary's side ---
  | { readonly type: 'renew'; readonly id: bigint }
  | { readonly type: 'status'; readonly id: bigint; readonly withKeys: boolean }
  | { readonly type: 'ids' }
  | { readonly type: 'takeExpired'; readonly limit: number }
  | { readonly type: 'takeDueCheckpoints'; readonly limit: number }
  | { readonly type: 'nextDueAtMs' }
  | { readonly type: 'promote'; readonly extendMs: number }
  | { readonly type: 'demote' }
  | { readonly type: 'size' };

export interface LeaseReplies {
  liveOf: readonly bigint[];
  grantAll: readonly GrantOutcome[];
  keysOf: readonly Key[] | undefined;
  remove: null;
  checkpoint: null;
  track: null;
  restore: null;
  attach: null;
  renew: RenewOutcome;
  status: LeaseStatusView | undefined;
  ids: readonly bigint[];
  takeExpired: readonly bigint[];
  takeDueCheckpoints: readonly DueCheckpoint[];
  nextDueAtMs: number;
  promote: null;
  demote: null;
  size: number;
}

export type LeaseReply = LeaseReplies[keyof LeaseReplies];

/** What the actor publishes after a message that changed it. */
export interface LeaseFacts {
  readonly size: number;
  readonly primary: boolean;
  /** Keys attached to some lease (0: a change of a key without a lease has nothing to detach). */
  readonly attachedKeys: number;
}

export class LeaseActor implements Actor<LeaseRequest, LeaseReply> {
  private readonly table: LeaseTable;
  private facts: LeaseFacts;

  constructor(options: LeaseTableOptions, private readonly publish: (facts: LeaseFacts) => void) {
    this.table = new LeaseTable(options);
    this.facts = { size: 0, primary: false, attachedKeys: 0 };
  }

  receive(msg: LeaseRequest): LeaseReply {
    const reply = this.handle(msg);
    const t = this.table;
    const f = this.facts;
    if (t.size !== f.size || t.primary !== f.primary || t.attachedKeyCount !== f.attachedKeys) {
      this.facts = { size: t.size, primary: t.primary, attachedKeys: t.attachedKeyCount };
      this.publish(this.facts);
    }
    return reply;
  }

  private handle(msg: LeaseRequest): LeaseReply {
    const t = this.table;
    switch (msg.type) {
      case 'liveOf':
        return t.liveOf(msg.ids);
      case 'grantAll':
        return t.grantAll(msg.requests);
      case 'keysOf':
        return t.keysOf(msg.id);
      case 'remove':
        t.remove(msg.id);
        return null;
      case 'checkpoint':
        t.checkpoint(msg.id, msg.remainingTtlSeconds);
        return null;
      case 'track':
        // The cheap test stays here: with no key attached anywhere, a record without a lease changes nothing.
        for (const r of msg.records) if (t.attachedKeyCount > 0 || (!r.tombstone && r.lease !== 0n)) t.track(r);
        return null;
      case 'restore':
        for (const [id, ttl] of msg.leases) t.restore(id, ttl);
        return null;
      case 'attach':
        for (const [id, key] of msg.keys) t.attach(id, key);
        return null;
      case 'renew':
        return t.renew(msg.id);
      case 'status':
        return t.status(msg.id, msg.withKeys);
      case 'ids':
        return t.ids();
      case 'takeExpired':
        return t.takeExpired(msg.limit);
      case 'takeDueCheckpoints':
        return t.takeDueCheckpoints(msg.limit);
      case 'nextDueAtMs':
        return t.nextDueAtMs();
      case 'promote':
        t.promote(msg.extendMs);
        return null;
      case 'demote':
        t.demote();
        return null;
      case 'size':
        return t.size;
    }
  }
}

/** Updates gathered into one message before it is sent anyway (a large start-up restore is several). */
export const maxLeaseUpdatesPerMessage = 10_000;

/** Updates that need no answer, buffered until the next message so that a batch of them is one message. */
type PendingUpdate =
  | { readonly type: 'track'; readonly records: KvRecord[] }
  | { readonly type: 'restore'; readonly leases: (readonly [bigint, number])[] }
  | { readonly type: 'attach'; readonly keys: (readonly [bigint, Key])[] };

/**
 * The lease actor's only handle: typed asks over its mailbox, the updates that need no answer
 * gathered into one message per run (sent before the next ask and at the latest on the next
 * microtask, so order is kept), and the published facts. Nobody else holds the table.
 */
export class LeaseTableRef implements LeaseLedger, LeasePrimaryTable {
  private facts: LeaseFacts = { size: 0, primary: false, attachedKeys: 0 };
  private requestedPrimary: boolean | undefined;
  private readonly mailbox: MainThreadActor<LeaseRequest, LeaseReply>;
  private readonly listeners = new Set<(facts: LeaseFacts) => void>();
  private pending: PendingUpdate | undefined;
  private flushScheduled = false;
  /** The last update message sent while any is unhandled (the mailbox is FIFO: once it is handled, so are all before it). */
  private lastUpdate: Promise<void> | undefined;
  private updatesInFlight = 0;
  /** Update messages sent and not handled yet that may attach keys (the published count lags them). */
  private attachingInFlight = 0;
  private updateFailure: unknown = undefined;

  constructor(options: LeaseTableOptions) {
    this.mailbox = new MainThreadActor(
      new LeaseActor(options, (facts) => {
        this.facts = facts;
        for (const l of this.listeners) l(facts);
      }),
    );
  }

  get size(): number {
    return this.facts.size;
  }

  /**
   * The role last asked for, once promote or demote was called: every later ask queues behind that
   * message, so callers that read this and then ask see one consistent role, as when the table was
   * called directly (a reader between the call and its handling must not see the old role and send a
   * lease call to the leader that is this member). Before any, the table's published fact.
   */
  get primary(): boolean {
    return this.requestedPrimary ?? this.facts.primary;
  }

  /** Calls `listener` with the facts after every message that changes them; returns the unsubscribe. */
  onFacts(listener: (facts: LeaseFacts) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // --- updates without an answer ---

  track(record: KvRecord): void {
    // Nothing to move: no lease named, no key attached anywhere, none on its way to be.
    if ((record.tombstone || record.lease === 0n) && this.facts.attachedKeys === 0 && this.attachingInFlight === 0 && this.pending === undefined) return;
    const p = this.pendingOf('track');
    if (p.type === 'track' && p.records.push(record) >= maxLeaseUpdatesPerMessage) this.sendPending();
  }

  restore(id: bigint, ttlSeconds: number): void {
    const p = this.pendingOf('restore');
    if (p.type === 'restore' && p.leases.push([id, ttlSeconds]) >= maxLeaseUpdatesPerMessage) this.sendPending();
  }

  attach(id: bigint, key: Key): void {
    const p = this.pendingOf('attach');
    if (p.type === 'attach' && p.keys.push([id, key]) >= maxLeaseUpdatesPerMessage) this.sendPending();
  }

  flush(): Promise<void> | undefined {
    this.sendPending();
    if (this.lastUpdate === undefined && this.updateFailure === undefined) return undefined;
    return (this.lastUpdate ?? Promise.resolve()).then(() => {
      if (this.updateFailure !== undefined) throw this.updateFailure;
    });
  }

  // --- asks ---

  liveOf(ids: readonly bigint[]): Promise<readonly bigint[]> {
    return this.ask({ type: 'liveOf', ids });
  }

  grantAll(requests: readonly GrantRequest[]): Promise<readonly GrantOutcome[]> {
    return this.ask({ type: 'grantAll', requests });
  }

  keysOf(id: bigint): Promise<readonly Key[] | undefined> {
    return this.ask({ type: 'keysOf', id });
  }

  async remove(id: bigint): Promise<void> {
    await this.ask({ type: 'remove', id });
  }

  async checkpoint(id: bigint, remainingTtlSeconds: number): Promise<void> {
    await this.ask({ type: 'checkpoint', id, remainingTtlSeconds });
  }

  renew(id: bigint): Promise<RenewOutcome> {
    return this.ask({ type: 'renew', id });
  }

  status(id: bigint, withKeys: boolean): Promise<LeaseStatusView | undefined> {
    return this.ask({ type: 'status', id, withKeys });
  }

  ids(): Promise<readonly bigint[]> {
    return this.ask({ type: 'ids' });
  }

  takeExpired(limit: number): Promise<readonly bigint[]> {
    return this.ask({ type: 'takeExpired', limit });
  }

  takeDueCheckpoints(limit: number): Promise<readonly DueCheckpoint[]> {
    return this.ask({ type: 'takeDueCheckpoints', limit });
  }

  nextDueAtMs(): Promise<number> {
    return this.ask({ type: 'nextDueAtMs' });
  }

  async promote(extendMs: number): Promise<void> {
    this.requestedPrimary = true;
    await this.ask({ type: 'promote', extendMs });
  }

  async demote(): Promise<void> {
    this.requestedPrimary = false;
    await this.ask({ type: 'demote' });
  }

  async stop(): Promise<void> {
    this.sendPending();
    await this.mailbox.stop();
  }

  private ask<T extends LeaseRequest['type']>(msg: Extract<LeaseRequest, { type: T }>): Promise<LeaseReplies[T]> {
    this.sendPending();
    // An update that failed before this ask was handled left the table without it: its answer is not used.
    return this.mailbox.ask(msg).then((reply) => {
      if (this.updateFailure !== undefined) throw this.updateFailure;
      return reply as LeaseReplies[T];
    });
  }

  private pendingOf(type: PendingUpdate['type']): PendingUpdate {
    if (this.pending !== undefined && this.pending.type !== type) this.sendPending();
    if (this.pending === undefined) {
      this.pending = type === 'track' ? { type, records: [] } : type === 'restore' ? { type, leases: [] } : { type, keys: [] };
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        queueMicrotask(() => {
          this.flushScheduled = false;
          this.sendPending();
        });
      }
    }
    return this.pending;
  }

  private sendPending(): void {
    const update = this.pending;
    if (update === undefined) return;
    this.pending = undefined;
    const attaching = update.type !== 'restore';
    if (attaching) this.attachingInFlight++;
    this.updatesInFlight++;
    const handled = (): void => {
      if (attaching) this.attachingInFlight--;
      if (--this.updatesInFlight === 0) this.lastUpdate = undefined;
    };
    this.lastUpdate = this.mailbox.ask(update).then(handled, (e: unknown) => {
      this.updateFailure ??= e;
      handled();
    });
  }
}
