// One timer for every call's deadline (call-deadlines.ts): calls expire in deadline order, a call
// taken out never expires, and no timer is left once the queue is empty.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CallDeadlines, type DeadlineEntry } from '../../src/adapters/grpc/call-deadlines.js';

const t = suite('call deadlines');

interface Call extends DeadlineEntry {
  readonly name: string;
}
const call = (name: string, inMs: number): Call => ({ name, expiresAt: performance.now() + inMs, deadlineIndex: -1 });

const waitUntil = async (done: () => boolean, timeoutMs = 2000): Promise<void> => {
  const until = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

t('calls expire in deadline order, whatever order they were added in', async () => {
  const expired: string[] = [];
  const q = new CallDeadlines<Call>((c) => expired.push(c.name));
  for (const [name, ms] of [['c', 60], ['a', 20], ['b', 40]] as const) q.add(call(name, ms));
  await waitUntil(() => expired.length === 3);
  assert.equal(expired, ['a', 'b', 'c']);
  assert.is(q.size, 0);
});

t('a call taken out before its deadline never expires; the ones after it still do', async () => {
  const expired: string[] = [];
  const q = new CallDeadlines<Call>((c) => expired.push(c.name));
  const first = call('first', 10);
  q.add(first);
  q.add(call('second', 50));
  q.remove(first);
  assert.is(first.deadlineIndex, -1);
  await waitUntil(() => expired.length === 1);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(expired, ['second']);
});

t('an entry without a deadline, or added twice, is queued at most once', async () => {
  const expired: string[] = [];
  const q = new CallDeadlines<Call>((c) => expired.push(c.name));
  q.add({ name: 'none', expiresAt: undefined, deadlineIndex: -1 });
  const c = call('once', 10);
  q.add(c);
  q.add(c);
  assert.is(q.size, 1);
  await waitUntil(() => expired.length === 1);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(expired, ['once']);
});

t('once every call is taken out no timer is left to hold the process', () => {
  const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  const q = new CallDeadlines<Call>(() => assert.unreachable('nothing expires'));
  const calls = [call('a', 60_000), call('b', 30_000)];
  for (const c of calls) q.add(c);
  assert.is(timers(), before + 1, 'one timer for both');
  for (const c of calls) q.remove(c);
  assert.is(q.size, 0);
  assert.is(timers(), before);
});

t('an expiry that throws leaves the calls after it on a timer', async () => {
  const expired: string[] = [];
  const q = new CallDeadlines<Call>((c) => {
    expired.push(c.name);
    if (c.name === 'throws') throw new Error('expiry failed');
  });
  const swallow = (): void => undefined;
  process.on('uncaughtException', swallow);
  try {
    q.add(call('throws', 5));
    q.add(call('later', 40));
    await waitUntil(() => expired.length === 2);
    assert.equal(expired, ['throws', 'later']);
  } finally {
    process.off('uncaughtException', swallow);
  }
});

t.run();
