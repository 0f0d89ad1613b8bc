// A clock and one-shot timers, injected wherever a deadline matters, so tests can run time by hand.

export interface Timers {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Calls fn once, ms from now; returns what cancels it. */
  after(ms: number, fn: () => void): () => void;
}

export const systemTimers: Timers = {
  now: () => performance.now(),
  after: (ms, fn) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};
