// The MVCC store's revision rules, on every engine, shard layout and actor placement.
import { cp, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  CompactionRequest,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  RequestOp,
  TxnRequest,
} from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { Engine } from '../../src/engines/engine.js';
import { openEngine } from '../../src/engines/open-engine.js';
import { APPLIED_KEY, decodeApplied, type AppliedMark } from '../../src/store/storage-keys.js';
import { layoutName, openStore, rejectsWith, removeDir, storeLayouts, tempDir, type OpenStore, type StoreLayout } from './store-harness.js';
import { withWrite } from '../helpers/engine-wrappers.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const put = (key: string, value: string, extra: Partial<PutRequest> = {}): PutRequest => PutRequest.create({ key: b(key), value: b(value), ...extra });
const get = (key: string, extra: Partial<RangeRequest> = {}): RangeRequest => RangeRequest.create({ key: b(key), ...extra });
const prefix = (p: string, extra: Partial<RangeRequest> = {}): RangeRequest => {
  const end = b(p);
  end[end.length - 1]!++;
  return RangeRequest.create({ key: b(p), rangeEnd: end, ...extra });
};
const all = (extra: Partial<RangeRequest> = {}): RangeRequest => RangeRequest.create({ key: b('\0'), rangeEnd: b('\0'), ...extra });
const keysOf = (kvs: readonly { key: Buffer }[]): string[] => kvs.map((kv) => kv.key.toString('latin1'));

// With three shards the split points are 0x55 and 0xaa: these keys live in three different shards.
const K0 = 'A/key';
const K1 = 'a/key';
const K2 = '\xc0/key';

/** The applied mark the engine in dir holds, read with the store closed. */
async function appliedMark(layout: StoreLayout, dir: string): Promise<AppliedMark> {
  const engine = await openEngine(layout.engine, path.join(dir, layout.engine));
  try {
    const mark = await engine.get(APPLIED_KEY);
    return mark === undefined ? { index: 0, revision: 1 } : decodeApplied(mark);
  } finally {
    await engine.close();
  }
}

/** The engine, calling onWrite before each write batch. */
function countingWrites(engine: Engine, onWrite: () => void): Engine {
  return withWrite(engine, (ops, o) => {
    onWrite();
    return engine.write(ops, o);
  });
}

