// Forwarding lease requests to the leader (src/lease/leader-forwarder.ts) on manual time: answers,
// "lease not found", retries across a leader change, and etcd's errors at the deadline.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EtcdError } from '../../src/core/errors.js';
import { LeaderForwarder, type LeaderCalls } from '../../src/lease/leader-forwarder.js';
import { LeaderWatch } from '../../src/lease/leader-watch.js';
import type { PeerCallResult } from '../../src/peer/peer-call.js';
import { ManualTimers } from './manual-timers.js';

const requestTimeoutMs = 7_000;
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

interface Fixture {
  timers: ManualTimers;
  watch: LeaderWatch;
  calls: bigint[];
  forwarder: LeaderForwarder;
}

function fixture(answer: (to: bigint) => PeerCallResult): Fixture {
  const timers = new ManualTimers();
  const watch = new LeaderWatch(timers);
  const calls: bigint[] = [];
  const deps: LeaderCalls = {
    selfId: 1n,
    leader: () => watch.leader,
    leaderChanged: (ms) => watch.changed(ms),
    call: async (to) => {
      calls.push(to);
      return answer(to);
    },
  };
  const forwarder = new LeaderForwarder(deps, { timers, requestTimeoutMs, electionTimeoutMs: 1_000, retryIntervalMs: 100 });
  return { timers, watch, calls, forwarder };
}

const text = (b: Uint8Array): string => Buffer.from(b).toString();
const answer = (s: string): PeerCallResult => ({ kind: 'answer', body: new Uint8Array(Buffer.from(s)) });

/** Runs time forward in steps until the promise settles (or the budget runs out). */
async function drive<T>(f: Fixture, p: Promise<T>, budgetMs = 20_000): Promise<{ value?: T; error?: unknown }> {
  let out: { value?: T; error?: unknown } | undefined;
  p.then(
    (value) => (out = { value }),
    (error: unknown) => (out = { error }),
  );
  for (let t = 0; t <= budgetMs && out === undefined; t += 50) {
    await settle();
    if (out === undefined) f.timers.advance(50);
  }
  await settle();
  return out ?? {};
}

const t = suite('leader forwarder');

t('a request is sent to the leader and its answer decoded', async () => {
  const f = fixture((to) => answer(`from ${to}`));
  f.watch.set(3n);
  const r = await drive(f, f.forwarder.forward('lease-renew', new Uint8Array(), text));
  assert.equal(r.value, { kind: 'answer', value: 'from 3' });
  assert.equal(f.calls, [3n]);
});

t('"lease not found" from the leader is final', async () => {
  const f = fixture(() => ({ kind: 'refused', code: 'leaseNotFound', text: 'lease not found' }));
  f.watch.set(3n);
  assert.equal((await drive(f, f.forwarder.forward('lease-renew', new Uint8Array(), text))).value, { kind: 'notFound' });
  assert.equal(f.calls, [3n]);
});

t('a deposed leader’s refusal is retried at the new leader', async () => {
  const f = fixture((to) => (to === 3n ? { kind: 'refused', code: 'notLeader', text: 'not the primary lessor' } : answer('ok')));
  f.watch.set(3n);
  const p = f.forwarder.forward('lease-time-to-live', new Uint8Array(), text);
  await settle();
  f.watch.set(0n);
  f.timers.advance(500);
  await settle();
  f.watch.set(2n);
  const r = await drive(f, p);
  assert.equal(r.value, { kind: 'answer', value: 'ok' });
  assert.equal(f.calls.slice(-1), [2n]);
  assert.ok(f.calls.includes(3n));
});

t('with no leader until the deadline the request fails with etcdserver: no leader, calling nobody', async () => {
  const f = fixture(() => answer('never'));
  const r = await drive(f, f.forwarder.forward('lease-renew', new Uint8Array(), text));
  assert.ok(r.error instanceof EtcdError && r.error.kind === 'noLeader', String(r.error));
  assert.equal(f.calls, []);
  assert.ok(f.timers.now() >= requestTimeoutMs);
});

t('a leader that never answers makes the request fail with etcdserver: request timed out', async () => {
  const f = fixture(() => ({ kind: 'failed', failure: 'unreachable', reason: 'down' }));
  f.watch.set(3n);
  const r = await drive(f, f.forwarder.forward('lease-renew', new Uint8Array(), text));
  assert.ok(r.error instanceof EtcdError && r.error.kind === 'timeout', String(r.error));
  assert.ok(f.calls.length > 1 && f.calls.length < 200, `${f.calls.length} calls: retried, but not in a busy loop`);
});

t('this member named leader before its lessor is promoted waits instead of calling itself', async () => {
  const f = fixture(() => answer('x'));
  f.watch.set(1n);
  const p = f.forwarder.forward('lease-renew', new Uint8Array(), text);
  await settle();
  f.timers.advance(300);
  await settle();
  assert.equal(f.calls, []);
  f.watch.set(2n);
  assert.equal((await drive(f, p)).value, { kind: 'answer', value: 'x' });
});

t.run();
