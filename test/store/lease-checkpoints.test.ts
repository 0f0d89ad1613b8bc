// The primary's lease checkpoint schedule on a manual clock (etcd's scheduleCheckpointIfNeeded and
// findDueScheduledCheckpoints), and the duty loop that proposes checkpoints and revokes only while
// its Raft is leader.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LeaseTable, type LeaseClock } from '../../src/actors/lease-table.js';
import { LeaseDuties, maxLeaseCheckpointBatchSize } from '../../src/lease/lease-duties.js';
import type { LeaseCheckpointRequest, LeaseRevokeRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';

class ManualClock implements LeaseClock {
  ms = 1_000_000;
  now(): number {
    return this.ms;
  }
}

const intervalMs = 10_000;

const primaryTable = (checkpointIntervalMs: number | null = intervalMs): { clock: ManualClock; table: LeaseTable } => {
  const clock = new ManualClock();
  const table = new LeaseTable({ minTtlSeconds: 2, clock, ...(checkpointIntervalMs === null ? {} : { checkpointIntervalMs }) });
  table.promote(0);
  return { clock, table };
};

const t = suite('lease checkpoints');

t('a lease longer than the interval is checkpointed an interval after its grant with its remaining TTL rounded up', () => {
  const { clock, table } = primaryTable();
  table.grant(1n, 60n);
  clock.ms += intervalMs - 1;
  assert.equal(table.takeDueCheckpoints(10), []);
  clock.ms += 1_500;
  assert.equal(table.takeDueCheckpoints(10), [{ ID: 1n, remainingTTL: 49n }]);
  assert.equal(table.takeDueCheckpoints(10), [], 'taken once per interval');
  clock.ms += intervalMs;
  assert.equal(table.takeDueCheckpoints(10), [{ ID: 1n, remainingTTL: 39n }], 'rescheduled when taken');
});

t('a lease no longer than the interval is never checkpointed', () => {
  const { clock, table } = primaryTable();
  table.grant(1n, 10n);
  clock.ms += 2 * intervalMs;
  assert.equal(table.takeDueCheckpoints(10), []);
});

t('checkpoints are off without an interval, and on a member that is not primary', () => {
  const off = primaryTable(null);
  off.table.grant(1n, 60n);
  off.clock.ms += 2 * intervalMs;
  assert.equal(off.table.takeDueCheckpoints(10), []);
  const { clock, table } = primaryTable();
  table.grant(1n, 60n);
  table.demote();
  clock.ms += 2 * intervalMs;
  assert.equal(table.takeDueCheckpoints(10), []);
});

t('a lease renewed within the last second records nothing but stays scheduled', () => {
  const { clock, table } = primaryTable();
  table.grant(1n, 60n);
  clock.ms += intervalMs;
  table.renew(1n);
  assert.equal(table.takeDueCheckpoints(10), []);
  clock.ms += intervalMs;
  assert.equal(table.takeDueCheckpoints(10), [{ ID: 1n, remainingTTL: 50n }]);
});

t('renewing a checkpointed lease says so (the leader then records 0); a promotion starts from the recorded remaining TTL', () => {
  const { clock, table } = primaryTable();
  table.grant(1n, 60n);
  assert.equal(table.renew(1n), { kind: 'renewed', ttlSeconds: 60, checkpointed: false });
  table.checkpoint(1n, 20);
  assert.equal(table.renew(1n), { kind: 'renewed', ttlSeconds: 60, checkpointed: true });
  table.demote();
  table.promote(1_000);
  assert.is(table.status(1n, false)?.remainingSeconds, 21);
  table.checkpoint(1n, 0);
  table.demote();
  table.promote(0);
  assert.is(table.status(1n, false)?.remainingSeconds, 60, 'a checkpoint of 0 gives the full TTL');
  clock.ms += 0;
});

t('due checkpoints come out in batches of at most the limit, soonest first', () => {
  const { clock, table } = primaryTable();
  for (let i = 1n; i <= 5n; i++) {
    table.grant(i, 60n);
    clock.ms += 100;
  }
  clock.ms += intervalMs;
  assert.equal(table.takeDueCheckpoints(2).map((c) => c.ID), [1n, 2n]);
  assert.equal(table.takeDueCheckpoints(2).map((c) => c.ID), [3n, 4n]);
  assert.equal(table.takeDueCheckpoints(2).map((c) => c.ID), [5n]);
});

t('a revoked lease leaves the schedule', () => {
  const { clock, table } = primaryTable();
  table.grant(1n, 60n);
  table.remove(1n);
  clock.ms += intervalMs;
  assert.equal(table.takeDueCheckpoints(10), []);
});

interface Proposals {
  revokes: bigint[];
  checkpoints: LeaseCheckpointRequest[];
}

const duties = (table: LeaseTable, leader: { now: boolean }): { duties: LeaseDuties; proposed: Proposals } => {
  const proposed: Proposals = { revokes: [], checkpoints: [] };
  const d = new LeaseDuties({
    table,
    store: {
      leaseRevoke: async (req: LeaseRevokeRequest) => void proposed.revokes.push(req.ID),
      leaseCheckpoint: async (req: LeaseCheckpointRequest) => void proposed.checkpoints.push(req),
    },
    isLeaderNow: () => leader.now,
    onExpiryError: () => undefined,
    onCheckpointError: () => undefined,
    onFatal: () => undefined,
  });
  return { duties: d, proposed };
};

t('the duty loop batches checkpoints by maxLeaseCheckpointBatchSize', () => {
  const { clock, table } = primaryTable();
  const n = maxLeaseCheckpointBatchSize + 5;
  for (let i = 1; i <= n; i++) table.grant(BigInt(i), 600n);
  clock.ms += intervalMs + 1_000;
  const { duties: d, proposed } = duties(table, { now: true });
  d.check();
  assert.equal(proposed.checkpoints.map((c) => c.checkpoints.length), [maxLeaseCheckpointBatchSize, 5]);
});

t('a member whose Raft is no longer leader proposes no revoke and no checkpoint, even before its table is demoted', () => {
  const { clock, table } = primaryTable();
  table.grant(1n, 2n);
  table.grant(2n, 60n);
  clock.ms += intervalMs + 1_000;
  const leader = { now: false };
  const { duties: d, proposed } = duties(table, leader);
  d.check();
  assert.equal(proposed, { revokes: [], checkpoints: [] });
  leader.now = true;
  d.check();
  assert.equal(proposed.revokes, [1n]);
  assert.equal(proposed.checkpoints.map((c) => c.checkpoints.map((x) => x.ID)), [[2n]]);
});

t('a table that cannot be asked stops the duty loop once, as a fail-stopped store does', async () => {
  let fatal = 0;
  const errors: unknown[] = [];
  const broken = new Error('an update to the lease table failed');
  const duties = new LeaseDuties({
    table: {
      primary: true,
      renew: () => Promise.reject(broken),
      status: () => Promise.reject(broken),
      ids: () => Promise.reject(broken),
      takeExpired: () => Promise.reject(broken),
      takeDueCheckpoints: () => Promise.reject(broken),
    },
    store: { leaseRevoke: async () => undefined, leaseCheckpoint: async () => undefined },
    isLeaderNow: () => true,
    onExpiryError: (e) => void errors.push(e),
    onCheckpointError: () => undefined,
    onFatal: () => void fatal++,
  });
  duties.check();
  await new Promise((r) => setImmediate(r));
  duties.check();
  await new Promise((r) => setImmediate(r));
  assert.is(fatal, 1);
  assert.equal(errors, [broken]);
});

t.run();
