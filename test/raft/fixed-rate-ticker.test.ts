// The node loop's ticker (src/raft/fixed-rate-ticker.ts) keeps etcd's time.Ticker schedule on a
// manual clock: late ticks do not shift later ones, missed ticks follow at once up to a bound (the
// rest are dropped), stop() ends it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startFixedRateTicker, type TickerClock } from '../../src/raft/fixed-rate-ticker.js';

function manualClock(): TickerClock & { advanceTo(t: number): void; busyUntil(t: number): void; pending: number } {
  let now = 0;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let nextId = 1;
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = nextId++;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout(handle) {
      timers = timers.filter((t) => t.id !== handle);
    },
    /** The loop was blocked until t: every timer due by then fires late, at t. */
    busyUntil(t: number) {
      now = t;
      this.advanceTo(t);
    },
    /** Runs due timers in order, each at its time. */
    advanceTo(t: number) {
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        const first = timers[0];
        if (first === undefined || first.at > t) break;
        timers.shift();
        now = Math.max(now, first.at);
        first.fn();
      }
      now = t;
    },
    get pending() {
      return timers.length;
    },
  };
}

const s = suite('fixed-rate ticker');

s('ticks on start + k·interval even when each tick runs late', () => {
  const clock = manualClock();
  const at: number[] = [];
  startFixedRateTicker(50, () => at.push(clock.now()), 1, clock);
  clock.busyUntil(57); // first tick 7 ms late
  clock.advanceTo(100);
  clock.advanceTo(150);
  assert.equal(at, [57, 100, 150]);
});

s('with a bound of 1, ticks missed while the loop was busy are dropped, not delivered in a burst', () => {
  const clock = manualClock();
  let ticks = 0;
  startFixedRateTicker(50, () => ticks++, 1, clock);
  // busy from 0 to 230: the timer for 50 fires late at 230 (one tick); 100..200 are skipped
  clock.busyUntil(230);
  assert.is(ticks, 1);
  clock.advanceTo(250);
  assert.is(ticks, 2);
});

s('ticks missed while the loop was busy follow at once, up to the bound, and the schedule holds', () => {
  const clock = manualClock();
  let ticks = 0;
  const late: boolean[] = [];
  startFixedRateTicker(50, (isLate) => {
    ticks++;
    late.push(isLate);
  }, 5, clock);
  // busy from 0 to 230: slots 50, 100, 150, 200 are due; all four follow at 230, the last three late
  clock.busyUntil(230);
  assert.is(ticks, 4);
  assert.equal(late, [false, true, true, true]);
  clock.advanceTo(250);
  assert.is(ticks, 5);
  // busy from 250 to 700: slots 300..700 (9) are due, 5 follow, 4 are dropped
  clock.busyUntil(700);
  assert.is(ticks, 10);
  clock.advanceTo(750);
  assert.is(ticks, 11);
});

s('a stop() from inside a catch-up burst ends the burst', () => {
  const clock = manualClock();
  let ticks = 0;
  const stop = startFixedRateTicker(50, () => {
    ticks++;
    if (ticks === 2) stop();
  }, 5, clock);
  clock.busyUntil(230);
  assert.is(ticks, 2);
  clock.advanceTo(1000);
  assert.is(ticks, 2);
});

s('stop() cancels the pending tick', () => {
  const clock = manualClock();
  let ticks = 0;
  const stop = startFixedRateTicker(50, () => ticks++, 1, clock);
  stop();
  clock.advanceTo(500);
  assert.is(ticks, 0);
  assert.is(clock.pending, 0);
});

s.run();
