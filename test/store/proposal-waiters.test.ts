// Callers waiting for their proposals: one outcome each, by request id, or a timeout at the deadline.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EtcdError } from '../../src/core/errors.js';
import { ProposalWaiters, requestTimeoutMs } from '../../src/store/proposal-waiters.js';
import { ManualTimers } from './manual-timers.js';

const test = suite('store: proposal waiters');

function waiters(timers: ManualTimers, maxWaiters = 10): ProposalWaiters<string> {
  let next = 0n;
  return new ProposalWaiters<string>({ ids: { next: () => ++next }, timeoutMs: 1000, maxWaiters, timers });
}

async function outcomeOf(p: Promise<string>): Promise<string> {
  return p.then(
    (v) => `value ${v}`,
    (e: unknown) => (e instanceof EtcdError ? `error ${e.kind}` : `other ${String(e)}`),
  );
}

test("etcd's request timeout is 5 s plus two election timeouts", () => {
  assert.is(requestTimeoutMs(1000), 7000);
  assert.is(requestTimeoutMs(5000), 15_000);
});

test('a caller not answered by its deadline gets etcdserver: request timed out, and a later answer reaches nobody', async () => {
  const timers = new ManualTimers();
  const w = waiters(timers);
  const a = w.register();
  timers.advance(999);
  const b = w.register();
  timers.advance(1);
  assert.is(await outcomeOf(a.outcome), 'error timeout');
  assert.is(w.settle(a.id, 'late'), false, 'the timed-out id answers nobody');
  assert.is(w.size, 1);
  timers.advance(998);
  assert.is(w.settle(b.id, 'in time'), true);
  assert.is(await outcomeOf(b.outcome), 'value in time');
  timers.advance(1000);
  assert.is(timers.armed, 0, 'a timer that finds nobody waiting is not armed again');
});

test('one timer serves every waiter: it is armed for the oldest deadline only', () => {
  const timers = new ManualTimers();
  const w = waiters(timers);
  const all = Array.from({ length: 5 }, () => w.register());
  for (const r of all) r.outcome.catch(() => undefined);
  assert.is(timers.armed, 1);
});

test('a refused or lost proposal answers its own caller only', async () => {
  const timers = new ManualTimers();
  const w = waiters(timers);
  const a = w.register();
  const b = w.register();
  w.fail(a.id, new EtcdError('leaderChanged'));
  assert.is(await outcomeOf(a.outcome), 'error leaderChanged');
  w.settle(b.id, 'applied');
  assert.is(await outcomeOf(b.outcome), 'value applied');
});

test('ids are never 0 (the id of entries nobody waits for) and never reused while waiting', () => {
  const timers = new ManualTimers();
  const ids = [0n, 5n, 5n, 6n];
  const w = new ProposalWaiters<string>({ ids: { next: () => ids.shift()! }, timeoutMs: 1000, maxWaiters: 10, timers });
  const a = w.register();
  const b = w.register();
  assert.equal([a.id, b.id], [5n, 6n]);
  w.failAll(new EtcdError('stopped'));
  a.outcome.catch(() => undefined);
  b.outcome.catch(() => undefined);
});

test('past maxWaiters a new write gets etcdserver: too many requests', () => {
  const timers = new ManualTimers();
  const w = waiters(timers, 2);
  w.register().outcome.catch(() => undefined);
  w.register().outcome.catch(() => undefined);
  try {
    w.register();
    assert.unreachable('a third waiter was taken');
  } catch (e) {
    assert.instance(e, EtcdError);
    assert.is((e as EtcdError).kind, 'tooManyRequests');
  }
  w.failAll(new EtcdError('stopped'));
});

test.run();
