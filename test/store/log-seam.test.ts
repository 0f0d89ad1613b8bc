// The store against the RevisionLog contract, driven step by step through a scripted log: what a
// Raft-backed log may do (commit late, drop a proposal, commit during replay, hand out a read index
// ahead of this member, commit other members' entries and leader no-ops) and how callers see it.
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LeaseCheckpointRequest, LeaseGrantRequest, PutRequest, RangeRequest, RequestOp, TxnRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { LeaseTable } from '../../src/actors/lease-table.js';
import { LogEntryDecodeError, type Command } from '../../src/log/command.js';
import { openSegmentedWal } from '../../src/log/segmented-wal.js';
import { defaultLocalLogOptions } from '../../src/log/local-log.js';
import { nodeFileSystem } from '../../src/storage/file-system.js';
import type { ConfChangeEntry } from '../../src/store/mvcc-store.js';
import { openStore, rejectsWith, removeDir, tempDir, type OpenStore, type OpenStoreOptions } from './store-harness.js';
import { readGate, ScriptedLog } from '../log/scripted-log.js';
import { ManualTimers } from './manual-timers.js';
import { withTimeout } from '../engines/engine-suite.js';
import { toGrpcStatus } from '../../src/adapters/grpc/error-status.js';
import { Status } from '../../src/adapters/grpc/grpc-codes.js';
import { EtcdError } from '../../src/core/errors.js';

const layout = { engine: 'memory', shards: 1, placement: 'main' } as const;
const requestTimeoutMs = 7000;

interface Context {
  dir: string;
  open: OpenStore[];
}

const test = suite<Context>('store: revision log seam', { dir: '', open: [] });
test.before.each(async (ctx) => {
  ctx.dir = await tempDir();
  ctx.open = [];
});
test.after.each(async (ctx) => {
  for (const s of ctx.open) await s.close().catch(() => undefined);
  await removeDir(ctx.dir);
});
const it = (name: string, fn: (ctx: Context) => Promise<void>): void => test(name, withTimeout(15_000, fn));

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const putCmd = (key: string, value: string): Command => ({ type: 'put', req: PutRequest.create({ key: b(key), value: b(value) }) });
const get = (key: string, serializable = false): RangeRequest => RangeRequest.create({ key: b(key), serializable });

