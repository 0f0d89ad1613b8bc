// The watch hub over a real store, on every engine, shard layout and placement: live fan-out, history
// catch-up without gap or duplicate, compaction, filters, ids, cancel, progress (etcd issue 15220) and
// the slow-stream policy.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WatchHub } from '../../src/actors/watch-hub.js';
import { keyRange, type KeyRange } from '../../src/core/keys.js';
import { eachWatchTarget, type EventBatch, type WatchResponse, type WatchStreamId, type WatchStreamSink, type WatchTarget } from '../../src/core/watch-api.js';
import { CompactionRequest, DeleteRangeRequest, PutRequest, RequestOp, TxnRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { until, watchCreate as watch } from './watch-test-kit.js';
import { layoutName, openStore, removeDir, storeLayouts, tempDir, type OpenStore, type StoreLayout } from './store-harness.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const put = (key: string, value: string): PutRequest => PutRequest.create({ key: b(key), value: b(value) });
const prefixRange = (p: string): KeyRange => {
  const end = b(p);
  end[end.length - 1]!++;
  return keyRange(b(p), end);
};
const single = (k: string): KeyRange => keyRange(b(k), Buffer.alloc(0));

const backlogLimit = 1000;

/** Records what the hub sends; the test sets the backlog the hub sees. */
class RecordingSink implements WatchStreamSink {
  readonly responses: WatchResponse[] = [];
  backlogBytes = 0;
  send(response: WatchResponse): void {
    this.responses.push(response);
  }
  events(targets: readonly WatchTarget[], revision: number, batch: EventBatch, backlogLimitBytes: number): number {
    return eachWatchTarget(this, targets, backlogLimitBytes, (t) => this.responses.push({ type: 'events', watchId: t.id, revision, batch, fragment: t.fragment }));
  }
  /** One line per answer: type, id, revision and the events as "rev.sub TYPE key=value prev=…". */
  lines(): string[] {
    return this.responses.map(describe);
  }
}

function describe(r: WatchResponse): string {
  switch (r.type) {
    case 'created':
    case 'canceled':
    case 'progress':
      return `${r.type} id=${r.watchId} rev=${r.revision}`;
    case 'createFailed':
      return `createFailed ${r.error} rev=${r.revision}`;
    case 'compacted':
      return `compacted id=${r.watchId} compact=${r.compactRevision}`;
    case 'events': {
      const events = r.batch.changes.map((c) => {
        const rec = c.record;
        const prev = r.batch.prevKv ? ` prev=${c.prev === undefined ? '-' : c.prev.value.toString()}` : '';
        return `${rec.modRevision}.${rec.sub} ${rec.tombstone ? 'DEL' : 'PUT'} ${rec.key}=${rec.value.toString()}${prev}`;
      });
      return `events id=${r.watchId} rev=${r.revision} [${events.join(', ')}]`;
    }
  }
}

const eventRevisions = (sink: RecordingSink, id: bigint): number[] =>
  sink.responses.flatMap((r) => (r.type === 'events' && r.watchId === id ? r.batch.changes.map((c) => c.record.modRevision) : []));

function hubSuite(layout: StoreLayout): void {
  const test = suite(`watch hub: ${layoutName(layout)}`);
  let s: OpenStore;
  let dir: string;
  let hub: WatchHub;
  const open = (): { sink: RecordingSink; stream: WatchStreamId } => {
    const sink = new RecordingSink();
    return { sink, stream: hub.openStream(sink) };
  };

  test.before.each(async () => {
    dir = await tempDir();
    s = await openStore(layout, dir);
    hub = new WatchHub(s.store, { progressIntervalMs: 60_000, backlogLimitBytes: backlogLimit, onError: (m, e) => console.error(m, e) });
  });
  test.after.each(async () => {
    hub.close();
    await s.close().catch(() => undefined);
    await removeDir(dir);
  });

  test('live events: one answer per revision, header at that revision, created at the current revision', async () => {
    await s.store.put(put('other', 'x'));
    const { sink, stream } = open();
    hub.receive({ type: 'create', stream, create: watch(prefixRange('p/')) });
    await s.store.put(put('p/a', '1'));
    await s.store.put(put('q', 'not watched'));
    await s.store.deleteRange(DeleteRangeRequest.create({ key: b('p/a') }));
    assert.equal(sink.lines(), ['created id=0 rev=2', 'events id=0 rev=3 [3.0 PUT p/a=1]', 'events id=0 rev=5 [5.0 DEL p/a=]']);
  });

  test('the events of one txn arrive together, in sub-revision order', async () => {
    const { sink, stream } = open();
    hub.receive({ type: 'create', stream, create: watch(keyRange(b('\0'), b('\0'))) });
    await s.store.put(put('A/1', 'old'));
    await s.store.txn(
      TxnRequest.create({
        success: [
          RequestOp.create({ requestPut: put('A/1', 'x') }),
          RequestOp.create({ requestPut: put('a/2', 'y') }),
          RequestOp.create({ requestDeleteRange: DeleteRangeRequest.create({ key: b('zz') }) }),
          RequestOp.create({ requestPut: put('\xc0/3', 'z') }),
        ],
      }),
    );
    assert.equal(sink.lines().slice(1), ['events id=0 rev=2 [2.0 PUT A/1=old]', 'events id=0 rev=3 [3.0 PUT A/1=x, 3.1 PUT a/2=y, 3.2 PUT \xc0/3=z]']);
  });

  test('history replay: one answer up to the current revision, then live events, no gap and no duplicate', async () => {
    for (let i = 0; i < 5; i++) await s.store.put(put('k', `v${i}`));
    const { sink, stream } = open();
    hub.receive({ type: 'create', stream, create: watch(single('k'), { startRevision: 3n, prevKv: true }) });
    await until('the replay', () => sink.responses.length >= 2);
    await s.store.put(put('k', 'live'));
    await until('the live event', () => sink.responses.length >= 3);
    assert.equal(sink.lines(), [
      'created id=0 rev=6',
      'events id=0 rev=6 [3.0 PUT k=v1 prev=v0, 4.0 PUT k=v2 prev=v1, 5.0 PUT k=v3 prev=v2, 6.0 PUT k=v4 prev=v3]',
      'events id=0 rev=7 [7.0 PUT k=live prev=v4]',
    ]);
  });

  test('a watcher catching up while writes continue gets every revision exactly once, in order', async () => {
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) writes.push(s.store.put(put(`w/${i % 7}`, `${i}`)));
    await Promise.all(writes.slice(0, 100));
    const { sink, stream } = open();
    hub.receive({ type: 'create', stream, create: watch(prefixRange('w/'), { startRevision: 1n }) });
    for (let i = 300; i < 600; i++) writes.push(s.store.put(put(`w/${i % 7}`, `${i}`)));
    await Promise.all(writes);
    await until('all 600 events', () => eventRevisions(sink, 0n).length >= 600);
    const revs = eventRevisions(sink, 0n);
    assert.equal(revs, Array.from({ length: 600 }, (_, i) => i + 2));
  });

  test('a catch-up answer holds at most 1000 revisions; the rest follows in the next one', async () => {
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 1200; i++) writes.push(s.store.put(put('c', `${i}`)));
    await Promise.all(writes);
    const { sink, stream } = open();
    hub.receive({ type: 'create', stream, create: watch(single('c'), { startRevision: 2n }) });
    await until('two catch-up answers', () => sink.responses.length >= 3);
    const [first, second] = sink.responses.slice(1);
    assert.ok(first?.type === 'events' && second?.type === 'events');
    if (first?.type !== 'events' || second?.type !== 'events') return;
    assert.is(first.batch.changes.length, 1000);
    assert.is(first.revision, 1201);
    assert.is(second.batch.changes.length, 200);
    assert.equal(eventRevisions(sink, 0n), Array.from({ length: 1200 }, (_, i) => i + 2));
  });

  test('a start revision below the compaction gets the compacted answer; its id stays taken until cancelled', async () => {
    for (let i = 0; i < 5; i++) await s.store.put(put('k', `v${i}`));
    await s.store.compact(CompactionRequest.create({ revision: 4n }));
    const { sink, stream } = open();
    hub.receive({ type: 'create', stream, create: watch(single('k'), { startRevision: 3n, watchId: 7n }) });
    await until('the compacted answer', () => sink.responses.length >= 2);
    hub.receive({ type: 'create', stream, create: watch(single('k'), { watchId: 7n }) });
    hub.receive({ type: 'cancel', stream, watchId: 7n });
    hub.receive({ type: 'create', stream, create: watch(single('k'), { startRevision: 4n, watchId: 8n }) });
    await until('the replay from the compact revision', () => sink.responses.length >= 6);
    assert.equal(sink.lines(), [
      'created id=7 rev=6',
      'compacted id=7 compact=4',
      'createFailed duplicateId rev=6',
      'canceled id=7 rev=6',
      'created id=8 rev=6',
      'events id=8 rev=6 [4.0 PUT k=v2, 5.0 PUT k=v3, 6.0 PUT k=v4]',
    ]);
  });

  test('filters drop puts or deletes; a revision with nothing left sends nothing; prev_kv rides along', async () => {
    const { sink, stream } = open();
    hub.receive({ type: 'create', stream, create: watch(single('k'), { noPut: true, prevKv: true }) });
    hub.receive({ type: 'create', stream, create: watch(single('k'), { noDelete: true }) });
    await s.store.put(put('k', '1'));
    await s.store.deleteRange(DeleteRangeRequest.create({ key: b('k') }));
    assert.equal(sink.lines(), ['created id=0 rev=1', 'created id=1 rev=1', 'events id=1 rev=2 [2.0 PUT k=1]', 'events id=0 rev=3 [3.0 DEL k= prev=1]']);
  });

  test('ids: 0 picks the next free id, skipping ids in use; a duplicate or an empty range is refused', async () => {
    const { sink, stream } = open();
    hub.receive({ type: 'create', stream, create: watch(single('k'), { watchId: 1n }) });
    hub.receive({ type: 'create', stream, create: watch(single('k')) });
    hub.receive({ type: 'create', stream, create: watch(single('k')) });
    hub.receive({ type: 'create', stream, create: watch(single('k'), { watchId: 2n }) });
    hub.receive({ type: 'create', stream, create: watch(keyRange(b('b'), b('a'))) });
    hub.receive({ type: 'create', stream, create: watch(keyRange(b('a'), b('a'))) });
    hub.receive({ type: 'cancel', stream, watchId: 99n });
    hub.receive({ type: 'cancel', stream, watchId: 0n });
    assert.equal(sink.lines(), [
      'created id=1 rev=1',
      'created id=0 rev=1',
      'created id=2 rev=1',
      'createFailed duplicateId rev=1',
      'createFailed emptyRange rev=1',
      'createFailed emptyRange rev=1',
      'canceled id=0 rev=1',
    ]);
  });

  test('streams are independent: the same id on two streams, each sees only its own watches', async () => {
    const a = open();
    const c = open();
    hub.receive({ type: 'create', stream: a.stream, create: watch(single('x')) });
    hub.receive({ type: 'create', stream: c.stream, create: watch(single('y')) });
    await s.store.put(put('x', '1'));
    await s.store.put(put('y', '2'));
    hub.receive({ type: 'close', stream: a.stream });
    await s.store.put(put('x', '3'));
    assert.equal(a.sink.lines(), ['created id=0 rev=1', 'events id=0 rev=2 [2.0 PUT x=1]']);
    assert.equal(c.sink.lines(), ['created id=0 rev=1', 'events id=0 rev=3 [3.0 PUT y=2]']);
  });

  test('a progress request waits until every watcher of the stream has caught up (etcd issue 15220)', async () => {
    for (let i = 0; i < 3; i++) await s.store.put(put('k', `v${i}`));
    const { sink, stream } = open();
    sink.backlogBytes = backlogLimit + 1; // the stream is "slow": its unsynced watcher cannot catch up yet
    hub.receive({ type: 'create', stream, create: watch(single('k'), { startRevision: 2n }) });
    hub.receive({ type: 'progress', stream });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(sink.lines(), ['created id=0 rev=4']);
    sink.backlogBytes = 0;
    hub.receive({ type: 'drained', stream });
    await until('the progress answer', () => sink.responses.length >= 3);
    assert.equal(sink.lines(), ['created id=0 rev=4', 'events id=0 rev=4 [2.0 PUT k=v0, 3.0 PUT k=v1, 4.0 PUT k=v2]', 'progress id=-1 rev=4']);
    hub.receive({ type: 'progress', stream });
    assert.equal(sink.lines().at(-1), 'progress id=-1 rev=4');
  });

  test('a slow stream misses live events, then catches up from history once drained; the others are not held up', async () => {
    const slow = open();
    const fast = open();
    hub.receive({ type: 'create', stream: slow.stream, create: watch(prefixRange('s/')) });
    hub.receive({ type: 'create', stream: fast.stream, create: watch(prefixRange('s/')) });
    await s.store.put(put('s/1', 'a'));
    slow.sink.backlogBytes = backlogLimit + 1;
    for (let i = 2; i <= 5; i++) await s.store.put(put(`s/${i}`, 'b'));
    assert.equal(eventRevisions(fast.sink, 0n), [2, 3, 4, 5, 6]);
    assert.equal(eventRevisions(slow.sink, 0n), [2]);
    slow.sink.backlogBytes = 0;
    hub.receive({ type: 'drained', stream: slow.stream });
    await until('the slow stream to catch up', () => eventRevisions(slow.sink, 0n).length >= 5);
    await s.store.put(put('s/6', 'c'));
    assert.equal(slow.sink.lines().slice(2), ['events id=0 rev=6 [3.0 PUT s/2=b, 4.0 PUT s/3=b, 5.0 PUT s/4=b, 6.0 PUT s/5=b]', 'events id=0 rev=7 [7.0 PUT s/6=c]']);
  });

  test('one call per stream per revision; a stream that fills up part way holds back only the watchers after that point', async () => {
    const calls: number[] = [];
    /** Each answer adds 400 bytes of backlog while `filling`; the hub's limit is 1,000. */
    class FillingSink extends RecordingSink {
      filling = true;
      override events(targets: readonly WatchTarget[], revision: number, batch: EventBatch, backlogLimitBytes: number): number {
        calls.push(targets.length);
        return eachWatchTarget(this, targets, backlogLimitBytes, (t) => {
          this.responses.push({ type: 'events', watchId: t.id, revision, batch, fragment: t.fragment });
          if (this.filling) this.backlogBytes += 400;
        });
      }
    }
    const sink = new FillingSink();
    const stream = hub.openStream(sink);
    const other = open();
    for (let id = 1n; id <= 5n; id++) hub.receive({ type: 'create', stream, create: watch(prefixRange('f/'), { watchId: id }) });
    hub.receive({ type: 'create', stream: other.stream, create: watch(prefixRange('f/')) });
    await s.store.put(put('f/1', 'a'));
    assert.equal(calls, [5], 'the five watchers of the stream in one call');
    // answered at backlogs 0, 400 and 800; 1,200 is past the limit
    assert.equal([1n, 2n, 3n, 4n, 5n].map((id) => eventRevisions(sink, id)), [[2], [2], [2], [], []]);
    assert.equal(eventRevisions(other.sink, 0n), [2], 'another stream is not held up');
    sink.backlogBytes = 0; // the transport took it, but the hub has not been told yet
    await s.store.put(put('f/2', 'b'));
    assert.equal(calls, [5, 3], 'the held-back watchers are no longer synced');
    sink.backlogBytes = 0;
    hub.receive({ type: 'drained', stream });
    await until('the held-back watchers to catch up', () => eventRevisions(sink, 5n).length === 2);
    sink.backlogBytes = 0;
    sink.filling = false;
    await s.store.put(put('f/3', 'c'));
    assert.equal(calls.at(-1), 5, 'all five synced again, in one call');
    for (let id = 1n; id <= 5n; id++) assert.equal(eventRevisions(sink, id), [2, 3, 4], `watcher ${id}`);
    assert.equal(eventRevisions(other.sink, 0n), [2, 3, 4]);
  });

  test('a stream that closes while taking a revision: its watchers are neither held back nor caught up later', async () => {
    let calls = 0;
    let closing: WatchStreamId = 0;
    class ClosingSink extends RecordingSink {
      override events(): number {
        calls++;
        hub.receive({ type: 'close', stream: closing });
        return 0;
      }
    }
    closing = hub.openStream(new ClosingSink());
    for (let id = 1n; id <= 3n; id++) hub.receive({ type: 'create', stream: closing, create: watch(prefixRange('c/'), { watchId: id }) });
    await s.store.put(put('c/1', 'a'));
    assert.is(calls, 1);
    // another stream's replay runs the catch-up loop, which would find held-back watchers
    const other = open();
    hub.receive({ type: 'create', stream: other.stream, create: watch(prefixRange('c/'), { startRevision: 1n }) });
    await until('the other stream to catch up', () => eventRevisions(other.sink, 0n).length === 1);
    await s.store.put(put('c/2', 'b'));
    assert.is(calls, 1, 'the closed stream got nothing more');
    assert.equal(hub.counts, { streams: 1, watchers: 1 });
  });

  test('after a restart, history from before it replays from the store', async () => {
    for (let i = 0; i < 3; i++) await s.store.put(put('r', `v${i}`));
    await s.store.deleteRange(DeleteRangeRequest.create({ key: b('r') }));
    hub.close();
    await s.close();
    s = await openStore(layout, dir);
    hub = new WatchHub(s.store, { progressIntervalMs: 60_000, backlogLimitBytes: backlogLimit, onError: (m, e) => console.error(m, e) });
    const { sink, stream } = open();
    hub.receive({ type: 'create', stream, create: watch(single('r'), { startRevision: 1n, prevKv: true }) });
    await until('the replay', () => sink.responses.length >= 2);
    assert.equal(sink.lines(), ['created id=0 rev=5', 'events id=0 rev=5 [2.0 PUT r=v0 prev=-, 3.0 PUT r=v1 prev=v0, 4.0 PUT r=v2 prev=v1, 5.0 DEL r= prev=v2]']);
  });

  test('a synced watcher keeps getting every event across a compaction', async () => {
    const { sink, stream } = open();
    hub.receive({ type: 'create', stream, create: watch(single('c')) });
    for (let i = 0; i < 3; i++) await s.store.put(put('c', `${i}`));
    await s.store.compact(CompactionRequest.create({ revision: 4n }));
    for (let i = 3; i < 5; i++) await s.store.put(put('c', `${i}`));
    assert.equal(eventRevisions(sink, 0n), [2, 3, 4, 5, 6]);
  });

  test('a write is answered only once watchers can see it: a watch created on its answer starts past it', async () => {
    const { sink, stream } = open();
    const keys = Array.from({ length: 60 }, (_, i) => `${['A', 'a', '\xc0'][i % 3]}/${i}`);
    const problems: string[] = [];
    await Promise.all(
      keys.map(async (key) => {
        const res = await s.store.put(put(key, 'v'));
        const before = sink.responses.length;
        hub.receive({ type: 'create', stream, create: watch(single(key)) });
        const created = sink.responses[before];
        if (created?.type !== 'created' || BigInt(created.revision) < res.header!.revision) problems.push(`${key}: ${created === undefined ? 'none' : describe(created)} after revision ${res.header!.revision}`);
      }),
    );
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(problems, []);
    assert.equal(sink.responses.filter((r) => r.type === 'events').length, 0);
  });

  test('a future start revision delivers only from that revision on', async () => {
    const { sink, stream } = open();
    hub.receive({ type: 'create', stream, create: watch(single('f'), { startRevision: 4n }) });
    for (let i = 0; i < 4; i++) await s.store.put(put('f', `${i}`));
    assert.equal(eventRevisions(sink, 0n), [4, 5]);
  });

  test.run();
}

for (const layout of storeLayouts) hubSuite(layout);

const periodic = suite('watch hub: periodic progress');
periodic('a progress_notify watcher gets its own progress answer when idle; others get none', async () => {
  const dir = await tempDir();
  const s = await openStore(storeLayouts[0]!, dir);
  const hub = new WatchHub(s.store, { progressIntervalMs: 30, backlogLimitBytes: backlogLimit, onError: () => undefined });
  try {
    const sink = new RecordingSink();
    const stream = hub.openStream(sink);
    hub.receive({ type: 'create', stream, create: watch(single('k'), { progressNotify: true, watchId: 5n }) });
    hub.receive({ type: 'create', stream, create: watch(single('k'), { watchId: 6n }) });
    await until('a progress answer', () => sink.responses.some((r) => r.type === 'progress'), 2000);
    const progress = sink.responses.filter((r) => r.type === 'progress');
    assert.ok(progress.every((r) => r.type === 'progress' && r.watchId === 5n && r.revision === 1));
  } finally {
    hub.close();
    await s.close();
    await removeDir(dir);
  }
});
periodic.run();
