// A store with more records than a JavaScript call takes arguments: deleting them all and compacting
// them away must not overflow the stack (it stopped the store once, found by bench/defrag.mjs).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CompactionRequest, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { openStore, removeDir, storeLayouts, tempDir } from '../store/store-harness.js';

const keys = 200_000;
const putsPerTxn = 10_000;
const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const test = suite('large compaction');

test(`deleting ${keys} keys in one request and compacting them away keeps the store running`, async () => {
  const dir = await tempDir();
  const { store, close } = await openStore(storeLayouts[0]!, dir);
  try {
    for (let base = 0; base < keys; base += putsPerTxn) {
      const success = Array.from({ length: putsPerTxn }, (_, i) =>
        RequestOp.create({ requestPut: PutRequest.create({ key: b(`k/${String(base + i).padStart(7, '0')}`), value: b('v') }) }),
      );
      await store.txn(TxnRequest.create({ success }));
    }
    const all = await store.range(RangeRequest.create({ key: b('k/'), rangeEnd: b('k0'), countOnly: true }));
    assert.is(all.count, BigInt(keys));
    const deleted = await store.deleteRange(DeleteRangeRequest.create({ key: b('k/'), rangeEnd: b('k0') }));
    assert.is(deleted.deleted, BigInt(keys));
    await store.compact(CompactionRequest.create({ revision: BigInt(store.revision) }));
    await store.put(PutRequest.create({ key: b('after'), value: b('ok') }));
    assert.is((await store.range(RangeRequest.create({ key: b('after') }))).count, 1n);
  } finally {
    await close();
    await removeDir(dir);
  }
});

test.run();
