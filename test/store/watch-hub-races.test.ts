// The watch hub against a scripted history source, for the orderings a real store makes hard to hit:
// a history read cut at 1,000 revisions shared by watchers far apart, a compaction landing during a
// read, a watch cancelled (and its id reused) during a read, a stream filling up while replaying.
import { Subject } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WatchHub, type WatchSource } from '../../src/actors/watch-hub.js';
import { EtcdError } from '../../src/core/errors.js';
import { keyRange, type KeyRange } from '../../src/core/keys.js';
import { eachWatchTarget, type EventBatch, type WatchCreate, type WatchResponse, type WatchStreamSink, type WatchTarget } from '../../src/core/watch-api.js';
import { cutAtRevisions, type ChangeScan, type RecordChange } from '../../src/mvcc/key-history-index.js';
import type { AppliedBatch } from '../../src/store/applied-batch.js';
import { until, watchCreate } from './watch-test-kit.js';

const range: KeyRange = keyRange(Buffer.from('k'), Buffer.alloc(0));
const create = (extra: Partial<WatchCreate>): WatchCreate => watchCreate(range, extra);

const change = (rev: number): RecordChange => ({
  record: { key: 'k', value: Buffer.from(String(rev)), createRevision: 2, modRevision: rev, sub: 0, version: rev - 1, lease: 0n, tombstone: false },
  prev: undefined,
});

/** History of one key written once per revision 2..current; reads can be held until released. */
class ScriptedSource implements WatchSource {
  readonly applied = new Subject<AppliedBatch>();
  readonly applied$ = this.applied.asObservable();
  compactRevision = -1;
  held: (() => void)[] = [];
  hold = false;
  constructor(public revision: number) {}

  async changes(_range: KeyRange, fromRev: number, toRev: number, maxRevisions: number): Promise<ChangeScan> {
    if (this.hold) await new Promise<void>((resolve) => this.held.push(resolve));
    if (fromRev < this.compactRevision) throw new EtcdError('compacted');
    const all: RecordChange[] = [];
    for (let r = Math.max(2, fromRev); r <= toRev; r++) all.push(change(r));
    return cutAtRevisions(all, toRev, maxRevisions);
  }

  release(): void {
    const h = this.held;
    this.held = [];
    for (const f of h) f();
  }
}

class Sink implements WatchStreamSink {
  readonly responses: WatchResponse[] = [];
  backlogBytes = 0;
  send(r: WatchResponse): void {
    this.responses.push(r);
  }
  events(targets: readonly WatchTarget[], revision: number, batch: EventBatch, backlogLimitBytes: number): number {
    return eachWatchTarget(this, targets, backlogLimitBytes, (t) => this.responses.push({ type: 'events', watchId: t.id, revision, batch, fragment: t.fragment }));
  }
  revisionsOf(id: bigint): number[] {
    return this.responses.flatMap((r) => (r.type === 'events' && r.watchId === id ? r.batch.changes.map((c) => c.record.modRevision) : []));
  }
}

const hubOptions = { progressIntervalMs: 60_000, backlogLimitBytes: 1000, onError: (m: string, e: unknown) => console.error(m, e) };
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 30));
const test = suite('watch hub: orderings around history reads');

test('watchers far apart on one range: a read cut at 1,000 revisions never moves one back', async () => {
  const source = new ScriptedSource(3000);
  const hub = new WatchHub(source, hubOptions);
  const sink = new Sink();
  const stream = hub.openStream(sink);
  hub.receive({ type: 'create', stream, create: create({ startRevision: 2n, watchId: 1n }) });
  hub.receive({ type: 'create', stream, create: create({ startRevision: 2500n, watchId: 2n }) });
  await until('both caught up', () => sink.revisionsOf(1n).at(-1) === 3000 && sink.revisionsOf(2n).at(-1) === 3000);
  assert.equal(sink.revisionsOf(1n), Array.from({ length: 2999 }, (_, i) => i + 2));
  assert.equal(sink.revisionsOf(2n), Array.from({ length: 501 }, (_, i) => i + 2500));
  hub.close();
});

test('a compaction during a read cancels only the watchers whose start it removed', async () => {
  const source = new ScriptedSource(1000);
  const hub = new WatchHub(source, hubOptions);
  const sink = new Sink();
  const stream = hub.openStream(sink);
  source.hold = true;
  hub.receive({ type: 'create', stream, create: create({ startRevision: 5n, watchId: 1n }) });
  hub.receive({ type: 'create', stream, create: create({ startRevision: 900n, watchId: 2n }) });
  await until('the read to start', () => source.held.length === 1);
  source.compactRevision = 100;
  source.hold = false;
  source.release();
  await until('watch 2 caught up', () => sink.revisionsOf(2n).at(-1) === 1000);
  assert.equal(
    sink.responses.filter((r) => r.type === 'compacted').map((r) => r.type === 'compacted' && [r.watchId, r.compactRevision]),
    [[1n, 100]],
  );
  assert.equal(sink.revisionsOf(2n), Array.from({ length: 101 }, (_, i) => i + 900));
  hub.close();
});

test('a watch cancelled while another range is read, its id reused at once: the old watch is not answered for', async () => {
  const source = new ScriptedSource(50);
  const hub = new WatchHub(source, hubOptions);
  const sink = new Sink();
  const stream = hub.openStream(sink);
  source.hold = true;
  // Two ranges: one round reads them one after the other; the first read is held.
  hub.receive({ type: 'create', stream, create: create({ range: keyRange(Buffer.from('a'), Buffer.alloc(0)), startRevision: 2n, watchId: 1n }) });
  hub.receive({ type: 'create', stream, create: create({ startRevision: 2n, watchId: 20n }) });
  await until('the first read to start', () => source.held.length === 1);
  hub.receive({ type: 'cancel', stream, watchId: 20n });
  hub.receive({ type: 'create', stream, create: create({ watchId: 20n }) });
  source.compactRevision = 10;
  source.hold = false;
  source.release();
  await settle();
  assert.equal(
    sink.responses.map((r) => `${r.type}${'watchId' in r ? ` ${r.watchId}` : ''}`),
    ['created 1', 'created 20', 'canceled 20', 'created 20', 'compacted 1'],
  );
  source.applied.next({ changes: [change(51)], revision: 51, compactRevision: 10 });
  assert.equal(sink.revisionsOf(20n), [51]);
  hub.close();
});

test('a stream that fills up while its watchers replay stops getting answers until it drains', async () => {
  const source = new ScriptedSource(100);
  const hub = new WatchHub(source, hubOptions);
  const sink = new Sink();
  const realEvents = sink.events.bind(sink);
  // Every events answer "fills" the transport past the limit until the test drains it.
  sink.events = (...args) => {
    const written = realEvents(...args);
    sink.backlogBytes = 5000;
    return written;
  };
  const stream = hub.openStream(sink);
  for (let id = 1n; id <= 20n; id++) hub.receive({ type: 'create', stream, create: create({ startRevision: 2n, watchId: id }) });
  await settle();
  assert.is(sink.responses.filter((r) => r.type === 'events').length, 1);
  for (let round = 2; round <= 20; round++) {
    sink.backlogBytes = 0;
    hub.receive({ type: 'drained', stream });
    await until(`answer ${round}`, () => sink.responses.filter((r) => r.type === 'events').length === round);
    await settle();
    assert.is(sink.responses.filter((r) => r.type === 'events').length, round);
  }
  for (let id = 1n; id <= 20n; id++) assert.equal(sink.revisionsOf(id), Array.from({ length: 99 }, (_, i) => i + 2));
  hub.close();
});

test.run();
