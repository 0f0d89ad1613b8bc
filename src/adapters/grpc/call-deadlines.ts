// The deadlines of calls in progress, in one heap under one timer armed for the earliest: clientv3
// sends grpc-timeout on every call, and a timer made and cleared per call cost an object, a timer
// list and its bookkeeping per request at 1,000 clients.
import { IndexedMinHeap } from '../../actors/indexed-min-heap.js';

/** A call as the queue keeps it: its deadline and its place in the heap (-1 outside it). */
export interface DeadlineEntry {
  /**
   * When it runs out on the monotonic clock (performance.now()): a step of the wall clock (NTP, a
   * suspend) must not expire every call at once or hold them all back.
   */
  readonly expiresAt: number | undefined;
  deadlineIndex: number;
}

export class CallDeadlines<T extends DeadlineEntry> {
  private readonly heap = new IndexedMinHeap<T>(
    (a, b) => a.expiresAt! < b.expiresAt!,
    (item, index) => (item.deadlineIndex = index),
    (item) => item.deadlineIndex,
  );
  private timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires (Infinity: none armed). */
  private timerAt = Infinity;
  private readonly fire = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = performance.now();
    try {
      for (let first = this.heap.peek(); first !== undefined && first.expiresAt! <= now; first = this.heap.peek()) {
        this.heap.remove(first);
        this.expire(first);
      }
    } finally {
      // one expiry that throws must not leave the others without a timer
      this.arm();
    }
  };

  /** `expire`: the deadline of an entry ran out (it has left the queue). */
  constructor(private readonly expire: (entry: T) => void) {}

  get size(): number {
    return this.heap.size;
  }

  /** Queues an entry with a deadline; one already queued is left where it is. */
  add(entry: T): void {
    if (entry.expiresAt === undefined || entry.deadlineIndex >= 0) return;
    this.heap.push(entry);
    this.arm();
  }

  /** Takes an entry out (its call ended); nothing if it is not queued. */
  remove(entry: T): void {
    if (entry.deadlineIndex < 0) return;
    this.heap.remove(entry);
    // A timer for a removed earlier entry fires, finds nothing due and re-arms: cheaper than re-arming
    // on every removal. With nothing left it is cleared, so no timer outlives the calls.
    if (this.heap.size === 0 && this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Infinity;
    }
  }

  private arm(): void {
    const first = this.heap.peek();
    if (first === undefined || first.expiresAt! >= this.timerAt) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = first.expiresAt!;
    this.timer = setTimeout(this.fire, Math.max(0, this.timerAt - performance.now()));
  }
}
