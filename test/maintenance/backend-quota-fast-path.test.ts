// BackendQuota.fitsNow, the check every put, txn and grant passes without an await: true only while
// a fresh measurement leaves room (or there is no quota); otherwise the caller must take check().
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EtcdError } from '../../src/core/errors.js';
import { BackendQuota, dbSizeMaxAgeMs, roomyDbSizeMaxAgeMs, roomyHeadroomBytes } from '../../src/maintenance/backend-quota.js';
import { ManualTimers } from '../store/manual-timers.js';

const s = suite('backend quota: the no-wait path');

function quota(quotaBytes: number, dbBytes: () => number): { quota: BackendQuota; timers: ManualTimers; measured: () => number } {
  const timers = new ManualTimers();
  let measurements = 0;
  const q = new BackendQuota({
    quotaBytes,
    dbSizeBytes: async () => {
      measurements++;
      return dbBytes();
    },
    alarm: async () => ({ header: undefined, alarms: [] }),
    memberId: 1n,
    timers,
  });
  return { quota: q, timers, measured: () => measurements };
}

s('without a quota, and for a request that adds nothing, every request fits at once', () => {
  assert.ok(quota(-1, () => 1e12).quota.fitsNow(1e9));
  assert.ok(quota(1000, () => 1e12).quota.fitsNow(0));
});

s('before any measurement, after it has aged, or past the quota, the caller must measure', async () => {
  let db = 500;
  const { quota: q, timers, measured } = quota(1000, () => db);
  assert.not.ok(q.fitsNow(10), 'nothing measured yet');
  await q.check(10);
  assert.is(measured(), 1);
  assert.ok(q.fitsNow(10), 'a fresh measurement with room');
  assert.not.ok(q.fitsNow(500), 'exactly at the quota does not fit, as in check()');
  timers.advance(dbSizeMaxAgeMs);
  assert.not.ok(q.fitsNow(10), 'an aged measurement');
  db = 995;
  await q.check(1);
  assert.is(measured(), 2);
  assert.not.ok(q.fitsNow(10));
  await q.check(10).then(
    () => assert.unreachable('past the quota'),
    (e: unknown) => assert.is(e instanceof EtcdError && e.kind, 'noSpace'),
  );
});

s('far under the quota a measurement stays fresh longer; near it, only briefly', async () => {
  const quotaBytes = 2 * roomyHeadroomBytes;
  let db = 1000;
  const { quota: q, timers, measured } = quota(quotaBytes, () => db);
  await q.check(10);
  timers.advance(dbSizeMaxAgeMs);
  assert.ok(q.fitsNow(10), 'roomy: still fresh past the short age');
  timers.advance(roomyDbSizeMaxAgeMs - dbSizeMaxAgeMs);
  assert.not.ok(q.fitsNow(10), 'roomy: aged after the long one');
  db = quotaBytes - roomyHeadroomBytes + 1;
  await q.check(10);
  assert.is(measured(), 2);
  assert.ok(q.fitsNow(10));
  timers.advance(dbSizeMaxAgeMs);
  assert.not.ok(q.fitsNow(10), 'near the quota: the short age again');
});

s.run();
