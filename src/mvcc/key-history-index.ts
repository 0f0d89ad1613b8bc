// The key index of one shard: every key with its revisions in order, tombstones included. A read at
// revision R takes, per key, the last record with modRevision <= R; a tombstone there means "absent".
import { SortedMap } from '../core/sorted-map.js';
import type { Key, KeyRange } from '../core/keys.js';
import type { KvRecord } from './kv-record.js';

export interface RevisionId {
  readonly main: number;
  readonly sub: number;
}

export interface RangeScan {
  /** Live records at the revision, in key order, at most `limit` of them (0 = no limit). */
  readonly records: KvRecord[];
  /** Every live key in the range at the revision, regardless of limit. */
  readonly count: number;
}

function visibleAt(history: readonly KvRecord[], rev: number): KvRecord | undefined {
  // Histories are short and appended in revision order: scan from the newest.
  for (let i = history.length - 1; i >= 0; i--) {
    const r = history[i]!;
    if (r.modRevision <= rev) return r.tombstone ? undefined : r;
  }
  return undefined;
}

export interface HashRecords {
  /** The records etcd's HashByRev hashes, in key order (not revision order). */
  readonly records: KvRecord[];
  /** Keys live at the revision: etcd's Keep(rev) is empty exactly when this is 0 in every shard. */
  readonly liveKeys: number;
}

/** One change to a key with the key's live record at the revision before it (undefined when there was none). */
export interface RecordChange {
  /** A put, or a tombstone for a delete. */
  readonly record: KvRecord;
  readonly prev: KvRecord | undefined;
}

export interface ChangeScan {
  /** Changes in revision order (main, then sub-revision). */
  readonly changes: RecordChange[];
  /** The last revision the scan covers: the requested end, or earlier when cut at maxRevisions. */
  readonly throughRevision: number;
}

export class KeyHistoryIndex {
  private readonly keys = new SortedMap<Key, KvRecord[]>();

  get(key: Key, rev: number): KvRecord | undefined {
    const history = this.keys.get(key);
    return history === undefined ? undefined : visibleAt(history, rev);
  }

  range(range: KeyRange, rev: number, limit: number, countOnly: boolean): RangeScan {
    if (range.kind === 'single') {
      const r = this.get(range.key, rev);
      return { records: r === undefined || countOnly ? [] : [r], count: r === undefined ? 0 : 1 };
    }
    const records: KvRecord[] = [];
    let count = 0;
    this.forEachIn(range, (history) => {
      const r = visibleAt(history, rev);
      if (r === undefined) return;
      count++;
      if (!countOnly && (limit <= 0 || records.length < limit)) records.push(r);
    });
    return { records, count };
  }

  /**
   * Every change in the range with a revision in [fromRev, toRev], in revision order, cut after
   * maxRevisions distinct revisions (what a watcher catching up from history receives at once).
   */
  changes(range: KeyRange, fromRev: number, toRev: number, maxRevisions: number): ChangeScan {
    const changes: RecordChange[] = [];
    const collect = (history: readonly KvRecord[]): void => {
      // Newest first: history is in revision order and catching up usually wants the recent end.
      for (let i = history.length - 1; i >= 0; i--) {
        const r = history[i]!;
        if (r.modRevision < fromRev) break;
        if (r.modRevision > toRev) continue;
        changes.push({ record: r, prev: visibleBefore(history, i) });
      }
    };
    if (range.kind === 'single') {
      const history = this.keys.get(range.key);
      if (history !== undefined) collect(history);
    } else {
      this.forEachIn(range, collect);
    }
    return cutAtRevisions(changes.sort(byRevisionOrder), toRev, maxRevisions);
  }

  append(record: KvRecord): void {
    const history = this.keys.get(record.key);
    if (history === undefined) this.keys.set(record.key, [record]);
    else history.push(record);
  }

