// The auto-compactor against a hand-driven clock: etcd 3.4's periodic and revision compactors' choice
// of revision and timing, only while leading, and its log lines.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EtcdError } from '../../src/core/errors.js';
import { AutoCompactor, goDuration, type AutoCompactorOptions } from '../../src/maintenance/auto-compactor.js';
import { ManualTimers } from '../store/manual-timers.js';

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Rig {
  timers: ManualTimers;
  compacted: number[];
  logs: string[];
  leader: { value: boolean };
  revision: { value: number };
  fail: { value: Error | undefined };
  compactor: AutoCompactor;
  step(ms: number, times?: number): Promise<void>;
}

function rig(options: Pick<AutoCompactorOptions, 'mode' | 'retention' | 'revisionCheckIntervalMs'>): Rig {
  const timers = new ManualTimers();
  const compacted: number[] = [];
  const logs: string[] = [];
  const leader = { value: true };
  const revision = { value: 100 };
  const fail: { value: Error | undefined } = { value: undefined };
  const compactor = new AutoCompactor({
    ...options,
    timers,
    currentRevision: () => revision.value,
    isLeader: () => leader.value,
    compact: async (rev) => {
      if (fail.value !== undefined) throw fail.value;
      compacted.push(rev);
    },
    log: (level, message, fields) => logs.push(`${level} ${message} ${JSON.stringify(fields)}`),
  });
  return {
    timers,
    compacted,
    logs,
    leader,
    revision,
    fail,
    compactor,
    async step(ms, times = 1) {
      for (let i = 0; i < times; i++) {
        timers.advance(ms);
        await settle();
        await settle();
      }
    },
  };
}

const test = suite('auto-compactor');

test('goDuration prints Go time.Duration text', () => {
  assert.is(goDuration(3_600_000), '1h0m0s');
  assert.is(goDuration(30 * 60_000), '30m0s');
  assert.is(goDuration(2500), '2.5s');
  assert.is(goDuration(200), '200ms');
});

test('periodic: after one retention it compacts at the revision sampled a retention ago, then every retention', async () => {
  const r = rig({ mode: 'periodic', retention: 10_000 });
  r.compactor.start();
  // The revision grows 10 per second; samples are taken every retention/10.
  for (let s = 1; s <= 9; s++) {
    r.revision.value += 10;
    await r.step(1000);
  }
  assert.equal(r.compacted, []);
  r.revision.value += 10;
  await r.step(1000);
  assert.equal(r.compacted, [100]);
  for (let s = 0; s < 10; s++) {
    r.revision.value += 10;
    await r.step(1000);
  }
  assert.equal(r.compacted, [100, 190]);
  assert.ok(r.logs.some((l) => l.startsWith('info starting auto periodic compaction {"revision":100,"compact-period":"10s"}')), r.logs.join('\n'));
  assert.ok(r.logs.some((l) => l.startsWith('info completed auto periodic compaction {"revision":100,"compact-period":"10s","took":')));
  r.compactor.stop();
});

test('periodic: a follower does not compact; a failure is logged and retried after retention/10', async () => {
  const r = rig({ mode: 'periodic', retention: 10_000 });
  r.leader.value = false;
  r.compactor.start();
  await r.step(1000, 15);
  assert.equal(r.compacted, []);
  r.leader.value = true;
  r.fail.value = new EtcdError('noLeader');
  await r.step(1000);
  assert.equal(r.compacted, []);
  assert.ok(r.logs.some((l) => l.startsWith('warn failed auto periodic compaction') && l.includes('"retry-interval":"1s"')), r.logs.join('\n'));
  r.fail.value = undefined;
  await r.step(1000);
  assert.is(r.compacted.length, 1);
  r.compactor.stop();
});

test('revision: every check it compacts at current - retention, once per revision, and counts compacted as done', async () => {
  const r = rig({ mode: 'revision', retention: 5, revisionCheckIntervalMs: 1000 });
  r.compactor.start();
  await r.step(1000);
  assert.equal(r.compacted, [95]);
  await r.step(1000);
  assert.equal(r.compacted, [95]);
  r.revision.value = 120;
  r.fail.value = new EtcdError('compacted');
  await r.step(1000);
  r.fail.value = undefined;
  await r.step(1000);
  assert.equal(r.compacted, [95], 'a compacted answer counts as done: 115 is not tried again');
  r.revision.value = 130;
  await r.step(1000);
  assert.equal(r.compacted, [95, 125]);
  assert.ok(r.logs.some((l) => l.startsWith('info starting auto revision compaction {"revision":95,"revision-compaction-retention":5}')), r.logs.join('\n'));
  r.compactor.stop();
  r.revision.value = 200;
  await r.step(1000, 3);
  assert.equal(r.compacted, [95, 125], 'stopped');
});

test('a retention of 0 never starts', async () => {
  const r = rig({ mode: 'revision', retention: 0, revisionCheckIntervalMs: 1000 });
  r.compactor.start();
  assert.is(r.timers.armed, 0);
});

test.run();
