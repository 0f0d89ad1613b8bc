// A ticker on a fixed schedule (start + k·interval): a late tick does not push the later ones back.
// Node's setInterval schedules each tick an interval after the previous callback ran, so on a busy
// loop 19 ticks of 50 ms took 1.07–1.11 s instead of 0.95 s.
//
// Ticks missed while the event loop was busy are delivered late, up to maxCatchUp at a time, so
// Raft's timeouts follow the wall clock. etcd's Go ticker drops missed ticks, but its Raft goroutine
// is rarely kept from its ticker; here the tick waits behind every request on the one loop, and
// dropping them stretched an election on a loaded 2-core machine to 1.3 s after a kill -9 with
// --election-timeout 500 (beyond the 2 election timeouts etcd's randomisation allows). The bound
// keeps one burst from crossing two check-quorum periods before the messages that arrived during
// the stall are read (a leader would step down for silence it has not read yet).

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

/**
 * Calls onTick every intervalMs on a fixed schedule until the returned stop() is called; after a
 * stall, the missed ticks follow at once, at most maxCatchUp of them (the rest are dropped), each
 * told it is late.
 */
export function startFixedRateTicker(intervalMs: number, onTick: (late: boolean) => void, maxCatchUp = 1, clock: TickerClock = systemClock): () => void {
  const start = clock.now();
  /** Slots on the schedule handled so far (delivered or dropped). */
  let handled = 0;
  let stopped = false;
  let handle: unknown;
  const scheduleNext = (): void => {
    handle = clock.setTimeout(fire, Math.max(0, start + (handled + 1) * intervalMs - clock.now()));
  };
  const fire = (): void => {
    if (stopped) return;
    const due = Math.max(1, Math.floor((clock.now() - start) / intervalMs) - handled);
    handled += due;
    scheduleNext();
    const delivered = Math.min(due, Math.max(1, maxCatchUp));
    for (let i = 0; i < delivered && !stopped; i++) onTick(i > 0);
  };
  scheduleNext();
  return () => {
    stopped = true;
    clock.clearTimeout(handle);
  };
}
