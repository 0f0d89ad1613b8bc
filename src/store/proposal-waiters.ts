// Callers whose writes are on their way through the revision log. Each gets a fresh request id
// (unique across members and restarts, so an applied entry answers only the caller that proposed
// it), and an outcome that settles exactly once: with the applied result, with the log's refusal or
// loss of the proposal, or with etcd's "request timed out" at its deadline. Every waiter has the same
// timeout, so deadlines come in registration order and one timer, armed for the oldest, serves all.
import { EtcdError } from '../core/errors.js';
import type { Timers } from '../core/timers.js';

/** etcd's ReqTimeout (etcdserver/config.go): 5 s for queueing, computing and disk, plus two elections. */
export const requestTimeoutMs = (electionTimeoutMs: number): number => 5000 + 2 * electionTimeoutMs;
/** With etcd's default election timeout (1 s). */
export const defaultRequestTimeoutMs = requestTimeoutMs(1000);

export interface RequestIdSource {
  next(): bigint;
}

export interface ProposalWaitersOptions {
  readonly ids: RequestIdSource;
  /** A caller not answered within this gets `etcdserver: request timed out`. */
  readonly timeoutMs: number;
  /** Waiters at once before new writes get `etcdserver: too many requests`. */
  readonly maxWaiters: number;
  readonly timers: Timers;
}

interface Waiter<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: unknown) => void;
  readonly deadlineMs: number;
}

export class ProposalWaiters<T> {
  /** In registration order, which is deadline order. */
  private readonly waiting = new Map<bigint, Waiter<T>>();
  private cancelTimer: (() => void) | undefined;

  constructor(private readonly options: ProposalWaitersOptions) {}

  get size(): number {
    return this.waiting.size;
  }

  /** A fresh request id and the outcome its caller waits for; the deadline runs from now. */
  register(): { readonly id: bigint; readonly outcome: Promise<T> } {
    if (this.waiting.size >= this.options.maxWaiters) throw new EtcdError('tooManyRequests');
    let id = this.options.ids.next();
    // 0 marks entries nobody waits for (no-ops, conf changes).
    while (id === 0n || this.waiting.has(id)) id = this.options.ids.next();
    const deadlineMs = this.options.timers.now() + this.options.timeoutMs;
    const outcome = new Promise<T>((resolve, reject) => this.waiting.set(id, { resolve, reject, deadlineMs }));
    this.arm();
    return { id, outcome };
  }

  /** Answers the caller waiting for `id`; false when nobody does (another member's entry, or one that timed out). */
  settle(id: bigint, value: T): boolean {
    const w = this.take(id);
    w?.resolve(value);
    return w !== undefined;
  }

  /** The proposal was refused or lost: its caller gets `error`. */
  fail(id: bigint, error: unknown): void {
    this.take(id)?.reject(error);
  }

  /** Every caller gets `error` (the store stopped or closed), and the deadline timer is cancelled. */
  failAll(error: unknown): void {
    const all = [...this.waiting.values()];
    this.waiting.clear();
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    for (const w of all) w.reject(error);
  }

  private take(id: bigint): Waiter<T> | undefined {
    const w = this.waiting.get(id);
    if (w === undefined) return undefined;
    // The timer stays armed even when nobody is left: it fires once and finds nothing, which is
    // cheaper than cancelling and re-arming it around every write. failAll() cancels it.
    this.waiting.delete(id);
    return w;
  }

  private arm(): void {
    if (this.cancelTimer !== undefined) return;
    const oldest = this.waiting.values().next();
    if (oldest.done === true) return;
    const delayMs = Math.max(0, oldest.value.deadlineMs - this.options.timers.now());
    this.cancelTimer = this.options.timers.after(delayMs, () => {
      this.cancelTimer = undefined;
      this.expire();
    });
  }

  private expire(): void {
    const now = this.options.timers.now();
    for (const [id, w] of this.waiting) {
      if (w.deadlineMs > now) break;
      this.waiting.delete(id);
      w.reject(new EtcdError('timeout'));
    }
    this.arm();
  }
}
