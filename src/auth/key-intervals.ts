// A set of key intervals merged into disjoint, sorted runs, so that "is this key (or this whole
// range) granted?" is one binary search: etcd's range-perm cache (auth/range_perm_cache.go) answers
// the same questions with an interval tree. Keys are latin1 strings (src/core/keys.ts), so string
// order is byte order. An end of `null` is etcd's open end (a from-key grant, range_end "\0").

export interface KeyInterval {
  readonly begin: string;
  /** Exclusive; null: no end. */
  readonly end: string | null;
}

/** a <= b for ends, where null is past every key. */
const endAtMost = (a: string | null, b: string | null): boolean => b === null || (a !== null && a <= b);
const maxEnd = (a: string | null, b: string | null): string | null => (endAtMost(a, b) ? b : a);

export class KeyIntervalSet {
  private readonly begins: string[];
  private readonly ends: (string | null)[];

  constructor(intervals: readonly KeyInterval[]) {
    const sorted = intervals.filter((i) => i.end === null || i.begin < i.end).sort((a, b) => (a.begin < b.begin ? -1 : a.begin > b.begin ? 1 : 0));
    this.begins = [];
    this.ends = [];
    for (const i of sorted) {
      const last = this.ends.length - 1;
      const lastEnd = this.ends[last];
      // Touching runs merge too: [a,b) and [b,c) cover [a,c) as etcd's Contains sees it.
      if (last >= 0 && lastEnd !== undefined && (lastEnd === null || i.begin <= lastEnd)) {
        this.ends[last] = maxEnd(lastEnd, i.end);
      } else {
        this.begins.push(i.begin);
        this.ends.push(i.end);
      }
    }
  }

  get size(): number {
    return this.begins.length;
  }

  /** The index of the last run beginning at or before key, -1 if none. */
  private runAt(key: string): number {
    let lo = 0;
    let hi = this.begins.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.begins[mid]! <= key) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** Whether one key is granted (etcd's checkKeyPoint). */
  containsKey(key: string): boolean {
    const r = this.runAt(key);
    if (r < 0) return false;
    const end = this.ends[r]!;
    return end === null || key < end;
  }

  /** Whether every key of [begin, end) is granted (etcd's checkKeyInterval); end null: to the last key. */
  coversRange(begin: string, end: string | null): boolean {
    const r = this.runAt(begin);
    if (r < 0) return false;
    const runEnd = this.ends[r]!;
    if (runEnd !== null && begin >= runEnd) return false;
    return endAtMost(end, runEnd);
  }
}
