// The applied state on its way to the engine: batches that come one at a time are written together,
// a synced batch is due every N entries (and only then may the log trim), a failure stops it all.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Engine, WriteOp } from '../../src/engines/engine.js';
import { PersistQueue, persistDelayMs } from '../../src/store/persist-queue.js';
import { APPLIED_KEY, COMPACT_KEY, decodeApplied, decodeRevision } from '../../src/store/storage-keys.js';

const test = suite('store: persist queue');

interface Written {
  readonly ops: readonly WriteOp[];
  readonly sync: boolean;
}

function fakeEngine(fail?: () => boolean): { engine: Engine; writes: Written[] } {
  const writes: Written[] = [];
  const engine = {
    write: async (ops: readonly WriteOp[], options: { sync: boolean }) => {
      if (fail?.() === true) throw new Error('EIO: i/o error, write');
      writes.push({ ops, sync: options.sync });
    },
  } as unknown as Engine;
  return { engine, writes };
}

const put = (key: string): WriteOp => ({ type: 'put', key: Buffer.from(key), value: Buffer.from('v') });
const keysOf = (w: Written): string[] => w.ops.map((op) => (op.type === 'delRange' ? 'range' : op.key.toString()));
const appliedOf = (w: Written): { index: number; revision: number } => {
  const op = w.ops.at(-1)!;
  assert.ok(op.type === 'put' && op.key.equals(APPLIED_KEY), 'the applied mark comes last');
  return decodeApplied(op.type === 'put' ? op.value : Buffer.alloc(0));
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function queue(engine: Engine, syncedEveryEntries = 1000, failures: unknown[] = [], persisted: number[] = []): PersistQueue {
  return new PersistQueue({
    engine,
    log: { written: () => Promise.resolve(), persistedUpTo: (index) => void persisted.push(index) },
    syncedIndex: 0,
    syncedEveryEntries,
    onFailure: (e) => void failures.push(e),
  });
}

test('batches added within the delay go to the engine as one write, in order, with the last applied mark', async () => {
  const { engine, writes } = fakeEngine();
  const q = queue(engine);
  q.add([put('a')], { index: 1, revision: 2 });
  q.add([put('b'), { type: 'del', key: Buffer.from('a') }], { index: 2, revision: 3 });
  q.add([put('c')], { index: 3, revision: 4 });
  await sleep(0);
  assert.is(writes.length, 0, 'nothing is written before the delay');
  await sleep(persistDelayMs + 20);
  assert.is(writes.length, 1);
  assert.equal(keysOf(writes[0]!), ['a', 'b', 'a', 'c', 'm/applied']);
  assert.equal(appliedOf(writes[0]!), { index: 3, revision: 4 });
  assert.is(writes[0]!.sync, false);
});

test('drain writes at once; a compaction in the gathered batches stores its point', async () => {
  const { engine, writes } = fakeEngine();
  const q = queue(engine);
  q.add([put('a')], { index: 1, revision: 2, compactRevision: 1 });
  q.add([put('b')], { index: 2, revision: 3 });
  await q.drain();
  assert.is(writes.length, 1);
  const compact = writes[0]!.ops.find((op) => op.type === 'put' && op.key.equals(COMPACT_KEY));
  assert.ok(compact?.type === 'put' && decodeRevision(compact.value) === 2, 'stored as compactRev + 1');
  await q.drain();
  assert.is(writes.length, 1, 'an empty drain writes nothing');
});

test('every N entries a batch is written with sync at once, and only then is the log told it may trim', async () => {
  const { engine, writes } = fakeEngine();
  const persisted: number[] = [];
  const q = queue(engine, 10, [], persisted);
  q.add([put('a')], { index: 4, revision: 5 });
  q.add([put('b')], { index: 10, revision: 11 });
  await sleep(0);
  assert.is(writes.length, 1, 'the synced batch did not wait for the delay');
  assert.is(writes[0]!.sync, true);
  assert.equal(persisted, [10]);
  q.add([put('c')], { index: 12, revision: 13 });
  await q.drain();
  assert.is(writes[1]!.sync, false);
  assert.equal(persisted, [10]);
});

test('a failed write stops the queue: nothing later lands, the store is told once', async () => {
  let failing = false;
  const { engine, writes } = fakeEngine(() => failing);
  const failures: unknown[] = [];
  const q = queue(engine, 1000, failures);
  q.add([put('a')], { index: 1, revision: 2 });
  await q.drain();
  failing = true;
  q.add([put('b')], { index: 2, revision: 3 });
  q.add([put('c')], { index: 3, revision: 4 });
  await q.drain();
  failing = false;
  q.add([put('d')], { index: 4, revision: 5 });
  await q.drain();
  assert.is(writes.length, 1);
  assert.is(failures.length, 1);
});

test('the engine gets nothing before the log has written the entries the state comes from', async () => {
  const { engine, writes } = fakeEngine();
  let logWritten!: () => void;
  const q = new PersistQueue({
    engine,
    log: { written: () => new Promise<void>((resolve) => (logWritten = resolve)), persistedUpTo: () => undefined },
    syncedIndex: 0,
    syncedEveryEntries: 1000,
    onFailure: () => undefined,
  });
  q.add([put('a')], { index: 1, revision: 2 });
  const drained = q.drain();
  await sleep(persistDelayMs + 20);
  assert.is(writes.length, 0);
  logWritten();
  await drained;
  assert.is(writes.length, 1);
});

test('a failed synced write does not let the log trim, and a write queued behind it never lands', async () => {
  let attempts = 0;
  const { engine, writes } = fakeEngine(() => ++attempts === 1);
  const persisted: number[] = [];
  const q = queue(engine, 10, [], persisted);
  q.add([put('a')], { index: 10, revision: 11 });
  q.add([put('b')], { index: 20, revision: 21 });
  await q.drain();
  assert.is(attempts, 1, 'the second write was not tried');
  assert.equal(persisted, []);
  assert.is(writes.length, 0);
});

test('much pending is written at once, without waiting for the delay', async () => {
  const { engine, writes } = fakeEngine();
  const q = queue(engine);
  const big: WriteOp = { type: 'put', key: Buffer.from('big'), value: Buffer.alloc(9 * 1024 * 1024) };
  q.add([big], { index: 1, revision: 2 });
  q.add([big], { index: 2, revision: 3 });
  await sleep(0);
  assert.is(writes.length, 1, 'over 16 MiB pending went out at once');
  q.add(Array.from({ length: 9000 }, (_, i) => put(`k${i}`)), { index: 3, revision: 4 });
  await sleep(0);
  assert.is(writes.length, 2, 'over 8192 ops pending went out at once');
});

test('stop: what is pending is not written', async () => {
  const { engine, writes } = fakeEngine();
  const q = queue(engine);
  q.add([put('a')], { index: 1, revision: 2 });
  q.stop();
  await sleep(persistDelayMs + 20);
  await q.drain();
  assert.is(writes.length, 0);
});

test.run();
