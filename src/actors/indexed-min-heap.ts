// A binary min-heap whose items know their position, so that an item can be moved (its key changed)
// or removed in O(log n) instead of being pushed again: the lease table renews leases far more often
// than they expire, and a heap of stale copies would grow with every keepalive.

export class IndexedMinHeap<T> {
  private readonly items: T[] = [];

  constructor(
    private readonly less: (a: T, b: T) => boolean,
    /** Records an item's position; -1 once it has left the heap. */
    private readonly setIndex: (item: T, index: number) => void,
    private readonly indexOf: (item: T) => number = (item) => (item as { heapIndex: number }).heapIndex,
  ) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    this.items.push(item);
    this.setIndex(item, this.items.length - 1);
    this.up(this.items.length - 1);
  }

  /** Restores heap order after the item's key changed. */
  update(item: T): void {
    const i = this.indexOf(item);
    if (i < 0) return;
    this.up(i);
    this.down(this.indexOf(item));
  }

  remove(item: T): void {
    const i = this.indexOf(item);
    if (i < 0) return;
    const last = this.items.pop()!;
    this.setIndex(item, -1);
    if (i === this.items.length) return;
    this.items[i] = last;
    this.setIndex(last, i);
    this.up(i);
    this.down(this.indexOf(last));
  }

  private up(i: number): void {
    const item = this.items[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = this.items[parent]!;
      if (!this.less(item, p)) break;
      this.items[i] = p;
      this.setIndex(p, i);
      i = parent;
    }
    this.items[i] = item;
    this.setIndex(item, i);
  }

  private down(i: number): void {
    const n = this.items.length;
    const item = this.items[i]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && this.less(this.items[right]!, this.items[left]!) ? right : left;
      const c = this.items[child]!;
      if (!this.less(c, item)) break;
      this.items[i] = c;
      this.setIndex(c, i);
      i = child;
    }
    this.items[i] = item;
    this.setIndex(item, i);
  }
}
