// The lease actor: its client's asks and buffered updates reach the table in the order they were
// made, a renewal of an expired lease is answered once its revoke's remove arrives, and the facts
// read without asking (size, primary) follow every message that changes them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LeaseTableRef, maxLeaseUpdatesPerMessage, type LeaseFacts } from '../../src/actors/lease-actor.js';
import type { LeaseClock } from '../../src/actors/lease-table.js';
import { leaseRecord } from '../helpers/lease-records.js';

class ManualClock implements LeaseClock {
  ms = 1_000_000;
  now(): number {
    return this.ms;
  }
}

const record = leaseRecord;

const fresh = (): { clock: ManualClock; ref: LeaseTableRef } => {
  const clock = new ManualClock();
  return { clock, ref: new LeaseTableRef({ minTtlSeconds: 2, clock }) };
};

const t = suite('lease actor');

t('asks and updates made without waiting are handled in the order they were made', async () => {
  const { ref } = fresh();
  // None awaited before the last: each sees exactly the calls made before it.
  const granted = ref.grantAll([{ id: 7n, ttlSeconds: 60n }]);
  ref.track(record('a', 7n));
  ref.track(record('b', 7n));
  const keysBefore = ref.keysOf(7n);
  ref.track(record('a', 0n));
  const live = ref.liveOf([7n, 8n, 7n]);
  const keysAfter = ref.keysOf(7n);
  const removed = ref.remove(7n);
  const keysGone = ref.keysOf(7n);
  assert.equal(await granted, [{ ok: true, id: 7n, ttlSeconds: 60 }]);
  assert.equal(await keysBefore, ['a', 'b']);
  assert.equal(await live, [7n, 7n]);
  assert.equal(await keysAfter, ['b'], 'a put without a lease detaches the key');
  await removed;
  assert.is(await keysGone, undefined);
  await ref.flush();
  await ref.stop();
});

t('updates made at start-up are applied in order and flush resolves once they are', async () => {
  const { ref } = fresh();
  ref.restore(5n, 30);
  ref.attach(5n, 'k');
  ref.restore(6n, 1);
  await ref.flush();
  assert.is(ref.size, 2);
  assert.equal(await ref.keysOf(5n), ['k']);
  assert.is((await ref.status(6n, false))?.ttlSeconds, 2, 'raised to the minimum TTL');
  assert.is(ref.flush(), undefined, 'nothing left on its way');
  await ref.stop();
});

t('a start-up restore larger than one message is sent as several, all applied in order', async () => {
  const { ref } = fresh();
  const n = maxLeaseUpdatesPerMessage * 2 + 5;
  for (let i = 1; i <= n; i++) ref.restore(BigInt(i), 10);
  for (let i = 1; i <= n; i++) ref.attach(BigInt(i), `k${i}`);
  await ref.flush();
  assert.is(ref.size, n);
  assert.equal(await ref.keysOf(BigInt(n)), [`k${n}`]);
  await ref.stop();
});

t('a renewal of an expired lease is answered only when its remove arrives', async () => {
  const { clock, ref } = fresh();
  await ref.promote(0);
  await ref.grantAll([{ id: 1n, ttlSeconds: 5n }]);
  clock.ms += 5_000;
  assert.equal(await ref.takeExpired(10), [1n]);
  const outcome = await ref.renew(1n);
  assert.is(outcome.kind, 'expired');
  if (outcome.kind !== 'expired') return;
  let answered = false;
  void outcome.gone.then(() => (answered = true));
  // the table's other work goes on meanwhile
  assert.equal(await ref.ids(), [1n]);
  assert.is(answered, false);
  await ref.remove(1n);
  await outcome.gone;
  assert.ok(answered);
  await ref.stop();
});

t('size and primary are published after each message that changes them, and read without asking', async () => {
  const { ref } = fresh();
  const seen: LeaseFacts[] = [];
  const off = ref.onFacts((f) => seen.push(f));
  assert.equal({ size: ref.size, primary: ref.primary }, { size: 0, primary: false });
  await ref.grantAll([{ id: 1n, ttlSeconds: 10n }]);
  assert.is(ref.size, 1);
  await ref.promote(0);
  assert.is(ref.primary, true);
  await ref.keysOf(1n);
  await ref.demote();
  assert.is(ref.primary, false);
  await ref.remove(1n);
  off();
  await ref.grantAll([{ id: 2n, ttlSeconds: 10n }]);
  assert.equal(
    seen.map((f) => [f.size, f.primary]),
    [
      [1, false],
      [1, true],
      [1, false],
      [0, false],
    ],
    'one event per change, none for a read',
  );
  assert.is(ref.size, 1, 'still read after the listener left');
  await ref.stop();
});

t('a change of a key without a lease sends no message while no key is attached anywhere', async () => {
  const { ref } = fresh();
  await ref.grantAll([{ id: 1n, ttlSeconds: 10n }]);
  ref.track(record('x', 0n));
  ref.track(record('y', 0n, true));
  assert.is(ref.flush(), undefined, 'nothing sent');
  ref.track(record('x', 1n));
  ref.track(record('x', 0n));
  await ref.flush();
  assert.equal(await ref.keysOf(1n), []);
  await ref.stop();
});

t('a key attached by an update still on its way is detached by a later change without a lease', async () => {
  const { ref } = fresh();
  await ref.grantAll([{ id: 1n, ttlSeconds: 10n }]);
  ref.track(record('x', 1n));
  const sent = ref.flush(); // on its way, not handled yet
  ref.track(record('x', 0n)); // must not be skipped: the attach above is in flight
  await sent;
  await ref.flush();
  assert.equal(await ref.keysOf(1n), []);
  await ref.stop();
});

t('a renewal waiting for an expired lease is answered when this member is demoted', async () => {
  const { clock, ref } = fresh();
  await ref.promote(0);
  await ref.grantAll([{ id: 3n, ttlSeconds: 5n }]);
  clock.ms += 6_000;
  const waiting = await ref.renew(3n);
  assert.is(waiting.kind, 'expired');
  let woken = false;
  if (waiting.kind === 'expired') void waiting.gone.then(() => (woken = true));
  await ref.demote();
  await Promise.resolve();
  assert.ok(woken);
  await ref.stop();
});

t('the role asked for is what primary says at once, before the actor has handled the message', async () => {
  const { ref } = fresh();
  assert.is(ref.primary, false);
  const promoted = ref.promote(0);
  assert.is(ref.primary, true, 'a reader right after promote() and its later asks see one role');
  await promoted;
  const demoted = ref.demote();
  assert.is(ref.primary, false);
  await demoted;
  await ref.stop();
});

t.run();