  removeLast(record: KvRecord): void {
    const history = this.keys.get(record.key);
    const newest = history?.[history.length - 1];
    // Compared by revision: across a thread boundary the record is a copy.
    if (history === undefined || newest?.modRevision !== record.modRevision || newest.sub !== record.sub) {
      throw new Error('removeLast: the record is not the newest revision of its key');
    }
    history.pop();
    if (history.length === 0) this.keys.delete(record.key);
  }

  /**
   * Drops history below `rev`: per key, the record visible at `rev` survives unless it is a tombstone,
   * and everything older goes. Returns the revisions removed so the engine can drop them too.
   */
  compact(rev: number): RevisionId[] {
    const removed: RevisionId[] = [];
    const emptied: Key[] = [];
    this.keys.forEach((history, key) => {
      let keepFrom = 0;
      for (let i = history.length - 1; i >= 0; i--) {
        const r = history[i]!;
        if (r.modRevision <= rev) {
          keepFrom = r.tombstone ? i + 1 : i;
          break;
        }
      }
      if (keepFrom === 0) return;
      for (let i = 0; i < keepFrom; i++) removed.push({ main: history[i]!.modRevision, sub: history[i]!.sub });
      history.splice(0, keepFrom);
      if (history.length === 0) emptied.push(key);
    });
    for (const key of emptied) this.keys.delete(key);
    return removed;
  }

  /**
   * The records etcd's HashByRev(rev) hashes (mvcc/kvstore.go), given the index holds exactly what
   * etcd's backend holds after a compaction at compactRev: every record up to rev, except that a
   * record at or below compactRev counts only if it is in Keep(rev) — the key's record visible at rev,
   * unless that is a tombstone (key_index.go keep/doCompact). etcd applies that filter only when
   * Keep(rev) is not empty, which the store decides across shards: with includeUnkept the filter is
   * off here.
   */
  hashRecords(rev: number, compactRev: number, includeUnkept: boolean): HashRecords {
    const records: KvRecord[] = [];
    let liveKeys = 0;
    this.keys.forEach((history) => {
      let visible = -1;
      for (let i = history.length - 1; i >= 0; i--) {
        if (history[i]!.modRevision <= rev) {
          visible = i;
          break;
        }
      }
      if (visible < 0) return;
      const kept = history[visible]!.tombstone ? -1 : visible;
      if (kept >= 0) liveKeys++;
      for (let i = 0; i <= visible; i++) {
        const r = history[i]!;
        if (r.modRevision > compactRev || i === kept || includeUnkept) records.push(r);
      }
    });
    return { records, liveKeys };
  }

  private forEachIn(range: KeyRange & { kind: 'range' }, visit: (history: KvRecord[]) => void): void {
    const high = range.end ?? this.keys.maxKey();
    if (high === undefined) return;
    this.keys.forRange(range.start, high, range.end === null, (_k, history) => visit(history));
  }
}

export const byRevisionOrder = (a: RecordChange, b: RecordChange): number =>
  a.record.modRevision - b.record.modRevision || a.record.sub - b.record.sub;

/** Keeps the changes of the first maxRevisions distinct revisions of sorted changes. */
export function cutAtRevisions(sorted: RecordChange[], toRev: number, maxRevisions: number): ChangeScan {
  let distinct = 0;
  let last = -1;
  for (let i = 0; i < sorted.length; i++) {
    const rev = sorted[i]!.record.modRevision;
    if (rev === last) continue;
    if (++distinct > maxRevisions) return { changes: sorted.slice(0, i), throughRevision: rev - 1 };
    last = rev;
  }
  return { changes: sorted, throughRevision: toRev };
}

/**
 * What a Range at history[i]'s revision - 1 sees of its key (etcd's prev_kv for that event): earlier
 * changes in the same revision (a key changed twice by nested Txns) do not count.
 */
function visibleBefore(history: readonly KvRecord[], i: number): KvRecord | undefined {
  const rev = history[i]!.modRevision;
  let j = i - 1;
  while (j >= 0 && history[j]!.modRevision === rev) j--;
  const before = history[j];
  return before === undefined || before.tombstone ? undefined : before;
}
