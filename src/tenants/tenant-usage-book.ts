// What each tenant stores, kept exact in log order on every member, and the apply-time size check.
//
// The book follows every applied record (the lease ledger's `track`, which the store calls for each
// change the moment it is applied, before the next entry), so when a write is checked every earlier
// entry is already counted. The check runs where the store checks auth (AuthApplier.writeRefusal), and
// a write that may grow a limited tenant starts its own apply run (checkReadsWrittenState), so the
// answer depends only on the log, never on how a member batched it: every member refuses the same
// writes. At start-up the book is counted from the engine's persisted records, the state the log is
// then replayed over, so replayed entries are checked as they were the first time.
import type { EtcdErrorKind } from '../core/errors.js';
import { toKey, type Key } from '../core/keys.js';
import type { Engine } from '../engines/engine.js';
import type { PutRequest, RequestOp, TxnRequest } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { WriteCommand } from '../mvcc/apply-command.js';
import { decodeRecord, type KvRecord } from '../mvcc/kv-record.js';
import { RECORD_END, RECORD_PREFIX } from '../store/storage-keys.js';
import type { TenantLimits } from './tenant-spec.js';

/** One tenant's stored keys: each key's stored bytes (key + value). */
export interface StoredUsage {
  readonly keys: number;
  readonly bytes: number;
}

/** The part of a tenant the book needs: where its keys are and what it may store. */
export interface BookTenant {
  readonly name: string;
  /** The prefix as a store key (latin1). */
  readonly storedPrefix: Key;
  readonly limits: TenantLimits;
}

class PrefixCount {
  readonly sizes = new Map<Key, number>();
  bytes = 0;
  constructor(readonly storedPrefix: Key) {}

  set(key: Key, size: number | undefined): void {
    const before = this.sizes.get(key);
    if (before !== undefined) this.bytes -= before;
    if (size === undefined) this.sizes.delete(key);
    else {
      this.sizes.set(key, size);
      this.bytes += size;
    }
  }
}

/** Growth one write may cause in one tenant (the larger of a txn's two branches). */
interface Growth {
  keys: number;
  bytes: number;
}

export class TenantUsageBook {
  private tenants: readonly BookTenant[] = [];
  /** The write path's one test when no tenant has a size limit. */
  private anyLimited = false;
  /** By prefix: survives a tenant being renamed or its limits changed. */
  private readonly counts = new Map<Key, PrefixCount>();
  /** Records of keys under these prefixes are also handed to `onWatchedRecord` (the tenant specs). */
  private readonly listeners: { prefix: Key; listener: (record: KvRecord) => void }[] = [];

  /** Follows a record of `prefix` as it is applied (the directory's specs kept in the store). */
  follow(prefix: Key, listener: (record: KvRecord) => void): void {
    this.listeners.push({ prefix, listener });
  }

  /**
   * The tenants counted from now on. A prefix no tenant has any more loses its count (a count kept
   * would go stale and, once another tenant takes the prefix or one inside it, be wrong); a new
   * prefix starts at zero, exact because a tenant is created only over an empty prefix
   * (tenant-spec-writes.ts). At start-up the caller counts every prefix from the engine (`countFrom`).
   */
  setTenants(tenants: readonly BookTenant[]): void {
    this.tenants = tenants;
    this.anyLimited = tenants.some(isSizeLimited);
    const live = new Set(tenants.map((t) => t.storedPrefix));
    for (const prefix of [...this.counts.keys()]) if (!live.has(prefix)) this.counts.delete(prefix);
    for (const prefix of live) if (!this.counts.has(prefix)) this.counts.set(prefix, new PrefixCount(prefix));
  }

  usage(storedPrefix: Key): StoredUsage {
    const c = this.counts.get(storedPrefix);
    return { keys: c?.sizes.size ?? 0, bytes: c?.bytes ?? 0 };
  }

  /**
   * Counts the persisted state: the engine's records in revision order, the last of each key wins.
   * Called before the store replays the log over that state.
   */
  async countFrom(engine: Engine, prefixes: readonly Key[], followed = true): Promise<void> {
    const wanted = prefixes.map((p) => new PrefixCount(p));
    for (const c of wanted) this.counts.set(c.storedPrefix, c);
    const listeners = followed ? this.listeners : [];
    // A record holds its key verbatim: records without any of these bytes need no decoding.
    const needles = [...prefixes, ...listeners.map((l) => l.prefix)].map((p) => Buffer.from(p, 'latin1'));
    if (needles.length === 0) return;
    for await (const pairs of engine.iterateBatches({ gte: RECORD_PREFIX, lt: RECORD_END })) {
      for (const [, v] of pairs) {
        if (!needles.some((n) => v.includes(n))) continue;
        const record = decodeRecord(v, 0);
        for (const c of wanted) if (record.key.startsWith(c.storedPrefix)) c.set(record.key, sizeOf(record));
        for (const f of listeners) if (record.key.startsWith(f.prefix)) f.listener(record);
      }
    }
  }

