// Over-rate refusals held a moment (src/tenants/delayed-refusals.ts), on a hand-driven clock.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { deadlineMarginMs, DelayedRefusals, type RefusalScheduler } from '../../src/tenants/delayed-refusals.js';
import { RateRefusalHoldingCall } from '../../src/tenants/rate-refusal-call.js';
import { TenantRateRefusal } from '../../src/tenants/tenant-state.js';
import { EtcdError } from '../../src/core/errors.js';
import type { MethodCall } from '../../src/adapters/grpc/service-module.js';

interface Call {
  readonly id: number;
  readonly deadline: number | undefined;
}

/** A clock and one-timer scheduler driven by `advance`. */
function manualScheduler() {
  let now = 1_000;
  let timer: { run: () => void; at: number } | undefined;
  const scheduler: RefusalScheduler = {
    now: () => now,
    wallNow: () => now,
    setTimer: (run, ms) => (timer = { run, at: now + ms }),
    clearTimer: (t) => {
      if (t === timer) timer = undefined;
    },
  };
  const advance = (ms: number): void => {
    const until = now + ms;
    while (timer !== undefined && timer.at <= until) {
      const due = timer;
      timer = undefined;
      now = due.at;
      due.run();
    }
    now = until;
  };
  return { scheduler, advance, pending: () => timer !== undefined };
}

const delayed = suite('delayed refusals');

delayed('a refusal is answered once its delay has passed, not before, in the order the calls came', () => {
  const { scheduler, advance } = manualScheduler();
  const answered: number[] = [];
  const refusals = new DelayedRefusals<Call>((c) => answered.push(c.id), 500, 10, scheduler);
  refusals.refuse({ id: 1, deadline: undefined });
  advance(200);
  refusals.refuse({ id: 2, deadline: undefined });
  advance(299);
  assert.equal(answered, []);
  advance(1);
  assert.equal(answered, [1]);
  advance(199);
  assert.equal(answered, [1]);
  advance(1);
  assert.equal(answered, [1, 2]);
  assert.is(refusals.size, 0);
});

delayed('a call whose deadline falls inside the delay (with a margin for the way back) is answered at once, so it sees the refusal and not its deadline', () => {
  const { scheduler } = manualScheduler();
  const answered: number[] = [];
  const refusals = new DelayedRefusals<Call>((c) => answered.push(c.id), 500, 10, scheduler);
  refusals.refuse({ id: 1, deadline: scheduler.now() + 500 + deadlineMarginMs });
  refusals.refuse({ id: 2, deadline: scheduler.now() + 501 + deadlineMarginMs });
  assert.equal(answered, [1]);
  assert.is(refusals.size, 1);
});

delayed('past the bound, refusals are answered at once; flush answers every held one and stops the timer', () => {
  const { scheduler, advance, pending } = manualScheduler();
  const answered: number[] = [];
  const refusals = new DelayedRefusals<Call>((c) => answered.push(c.id), 500, 2, scheduler);
  for (let id = 1; id <= 4; id++) refusals.refuse({ id, deadline: undefined });
  assert.equal(answered, [3, 4]);
  refusals.flush();
  assert.equal(answered, [3, 4, 1, 2]);
  assert.not.ok(pending());
  advance(1_000);
  assert.equal(answered, [3, 4, 1, 2], 'nothing answered twice');
});

delayed('a delay of 0 answers at once', () => {
  const { scheduler } = manualScheduler();
  const answered: number[] = [];
  new DelayedRefusals<Call>((c) => answered.push(c.id), 0, 10, scheduler).refuse({ id: 1, deadline: undefined });
  assert.equal(answered, [1]);
});

delayed('many held refusals are answered in batches as they fall due, none lost', () => {
  const { scheduler, advance } = manualScheduler();
  const answered: number[] = [];
  const refusals = new DelayedRefusals<Call>((c) => answered.push(c.id), 500, 100_000, scheduler);
  for (let id = 0; id < 5_000; id++) {
    refusals.refuse({ id, deadline: undefined });
    if (id % 10 === 9) advance(1);
  }
  advance(1_000);
  assert.is(answered.length, 5_000);
  assert.ok(answered.every((id, i) => id === i), 'in order');
  assert.is(refusals.size, 0);
});

delayed("a call refused for its tenant's rate is held; the server's own too many requests and other errors go at once", () => {
  const held: string[] = [];
  const failed: string[] = [];
  const call = (name: string): MethodCall => ({ fail: (e: Error) => failed.push(`${name}:${e.message}`) }) as unknown as MethodCall;
  const a = call('a');
  new RateRefusalHoldingCall(a, (c) => held.push(c === a ? 'a' : '?')).fail(new TenantRateRefusal());
  new RateRefusalHoldingCall(call('b'), () => held.push('b')).fail(new EtcdError('tooManyRequests'));
  new RateRefusalHoldingCall(call('c'), () => held.push('c')).fail(new EtcdError('authPermissionDenied'));
  assert.equal(held, ['a'], 'the original call is held, not the wrapper');
  assert.equal(failed, ['b:tooManyRequests', 'c:authPermissionDenied']);
});

delayed.run();
