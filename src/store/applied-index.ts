// How far the store has applied the log, and who waits for it to get somewhere: linearizable reads
// (after their read index) and opening (after what was committed at start-up).
import { EtcdError } from '../core/errors.js';
import type { Timers } from '../core/timers.js';

interface IndexWaiter {
  readonly index: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  cancelTimer: (() => void) | undefined;
}

export class AppliedIndex {
  /** Few at a time: reads share one barrier round (read-barrier.ts). */
  private waiting: IndexWaiter[] = [];
  /** Set once nothing more will be applied: waits past the applied index fail with it at once. */
  private ended: { readonly error: unknown } | undefined;

  constructor(
    private value: number,
    private readonly timers: Timers,
    /** Waiters at once before new ones get `etcdserver: too many requests`. */
    private readonly maxWaiters: number,
  ) {}

  get current(): number {
    return this.value;
  }

  advance(index: number): void {
    this.value = index;
    if (this.waiting.length === 0) return;
    const due = this.waiting.filter((w) => w.index <= index);
    if (due.length === 0) return;
    this.waiting = this.waiting.filter((w) => w.index > index);
    for (const w of due) {
      w.cancelTimer?.();
      w.resolve();
    }
  }

  /** Resolves once the applied index reaches `index`; rejects with `timeout` after timeoutMs (Infinity: never). */
  reached(index: number, timeoutMs: number): Promise<void> {
    if (index <= this.value) return Promise.resolve();
    if (this.ended !== undefined) return Promise.reject(this.ended.error);
    if (this.waiting.length >= this.maxWaiters) return Promise.reject(new EtcdError('tooManyRequests'));
    return new Promise<void>((resolve, reject) => {
      const w: IndexWaiter = { index, resolve, reject, cancelTimer: undefined };
      this.waiting.push(w);
      if (timeoutMs === Infinity) return;
      w.cancelTimer = this.timers.after(Math.max(0, timeoutMs), () => {
        this.waiting = this.waiting.filter((x) => x !== w);
        reject(new EtcdError('timeout'));
      });
    });
  }

  /** Nothing more will be applied (the store stopped or closed): every waiter, now or later, gets `error`. */
  end(error: unknown): void {
    this.ended ??= { error };
    const all = this.waiting;
    this.waiting = [];
    for (const w of all) {
      w.cancelTimer?.();
      w.reject(error);
    }
  }
}
