// Which tenants exist and who belongs to which. Tenants come from the configuration (ServerConfig
// .tenants, the same on every member) and from the admin API, which keeps each one as a key under a
// reserved prefix of the store (tenantSpecKeyPrefix): created, changed and deleted through the
// replicated log like any write, so every member learns of it at the same log position (the usage
// book hands the directory each such record as it is applied) and a restart reads them back. A stored
// tenant with the name of a configured one replaces it.
import type { AuthApplier, LeaseLedger } from '../store/mvcc-store.js';
import type { Engine } from '../engines/engine.js';
import type { KvRecord } from '../mvcc/kv-record.js';
import { TenantUsageBook } from './tenant-usage-book.js';
import { TenantState, type TenantUsage } from './tenant-state.js';
import type { TenantSpec } from './tenant-spec.js';
import { tenantSpecKeyPrefix, tenantsProblem } from './tenant-validation.js';
import { parseStoredSpec } from './tenant-spec-record.js';
import { specWriteProblem, writesTenantSpecs } from './tenant-spec-writes.js';
import type { Clock } from './token-bucket.js';

export interface TenantEntry {
  readonly spec: TenantSpec;
  /** Where it is defined: the configuration, or the admin API (kept in the store). */
  readonly source: 'config' | 'admin';
}

export class TenantDirectory {
  readonly book = new TenantUsageBook();
  private readonly configured: ReadonlyMap<string, TenantSpec>;
  private readonly stored = new Map<string, TenantSpec>();
  private states = new Map<string, TenantState>();
  private sources = new Map<string, 'config' | 'admin'>();
  private byUser = new Map<string, TenantState>();
  private byCommonName = new Map<string, TenantState>();
  /** Grows by one on every change; callers cache per-tenant objects by it. */
  private generation = 0;
  private readonly changeListeners: (() => void)[] = [];

  constructor(
    configured: readonly TenantSpec[],
    private readonly clock: Clock,
  ) {
    const problem = tenantsProblem(configured);
    if (problem !== undefined) throw new Error(`tenants: ${problem}`);
    this.configured = new Map(configured.map((s) => [s.name, s]));
    this.book.follow(tenantSpecKeyPrefix, (record) => this.onSpecRecord(record));
    this.rebuild();
  }

  /** Reads the tenants kept in the store and counts each tenant's keys; before the store replays its log. */
  async load(engine: Engine): Promise<void> {
    await this.book.countFrom(engine, []);
    await this.book.countFrom(engine, this.list().map((t) => t.keys.storedPrefix), false);
  }

  get isEmpty(): boolean {
    return this.states.size === 0;
  }

  get version(): number {
    return this.generation;
  }