async function open(ctx: Context, log: ScriptedLog, options: OpenStoreOptions = {}): Promise<OpenStore> {
  const s = await openStore(layout, ctx.dir, { revisionLog: log, tuning: { requestTimeoutMs }, ...options });
  ctx.open.push(s);
  return s;
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.unreachable(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Lets every pending promise callback run (the store's apply loop included). */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

function state<T>(p: Promise<T>): () => string {
  let s = 'pending';
  p.then(
    () => (s = 'resolved'),
    () => (s = 'rejected'),
  );
  return () => s;
}

it('a write the log never commits fails with etcdserver: request timed out at its deadline', async (ctx) => {
  const log = new ScriptedLog();
  const timers = new ManualTimers();
  const { store } = await open(ctx, log, { hooks: { timers } });
  const put = store.put(PutRequest.create({ key: b('k'), value: b('v') }));
  await settle();
  timers.advance(requestTimeoutMs - 1);
  await settle();
  assert.is(state(put)(), 'pending');
  timers.advance(1);
  await rejectsWith(put, 'timeout');
  // Committed after all, it is applied (the write happened, as in etcd) but answers nobody.
  log.commitPending();
  await until(() => store.revision === 2, 'the late entry to be applied');
});

for (const kind of ['leaderChanged', 'noLeader'] as const) {
  it(`a proposal the log reports lost (${kind}) fails its caller with that error at once`, async (ctx) => {
    const log = new ScriptedLog();
    const { store } = await open(ctx, log);
    const put = store.put(PutRequest.create({ key: b('k'), value: b('v') }));
    await settle();
    log.dropPending(kind);
    await rejectsWith(put, kind);
    assert.is(store.revision, 1);
  });
}

test("the new kinds reach clients with etcd's codes and messages (rpctypes/error.go)", () => {
  assert.equal(toGrpcStatus(new EtcdError('leaderChanged')), { code: Status.UNAVAILABLE, details: 'etcdserver: leader changed' });
  assert.equal(toGrpcStatus(new EtcdError('noLeader')), { code: Status.UNAVAILABLE, details: 'etcdserver: no leader' });
  assert.equal(toGrpcStatus(new EtcdError('timeout')), { code: Status.UNAVAILABLE, details: 'etcdserver: request timed out' });
});

it('an applied entry proposed elsewhere answers no caller here; the caller gets its own entry', async (ctx) => {
  const log = new ScriptedLog();
  const { store } = await open(ctx, log);
  const put = store.put(PutRequest.create({ key: b('k'), value: b('mine') }));
  await settle();
  const mine = log.pending[0]!.requestId;
  log.commit([{ requestId: mine + 1n, command: putCmd('k', 'theirs') }]);
  await until(() => store.revision === 2, 'the other entry to be applied');
  await settle();
  const pending = state(put);
  await settle();
  assert.is(pending(), 'pending');
  log.commitPending();
  const res = await put;
  assert.is(res.header?.revision, 3n);
});

it('entries committed while the store replays at open are applied exactly once, in order', async (ctx) => {
  const log = new ScriptedLog();
  for (let i = 1; i <= 6; i++) log.commit([{ requestId: BigInt(i), command: putCmd('k', `v${i}`) }]);
  const gate = readGate(3);
  log.readGate = gate.gate;
  const opening = open(ctx, log);
  await gate.reached;
  for (let i = 7; i <= 9; i++) log.commit([{ requestId: BigInt(i), command: putCmd('k', `v${i}`) }]);
  gate.open();
  const { store } = await opening;
  await until(() => store.revision === 10, 'every entry to be applied');
  const res = await store.range(get('k'));
  assert.is(res.kvs[0]?.version, 9n, 'nine puts, none twice');
  assert.is(res.kvs[0]?.value.toString(), 'v9');
  assert.is(log.readBacks, 1, 'the later entries came live');
});

it('a serializable read is served at once; a linearizable one waits until the read index is applied', async (ctx) => {
  const log = new ScriptedLog();
  log.autoCommit = true;
  const { store } = await open(ctx, log);
  await store.put(PutRequest.create({ key: b('k'), value: b('old') }));
  // Another member's write was acknowledged and is committed, but has not reached this member yet.
  log.pinnedReadIndex = log.committedIndex + 1;
  const linearizable = store.range(get('k'));
  const serializable = await store.range(get('k', true));
  assert.is(serializable.kvs[0]?.value.toString(), 'old');
  await settle();
  assert.is(state(linearizable)(), 'pending');
  log.commit([{ requestId: 12345n, command: putCmd('k', 'new') }]);
  assert.is((await linearizable).kvs[0]?.value.toString(), 'new');
  // A read-only Txn whose ranges are all serializable does not wait either.
  log.pinnedReadIndex = log.committedIndex + 1;
  const txn = await store.txn(TxnRequest.create({ success: [RequestOp.create({ requestRange: get('k', true) })] }));
  assert.is(txn.responses[0]?.responseRange?.kvs[0]?.value.toString(), 'new');
});

it('a linearizable read whose index is never applied fails with etcdserver: request timed out', async (ctx) => {
  const log = new ScriptedLog();
  const timers = new ManualTimers();
  const { store } = await open(ctx, log, { hooks: { timers } });
  log.pinnedReadIndex = 5;
  const read = store.range(get('k'));
  await settle();
  timers.advance(requestTimeoutMs);
  await rejectsWith(read, 'timeout');
});

it('concurrent linearizable reads share one read index call', async (ctx) => {
  const log = new ScriptedLog();
  log.autoCommit = true;
  const { store } = await open(ctx, log);
  await store.put(PutRequest.create({ key: b('k'), value: b('v') }));
  const before = log.readIndexCalls;
  const reads = await Promise.all(Array.from({ length: 50 }, () => store.range(get('k'))));
  assert.ok(reads.every((r) => r.kvs[0]?.value.toString() === 'v'));
  assert.is(log.readIndexCalls - before, 1);
});

it("a leader's no-op entry advances the applied index but not the revision", async (ctx) => {
  const log = new ScriptedLog();
  log.autoCommit = true;
  const { store } = await open(ctx, log);
  await store.put(PutRequest.create({ key: b('k'), value: b('v') }));
  log.commit([{ requestId: 0n, command: { type: 'noop' } }]);
  await until(async () => (await store.status()).raftIndex === 2, 'the no-op to be applied');
  assert.is(store.revision, 2);
  const next = await store.put(PutRequest.create({ key: b('k'), value: b('w') }));
  assert.is(next.header?.revision, 3n);
  assert.is((await store.status()).raftIndex, 3);
});

it('a conf change entry goes to onConfChange in log order, with its bytes', async (ctx) => {
  const log = new ScriptedLog();
  const seen: string[] = [];
  const onConfChange = (entry: ConfChangeEntry): void => {
    seen.push(`${entry.index}:${[...entry.command.data].join(',')}`);
  };
  const { store } = await open(ctx, log, { hooks: { onConfChange } });
  log.commit([
    { requestId: 0n, command: putCmd('a', '1') },
    { requestId: 0n, command: { type: 'confChange', data: new Uint8Array([1, 2, 3]) } },
    { requestId: 0n, command: putCmd('b', '2') },
  ]);
  await until(() => store.revision === 3, 'the batch to be applied');
  assert.equal(seen, ['2:1,2,3']);
});

it('a lease checkpoint records the remaining TTL a lease restarts from when this member becomes primary', async (ctx) => {
  const log = new ScriptedLog();
  log.autoCommit = true;
  const clock = new ManualTimers();
  const leases = new LeaseTable({ minTtlSeconds: 1, clock });
  const { store } = await open(ctx, log, { leases });
  await store.leaseGrant(LeaseGrantRequest.create({ ID: 7n, TTL: 100n }));
  await store.leaseGrant(LeaseGrantRequest.create({ ID: 8n, TTL: 100n }));
  const res = await store.leaseCheckpoint(LeaseCheckpointRequest.create({ checkpoints: [{ ID: 7n, remainingTTL: 30n }, { ID: 99n, remainingTTL: 5n }] }));
  assert.ok(res.header !== undefined);
  assert.is(store.revision, 1, 'a checkpoint uses no revision');
  leases.promote(0);
  assert.is(leases.status(7n, false)?.remainingSeconds, 30);
  assert.is(leases.status(8n, false)?.remainingSeconds, 100, 'a lease without a checkpoint starts from its TTL');
  assert.is(leases.status(99n, false), undefined, 'a checkpoint of an unknown lease is ignored');
});

it('an entry of a type this build does not know fails the open with LogEntryDecodeError', async (ctx) => {
  const wal = await openSegmentedWal(path.join(ctx.dir, 'wal'), { maxSegmentBytes: defaultLocalLogOptions.maxSegmentBytes, fs: nodeFileSystem });
  const unknown = Buffer.alloc(1 + 8 + 1 + 8);
  unknown[0] = 0x82;
  unknown[9] = 250;
  await wal.append([{ index: 1, bytes: unknown }], true);
  await wal.close();
  try {
    ctx.open.push(await openStore(layout, ctx.dir));
    assert.unreachable('the store opened over an entry it cannot apply');
  } catch (e) {
    assert.instance(e, LogEntryDecodeError);
    assert.is((e as LogEntryDecodeError).reason, 'unknownType');
    assert.is((e as LogEntryDecodeError).index, 1);
  }
});

test.run();
