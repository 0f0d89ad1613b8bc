// The lease table on a manual clock: etcd lessor's rules for grant, renew, expiry, promotion.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LeaseTable, expiredLeaseRetryMs, maxLeaseTtlSeconds, type LeaseClock } from '../../src/actors/lease-table.js';
import { leaseRecord } from '../helpers/lease-records.js';

class ManualClock implements LeaseClock {
  ms = 1_000_000;
  now(): number {
    return this.ms;
  }
}

const fresh = (): { clock: ManualClock; table: LeaseTable } => {
  const clock = new ManualClock();
  const table = new LeaseTable({ minTtlSeconds: 2, clock });
  table.promote(0);
  return { clock, table };
};

const record = leaseRecord;

const t = suite('lease table');

t('grant raises a TTL below the minimum to it and refuses a TTL above etcd maximum, ID 0 and a taken ID', () => {
  const { table } = fresh();
  assert.equal(table.grant(1n, 0n), { ok: true, id: 1n, ttlSeconds: 2 });
  assert.equal(table.grant(2n, -10n), { ok: true, id: 2n, ttlSeconds: 2 });
  assert.equal(table.grant(3n, BigInt(maxLeaseTtlSeconds) + 1n), { ok: false, error: 'leaseTtlTooLarge' });
  assert.equal(table.grant(1n, 60n), { ok: false, error: 'leaseExists' });
  assert.equal(table.grant(0n, 60n), { ok: false, error: 'leaseNotFound' });
  assert.equal(table.grant(-7n, 60n), { ok: true, id: -7n, ttlSeconds: 60 });
});

t('a lease expires no earlier than its TTL, and once taken is offered again only after the retry interval', () => {
  const { clock, table } = fresh();
  table.grant(1n, 5n);
  clock.ms += 4999;
  assert.equal(table.takeExpired(10), []);
  clock.ms += 1;
  assert.equal(table.takeExpired(10), [1n]);
  assert.equal(table.takeExpired(10), []);
  clock.ms += expiredLeaseRetryMs;
  assert.equal(table.takeExpired(10), [1n]);
});

t('renew restarts the TTL; an unknown lease is notFound; an expired one waits for its revoke', async () => {
  const { clock, table } = fresh();
  table.grant(1n, 5n);
  clock.ms += 4000;
  assert.equal(table.renew(1n), { kind: 'renewed', ttlSeconds: 5, checkpointed: false });
  clock.ms += 4000;
  assert.equal(table.takeExpired(10), []);
  assert.equal(table.renew(9n), { kind: 'notFound' });
  clock.ms += 1000;
  const outcome = table.renew(1n);
  assert.is(outcome.kind, 'expired');
  let gone = false;
  if (outcome.kind === 'expired') void outcome.gone.then(() => (gone = true));
  table.remove(1n);
  await Promise.resolve();
  assert.ok(gone);
});

t('takeExpired hands out at most the limit, soonest first', () => {
  const { clock, table } = fresh();
  for (let i = 1n; i <= 5n; i++) table.grant(i, 10n - i);
  clock.ms += 60_000;
  assert.equal(table.takeExpired(3), [5n, 4n, 3n]);
  assert.equal(table.takeExpired(3), [2n, 1n]);
});

t('a table that is not primary never expires; promote gives every lease its full TTL plus the extension', () => {
  const clock = new ManualClock();
  const table = new LeaseTable({ minTtlSeconds: 2, clock });
  table.restore(1n, 10);
  table.grant(2n, 10n);
  clock.ms += 1_000_000;
  assert.equal(table.takeExpired(10), []);
  assert.is(table.renew(1n).kind, 'notPrimary');
  table.promote(1000);
  clock.ms += 10_999;
  assert.equal(table.takeExpired(10), []);
  clock.ms += 1;
  assert.equal(table.takeExpired(10).sort(), [1n, 2n]);
  table.demote();
  clock.ms += expiredLeaseRetryMs * 10;
  assert.equal(table.takeExpired(10), []);
});

t('promote spreads a pile of equal expiries to at most 3/4 of the revoke rate per second', () => {
  const clock = new ManualClock();
  const table = new LeaseTable({ minTtlSeconds: 2, clock });
  for (let i = 1n; i <= 3000n; i++) table.restore(i, 10);
  table.promote(0);
  const perSecond: number[] = [];
  const seen = new Set<bigint>();
  for (let s = 0; s < 20; s++) {
    clock.ms += 1000;
    // A lease taken once comes back after the retry interval (its revoke is not applied here).
    const fresh = table.takeExpired(10_000).filter((id) => !seen.has(id));
    fresh.forEach((id) => seen.add(id));
    perSecond.push(fresh.length);
  }
  assert.is(seen.size, 3000);
  assert.ok(perSecond.every((n) => n <= 750 + 1), `expiries per second: ${perSecond.join(' ')}`);
});

t('applied changes attach a key to its lease, move it between leases and detach it on delete', () => {
  const { table } = fresh();
  table.grant(1n, 60n);
  table.grant(2n, 60n);
  table.track(record('a', 1n));
  table.track(record('b', 1n));
  assert.equal(table.keysOf(1n), ['a', 'b']);
  table.track(record('a', 2n));
  assert.equal(table.keysOf(1n), ['b']);
  assert.equal(table.keysOf(2n), ['a']);
  table.track(record('b', 0n));
  table.track(record('a', 0n, true));
  assert.equal(table.keysOf(1n), []);
  assert.equal(table.keysOf(2n), []);
  assert.is(table.keysOf(3n), undefined);
});

t('a key put with a lease and deleted in the same Txn is detached, though the delete replaced nothing from before the Txn', () => {
  const { table } = fresh();
  table.grant(1n, 60n);
  table.track(record('a', 1n));
  table.track(record('a', 0n, true));
  assert.equal(table.keysOf(1n), []);
  table.track(record('a', 0n));
  table.remove(1n);
  table.grant(1n, 60n);
  assert.equal(table.keysOf(1n), [], 'a revoked lease leaves no attachment behind');
});

t('status truncates the remaining seconds toward zero and lists keys sorted', () => {
  const { clock, table } = fresh();
  table.grant(1n, 10n);
  table.track(record('z', 1n));
  table.track(record('m', 1n));
  clock.ms += 1500;
  assert.equal(table.status(1n, true), { id: 1n, ttlSeconds: 10, remainingSeconds: 8, keys: ['m', 'z'] });
  assert.equal(table.status(1n, false)?.keys, []);
  assert.is(table.status(2n, true), undefined);
});

t('a checkpoint changes nothing until promotion, which starts the lease from its checkpointed remaining TTL', () => {
  const { clock, table } = fresh();
  table.grant(1n, 100n);
  table.grant(2n, 100n);
  table.checkpoint(1n, 40);
  table.checkpoint(404n, 40); // unknown: ignored
  assert.is(table.status(1n, false)?.remainingSeconds, 100, 'the running expiry is not touched');
  table.demote();
  clock.ms += 5_000;
  table.promote(0);
  assert.is(table.status(1n, false)?.remainingSeconds, 40);
  assert.is(table.status(2n, false)?.remainingSeconds, 100);
  table.checkpoint(1n, 0); // 0: unset again, the full TTL counts
  table.promote(0);
  assert.is(table.status(1n, false)?.remainingSeconds, 100);
});

t.run();
