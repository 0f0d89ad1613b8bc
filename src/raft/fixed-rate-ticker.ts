// A ticker on a fixed schedule (start + k·interval), as Go's time.Ticker drives etcd's Raft: a late
// tick does not push the later ones back, and ticks missed while the event loop was busy are
// dropped, not delivered in a burst. Node's setInterval schedules each tick an interval after the
// previous callback ran, so on a busy loop 19 ticks of 50 ms took 1.07–1.11 s instead of 0.95 s,
// and an election timeout stretched with it (measured: new leader 1036 ms after kill -9 with
// --election-timeout 500, beyond the 2 election timeouts etcd's randomisation allows).

export interface TickerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const systemClock: TickerClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Calls onTick every intervalMs on a fixed schedule until the returned stop() is called. */
export function startFixedRateTicker(intervalMs: number, onTick: () => void, clock: TickerClock = systemClock): () => void {
  const start = clock.now();
  let ticks = 0;
  let stopped = false;
  let handle: unknown;
  const schedule = (): void => {
    // the next slot on the schedule still ahead of now: missed slots are skipped
    ticks = Math.max(ticks + 1, Math.floor((clock.now() - start) / intervalMs) + 1);
    handle = clock.setTimeout(fire, Math.max(0, start + ticks * intervalMs - clock.now()));
  };
  const fire = (): void => {
    if (stopped) return;
    schedule();
    onTick();
  };
  schedule();
  return () => {
    stopped = true;
    clock.clearTimeout(handle);
  };
}