  /** Every applied record, in log order (the lease ledger's track). */
  track(record: KvRecord): void {
    for (const f of this.listeners) if (record.key.startsWith(f.prefix)) f.listener(record);
    for (const c of this.counts.values()) if (record.key.startsWith(c.storedPrefix)) c.set(record.key, sizeOf(record));
  }

  /** True when the write may grow a tenant with a size limit: it must be checked after every earlier write. */
  mayGrowLimited(command: WriteCommand): boolean {
    if (!this.anyLimited) return false;
    for (const key of putKeysOf(command)) if (this.limitedOwner(key) !== undefined) return true;
    return false;
  }

  /** The prefix of the tenant the last refusal was for (its rejection count). */
  lastRefusedPrefix: Key | undefined;

  /** noSpace when the write could take a tenant past its keys or bytes limit; undefined otherwise. */
  refusal(command: WriteCommand): EtcdErrorKind | undefined {
    if (!this.anyLimited) return undefined;
    const growth = this.growthOf(command);
    for (const [tenant, g] of growth) {
      const now = this.usage(tenant.storedPrefix);
      const { maxKeys, maxBytes } = tenant.limits;
      if ((maxKeys !== undefined && g.keys > 0 && now.keys + g.keys > maxKeys) || (maxBytes !== undefined && g.bytes > 0 && now.bytes + g.bytes > maxBytes)) {
        this.lastRefusedPrefix = tenant.storedPrefix;
        return 'noSpace';
      }
    }
    return undefined;
  }

  private limitedOwner(key: Key): BookTenant | undefined {
    for (const t of this.tenants) if (isSizeLimited(t) && key.startsWith(t.storedPrefix)) return t;
    return undefined;
  }

  private growthOf(command: WriteCommand): Map<BookTenant, Growth> {
    if (command.type === 'put') return this.putsGrowth([command.req]);
    if (command.type === 'txn') return this.txnGrowth(command.req);
    return new Map();
  }

  /** A txn may take either branch: the larger growth of the two, per tenant and measure. */
  private txnGrowth(req: TxnRequest): Map<BookTenant, Growth> {
    const out = new Map<BookTenant, Growth>();
    for (const branch of [req.success, req.failure]) {
      for (const [t, g] of this.branchGrowth(branch)) {
        const o = out.get(t) ?? { keys: 0, bytes: 0 };
        out.set(t, { keys: Math.max(o.keys, g.keys), bytes: Math.max(o.bytes, g.bytes) });
      }
    }
    return out;
  }

  private branchGrowth(ops: readonly RequestOp[]): Map<BookTenant, Growth> {
    const out = this.putsGrowth(ops.flatMap((op) => (op.requestPut === undefined ? [] : [op.requestPut])));
    for (const op of ops) {
      if (op.requestTxn === undefined) continue;
      for (const [t, g] of this.txnGrowth(op.requestTxn)) {
        const o = out.get(t) ?? { keys: 0, bytes: 0 };
        out.set(t, { keys: o.keys + g.keys, bytes: o.bytes + g.bytes });
      }
    }
    return out;
  }

  private putsGrowth(puts: readonly PutRequest[]): Map<BookTenant, Growth> {
    const out = new Map<BookTenant, Growth>();
    for (const put of puts) {
      const key = toKey(put.key);
      const tenant = this.limitedOwner(key);
      if (tenant === undefined) continue;
      const before = this.counts.get(tenant.storedPrefix)?.sizes.get(key);
      const after = put.ignoreValue ? (before ?? key.length) : key.length + put.value.length;
      const g = out.get(tenant) ?? { keys: 0, bytes: 0 };
      out.set(tenant, { keys: g.keys + (before === undefined ? 1 : 0), bytes: g.bytes + after - (before ?? 0) });
    }
    return out;
  }
}

const isSizeLimited = (t: BookTenant): boolean => t.limits.maxKeys !== undefined || t.limits.maxBytes !== undefined;

/** Stored bytes of a live record (key + value); undefined for a tombstone. */
const sizeOf = (r: KvRecord): number | undefined => (r.tombstone ? undefined : r.key.length + r.value.length);

function* putKeysOf(command: WriteCommand): Iterable<Key> {
  if (command.type === 'put') yield toKey(command.req.key);
  else if (command.type === 'txn') yield* txnPutKeys(command.req);
}

function* txnPutKeys(req: TxnRequest): Iterable<Key> {
  for (const op of [...req.success, ...req.failure]) {
    if (op.requestPut !== undefined) yield toKey(op.requestPut.key);
    if (op.requestTxn !== undefined) yield* txnPutKeys(op.requestTxn);
  }
}
