// Key-range shards: shard i owns keys in [splits[i-1], splits[i]). Routes commands and ranges to the
// shards that own them, and gives a KeyspaceView over all shards for entries that span several.
import type { ActorRef } from '../actors/actor.js';
import type { ShardReplies, ShardReply, ShardRequest } from '../actors/shard-actor.js';
import { keyRange, toKey, type Key, type KeyRange } from '../core/keys.js';
import type { Command } from '../log/command.js';
import type { RequestOp, TxnRequest } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { KvRecord } from '../mvcc/kv-record.js';
import type { RangeScan } from '../mvcc/key-history-index.js';
import type { KeyspaceView } from '../mvcc/store-txn.js';

export type ShardRef = ActorRef<ShardRequest, ShardReply>;

type Ask = <T extends ShardRequest['type']>(msg: Extract<ShardRequest, { type: T }>) => Promise<ShardReplies[T]>;

export class ShardSet {
  constructor(
    private readonly refs: readonly ShardRef[],
    private readonly splits: readonly Key[],
  ) {
    if (splits.length !== refs.length - 1) throw new Error('shard split points must be one fewer than shards');
  }

  get count(): number {
    return this.refs.length;
  }

  /** A typed ask to shard i. */
  shard(i: number): { ask: Ask } {
    const ref = this.refs[i];
    if (ref === undefined) throw new Error(`no shard ${i}`);
    return { ask: ((msg: ShardRequest) => ref.ask(msg)) as Ask };
  }

  shardOf(key: Key): number {
    let lo = 0;
    let hi = this.splits.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.splits[mid]! <= key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The shards a key range touches, in key order. */
  shardsOf(range: KeyRange): number[] {
    if (range.kind === 'single') return [this.shardOf(range.key)];
    const first = this.shardOf(range.start);
    let last = this.refs.length - 1;
    if (range.end !== null) {
      if (range.end <= range.start) return [first];
      last = this.splits.filter((s) => s < range.end!).length;
    }
    const out: number[] = [];
    for (let i = first; i <= last; i++) out.push(i);
    return out;
  }

  /** The single shard owning everything a command may touch, or null if it spans shards. */
  ownerOf(cmd: Command): number | null {
    if (this.refs.length === 1) return 0;
    let owner: number | null = null;
    for (const r of commandRanges(cmd)) {
      for (const s of this.shardsOf(r)) {
        if (owner === null) owner = s;
        else if (owner !== s) return null;
      }
    }
    return owner ?? 0;
  }

  ownerOfRange(range: KeyRange): number | null {
    const shards = this.shardsOf(range);
    return shards.length === 1 ? shards[0]! : null;
  }

  /**
   * A view over all shards. Writes through it happen only while no other write is in flight (the store
   * applies strictly in order); reads through it may overlap writes and rely on MVCC revisions.
   */
  readonly view: KeyspaceView = {
    scan: async (range, rev, limit, countOnly): Promise<RangeScan> => {
      const records: KvRecord[] = [];
      let count = 0;
      for (const s of this.shardsOf(range)) {
        const remaining = limit <= 0 ? 0 : Math.max(limit - records.length, 0);
        // A shard asked with limit 0 returns everything: ask for counts only once the limit is met.
        const part = await this.shard(s).ask({ type: 'scan', range, rev, limit: remaining, countOnly: countOnly || (limit > 0 && remaining === 0) });
        count += part.count;
        // A loop, not push(...): a large range has more records than a call takes arguments.
        for (const r of part.records) records.push(r);
      }
      return { records, count };
    },
    append: async (record) => {
      await this.shard(this.shardOf(record.key)).ask({ type: 'append', record });
    },
    removeLast: async (record) => {
      await this.shard(this.shardOf(record.key)).ask({ type: 'removeLast', record });
    },
  };

  async stop(): Promise<void> {
    await Promise.all(this.refs.map((r) => r.stop()));
  }
}

function* commandRanges(cmd: Command): Iterable<KeyRange> {
  switch (cmd.type) {
    case 'put':
      yield { kind: 'single', key: toKey(cmd.req.key) };
      return;
    case 'deleteRange':
      yield keyRange(cmd.req.key, cmd.req.rangeEnd);
      return;
    case 'txn':
      yield* txnRanges(cmd.req);
      return;
    case 'compact':
    case 'leaseGrant':
    case 'leaseRevoke':
      return;
  }
}

export function* txnRanges(req: TxnRequest): Iterable<KeyRange> {
  for (const c of req.compare) yield keyRange(c.key, c.rangeEnd);
  for (const op of [...req.success, ...req.failure]) yield* opRanges(op);
}

function* opRanges(op: RequestOp): Iterable<KeyRange> {
  if (op.requestRange !== undefined) yield keyRange(op.requestRange.key, op.requestRange.rangeEnd);
  if (op.requestPut !== undefined) yield { kind: 'single', key: toKey(op.requestPut.key) };
  if (op.requestDeleteRange !== undefined) yield keyRange(op.requestDeleteRange.key, op.requestDeleteRange.rangeEnd);
  if (op.requestTxn !== undefined) yield* txnRanges(op.requestTxn);
}