  onChange(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  list(): TenantState[] {
    return [...this.states.values()];
  }

  get(name: string): TenantState | undefined {
    return this.states.get(name);
  }

  sourceOf(name: string): 'config' | 'admin' | undefined {
    return this.sources.get(name);
  }

  forUser(user: string): TenantState | undefined {
    return this.byUser.get(user);
  }

  forCommonName(cn: string): TenantState | undefined {
    return this.byCommonName.get(cn);
  }

  /** The specs in effect, for validating a change before it is proposed. */
  specs(): TenantSpec[] {
    return this.list().map((t) => t.spec);
  }

  /** Usage of one tenant (undefined: no such tenant), for the admin API and metrics. */
  usage(name: string): TenantUsage | undefined {
    const t = this.states.get(name);
    if (t === undefined) return undefined;
    const stored = this.book.usage(t.keys.storedPrefix);
    return { keys: stored.keys, bytes: stored.bytes, requests: t.requests, rejections: t.rejections, watchers: t.watchers };
  }

  /** Every tenant's usage, for metrics (`lattice_tenant_*`). */
  usages(): { readonly name: string; readonly usage: TenantUsage }[] {
    return this.list().map((t) => ({ name: t.name, usage: this.usage(t.name)! }));
  }

  // ---- the apply side ----

  /**
   * The store's auth applier with the tenants' checks after auth's own, for every write whatever its
   * auth header (internal writes carry none). A write to the specs is applied
   * alone, so the writes after it are checked against the tenants it leaves in effect however a
   * member batched the log; a write that may grow a limited tenant is checked after every earlier one.
   */
  wrapApplier(auth: AuthApplier): AuthApplier {
    return {
      apply: (req, logIndex, ops) => auth.apply(req, logIndex, ops),
      writeRefusal: (command) => auth.writeRefusal(command) ?? this.specRefusal(command) ?? this.sizeRefusal(command),
      checkReadsWrittenState: (command) => auth.checkReadsWrittenState(command) || writesTenantSpecs(command) || this.book.mayGrowLimited(command),
      leaseRevokeRefusal: (command) => auth.leaseRevokeRefusal(command),
      appliedAlone: (command) => (auth.appliedAlone?.(command) ?? false) || writesTenantSpecs(command),
    };
  }

  /** The store's lease ledger, its `track` also feeding the usage book (every applied record, in order). */
  wrapLedger(ledger: LeaseLedger): LeaseLedger {
    return {
      exists: (id) => ledger.exists(id),
      grant: (id, ttl) => ledger.grant(id, ttl),
      keysOf: (id) => ledger.keysOf(id),
      remove: (id) => ledger.remove(id),
      restore: (...args: Parameters<LeaseLedger['restore']>) => ledger.restore(...args),
      attach: (id, key) => ledger.attach(id, key),
      track: (record) => {
        ledger.track(record);
        this.book.track(record);
      },
      checkpoint: (id, remaining) => ledger.checkpoint(id, remaining),
    };
  }

  private specRefusal(command: Parameters<AuthApplier['writeRefusal']>[0]): ReturnType<AuthApplier['writeRefusal']> {
    if (!writesTenantSpecs(command)) return undefined;
    return specWriteProblem(command, this.specs()) === undefined ? undefined : 'authPermissionDenied';
  }

  private sizeRefusal(command: Parameters<AuthApplier['writeRefusal']>[0]): ReturnType<AuthApplier['writeRefusal']> {
    const refused = this.book.refusal(command);
    if (refused !== undefined) {
      const owner = this.book.lastRefusedPrefix;
      for (const t of this.states.values()) if (t.keys.storedPrefix === owner) t.rejected();
    }
    return refused;
  }

  private onSpecRecord(record: KvRecord): void {
    const name = record.key.slice(tenantSpecKeyPrefix.length);
    // A record that does not read as this tenant's spec (written before the apply-time checks) is no
    // tenant: keeping the spec before it would make members that restarted disagree with the others.
    const spec = record.tombstone ? undefined : parseStoredSpec(record.value);
    if (spec === undefined || spec.name !== name) this.stored.delete(name);
    else this.stored.set(name, spec);
    this.rebuild();
  }

  /**
   * The set in effect: configured tenants, replaced or joined by stored ones in name order; a stored
   * one that would clash with those before it is left out (the admin API checks before proposing,
   * but two admins may race).
   */
  private rebuild(): void {
    const effective = new Map(this.configured);
    const sources = new Map<string, 'config' | 'admin'>([...this.configured.keys()].map((n) => [n, 'config' as const]));
    for (const name of [...this.stored.keys()].sort()) {
      const candidate = new Map(effective);
      candidate.set(name, this.stored.get(name)!);
      if (tenantsProblem([...candidate.values()]) !== undefined) continue;
      effective.set(name, this.stored.get(name)!);
      sources.set(name, 'admin');
    }
    const states = new Map<string, TenantState>();
    for (const [name, spec] of effective) {
      const before = this.states.get(name);
      if (before !== undefined && before.spec === spec) {
        states.set(name, before);
        continue;
      }
      states.set(name, new TenantState(spec, this.clock, before?.counters));
    }
    this.states = states;
    this.sources = sources;
    this.byUser = new Map([...states.values()].flatMap((t) => t.spec.users.map((u) => [u, t] as const)));
    this.byCommonName = new Map([...states.values()].flatMap((t) => t.spec.certCommonNames.map((c) => [c, t] as const)));
    this.book.setTenants([...states.values()].map((t) => ({ name: t.name, storedPrefix: t.keys.storedPrefix, limits: t.spec.limits })));
    this.generation++;
    for (const l of this.changeListeners) l();
  }
}
