// Fail-stop: a failed write or fdatasync of the revision log or the engine stops the store for good;
// writes are refused with an etcd-style error, Status says why, and a full disk raises NOSPACE.
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EtcdError } from '../../src/core/errors.js';
import { PutRequest, RangeRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { FileSystem } from '../../src/storage/file-system.js';
import type { StorageFault } from '../../src/storage/storage-fault.js';
import { faultyFileSystem, type FaultPlan } from '../helpers/faulty-fs.js';
import { openStore, removeDir, storeLayouts, tempDir, type OpenStore } from './store-harness.js';
import { withTimeout } from '../helpers/spec.js';

const testTimeoutMs = 30_000;
const layouts = storeLayouts.filter((l) => l.shards === 1);

const b = (s: string): Buffer => Buffer.from(s);
const putReq = (key: string, value: string): PutRequest => PutRequest.create({ key: b(key), value: b(value) });

async function refusal(p: Promise<unknown>): Promise<EtcdError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, EtcdError);
    return e as EtcdError;
  }
  assert.unreachable('the write should have been refused');
  throw new Error('unreachable');
}

for (const layout of layouts) {
  const test = suite(`store storage faults: ${layout.engine}`);
  const cases: Array<{ name: string; plan: Omit<FaultPlan, 'armed' | 'pathContains'>; where: string; kind: string; alarms: string[] }> = [
    { name: 'a failed fdatasync of the revision log', plan: { op: 'datasync', code: 'EIO' }, where: `${path.sep}wal${path.sep}`, kind: 'stopped', alarms: [] },
    { name: 'a failed write of the revision log', plan: { op: 'write', code: 'EIO' }, where: `${path.sep}wal${path.sep}`, kind: 'stopped', alarms: [] },
    { name: 'a full disk under the revision log', plan: { op: 'write', code: 'ENOSPC' }, where: `${path.sep}wal${path.sep}`, kind: 'noSpace', alarms: ['NOSPACE'] },
  ];
  for (const c of cases) {
    test(`${c.name} stops the store: every later write is refused with ${c.kind}, Status lists it, it is reported once, and a restart recovers`, withTimeout2(async () => {
      const dir = await tempDir();
      let open: OpenStore | undefined;
      try {
        const plan: FaultPlan = { ...c.plan, pathContains: c.where, armed: false };
        const faults: StorageFault[] = [];
        open = await openStore(layout, dir, { fs: faultyFileSystem(plan), fsync: true, onFatal: (f) => faults.push(f as StorageFault) });
        await open.store.put(putReq('before', '1'));
        plan.armed = true;
        const first = await refusal(open.store.put(putReq('failing', '2')));
        assert.is(first.kind, c.kind);
        assert.match(first.message, new RegExp(`${c.plan.code}.*takes no more writes until it is restarted`));
        plan.armed = false; // the disk is fine again, but the page cache can no longer be trusted
        const later = await refusal(open.store.put(putReq('after', '3')));
        assert.is(later.kind, c.kind);
        assert.is(later.message, first.message);
        const status = await open.store.status();
        assert.equal(status.alarms, c.alarms);
        assert.is(status.errors.length, 1);
        assert.match(status.errors[0]!, c.plan.code);
        assert.is(faults.length, 1, 'reported once');
        const range = await open.store.range(RangeRequest.create({ key: b('before') }));
        assert.is(range.kvs.length, 1, 'reads still work');
        await open.close().catch(() => undefined);
        open = undefined;

        open = await openStore(layout, dir, { fsync: true });
        const reopened = await open.store.put(putReq('after-restart', '4'));
        assert.ok(reopened.header !== undefined);
        assert.equal((await open.store.status()).errors, []);
      } finally {
        await open?.close().catch(() => undefined);
        await removeDir(dir);
      }
    }));
  }
  if (layout.engine === 'memory') {
    test('a failed background snapshot of the memory engine stops the store at once: Status lists it before any later write', withTimeout2(async () => {
      const dir = await tempDir();
      let open: OpenStore | undefined;
      try {
        const plan: FaultPlan = { op: 'write', code: 'ENOSPC', pathContains: 'snapshot.tmp', armed: true };
        const faulty = faultyFileSystem(plan);
        let snapshotFailed = false;
        const fs: FileSystem = {
          ...faulty,
          open: async (p, flags) => {
            const file = await faulty.open(p, flags);
            if (!p.includes('snapshot.tmp')) return file;
            return { ...file, write: (...a) => file.write(...a).catch((e: unknown) => { snapshotFailed = true; throw e; }) };
          },
        };
        const faults: StorageFault[] = [];
        open = await openStore(layout, dir, { fs, fsync: true, memory: { maxWalBytes: 4096 }, onFatal: (f) => faults.push(f as StorageFault) });
        const store = open.store;
        // Each write persists its applied state to the engine; past 4 KiB its WAL rotates and snapshots.
        // A put still waiting when the snapshot fails is refused with it; that is not what is tested.
        for (let i = 0; i < 200 && !snapshotFailed; i++) await store.put(putReq(`k${i}`, 'v'.repeat(200))).catch(() => undefined);
        assert.ok(snapshotFailed, 'the engine tried a snapshot');
        // No write from here on: the failure alone must show.
        const deadline = Date.now() + 5_000;
        while ((await store.status()).errors.length === 0) {
          if (Date.now() > deadline) assert.unreachable('Status does not show the failed snapshot');
          await new Promise((resolve) => setImmediate(resolve));
        }
        const status = await store.status();
        assert.equal(status.alarms, ['NOSPACE']);
        assert.is(status.errors.length, 1);
        assert.match(status.errors[0]!, /ENOSPC/);
        assert.is(faults.length, 1, 'reported once');
        assert.is((await refusal(store.put(putReq('after', '1')))).kind, 'noSpace');
        assert.is(faults.length, 1, 'reported once');
      } finally {
        await open?.close().catch(() => undefined);
        await removeDir(dir);
      }
    }));
    test('a full disk under the memory engine stops the store with NOSPACE once the applied state cannot be written', withTimeout2(async () => {
      const dir = await tempDir();
      let open: OpenStore | undefined;
      try {
        const plan: FaultPlan = { op: 'write', code: 'ENOSPC', pathContains: `${path.sep}memory${path.sep}`, armed: false };
        open = await openStore(layout, dir, { fs: faultyFileSystem(plan), fsync: true, onFatal: () => undefined });
        await open.store.put(putReq('before', '1'));
        plan.armed = true;
        // Persisting applied state runs behind the answers, so this one may be acknowledged (the log
        // has it) or refused (persisting an earlier one failed first).
        const logged = await open.store.put(putReq('logged', '2')).then(() => true, () => false);
        const store = open.store;
        const deadline = Date.now() + 5_000;
        while ((await store.status()).alarms.length === 0) {
          if (Date.now() > deadline) assert.unreachable('no NOSPACE alarm');
          await new Promise((resolve) => setImmediate(resolve));
        }
        assert.is((await refusal(store.put(putReq('after', '3')))).kind, 'noSpace');
        await open.close().catch(() => undefined);
        open = await openStore(layout, dir, { fsync: true });
        const value = async (key: string): Promise<string | undefined> => {
          const kv = (await open!.store.range(RangeRequest.create({ key: b(key) }))).kvs[0];
          return kv === undefined ? undefined : Buffer.from(kv.value).toString();
        };
        assert.is(await value('before'), '1');
        if (logged) assert.is(await value('logged'), '2', 'the acknowledged write is replayed from the log');
      } finally {
        await open?.close().catch(() => undefined);
        await removeDir(dir);
      }
    }));
  }
  test.run();
}

function withTimeout2(fn: () => Promise<void>): () => Promise<void> {
  return () => withTimeout(fn(), testTimeoutMs, 'storage fault test');
}
