// The alarm table as the store applies it: under NOSPACE every member refuses the same writes at
// apply time (etcd's applierV3Capped) while deletes, read-only txns and compaction go on; the table
// persists in the engine.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AlarmRequest_AlarmAction,
  AlarmType,
  CompactionRequest,
  DeleteRangeRequest,
  LeaseGrantRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { openEngine } from '../../src/engines/open-engine.js';
import { AlarmTable } from '../../src/maintenance/alarm-table.js';
import { openStore, rejectsWith, removeDir, storeLayouts, tempDir } from '../store/store-harness.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const test = suite('alarms applied by the store');

test('under NOSPACE puts, txns with a put and lease grants fail with noSpace and take no revision; deletes, reads and compaction work; disarm lifts it', async () => {
  const dir = await tempDir();
  const changes: string[] = [];
  const alarms = new AlarmTable((c) => changes.push(`${c.kind} ${AlarmType[c.member.alarm]} ${c.member.memberID}`));
  const { store, close } = await openStore(storeLayouts[0]!, dir, { hooks: { alarms } });
  try {
    await store.put(PutRequest.create({ key: b('a'), value: b('1') }));
    await store.put(PutRequest.create({ key: b('b'), value: b('2') }));
    const raised = await store.alarm({ action: AlarmRequest_AlarmAction.ACTIVATE, memberID: 7n, alarm: AlarmType.NOSPACE });
    assert.equal(raised.alarms, [{ memberID: 7n, alarm: AlarmType.NOSPACE }]);
    assert.ok(alarms.capped);
    const rev = store.revision;
    await rejectsWith(store.put(PutRequest.create({ key: b('c'), value: b('3') })), 'noSpace');
    const putOp = RequestOp.create({ requestPut: PutRequest.create({ key: b('c'), value: b('3') }) });
    await rejectsWith(store.txn(TxnRequest.create({ failure: [putOp] })), 'noSpace');
    await rejectsWith(store.leaseGrant(LeaseGrantRequest.create({ ID: 99n, TTL: 60n })), 'noSpace');
    assert.is(store.revision, rev, 'refused writes take no revision');
    const delOp = RequestOp.create({ requestDeleteRange: DeleteRangeRequest.create({ key: b('a') }) });
    const txn = await store.txn(TxnRequest.create({ success: [delOp] }));
    assert.ok(txn.succeeded);
    await store.deleteRange(DeleteRangeRequest.create({ key: b('b') }));
    await store.compact(CompactionRequest.create({ revision: BigInt(store.revision) }));
    assert.is((await store.range(RangeRequest.create({ key: b('a') }))).count, 0n);
    const off = await store.alarm({ action: AlarmRequest_AlarmAction.DEACTIVATE, memberID: 7n, alarm: AlarmType.NOSPACE });
    assert.equal(off.alarms, [{ memberID: 7n, alarm: AlarmType.NOSPACE }]);
    await store.put(PutRequest.create({ key: b('c'), value: b('3') }));
    assert.equal(changes, ['raised NOSPACE 7', 'disarmed NOSPACE 7']);
  } finally {
    await close();
    await removeDir(dir);
  }
});

for (const engine of ['memory', 'rocksdb'] as const) {
  test(`alarms persist in the ${engine} engine and load back`, async () => {
    const dir = await tempDir();
    try {
      const first = await openEngine(engine, dir);
      const table = new AlarmTable();
      const ops = [
        ...table.apply({ action: AlarmRequest_AlarmAction.ACTIVATE, memberID: 1n, alarm: AlarmType.NOSPACE }).ops,
        ...table.apply({ action: AlarmRequest_AlarmAction.ACTIVATE, memberID: 2n ** 63n + 5n, alarm: AlarmType.CORRUPT }).ops,
        ...table.apply({ action: AlarmRequest_AlarmAction.ACTIVATE, memberID: 3n, alarm: AlarmType.NOSPACE }).ops,
        ...table.apply({ action: AlarmRequest_AlarmAction.DEACTIVATE, memberID: 3n, alarm: AlarmType.NOSPACE }).ops,
      ];
      await first.write(ops, { sync: true });
      await first.close();
      const second = await openEngine(engine, dir);
      const loaded = await AlarmTable.load(second);
      await second.close();
      assert.equal(loaded.get(AlarmType.NONE), [
        { memberID: 1n, alarm: AlarmType.NOSPACE },
        { memberID: 2n ** 63n + 5n, alarm: AlarmType.CORRUPT },
      ]);
      assert.ok(loaded.capped);
    } finally {
      await removeDir(dir);
    }
  });
}

test.run();
