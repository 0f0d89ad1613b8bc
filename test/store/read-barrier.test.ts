// Linearizable reads: batched onto one read index call per round, cleared once the store has
// applied that index, timed out with etcdserver: request timed out otherwise.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EtcdError } from '../../src/core/errors.js';
import { AppliedIndex } from '../../src/store/applied-index.js';
import { isSerializableRead, ReadBarrier } from '../../src/store/read-barrier.js';
import { RangeRequest, RequestOp, TxnRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { ManualTimers } from './manual-timers.js';

const test = suite('store: read barrier');

interface Rig {
  readonly timers: ManualTimers;
  readonly applied: AppliedIndex;
  readonly barrier: ReadBarrier;
  /** Each readIndex() call, to be answered by the test. */
  readonly calls: ((index: number) => void)[];
}

function rig(appliedIndex = 0): Rig {
  const timers = new ManualTimers();
  const applied = new AppliedIndex(appliedIndex, timers, 8);
  const calls: ((index: number) => void)[] = [];
  const readIndex = (): Promise<number> => new Promise<number>((resolve) => calls.push(resolve));
  const barrier = new ReadBarrier({ readIndex, applied, timeoutMs: 1000, maxWaitingReads: 100, timers });
  return { timers, applied, barrier, calls };
}

const settles = async (p: Promise<void>): Promise<string> => {
  let state = 'pending';
  p.then(
    () => (state = 'cleared'),
    (e: unknown) => (state = e instanceof EtcdError ? e.kind : String(e)),
  );
  for (let i = 0; i < 10; i++) await Promise.resolve();
  return state;
};

test('reads arriving together share one read index call', async () => {
  const r = rig(5);
  const reads = Array.from({ length: 50 }, () => r.barrier.wait());
  await settles(reads[0]!);
  assert.is(r.calls.length, 1);
  r.calls[0]!(5);
  for (const read of reads) assert.is(await settles(read), 'cleared');
});

test('a read arriving while a call runs waits for the next call, whose index may be newer', async () => {
  const r = rig(5);
  const first = r.barrier.wait();
  await settles(first);
  const second = r.barrier.wait();
  const third = r.barrier.wait();
  assert.is(r.calls.length, 1, 'no second call while the first runs');
  r.calls[0]!(5);
  assert.is(await settles(first), 'cleared');
  assert.is(await settles(second), 'pending');
  assert.is(r.calls.length, 2, 'one call for both later reads');
  r.calls[1]!(7);
  assert.is(await settles(second), 'pending', 'index 7 is not applied yet');
  r.applied.advance(7);
  assert.is(await settles(second), 'cleared');
  assert.is(await settles(third), 'cleared');
});

test('a read whose index is not applied in time gets etcdserver: request timed out', async () => {
  const r = rig(5);
  const read = r.barrier.wait();
  await settles(read);
  r.calls[0]!(9);
  r.timers.advance(1000);
  assert.is(await settles(read), 'timeout');
  // The next round runs on its own: a later read clears as soon as its index is applied.
  const later = r.barrier.wait();
  await settles(later);
  r.calls[1]!(5);
  assert.is(await settles(later), 'cleared');
});

test('a read index call that never answers times the read out and does not block later rounds', async () => {
  const r = rig(5);
  const read = r.barrier.wait();
  await settles(read);
  r.timers.advance(1000);
  assert.is(await settles(read), 'timeout');
  const later = r.barrier.wait();
  await settles(later);
  assert.is(r.calls.length, 2);
  r.calls[1]!(5);
  assert.is(await settles(later), 'cleared');
});

test('reads gathered behind a stuck round time out too, and a read arriving after that gets a round of its own', async () => {
  const r = rig(5);
  const first = r.barrier.wait();
  await settles(first);
  r.timers.advance(500);
  const second = r.barrier.wait(); // gathers behind the first, whose read index never answers
  r.timers.advance(500);
  assert.is(await settles(first), 'timeout');
  assert.is(r.calls.length, 2, 'the second round started once the first was given up');
  r.timers.advance(500);
  assert.is(await settles(second), 'timeout');
  const third = r.barrier.wait();
  await settles(third);
  assert.is(r.calls.length, 3);
  r.calls[2]!(5);
  assert.is(await settles(third), 'cleared');
});

test('a read arriving after a round expired before it started is not failed with it', async () => {
  const r = rig(5);
  const first = r.barrier.wait();
  r.timers.advance(1000); // the deadline passes before the round has even started
  const second = r.barrier.wait();
  assert.is(await settles(first), 'timeout');
  await settles(second);
  r.calls.at(-1)!(5);
  assert.is(await settles(second), 'cleared');
});

test('a store that stops applying fails waiting reads with its reason', async () => {
  const r = rig(5);
  const read = r.barrier.wait();
  await settles(read);
  r.calls[0]!(9);
  await settles(read);
  r.applied.end(new EtcdError('stopped'));
  assert.is(await settles(read), 'stopped');
});

test("serializable: a Range with serializable, a read-only Txn whose every Range is (etcd's isTxnSerializable)", () => {
  const range = (serializable: boolean) => RangeRequest.create({ key: Buffer.from('k'), serializable });
  const txn = (...ops: RangeRequest[]) => TxnRequest.create({ success: ops.map((r) => RequestOp.create({ requestRange: r })) });
  assert.ok(isSerializableRead({ type: 'range', req: range(true) }));
  assert.not.ok(isSerializableRead({ type: 'range', req: range(false) }));
  assert.ok(isSerializableRead({ type: 'txn', req: txn(range(true), range(true)) }));
  assert.not.ok(isSerializableRead({ type: 'txn', req: txn(range(true), range(false)) }));
});

test.run();
