// Which tenants exist and who belongs to which. The replicated state is the one source of truth: each
// tenant is a key under a reserved prefix of the store (tenantSpecKeyPrefix), created, changed and
// deleted through the log like any write, so every member learns of it at the same log position (the
// usage book hands the directory each such record as it is applied) and a restart reads them back.
// The apply-time checks read only these. Tenants in this member's configuration (ServerConfig
// .tenants) are a seed: the member proposes them through the same path as the admin API
// (tenant-config-seed.ts). Until the cluster has taken one it is served as pending (its clients are
// refused, never unconfined), and a configured tenant that differs from the cluster's is reported
// (configDisagreement: /readyz and the log; a stale one, configStale: the log and a metric only).
import type { AuthApplier, LeaseLedger } from '../store/mvcc-store.js';
import type { Engine } from '../engines/engine.js';
import type { KvRecord } from '../mvcc/kv-record.js';
import { TenantUsageBook } from './tenant-usage-book.js';
import { TenantState, type TenantUsage } from './tenant-state.js';
import type { TenantSpec } from './tenant-spec.js';
import { tenantSpecKeyPrefix, tenantsProblem } from './tenant-validation.js';
import { parseStoredSpec, sameSpec, specDifference } from './tenant-spec-record.js';
import { specWriteProblem, writesTenantSpecs } from './tenant-spec-writes.js';
import type { Clock } from './token-bucket.js';

/** How a configured tenant stands against the cluster's spec (TenantDirectory.configState). */
export type TenantConfigState = 'agrees' | 'pending' | 'stale' | 'mismatch' | 'newer';

export interface TenantEntry {
  readonly spec: TenantSpec;
  /** Where it is defined: the configuration, or the admin API (kept in the store). */
  readonly source: 'config' | 'admin';
}

