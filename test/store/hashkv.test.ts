// HashKV on the store: the same on every engine, shard layout and placement (records gathered from
// several shards, also through worker threads), with etcd's errors around the compaction.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CompactionRequest, DeleteRangeRequest, PutRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { KeyValue } from '../../src/gen/etcd/mvcc/mvccpb/kv.js';
import type { KvRecord } from '../../src/mvcc/kv-record.js';
import { encodeHashStream } from '../../src/store/hash-kv-stream.js';
import { layoutName, openStore, rejectsWith, removeDir, storeLayouts, tempDir } from './store-harness.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
/** Keys whose first bytes fall into each of three shards (splits cut the first byte evenly). */
const keys = ['A1', 'a1', '\xe0z', 'A2', '\xe0y'];

const test = suite('store hashKv');

test('hashKv at every revision is the same on every layout, before and after a compaction and with every key deleted', async () => {
  const results: string[][] = [];
  for (const layout of storeLayouts) {
    const dir = await tempDir();
    const open = await openStore(layout, dir);
    const { store } = open;
    try {
      const seen: string[] = [];
      const hashAll = async (from: number): Promise<void> => {
        for (let rev = from; rev <= store.revision; rev++) {
          const h = await store.hashKv(BigInt(rev));
          seen.push(`${rev}: ${h.hash} ${h.compactRevision} ${h.revision}`);
        }
        const current = await store.hashKv(0n);
        assert.is(current.revision, store.revision);
        assert.is(current.hash, (await store.hashKv(BigInt(store.revision))).hash);
      };
      for (const [i, key] of keys.entries()) await store.put(PutRequest.create({ key: b(key), value: b(`v${i}`) }));
      for (const key of keys.slice(0, 3)) await store.put(PutRequest.create({ key: b(key), value: b('again') }));
      await store.deleteRange(DeleteRangeRequest.create({ key: b('A1') }));
      // a delete that spans all three shards
      await store.deleteRange(DeleteRangeRequest.create({ key: b('A2'), rangeEnd: b('\xe0z') }));
      await hashAll(1);
      const compactAt = store.revision - 1;
      await store.compact(CompactionRequest.create({ revision: BigInt(compactAt) }));
      await rejectsWith(store.hashKv(BigInt(compactAt)), 'compacted');
      await rejectsWith(store.hashKv(1n), 'compacted');
      await rejectsWith(store.hashKv(BigInt(store.revision + 1)), 'futureRev');
      await store.put(PutRequest.create({ key: b('a1'), value: b('after') }));
      await hashAll(compactAt + 1);
      await store.deleteRange(DeleteRangeRequest.create({ key: b('\0'), rangeEnd: b('\0') }));
      await hashAll(compactAt + 1);
      results.push(seen);
    } catch (e) {
      throw new Error(`${layoutName(layout)}: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      await open.close();
      await removeDir(dir);
    }
  }
  for (const [i, seen] of results.entries()) assert.equal(seen, results[0], layoutName(storeLayouts[i]!));
  // the hash changes with the writes (not a constant)
  assert.ok(new Set(results[0]!.map((l) => l.split(' ')[1])).size > 5);
});

test.run();

const stream = suite('hash stream');

stream('each record is its etcd revision key then the KeyValue etcd stores (lease included, tombstones as key only)', () => {
  const put: KvRecord = { key: 'k', value: b('v'), createRevision: 2, modRevision: 300, sub: 1, version: 3, lease: 0x7fff_0000_0000_0001n, tombstone: false };
  const tomb: KvRecord = { key: 'k', value: b(''), createRevision: 0, modRevision: 2 ** 40, sub: 0, version: 0, lease: 0n, tombstone: true };
  const bytes = Buffer.from(encodeHashStream([put, tomb]));
  const revKey = (main: number, sub: number): Buffer => {
    const k = Buffer.alloc(17);
    k.writeBigUInt64BE(BigInt(main), 0);
    k[8] = 0x5f;
    k.writeBigUInt64BE(BigInt(sub), 9);
    return k;
  };
  const expected = Buffer.concat([
    b('key'),
    revKey(300, 1),
    KeyValue.encode({ key: b('k'), createRevision: 2n, modRevision: 300n, version: 3n, value: b('v'), lease: put.lease }).finish(),
    revKey(2 ** 40, 0),
    b('t'),
    KeyValue.encode(KeyValue.fromPartial({ key: b('k') })).finish(),
  ]);
  assert.equal(bytes, expected);
  assert.is(encodeHashStream([put, tomb]).byteLength, expected.length);
});

stream.run();
