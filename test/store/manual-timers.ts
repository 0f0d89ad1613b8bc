// Time that moves only when a test says so: deadlines fire in advance(), in order.
import type { Timers } from '../../src/core/timers.js';

interface Timer {
  readonly atMs: number;
  readonly fn: () => void;
  cancelled: boolean;
}

export class ManualTimers implements Timers {
  private nowMs = 0;
  private timers: Timer[] = [];

  now(): number {
    return this.nowMs;
  }

  after(ms: number, fn: () => void): () => void {
    const timer: Timer = { atMs: this.nowMs + ms, fn, cancelled: false };
    this.timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  /** Timers armed and not yet fired or cancelled. */
  get armed(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Moves the clock forward, firing every timer due on the way, earliest first. */
  advance(ms: number): void {
    const target = this.nowMs + ms;
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      const due = this.timers.filter((t) => t.atMs <= target).sort((a, b) => a.atMs - b.atMs)[0];
      if (due === undefined) break;
      this.timers.splice(this.timers.indexOf(due), 1);
      this.nowMs = Math.max(this.nowMs, due.atMs);
      due.fn();
    }
    this.nowMs = target;
  }
}