export class TenantDirectory {
  readonly book = new TenantUsageBook();
  private readonly configured: ReadonlyMap<string, TenantSpec>;
  private readonly stored = new Map<string, TenantSpec>();
  /** The specs the cluster enforces (stored, minus any that clash): what the apply-time checks read. */
  private replicatedSpecs = new Map<string, TenantSpec>();
  /** Why a configured tenant could not be proposed (tenant-config-seed.ts), by name. */
  private readonly seedFailures = new Map<string, string>();
  /** Why a configured tenant cannot join the enforced set as it stands (a nested prefix, a shared lease range), by name. */
  private clashes = new Map<string, string>();
  /** Configured tenants the cluster has enforced since this member started (so one missing now was deleted). */
  private readonly enforcedOnce = new Set<string>();
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
    await this.book.countFrom(engine, this.list().filter((t) => !t.pending).map((t) => t.keys.storedPrefix), false);
  }

  /** This member's configured tenants (the seed it proposes). */
  configuredSpecs(): TenantSpec[] {
    return [...this.configured.values()];
  }

  isConfigured(name: string): boolean {
    return this.configured.has(name);
  }

  /** The tenant as the cluster enforces it; undefined for a pending or unknown one. */
  replicated(name: string): TenantState | undefined {
    const t = this.states.get(name);
    return t === undefined || t.pending ? undefined : t;
  }

  /** Records (or clears, with undefined) why a configured tenant could not be proposed. */
  noteSeedFailure(name: string, reason: string | undefined): void {
    if (reason === undefined) this.seedFailures.delete(name);
    else this.seedFailures.set(name, reason);
  }

  /** Why a configured tenant cannot join the tenants the cluster enforces as they stand; undefined when it can. */
  clashOf(name: string): string | undefined {
    return this.clashes.get(name);
  }

  /**
   * Why a tenant is served as pending (its clients refused), recomputed from the current state; undefined
   * for an enforced or unknown one.
   */
  pendingReason(name: string): string | undefined {
    const t = this.states.get(name);
    if (t === undefined || !t.pending) return undefined;
    const clash = this.clashes.get(name);
    if (clash !== undefined) return `it clashes with a tenant the cluster enforces: ${clash}`;
    const failure = this.seedFailures.get(name);
    if (failure !== undefined) return failure;
    if (this.enforcedOnce.has(name)) return "deleted from the cluster's state since this member started: take it out of this member's configuration, or restart the member to propose it again";
    return "not in the cluster's state yet";
  }

  /**
   * How this member's configuration of a tenant stands against the spec the cluster enforces
   * (undefined: not configured here). `stale`: a lower generation than the cluster's (a member not
   * yet restarted in a rolling change); `mismatch`: another spec at the same generation; `newer`: a
   * higher generation not yet enforced; `pending`: not enforced at all.
   */
  configState(name: string): TenantConfigState | undefined {
    const spec = this.configured.get(name);
    if (spec === undefined) return undefined;
    const inEffect = this.replicatedSpecs.get(name);
    if (inEffect === undefined) return 'pending';
    const mine = spec.generation ?? 0;
    const theirs = inEffect.generation ?? 0;
    if (mine < theirs) return 'stale';
    if (specDifference(spec, inEffect) === undefined) return 'agrees';
    return mine === theirs ? 'mismatch' : 'newer';
  }

  /**
   * Why this member must not be ready for its configured tenants, for /readyz and the log; undefined
   * when it may. Local only: it never changes what is applied. A stale configured tenant is not a
   * reason (configStale): the member enforces the cluster's spec all the same, and in a rolling
   * change every member not yet restarted is stale at once. Recomputed from the current state each
   * time, so a reason goes away with its cause.
   */
  configDisagreement(): string | undefined {
    for (const [name, spec] of this.configured) {
      const inEffect = this.replicatedSpecs.get(name);
      const state = this.configState(name);
      if (inEffect === undefined) return `tenant ${name} from this member's configuration is not enforced by the cluster: ${this.pendingReason(name) ?? "not in the cluster's state yet"}`;
      const mine = spec.generation ?? 0;
      const theirs = inEffect.generation ?? 0;
      if (state === 'mismatch') return `tenant ${name} in this member's configuration differs from the one the cluster enforces at the same generation ${mine} (${specDifference(spec, inEffect)}); raise the generation with every change, and give every member the same tenants`;
      if (state === 'newer') return `tenant ${name} in this member's configuration (generation ${mine}) is not yet the one the cluster enforces (generation ${theirs}: ${specDifference(spec, inEffect)})`;
    }
    return undefined;
  }

  /** Why this member's configuration of its tenants is older than the cluster's, for a warning; undefined when it is not. */
  configStale(): string | undefined {
    const stale = [...this.configured.keys()].filter((name) => this.configState(name) === 'stale');
    if (stale.length === 0) return undefined;
    const described = stale.map((name) => `${name} (generation ${this.configured.get(name)!.generation ?? 0} here, ${this.replicatedSpecs.get(name)!.generation ?? 0} in the cluster)`);
    return `this member's configuration is stale for tenant ${described.join(', ')}: it enforces the cluster's spec; give it the newest tenants file (restart it)`;
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

  /** The specs the cluster enforces (pending configured ones left out): for the apply-time checks and validating a change. */
  specs(): TenantSpec[] {
    return [...this.replicatedSpecs.values()];
  }

  /** Usage of one tenant (undefined: no such tenant), for the admin API and metrics. */
  usage(name: string): TenantUsage | undefined {
    const t = this.states.get(name);
    if (t === undefined) return undefined;
    // a placeholder stores nothing: its prefix may be an enforced tenant's, whose keys are not its own
    const stored = t.pending ? { keys: 0, bytes: 0 } : this.book.usage(t.keys.storedPrefix);
    return { keys: stored.keys, bytes: stored.bytes, requests: t.requests, rejections: t.rejections, watchers: t.watchers };
  }

  /** Every tenant's usage, for metrics (`lattice_tenant_*`). */
  usages(): { readonly name: string; readonly usage: TenantUsage; readonly configStale: boolean }[] {
    return this.list().map((t) => ({ name: t.name, usage: this.usage(t.name)!, configStale: this.configState(t.name) === 'stale' }));
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
      writeRefusal: (command, leaseKeys) => auth.writeRefusal(command, leaseKeys) ?? this.specRefusal(command) ?? this.sizeRefusal(command),
      checkReadsWrittenState: (command) => auth.checkReadsWrittenState(command) || writesTenantSpecs(command) || this.book.mayGrowLimited(command),
      // the tenants' own checks read usage, never lease keys
      readsLeaseKeys: (command) => auth.readsLeaseKeys(command),
      leaseRevokeRefusal: (command, leaseKeys) => auth.leaseRevokeRefusal(command, leaseKeys),
      appliedAlone: (command) => (auth.appliedAlone?.(command) ?? false) || writesTenantSpecs(command),
    };
  }

  /** The store's lease ledger, its `track` also feeding the usage book (every applied record, in order). */
  wrapLedger(ledger: LeaseLedger): LeaseLedger {
    return {
      liveOf: (ids) => ledger.liveOf(ids),
      grantAll: (requests) => ledger.grantAll(requests),
      keysOf: (id) => ledger.keysOf(id),
      remove: (id) => ledger.remove(id),
      restore: (...args: Parameters<LeaseLedger['restore']>) => ledger.restore(...args),
      attach: (id, key) => ledger.attach(id, key),
      track: (record) => {
        ledger.track(record);
        this.book.track(record);
      },
      checkpoint: (id, remaining) => ledger.checkpoint(id, remaining),
      flush: () => ledger.flush?.(),
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
      for (const t of this.states.values()) if (!t.pending && t.keys.storedPrefix === owner) t.rejected();
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
   * The set in effect: the stored tenants in name order, leaving out one that would clash with those
   * before it (the admin API checks before proposing, but two admins may race). Then every configured
   * tenant the cluster does not enforce is served as a pending placeholder that refuses its clients
   * (TenantState.admit throws notCapable), whether it is on its way or clashes with a stored tenant:
   * its users and certificate names must never fall through to unconfined callers. A placeholder
   * binds a user or name only where no enforced tenant does, and stays out of specs() and the usage book.
   */
  private rebuild(): void {
    const effective = new Map<string, TenantSpec>();
    for (const name of [...this.stored.keys()].sort()) {
      const spec = this.stored.get(name)!;
      if (tenantsProblem([...effective.values(), spec]) !== undefined) continue;
      effective.set(name, spec);
    }
    this.replicatedSpecs = new Map(effective);
    const clashes = new Map<string, string>();
    const pending = new Set<string>();
    for (const [name, spec] of this.configured) {
      if (this.replicatedSpecs.has(name)) continue;
      // a configured tenant that clashes with a stored one by name is stored-but-not-in-effect: its placeholder replaces it
      const clash = tenantsProblem([...this.replicatedSpecs.values(), spec]);
      if (clash !== undefined) clashes.set(name, clash);
      effective.set(name, spec);
      pending.add(name);
    }
    this.clashes = clashes;
    for (const name of this.configured.keys()) {
      if (!this.replicatedSpecs.has(name)) continue;
      this.seedFailures.delete(name);
      this.enforcedOnce.add(name);
    }
    const sources = new Map<string, 'config' | 'admin'>([...effective.keys()].map((n) => [n, this.configured.has(n) ? ('config' as const) : ('admin' as const)]));
    const states = new Map<string, TenantState>();
    for (const [name, spec] of effective) {
      const before = this.states.get(name);
      // The same spec stored again keeps the tenant's state: its streams, buckets and counters.
      if (before !== undefined && (before.spec === spec || sameSpec(before.spec, spec)) && before.pending === pending.has(name)) {
        states.set(name, before);
        continue;
      }
      states.set(name, new TenantState(spec, this.clock, before?.counters, pending.has(name)));
    }
    this.states = states;
    this.sources = sources;
    // enforced tenants first, so a placeholder never takes a user or name from one
    const ordered = [...states.values()].sort((a, b) => Number(a.pending) - Number(b.pending));
    const bind = (of: (t: TenantState) => readonly string[]): Map<string, TenantState> => {
      const out = new Map<string, TenantState>();
      for (const t of ordered) for (const id of of(t)) if (!out.has(id)) out.set(id, t);
      return out;
    };
    this.byUser = bind((t) => t.spec.users);
    this.byCommonName = bind((t) => t.spec.certCommonNames);
    this.book.setTenants([...states.values()].filter((t) => !t.pending).map((t) => ({ name: t.name, storedPrefix: t.keys.storedPrefix, limits: t.spec.limits })));
    this.generation++;
    for (const l of this.changeListeners) l();
  }
}
