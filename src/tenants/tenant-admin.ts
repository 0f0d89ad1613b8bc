// The tenant admin operations, shared by the HTTP (/api/tenants) and gRPC (lattice.tenants.v1.Tenants)
// admin APIs and the configured tenants' seed: list and read with usage, create or change, delete. A change goes through the log as a
// key under the reserved prefix (tenant-directory.ts) and is answered once applied on this member.
// Who may call is the adapters' business (root only with auth on; never a tenant's client).
import { prefixEnd } from '../core/keys.js';
import type { ServerApi } from '../core/kv-api.js';
import { isEtcdError } from '../core/errors.js';
import { Compare, Compare_CompareResult, Compare_CompareTarget, RangeRequest, TxnRequest } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { TenantConfigState, TenantDirectory } from './tenant-directory.js';
import type { TenantUsage } from './tenant-state.js';
import type { TenantSpec } from './tenant-spec.js';
import { specProblem, tenantSpecKeyPrefix, tenantsProblem } from './tenant-validation.js';
import { parseStoredSpec, sameSpec, specDifference } from './tenant-spec-record.js';

export type TenantAdminErrorKind = 'notFound' | 'invalid' | 'conflict';

/** A refused admin operation; each adapter maps the kind once (HTTP 404/400/409, gRPC NOT_FOUND/INVALID_ARGUMENT/FAILED_PRECONDITION). */
export class TenantAdminError extends Error {
  constructor(
    readonly kind: TenantAdminErrorKind,
    message: string,
    /** Lost a race with another change: reading again and retrying may succeed. */
    readonly raced = false,
  ) {
    super(message);
    this.name = 'TenantAdminError';
  }
}

export interface TenantView extends TenantSpec {
  readonly source: 'config' | 'admin';
  readonly usage: TenantUsage;
  /** Present while its clients are refused: why the cluster does not enforce it (tenant-directory.ts). */
  readonly pending?: string;
  /** For a tenant of this member's configuration: how it stands against the cluster's spec. */
  readonly configState?: TenantConfigState;
}

export class TenantAdmin {
  constructor(
    private readonly api: ServerApi,
    readonly directory: TenantDirectory,
  ) {}

  list(): TenantView[] {
    return this.directory.list().map((t) => this.view(t.name)!);
  }

  get(name: string): TenantView {
    const v = this.view(name);
    if (v === undefined) throw new TenantAdminError('notFound', `no tenant ${name}`);
    return v;
  }

  /**
   * Proposes a configured tenant (tenant-config-seed.ts) when the cluster lacks it or enforces a lower
   * generation of it: read linearizably first, so the comparison is with the cluster's state, not a
   * stale one; the txn then compares the spec key as read. An equal generation with another spec
   * ('mismatch') or a lower one ('stale') is never proposed: that member alone is unready.
   */
  async seed(spec: TenantSpec): Promise<'unchanged' | 'created' | 'changed' | 'mismatch' | 'stale'> {
    const decided = await this.write(spec, (inEffect) => {
      if (inEffect === undefined) return undefined;
      const mine = spec.generation ?? 0;
      const theirs = inEffect.generation ?? 0;
      if (mine < theirs) return 'stale';
      if (mine === theirs) return specDifference(spec, inEffect) === undefined ? 'unchanged' : 'mismatch';
      return undefined;
    });
    if (typeof decided === 'string') return decided;
    return decided.created ? 'created' : 'changed';
  }

  /**
   * Creates or changes `spec.name`; `created` tells which. A configured tenant (this member's, or any
   * stored with a generation) is changed only by its seed, and a spec with a generation is refused:
   * only a configuration gives one.
   */
  async put(spec: TenantSpec): Promise<{ readonly tenant: TenantView; readonly created: boolean }> {
    if (this.directory.isConfigured(spec.name)) throw configuredRefusal(spec.name);
    // judged after the linearizable read: a spec stored with a generation is some member's configured one
    const done = await this.write(spec, (inEffect) => {
      if (inEffect?.generation !== undefined) throw configuredElsewhereRefusal(spec.name, inEffect.generation);
      // after the refusals above, so a configured tenant read and sent back is told it is configured
      if (spec.generation !== undefined) throw new TenantAdminError('invalid', "a generation is given only in the members' configuration: the admin API makes tenants without one");
      return undefined;
    });
    if (typeof done === 'string') throw new Error('unreachable: an admin write is never declined');
    return done;
  }

