// A key-range shard: owns the key index (every revision of every key) for its range. It applies runs
// of committed writes, serves reads at a revision, and answers the primitive scans and appends the
// store uses for the rare entry that spans shards.
import type { KeyRange } from '../core/keys.js';
import { applyPutNow, applyWrite, revisionsUsed, serveRangeNow, serveRead, type ScanNow, type ApplyOutcome, type ReadOutcome, type ReadRequest, type WriteCommand } from '../mvcc/apply-command.js';
import { KeyHistoryIndex, type ChangeScan, type HashRecords, type RangeScan, type RevisionId } from '../mvcc/key-history-index.js';
import type { KvRecord } from '../mvcc/kv-record.js';
import type { KeyspaceView, RevisionState } from '../mvcc/store-txn.js';
import type { Actor } from './actor.js';

export type ShardRequest =
  // liveLeases: the leases the commands name that exist (lease changes never fall inside a run).
  | { readonly type: 'apply'; readonly revs: RevisionState; readonly commands: readonly WriteCommand[]; readonly liveLeases: readonly bigint[] }
  | { readonly type: 'read'; readonly revs: RevisionState; readonly read: ReadRequest }
  | { readonly type: 'scan'; readonly range: KeyRange; readonly rev: number; readonly limit: number; readonly countOnly: boolean }
  | { readonly type: 'append'; readonly record: KvRecord }
  | { readonly type: 'removeLast'; readonly record: KvRecord }
  | { readonly type: 'load'; readonly records: readonly KvRecord[] }
  | { readonly type: 'compact'; readonly rev: number }
  | { readonly type: 'hashRecords'; readonly rev: number; readonly compactRev: number; readonly includeUnkept: boolean }
  | { readonly type: 'changes'; readonly range: KeyRange; readonly fromRev: number; readonly toRev: number; readonly maxRevisions: number };

export interface ShardReplies {
  apply: readonly ApplyOutcome[];
  read: ReadOutcome;
  scan: RangeScan;
  append: null;
  removeLast: null;
  load: null;
  compact: readonly RevisionId[];
  hashRecords: HashRecords;
  changes: ChangeScan;
}

export type ShardReply = ShardReplies[keyof ShardReplies];

export class ShardActor implements Actor<ShardRequest, ShardReply> {
  private readonly index = new KeyHistoryIndex();
  private readonly scanNow: ScanNow = (range, rev, limit, countOnly) => this.index.range(range, rev, limit, countOnly);
  private readonly view: KeyspaceView = {
    scan: async (range, rev, limit, countOnly) => this.index.range(range, rev, limit, countOnly),
    append: async (record) => this.index.append(record),
    removeLast: async (record) => this.index.removeLast(record),
  };

  async receive(msg: ShardRequest): Promise<ShardReply> {
    switch (msg.type) {
      case 'apply': {
        let rev = msg.revs.beginRev;
        const outcomes: ApplyOutcome[] = [];
        const live = new Set(msg.liveLeases);
        for (const cmd of msg.commands) {
          const outcome =
            cmd.type === 'put' ? applyPutNow(this.index, cmd.req, rev, live) : await applyWrite(this.view, cmd, { beginRev: rev, compactRev: msg.revs.compactRev }, live);
          rev += revisionsUsed(outcome);
          outcomes.push(outcome);
        }
        return outcomes;
      }
      case 'read':
        return msg.read.type === 'range' ? serveRangeNow(this.scanNow, msg.read.req, msg.revs) : serveRead(this.view, msg.read, msg.revs);
      case 'scan':
        return this.index.range(msg.range, msg.rev, msg.limit, msg.countOnly);
      case 'append':
        this.index.append(msg.record);
        return null;
      case 'removeLast':
        this.index.removeLast(msg.record);
        return null;
      case 'load':
        for (const r of msg.records) this.index.append(r);
        return null;
      case 'compact':
        return this.index.compact(msg.rev);
      case 'hashRecords':
        return this.index.hashRecords(msg.rev, msg.compactRev, msg.includeUnkept);
      case 'changes':
        return this.index.changes(msg.range, msg.fromRev, msg.toRev, msg.maxRevisions);
    }
  }
}
