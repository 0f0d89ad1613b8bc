// The group-commit primitive every durable writer shares: gathering, one flush per group, outcomes, fail-stop.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GroupCommit, GroupCommitFullError, type GroupCommitOptions } from '../../src/storage/group-commit.js';

const test = suite('storage: group commit');

/** A committer whose flushes are recorded and wait until released, so tests control the timing. */
function recorder(options: Partial<GroupCommitOptions<number>> = {}) {
  const groups: number[][] = [];
  const gates: Array<(err?: Error) => void> = [];
  const committer = new GroupCommit<number>({
    flush: (group) => {
      groups.push([...group]);
      return new Promise<void>((resolve, reject) => gates.push((err) => (err === undefined ? resolve() : reject(err))));
    },
    weight: () => 1,
    maxGroupWeight: 100,
    ...options,
  });
  const release = async (err?: Error): Promise<void> => {
    await until(() => gates.length > 0);
    gates.shift()!(err);
  };
  return { committer, groups, release };
}

async function until(check: () => boolean, deadlineMs = 2000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const outcome = (p: Promise<void>): Promise<string> => p.then(
  () => 'ok',
  (e: unknown) => `rejected: ${(e as Error).message}`,
);

test('submits made in the same tick share one flush', async () => {
  const { committer, groups, release } = recorder();
  const done = [1, 2, 3].map((n) => committer.submit(n));
  await release();
  await Promise.all(done);
  assert.equal(groups, [[1, 2, 3]]);
});

test('submits made while a flush runs gather into the next group, in submit order', async () => {
  const { committer, groups, release } = recorder();
  const first = committer.submit(1);
  await until(() => groups.length === 1);
  const later = [2, 3, 4].map((n) => committer.submit(n));
  await release();
  await first;
  await release();
  await Promise.all(later);
  assert.equal(groups, [[1], [2, 3, 4]]);
});

test('a group never exceeds the weight bound, but a single heavy item still goes alone', async () => {
  const groups: number[][] = [];
  const committer = new GroupCommit<number>({ flush: async (g) => void groups.push([...g]), weight: (n) => n, maxGroupWeight: 10 });
  await Promise.all([4, 5, 3, 20, 1].map((n) => committer.submit(n)));
  assert.equal(groups, [[4, 5], [3], [20], [1]]);
});

test('a failed flush rejects its group, everything queued and every later submit with the same error', async () => {
  const { committer, release } = recorder();
  const failure = new Error('EIO: fdatasync failed');
  const first = outcome(committer.submit(1));
  await until(() => committer.queued === 0);
  const queued = outcome(committer.submit(2));
  await release(failure);
  assert.is(await first, 'rejected: EIO: fdatasync failed');
  assert.is(await queued, 'rejected: EIO: fdatasync failed');
  assert.is(committer.failure, failure);
  try {
    await committer.submit(3);
    assert.unreachable('a submit after the failure must reject');
  } catch (e) {
    assert.is(e, failure, 'the original failure, not a new one');
  }
});

test('the failure is reported once, even when fail is called again', async () => {
  const seen: Error[] = [];
  const committer = new GroupCommit<number>({ flush: async () => { throw new Error('ENOSPC'); }, weight: () => 1, maxGroupWeight: 10, onFailure: (e) => seen.push(e) });
  await outcome(committer.submit(1));
  committer.fail(new Error('later'));
  assert.equal(seen.map((e) => e.message), ['ENOSPC']);
  assert.is(committer.failure?.message, 'ENOSPC');
});

test('a failing afterFlush stops the committer after its group was answered', async () => {
  let calls = 0;
  const committer = new GroupCommit<number>({
    flush: async () => undefined,
    afterFlush: async () => {
      if (++calls === 1) throw new Error('rotation failed');
    },
    weight: () => 1,
    maxGroupWeight: 10,
  });
  assert.is(await outcome(committer.submit(1)), 'ok');
  await committer.drain();
  assert.is(await outcome(committer.submit(2)), 'rejected: rotation failed');
});

test('fail from outside rejects what is queued and what comes later', async () => {
  const { committer, groups, release } = recorder();
  const first = outcome(committer.submit(1));
  await until(() => groups.length === 1);
  const queued = outcome(committer.submit(2));
  committer.fail(new Error('snapshot failed'));
  assert.is(await queued, 'rejected: snapshot failed');
  await release();
  assert.is(await first, 'ok', 'the group already being written is answered by its own flush');
  assert.is(await outcome(committer.submit(3)), 'rejected: snapshot failed');
  assert.equal(groups, [[1]]);
});

test('afterFlush does not run for a flush that finishes after the committer was stopped from outside', async () => {
  let afterFlushCalls = 0;
  const { committer, groups, release } = recorder({ afterFlush: async () => void afterFlushCalls++ });
  const first = outcome(committer.submit(1));
  await until(() => groups.length === 1);
  committer.fail(new Error('snapshot failed'));
  await release();
  assert.is(await first, 'ok');
  await committer.drain();
  assert.is(afterFlushCalls, 0, 'a rotation after a failed snapshot would act on files the failure left behind');
});

test('onStop tells each listener once, also one registered after the stop, and a throwing listener does not keep waiters from their answer', async () => {
  const told: string[] = [];
  const { committer, groups, release } = recorder();
  committer.onStop(() => {
    throw new Error('listener bug');
  });
  committer.onStop((e) => told.push(`early: ${e.message}`));
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown): void => void uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  try {
    const first = outcome(committer.submit(1));
    await until(() => groups.length === 1);
    await release(new Error('EIO'));
    assert.is(await first, 'rejected: EIO');
    committer.onStop((e) => told.push(`late: ${e.message}`));
    committer.fail(new Error('again'));
    await until(() => uncaught.length > 0);
  } finally {
    process.off('uncaughtException', onUncaught);
  }
  assert.equal(told, ['early: EIO', 'late: EIO']);
  assert.match(String(uncaught[0]), /listener bug/);
});

test('submits beyond the queue bound are refused without touching the others', async () => {
  const { committer, release } = recorder({ maxQueuedItems: 2, start: 'immediate' });
  const accepted = [committer.submit(1), committer.submit(2)];
  let refused: unknown;
  await committer.submit(3).catch((e: unknown) => (refused = e));
  assert.instance(refused, GroupCommitFullError);
  await release();
  await Promise.all(accepted);
  assert.is(committer.failure, undefined);
});

test('drain waits for every queued group', async () => {
  const { committer, groups, release } = recorder();
  void committer.submit(1);
  await until(() => groups.length === 1);
  void committer.submit(2);
  let drained = false;
  const draining = committer.drain().then(() => (drained = true));
  await release();
  await until(() => groups.length === 2);
  assert.not.ok(drained);
  await release();
  await draining;
  assert.ok(drained);
});

test.run();