function storeSuite(layout: StoreLayout): void {
  const test = suite(`store: ${layoutName(layout)}`);
  let s: OpenStore;
  let dir: string;

  test.before.each(async () => {
    dir = await tempDir();
    s = await openStore(layout, dir);
  });
  test.after.each(async () => {
    await s.close().catch(() => undefined);
    await removeDir(dir);
  });

  test('an empty store is at revision 1 and the first write gets revision 2', async () => {
    const r = await s.store.range(get('foo'));
    assert.is(r.header?.revision, 1n);
    assert.is(r.count, 0n);
    const p = await s.store.put(put('foo', 'bar'));
    assert.is(p.header?.revision, 2n);
    assert.is(p.header?.memberId, 2n);
  });

  test('each put of a key bumps its version and keeps its create revision', async () => {
    await s.store.put(put('k', 'v1'));
    await s.store.put(put('k', 'v2'));
    const r = await s.store.range(get('k'));
    const kv = r.kvs[0]!;
    assert.equal([kv.value.toString(), kv.createRevision, kv.modRevision, kv.version], ['v2', 2n, 3n, 2n]);
  });

  test('a deleted key starts a new generation when put again', async () => {
    await s.store.put(put('k', 'v1'));
    const d = await s.store.deleteRange(DeleteRangeRequest.create({ key: b('k'), prevKv: true }));
    assert.is(d.deleted, 1n);
    assert.is(d.prevKvs[0]?.value.toString(), 'v1');
    assert.is(d.header?.revision, 3n);
    await s.store.put(put('k', 'v2'));
    const kv = (await s.store.range(get('k'))).kvs[0]!;
    assert.equal([kv.createRevision, kv.modRevision, kv.version], [4n, 4n, 1n]);
  });

  test('deleting nothing does not use a revision', async () => {
    await s.store.put(put('k', 'v'));
    const d = await s.store.deleteRange(DeleteRangeRequest.create({ key: b('missing') }));
    assert.equal([d.deleted, d.header?.revision], [0n, 2n]);
  });

  test('a read at an old revision sees the history as it was', async () => {
    await s.store.put(put('k', 'v1'));
    await s.store.put(put('k', 'v2'));
    await s.store.deleteRange(DeleteRangeRequest.create({ key: b('k') }));
    assert.is((await s.store.range(get('k', { revision: 2n }))).kvs[0]?.value.toString(), 'v1');
    assert.is((await s.store.range(get('k', { revision: 3n }))).kvs[0]?.value.toString(), 'v2');
    assert.is((await s.store.range(get('k', { revision: 4n }))).count, 0n);
    await rejectsWith(s.store.range(get('k', { revision: 5n })), 'futureRev');
  });

  test('compaction removes history below the compact revision, keeping what was live at it', async () => {
    await s.store.put(put('k', 'v1')); // 2
    await s.store.put(put('k', 'v2')); // 3
    await s.store.put(put('gone', 'x')); // 4
    await s.store.deleteRange(DeleteRangeRequest.create({ key: b('gone') })); // 5
    const c = await s.store.compact(CompactionRequest.create({ revision: 4n }));
    assert.is(c.header?.revision, 5n);
    await rejectsWith(s.store.range(get('k', { revision: 3n })), 'compacted');
    assert.is((await s.store.range(get('k', { revision: 4n }))).kvs[0]?.value.toString(), 'v2');
    assert.is((await s.store.range(get('gone', { revision: 4n }))).kvs[0]?.value.toString(), 'x');
    await rejectsWith(s.store.compact(CompactionRequest.create({ revision: 4n })), 'compacted');
    await rejectsWith(s.store.compact(CompactionRequest.create({ revision: 99n })), 'futureRev');
    await s.store.compact(CompactionRequest.create({ revision: 5n }));
    assert.is((await s.store.range(all())).count, 1n);
  });

  test('ranges across shards come back in key order with limit, more and count', async () => {
    for (const k of [K2, K0, K1, 'B', 'b', '\xd0']) await s.store.put(put(k, `v-${k}`));
    const r = await s.store.range(all({ limit: 4n }));
    assert.equal(keysOf(r.kvs), [K0, 'B', K1, 'b']);
    assert.is(r.more, true);
    assert.is(r.count, 6n);
    const c = await s.store.range(all({ countOnly: true }));
    assert.equal([c.kvs.length, c.count], [0, 6n]);
    const sorted = await s.store.range(all({ sortOrder: RangeRequest_SortOrder.DESCEND, sortTarget: RangeRequest_SortTarget.MOD, limit: 2n }));
    assert.equal(keysOf(sorted.kvs), ['\xd0', 'b']);
  });

  test('a txn spanning shards is atomic and uses one revision with ordered sub-revisions', async () => {
    await s.store.put(put(K0, 'x'));
    const t = await s.store.txn(
      TxnRequest.create({
        compare: [Compare.create({ key: b(K0), target: Compare_CompareTarget.VALUE, result: Compare_CompareResult.EQUAL, value: b('x') })],
        success: [
          RequestOp.create({ requestPut: put(K1, 'one') }),
          RequestOp.create({ requestPut: put(K2, 'two') }),
          RequestOp.create({ requestRange: all() }),
        ],
        failure: [],
      }),
    );
    assert.is(t.succeeded, true);
    assert.is(t.header?.revision, 3n);
    const inner = t.responses[2]?.responseRange;
    assert.equal(keysOf(inner?.kvs ?? []), [K0, K1, K2]);
    const r = await s.store.range(all());
    assert.equal(r.kvs.map((kv) => kv.modRevision), [2n, 3n, 3n]);
  });

  test('a failing check in a txn writes nothing', async () => {
    await rejectsWith(
      s.store.txn(
        TxnRequest.create({
          success: [RequestOp.create({ requestPut: put(K1, 'a') }), RequestOp.create({ requestPut: put(K2, 'b', { ignoreValue: true, value: Buffer.alloc(0) }) })],
        }),
      ),
      'keyNotFound',
    );
    const r = await s.store.range(all());
    assert.equal([r.count, r.header?.revision], [0n, 1n]);
  });

  test('a txn that deletes the key its own ignore_value put needs fails cleanly and writes nothing', async () => {
    await s.store.put(put('b', 'v'));
    await rejectsWith(
      s.store.txn(
        TxnRequest.create({
          success: [
            RequestOp.create({ requestDeleteRange: DeleteRangeRequest.create({ key: b('a'), rangeEnd: b('\0') }) }),
            RequestOp.create({ requestPut: put('b', '', { ignoreValue: true }) }),
          ],
        }),
      ),
      'keyNotFound',
    );
    const r = await s.store.range(all());
    assert.equal([keysOf(r.kvs), r.header?.revision], [['b'], 2n]);
    assert.is((await s.store.put(put('c', 'v'))).header?.revision, 3n);
    // The failing entry is in the log: a restart replays it and must fail it the same way.
    await s.close();
    s = await openStore(layout, dir);
    assert.equal(keysOf((await s.store.range(all())).kvs), ['b', 'c']);
    assert.is((await s.store.put(put('d', 'v'))).header?.revision, 4n);
  });

  test('a failed engine write stops the store: later writes fail instead of hanging or being lost', async () => {
    await s.close();
    let failWrites = false;
    const fatal: unknown[] = [];
    s = await openStore(layout, dir, {
      onFatal: (e) => fatal.push(e),
      wrapEngine: (engine) => withWrite(engine, (ops, o) => (failWrites ? Promise.reject(new Error('disk on fire')) : engine.write(ops, o))),
    });
    await s.store.put(put('k', 'before'));
    failWrites = true;
    await s.store.put(put('k', 'acked while the engine fails')).catch(() => undefined);
    const deadline = Date.now() + 5000;
    while (fatal.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.is(fatal.length, 1);
    await rejectsWith(s.store.put(put('k', 'after')), 'stopped');
    await s.close();
    // Whatever was acknowledged is still in the log and comes back.
    s = await openStore(layout, dir);
    assert.is((await s.store.range(get('k'))).kvs[0]?.value.toString(), 'acked while the engine fails');
  });

  test('a put with a lease that does not exist fails with lease not found', async () => {
    await rejectsWith(s.store.put(put('k', 'v', { lease: 7n })), 'leaseNotFound');
  });

  test('a prefix delete across shards deletes every key at one revision', async () => {
    for (const k of [K0, K1, K2]) await s.store.put(put(k, 'v'));
    const d = await s.store.deleteRange(DeleteRangeRequest.create({ key: b('\0'), rangeEnd: b('\0'), prevKv: true }));
    assert.equal([d.deleted, d.header?.revision, d.prevKvs.length], [3n, 5n, 3]);
    assert.is((await s.store.range(all())).count, 0n);
  });

  test('state, revision and compaction survive a restart', async () => {
    for (let i = 0; i < 50; i++) await s.store.put(put(`key/${i % 10}`, `v${i}`));
    await s.store.compact(CompactionRequest.create({ revision: 20n }));
    await s.store.deleteRange(DeleteRangeRequest.create({ key: b('key/0') }));
    const before = await s.store.range(all());
    await s.close();
    s = await openStore(layout, dir);
    const after = await s.store.range(all());
    assert.equal(after, before);
    await rejectsWith(s.store.range(get('key/1', { revision: 19n })), 'compacted');
    assert.is((await s.store.put(put('next', 'v'))).header?.revision, 53n);
  });

  test('the log is replayed past the persisted state after a restart', async () => {
    // A clean close persists everything, so the engine is rolled back instead: to a copy taken before the
    // writes, as if its state had been lost after the log had made those writes durable.
    await Promise.all(Array.from({ length: 10 }, (_, i) => s.store.put(put(`early/${i}`, `e${i}`))));
    await s.close();
    const engineDir = path.join(dir, layout.engine);
    const saved = path.join(dir, 'engine-before-the-writes');
    await cp(engineDir, saved, { recursive: true });
    s = await openStore(layout, dir);
    await Promise.all(Array.from({ length: 300 }, (_, i) => s.store.put(put(`c/${i % 7}`, `v${i}`))));
    const before = await s.store.range(prefix('c/'));
    assert.is(before.header?.revision, 311n);
    await s.close();
    await rm(engineDir, { recursive: true });
    await rename(saved, engineDir);
    assert.is((await appliedMark(layout, dir)).index, 10, 'the engine holds only the first 10 entries');

    let replayedWrites = 0;
    s = await openStore(layout, dir, { wrapEngine: (engine) => countingWrites(engine, () => replayedWrites++) });
    assert.ok(replayedWrites > 0, 'opening the store wrote the replayed entries to the engine');
    assert.equal(await s.store.range(prefix('c/')), before);
    assert.is((await s.store.range(prefix('early/'))).count, 10n);
    await s.close();
    assert.equal(await appliedMark(layout, dir), { index: 310, revision: 311 }, 'the replayed entries are persisted in the engine');
  });

  test('the log is trimmed once the applied state is durable, and a restart still sees every write', async () => {
    await s.close();
    const small = { retainEntries: 500, maxSegmentBytes: 16 * 1024 };
    s = await openStore(layout, dir, small);
    for (let i = 0; i < 12_000; i += 400) {
      await Promise.all(Array.from({ length: 400 }, (_, j) => s.store.put(put(`t/${(i + j) % 1000}`, `v${i + j}`))));
    }
    const before = await s.store.range(prefix('t/'));
    const segments = async (): Promise<number> => (await readdir(path.join(dir, 'wal'))).length;
    const deadline = Date.now() + 10_000;
    while ((await segments()) > 15 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok((await segments()) <= 15, `the WAL still has ${await segments()} segments`);
    await s.close();
    s = await openStore(layout, dir, small);
    assert.equal(await s.store.range(prefix('t/')), before);
    assert.is(before.header?.revision, 12_001n);
  });

  test('the applied stream publishes every change in revision order with the record it replaced', async () => {
    const seen: string[] = [];
    let lastCompact = -2;
    const sub = s.store.applied$.subscribe((batch) => {
      for (const { record: r, prev } of batch.changes) {
        seen.push(`${r.modRevision}.${r.sub} ${r.tombstone ? 'DEL' : 'PUT'} ${r.key}=${r.value.toString()} prev=${prev?.value.toString() ?? '-'}`);
      }
      lastCompact = batch.compactRevision;
    });
    await s.store.put(put(K0, 'v1'));
    await s.store.put(put(K0, 'v2'));
    await s.store.txn(TxnRequest.create({ success: [RequestOp.create({ requestPut: put(K1, 'x') }), RequestOp.create({ requestPut: put(K2, 'y') })] }));
    await s.store.deleteRange(DeleteRangeRequest.create({ key: b('\0'), rangeEnd: b('\0') }));
    await s.store.compact(CompactionRequest.create({ revision: 3n }));
    sub.unsubscribe();
    assert.equal(seen, [
      `2.0 PUT ${K0}=v1 prev=-`,
      `3.0 PUT ${K0}=v2 prev=v1`,
      `4.0 PUT ${K1}=x prev=-`,
      `4.1 PUT ${K2}=y prev=-`,
      `5.0 DEL ${K0}= prev=v2`,
      `5.1 DEL ${K1}= prev=x`,
      `5.2 DEL ${K2}= prev=y`,
    ]);
    assert.is(lastCompact, 3);
  });

  test('concurrent writers each get a distinct revision', async () => {
    const revs = await Promise.all(Array.from({ length: 200 }, (_, i) => s.store.put(put(`w/${i}`, 'v')).then((r) => r.header!.revision)));
    assert.is(new Set(revs).size, 200);
    assert.is((await s.store.range(prefix('w/'))).count, 200n);
  });

  test.run();
}

for (const layout of storeLayouts) storeSuite(layout);
