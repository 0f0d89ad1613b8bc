// etcd's store transactions: one read or write transaction at a fixed begin revision. A write
// transaction gives every change the main revision beginRev+1 and the next sub-revision, and reads
// inside it see its own earlier changes (as etcd's storeTxnWrite does).
import { EtcdError } from '../core/errors.js';
import type { Key, KeyRange } from '../core/keys.js';
import type { RangeScan } from './key-history-index.js';
import type { KvRecord } from './kv-record.js';

/** The keys a transaction runs against: one shard's index, or several shards behind a router. */
export interface KeyspaceView {
  scan(range: KeyRange, rev: number, limit: number, countOnly: boolean): Promise<RangeScan>;
  /** Appends a new revision (a put or a tombstone) to its key's history. */
  append(record: KvRecord): Promise<void>;
  /** Takes back the newest revision of its key, which must be `record` (undoing a failed apply). */
  removeLast(record: KvRecord): Promise<void>;
}

export interface RevisionState {
  /** The store's revision before this transaction. */
  readonly beginRev: number;
  /** History below this revision is gone (etcd's compactMainRev; -1 before any compaction). */
  readonly compactRev: number;
}

export interface RangeKeysResult extends RangeScan {
  /** The revision the header reports: the transaction's current revision. */
  readonly rev: number;
}

const EMPTY = Buffer.alloc(0);

/**
 * The revision a read at `requestedRev` (0: current) sees, for a transaction at `currentRev`: etcd's
 * futureRev and compacted checks, in its order.
 */
export function readRevision(requestedRev: bigint, currentRev: number, compactRev: number): number {
  if (requestedRev > currentRev) throw new EtcdError('futureRev');
  const rev = requestedRev <= 0n ? currentRev : Number(requestedRev);
  if (rev < compactRev) throw new EtcdError('compacted');
  return rev;
}

/** The record a put of `key` writes at revision `rev` (sub-revision `sub`), after the key's live record `prev`. */
export function putRecord(key: Key, value: Buffer, lease: bigint, prev: KvRecord | undefined, rev: number, sub: number): KvRecord {
  return {
    key,
    value,
    createRevision: prev === undefined ? rev : prev.createRevision,
    modRevision: rev,
    sub,
    version: prev === undefined ? 1 : prev.version + 1,
    lease,
    tombstone: false,
  };
}

export class StoreTxn {
  /** Records this transaction wrote, in sub-revision order: what must be persisted. */
  readonly changes: KvRecord[] = [];
  /**
   * For each change, the key's live record before this transaction (undefined if there was none): what
   * a watcher's prev_kv reports. etcd reads it at the event's revision - 1, so when a key changes twice
   * in one transaction (a from-key delete, then a put) both changes see the record from before it.
   */
  readonly prevs: (KvRecord | undefined)[] = [];
  /** Each changed key's live record before this transaction. */
  private readonly before = new Map<Key, KvRecord | undefined>();

  constructor(
    private readonly view: KeyspaceView,
    private readonly revs: RevisionState,
  ) {}

  get beginRev(): number {
    return this.revs.beginRev;
  }

  get compactRev(): number {
    return this.revs.compactRev;
  }

  /** The revision reads see now: beginRev, or beginRev+1 once this transaction has written. */
  get currentRev(): number {
    return this.changes.length > 0 ? this.revs.beginRev + 1 : this.revs.beginRev;
  }

  /** The revision after commit, as etcd reports it in write responses. */
  get writeRev(): number {
    return this.revs.beginRev + 1;
  }

  /** Takes back every change, newest first, so a transaction that failed part-way leaves no trace. */
  async undo(): Promise<void> {
    for (let i = this.changes.length - 1; i >= 0; i--) await this.view.removeLast(this.changes[i]!);
    this.changes.length = 0;
    this.prevs.length = 0;
    this.before.clear();
  }

  async rangeKeys(range: KeyRange, requestedRev: bigint, limit: number, countOnly: boolean): Promise<RangeKeysResult> {
    const curRev = this.currentRev;
    const rev = readRevision(requestedRev, curRev, this.revs.compactRev);
    const scan = await this.view.scan(range, rev, limit, countOnly);
    return { records: scan.records, count: scan.count, rev: curRev };
  }

  async get(key: Key): Promise<KvRecord | undefined> {
    const scan = await this.view.scan({ kind: 'single', key }, this.currentRev, 0, false);
    return scan.records[0];
  }

  async put(key: Key, value: Buffer, lease: bigint): Promise<void> {
    const prev = await this.get(key);
    const record = putRecord(key, value, lease, prev, this.writeRev, this.changes.length);
    await this.view.append(record);
    this.record(record, prev);
  }

  /** Deletes every live key in the range; returns how many. */
  async deleteRange(range: KeyRange): Promise<number> {
    const scan = await this.view.scan(range, this.currentRev, 0, false);
    const rev = this.writeRev;
    for (const live of scan.records) {
      const tombstone: KvRecord = {
        key: live.key,
        value: EMPTY,
        createRevision: 0,
        modRevision: rev,
        sub: this.changes.length,
        version: 0,
        lease: 0n,
        tombstone: true,
      };
      await this.view.append(tombstone);
      this.record(tombstone, live);
    }
    return scan.records.length;
  }

  /** Notes a change; current is the key's live record it replaced inside this transaction. */
  private record(change: KvRecord, current: KvRecord | undefined): void {
    if (!this.before.has(change.key)) this.before.set(change.key, current);
    this.changes.push(change);
    this.prevs.push(this.before.get(change.key));
  }
}
