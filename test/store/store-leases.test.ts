// Leases in the store, on every engine, shard layout and actor placement: grant and revoke as log
// entries, lease checks at apply time, one revision per revoke, and leases surviving a restart.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PutRequest, RangeRequest, RequestOp, TxnRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { LeaseTable, systemClock } from '../../src/actors/lease-table.js';
import type { Engine } from '../../src/engines/engine.js';
import { withWrite } from '../helpers/engine-wrappers.js';
import { layoutName, openStore, rejectsWith, removeDir, storeLayouts, tempDir, type OpenStore, type StoreLayout } from './store-harness.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const put = (key: string, value: string, lease = 0n): PutRequest => PutRequest.create({ key: b(key), value: b(value), lease });
const all = (): RangeRequest => RangeRequest.create({ key: b('\0'), rangeEnd: b('\0') });

// With three shards the split points are 0x55 and 0xaa: these keys live in three different shards.
const K0 = 'A/key';
const K1 = 'a/key';
const K2 = '\xc0/key';

function leaseSuite(layout: StoreLayout): void {
  const test = suite(`store leases: ${layoutName(layout)}`);
  let s: OpenStore;
  let dir: string;
  let table: LeaseTable;
  const open = async (): Promise<void> => {
    table = new LeaseTable({ minTtlSeconds: 2, clock: systemClock });
    s = await openStore(layout, dir, { leases: table });
  };

  test.before.each(async () => {
    dir = await tempDir();
    await open();
  });
  test.after.each(async () => {
    await s.close().catch(() => undefined);
    await removeDir(dir);
  });

  test('a grant uses no revision and answers the granted ID and TTL', async () => {
    const g = await s.store.leaseGrant({ ID: 7n, TTL: 60n });
    assert.equal([g.ID, g.TTL, g.header?.revision], [7n, 60n, 1n]);
    await rejectsWith(s.store.leaseGrant({ ID: 7n, TTL: 60n }), 'leaseExists');
  });

  test('grants proposed together are applied as one run, each answered as it would be alone', async () => {
    const runs: number[] = [];
    const grantAll = table.grantAll.bind(table);
    table.grantAll = (requests) => {
      runs.push(requests.length);
      return grantAll(requests);
    };
    const settled = await Promise.allSettled([
      s.store.leaseGrant({ ID: 7n, TTL: 60n }),
      s.store.leaseGrant({ ID: 7n, TTL: 30n }),
      s.store.leaseGrant({ ID: 8n, TTL: 9_000_000_001n }),
      s.store.leaseGrant({ ID: 9n, TTL: 1n }),
      s.store.leaseGrant({ ID: -5n, TTL: 5n }),
    ]);
    const outcome = (r: PromiseSettledResult<{ ID: bigint; TTL: bigint }>): string =>
      r.status === 'fulfilled' ? `${r.value.ID}/${r.value.TTL}` : (r.reason as { kind?: string }).kind ?? String(r.reason);
    assert.equal(settled.map(outcome), ['7/60', 'leaseExists', 'leaseTtlTooLarge', '9/2', '-5/5']);
    assert.ok(runs.some((n) => n > 1), `runs of grants: ${runs.join(', ')}`);
    assert.equal([table.exists(7n), table.exists(8n), table.exists(9n), table.exists(-5n)], [true, false, true, true]);
  });

  test('a put naming a missing lease fails with leaseNotFound and writes nothing', async () => {
    await rejectsWith(s.store.put(put(K0, 'v', 99n)), 'leaseNotFound');
    await rejectsWith(s.store.txn(TxnRequest.create({ success: [RequestOp.create({ requestPut: put(K1, 'v', 99n) })] })), 'leaseNotFound');
    assert.is((await s.store.range(all())).header?.revision, 1n);
  });

  test('revoking a lease deletes its keys in every shard in one revision, published together', async () => {
    await s.store.leaseGrant({ ID: 7n, TTL: 60n });
    for (const k of [K2, K0, K1]) await s.store.put(put(k, 'v', 7n));
    await s.store.put(put('unleased', 'v'));
    const deletes: string[] = [];
    const sub = s.store.applied$.subscribe((batch) => {
      for (const c of batch.changes) if (c.record.tombstone) deletes.push(`${c.record.modRevision}.${c.record.sub} ${c.record.key}`);
    });
    const r = await s.store.leaseRevoke({ ID: 7n }, undefined);
    sub.unsubscribe();
    assert.is(r.header?.revision, 6n);
    assert.equal(deletes, [`6.0 ${K0}`, `6.1 ${K1}`, `6.2 ${K2}`]);
    assert.equal((await s.store.range(all())).kvs.map((kv) => kv.key.toString()), ['unleased']);
    assert.is(table.exists(7n), false);
    await rejectsWith(s.store.leaseRevoke({ ID: 7n }, undefined), 'leaseNotFound');
  });

  test('revoking a lease without keys uses no revision', async () => {
    await s.store.leaseGrant({ ID: 7n, TTL: 60n });
    await s.store.put(put(K0, 'v', 7n));
    await s.store.put(put(K0, 'w'));
    const r = await s.store.leaseRevoke({ ID: 7n }, undefined);
    assert.is(r.header?.revision, 3n);
    assert.is((await s.store.range(all())).count, 1n);
  });

  test('entries applied in one batch see the lease changes before them: grant, put, revoke', async () => {
    const [g, p, r, late] = await Promise.allSettled([
      s.store.leaseGrant({ ID: 7n, TTL: 60n }),
      s.store.put(put(K0, 'v', 7n)),
      s.store.leaseRevoke({ ID: 7n }, undefined),
      s.store.put(put(K1, 'v', 7n)),
    ]);
    assert.is(g.status, 'fulfilled');
    assert.is(p.status, 'fulfilled');
    assert.is(r.status, 'fulfilled');
    assert.is(late.status, 'rejected');
    assert.is((await s.store.range(all())).count, 0n);
  });

  test('leases and their keys survive a restart, and a revoke after it still deletes the keys', async () => {
    await s.store.leaseGrant({ ID: 7n, TTL: 60n });
    await s.store.leaseGrant({ ID: -3n, TTL: 30n });
    await s.store.put(put(K0, 'v', 7n));
    await s.store.put(put(K1, 'v', -3n));
    await s.store.put(put(K2, 'v', 7n));
    await s.store.put(put(K2, 'w', -3n));
    await s.store.leaseGrant({ ID: 8n, TTL: 60n });
    await s.store.leaseRevoke({ ID: 8n }, undefined);
    await s.close();
    await open();
    assert.equal(table.ids().sort(), [-3n, 7n]);
    assert.equal(table.keysOf(7n), [K0]);
    assert.equal(table.keysOf(-3n), [K1, K2]);
    assert.is(table.status(-3n, false)?.ttlSeconds, 30);
    await s.store.leaseRevoke({ ID: -3n }, undefined);
    assert.equal((await s.store.range(all())).kvs.map((kv) => kv.key.toString('latin1')), [K0]);
  });

  test('lease entries the engine never persisted are replayed from the log to the same table, keys and revision', async () => {
    await s.close();
    // From some point on the engine silently keeps nothing (as if the process died before persisting):
    // the restart must rebuild the lease table from the log past the engine's applied mark.
    let keepNothing = false;
    const wrapEngine = (e: Engine): Engine => withWrite(e, (ops, options) => (keepNothing ? Promise.resolve() : e.write(ops, options)));
    table = new LeaseTable({ minTtlSeconds: 2, clock: systemClock });
    s = await openStore(layout, dir, { leases: table, wrapEngine });
    await s.store.leaseGrant({ ID: 7n, TTL: 60n });
    await s.store.put(put(K0, 'v', 7n));
    await s.store.put(put(K1, 'v', 7n));
    keepNothing = true;
    await s.store.leaseGrant({ ID: 8n, TTL: 30n });
    await s.store.put(put(K1, 'w', 8n));
    // Put with a lease, then a delete of the same key in one Txn: the key ends detached.
    const putThenDelete = TxnRequest.create({
      success: [RequestOp.create({ requestPut: put(K2, 'x', 8n) }), RequestOp.create({ requestDeleteRange: { key: b(K2), rangeEnd: Buffer.alloc(0), prevKv: false } })],
    });
    await s.store.txn(putThenDelete);
    await s.store.leaseRevoke({ ID: 7n }, undefined);
    const before = { ids: table.ids().sort(), k7: table.keysOf(7n), k8: table.keysOf(8n), rev: s.store.revision };
    assert.equal(before.k8, [K1]);
    await s.close();
    await open();
    assert.equal({ ids: table.ids().sort(), k7: table.keysOf(7n), k8: table.keysOf(8n), rev: s.store.revision }, before);
    assert.equal((await s.store.range(all())).kvs.map((kv) => kv.key.toString('latin1')), [K1]);
  });

  test.run();
}

for (const layout of storeLayouts) leaseSuite(layout);