  /**
   * Reads the spec key linearizably, so the directory has applied at least that record; `decline`
   * may then answer instead of writing, judging the spec the cluster enforces; else one txn
   * proposes `spec`, comparing the key's revision as read, so it replaces exactly the spec judged.
   */
  private async write<D extends string>(
    spec: TenantSpec,
    decline: (inEffect: TenantSpec | undefined) => D | undefined,
  ): Promise<D | { readonly tenant: TenantView; readonly created: boolean }> {
    const key = specKey(spec.name);
    const stored = await this.api.kv.range(RangeRequest.create({ key }));
    const existing = this.directory.replicated(spec.name);
    const declined = decline(existing?.spec);
    if (declined !== undefined) return declined;
    if (existing !== undefined && sameSpec(spec, existing.spec)) {
      const unchanged = this.view(spec.name);
      if (unchanged !== undefined) return { tenant: unchanged, created: false };
    }
    const problem = specProblem(spec) ?? tenantsProblem([...this.directory.specs().filter((s) => s.name !== spec.name), spec]);
    if (problem !== undefined) throw new TenantAdminError('invalid', problem);
    if (existing !== undefined && existing.spec.prefix !== spec.prefix) throw new TenantAdminError('invalid', 'a tenant keeps its prefix: delete it and create another');
    // One txn, checked again where it is applied (tenant-spec-writes.ts): the spec key is as read
    // here, and a new tenant's prefix holds no key, so its usage, counted from zero, is exact.
    const modRevision = stored.kvs[0]?.modRevision ?? 0n;
    const compare = [Compare.create({ key, target: Compare_CompareTarget.MOD, result: Compare_CompareResult.EQUAL, modRevision })];
    if (existing === undefined) {
      compare.push(Compare.create({ key: Buffer.from(spec.prefix), rangeEnd: prefixEnd(Buffer.from(spec.prefix)), target: Compare_CompareTarget.CREATE, result: Compare_CompareResult.EQUAL, createRevision: 0n }));
    }
    let succeeded: boolean;
    try {
      const txn = TxnRequest.fromPartial({ compare, success: [{ requestPut: { key, value: specRecord(spec) } }], failure: [] });
      succeeded = (await this.api.kv.txn(txn, undefined)).succeeded;
    } catch (e) {
      if (isEtcdError(e) && e.kind === 'authPermissionDenied') throw new TenantAdminError('conflict', 'the tenant clashes with one changed at the same time', true);
      throw e;
    }
    if (!succeeded) {
      if (existing !== undefined) throw new TenantAdminError('conflict', `tenant ${spec.name} was changed at the same time; try again`, true);
      const used = await this.api.kv.range(RangeRequest.create({ key: Buffer.from(spec.prefix), rangeEnd: prefixEnd(Buffer.from(spec.prefix)), countOnly: true }));
      if (used.count > 0n) {
        throw new TenantAdminError('conflict', `prefix ${JSON.stringify(spec.prefix)} already holds ${used.count} keys; a tenant starts on an empty prefix (docs/tenants.md: bringing existing keys under a tenant)`);
      }
      throw new TenantAdminError('conflict', `tenant ${spec.name} was created at the same time; try again`, true);
    }
    const now = this.directory.replicated(spec.name) === undefined ? undefined : this.view(spec.name);
    if (now === undefined) throw new TenantAdminError('conflict', 'the tenant clashes with one created at the same time', true);
    return { tenant: now, created: existing === undefined };
  }

  /**
   * Deletes an admin tenant; a configured one (stored with a generation) only when `configuredGeneration`
   * names its stored generation: the admin says it is out of every member's configuration. The spec
   * key is read linearizably and judged as stored, then deleted in a txn comparing its revision as
   * read, so a spec changed meanwhile (a higher generation seeded) is not deleted unseen.
   */
  async delete(name: string, configuredGeneration?: number): Promise<void> {
    if (this.directory.isConfigured(name)) throw configuredRefusal(name);
    const key = specKey(name);
    const stored = (await this.api.kv.range(RangeRequest.create({ key }))).kvs[0];
    if (stored === undefined) throw new TenantAdminError('notFound', `no tenant ${name}`);
    const generation = parseStoredSpec(stored.value)?.generation;
    if (generation !== undefined && generation !== configuredGeneration) throw configuredElsewhereRefusal(name, generation);
    // A generation names one configured spec: a retried delete must not remove an admin tenant made since.
    if (generation === undefined && configuredGeneration !== undefined) {
      throw new TenantAdminError('conflict', `tenant ${name} is not a configured tenant; delete it without a generation`);
    }
    const compare = [Compare.create({ key, target: Compare_CompareTarget.MOD, result: Compare_CompareResult.EQUAL, modRevision: stored.modRevision })];
    const txn = TxnRequest.fromPartial({ compare, success: [{ requestDeleteRange: { key } }], failure: [] });
    if (!(await this.api.kv.txn(txn, undefined)).succeeded) throw new TenantAdminError('conflict', `tenant ${name} was changed at the same time; try again`, true);
  }

  private view(name: string): TenantView | undefined {
    const t = this.directory.get(name);
    const usage = this.directory.usage(name);
    const source = this.directory.sourceOf(name);
    if (t === undefined || usage === undefined || source === undefined) return undefined;
    const pending = this.directory.pendingReason(name);
    const configState = this.directory.configState(name);
    return { ...t.spec, source, usage, ...(pending === undefined ? {} : { pending }), ...(configState === undefined ? {} : { configState }) };
  }
}

const configuredRefusal = (name: string): TenantAdminError =>
  new TenantAdminError('conflict', `tenant ${name} is defined in this member's configuration: change it there, on every member`);

/**
 * A configured tenant's stored spec carries its generation (an admin PUT never sets one): changing or
 * deleting it here would drop the generation, or leave the members that configure it serving it.
 */
const configuredElsewhereRefusal = (name: string, generation: number): TenantAdminError =>
  new TenantAdminError(
    'conflict',
    `tenant ${name} comes from the members' configuration (generation ${generation}): change it there, on every member; to delete it, take it out of every member's configuration, then delete it with generation ${generation} (DELETE /api/tenants/${name}?generation=${generation}, or the gRPC Tenants.Delete with generation ${generation})`,
  );

/** Only the spec's own fields: the stored record is read strictly. */
const specRecord = (s: TenantSpec): Buffer =>
  Buffer.from(JSON.stringify({ name: s.name, prefix: s.prefix, users: s.users, certCommonNames: s.certCommonNames, limits: s.limits, ...(s.generation === undefined ? {} : { generation: s.generation }) }));

const specKey = (name: string): Buffer => Buffer.from(tenantSpecKeyPrefix + name, 'latin1');

