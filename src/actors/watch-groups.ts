// Watchers grouped by what they receive: the same key range and the same options (prev_kv and
// filters) get the same events, so a revision is matched and filtered once per group, not per watcher.
import { inRange, type Key, type KeyRange } from '../core/keys.js';
import type { RecordChange } from '../mvcc/key-history-index.js';

export interface GroupOptions {
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
}

export class WatchGroup<W> {
  /** Watchers receiving live events; the others are catching up or held back. */
  readonly synced = new Set<W>();
  members = 0;

  /** Groups over the same keys share this id (their options differ): one history read serves them all. */
  readonly rangeId: string;
  readonly id: string;

  constructor(
    readonly range: KeyRange,
    readonly options: GroupOptions,
  ) {
    this.rangeId = rangeIdOf(range);
    this.id = groupIdOf(this.rangeId, options);
  }

  contains(key: Key): boolean {
    return inRange(this.range, key);
  }

  /** etcd's NOPUT / NODELETE filters. */
  keeps(change: RecordChange): boolean {
    return change.record.tombstone ? !this.options.noDelete : !this.options.noPut;
  }
}

const groupIdOf = (rangeId: string, o: GroupOptions): string => `${o.prevKv ? 1 : 0}${o.noPut ? 1 : 0}${o.noDelete ? 1 : 0}${rangeId}`;

function rangeIdOf(range: KeyRange): string {
  // Keys are latin1 strings: "\u0100" cannot occur in them, so it separates unambiguously.
  return range.kind === 'single' ? `s${range.key}` : `r${range.start}\u0100${range.end ?? '\u0100'}`;
}

export class WatchGroupIndex<W> {
  private readonly byId = new Map<string, WatchGroup<W>>();
  private readonly singles = new Map<Key, WatchGroup<W>[]>();
  /** Groups over key ranges, scanned per change: few in practice, since equal ranges share a group. */
  private ranges: WatchGroup<W>[] = [];

  join(range: KeyRange, options: GroupOptions): WatchGroup<W> {
    let group = this.byId.get(groupIdOf(rangeIdOf(range), options));
    if (group === undefined) {
      group = new WatchGroup<W>(range, options);
      this.byId.set(group.id, group);
      if (range.kind === 'single') {
        const list = this.singles.get(range.key);
        if (list === undefined) this.singles.set(range.key, [group]);
        else list.push(group);
      } else {
        this.ranges.push(group);
      }
    }
    group.members++;
    return group;
  }

  leave(group: WatchGroup<W>): void {
    if (--group.members > 0) return;
    this.byId.delete(group.id);
    const r = group.range;
    if (r.kind === 'single') {
      const list = this.singles.get(r.key)?.filter((g) => g !== group) ?? [];
      if (list.length === 0) this.singles.delete(r.key);
      else this.singles.set(r.key, list);
    } else {
      this.ranges = this.ranges.filter((g) => g !== group);
    }
  }

  /** No group at all: a store nobody watches skips the per-revision work. */
  get isEmpty(): boolean {
    return this.byId.size === 0;
  }

  forEachMatching(key: Key, visit: (group: WatchGroup<W>) => void): void {
    const list = this.singles.get(key);
    if (list !== undefined) for (const g of list) visit(g);
    for (const g of this.ranges) if (g.contains(key)) visit(g);
  }
}
