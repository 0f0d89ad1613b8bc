// The watch answer encoder against the generated protobuf code: every answer decodes to exactly the
// message etcd would send, and fragments split where etcd's sendFragments splits (its algorithm run on
// generated-encoder sizes as the reference).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WatchResponse as WatchResponsePb, type ResponseHeader } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { Event, Event_EventType, type KeyValue } from '../../src/gen/etcd/mvcc/mvccpb/kv.js';
import { WatchResponseEncoder, cancelReasons, type MessageWriter } from '../../src/adapters/grpc/watch-response-encoder.js';
import type { FramedMessages, OutgoingMessage } from '../../src/adapters/grpc/grpc-wire.js';
import { largeSlabs } from '../../src/adapters/slab-pool.js';
import type { EventBatch, WatchResponse } from '../../src/core/watch-api.js';
import type { KvRecord } from '../../src/mvcc/kv-record.js';
import type { RecordChange } from '../../src/mvcc/key-history-index.js';

/** A writer as a call is: each message or run framed while it is written (the encoder reuses its objects), at an offset inside a larger buffer. */
function collectingWriter(out: Buffer[]): MessageWriter {
  return {
    write(m: OutgoingMessage): void {
      const buf = Buffer.alloc(m.size + 7, 0xee);
      m.writeTo(buf, 7);
      out.push(buf.subarray(7));
    },
    writeAll(run: FramedMessages): void {
      const buf = Buffer.alloc(run.framedSize + 7 + 3, 0xee);
      run.writeFramed(buf, 7);
      let at = 7;
      for (let k = 0; k < run.count; k++) {
        assert.is(buf[at], 0, 'uncompressed flag');
        const size = buf.readUInt32BE(at + 1);
        out.push(Buffer.from(buf.subarray(at + 5, at + 5 + size)));
        at += 5 + size;
      }
      assert.is(at, 7 + run.framedSize, 'the run fills exactly its framed size');
      assert.equal([...buf.subarray(at)], [0xee, 0xee, 0xee], 'nothing written past the run');
    },
  };
}

/** Each message as bytes. */
function encodeBytes(enc: WatchResponseEncoder, res: WatchResponse): Buffer[] {
  const out: Buffer[] = [];
  const writer = collectingWriter(out);
  if (res.type === 'events') enc.writeEvents(writer, [{ id: res.watchId, fragment: res.fragment }], res.revision, res.batch, Infinity);
  else writer.write(enc.encode(res));
  return out;
}

const header = (revision: number): ResponseHeader => ({ clusterId: 0xfeedn, memberId: 0xbeefn, revision: BigInt(revision), raftTerm: 3n });

function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

function record(next: () => number, rev: number, sub: number, tombstone: boolean): KvRecord {
  const key = Array.from({ length: 1 + Math.floor(next() * 20) }, () => String.fromCharCode(Math.floor(next() * 256))).join('');
  const value = Buffer.alloc(tombstone ? 0 : Math.floor(next() * 300), 'v');
  const create = tombstone ? 0 : next() < 0.3 ? rev : Math.max(1, rev - 5);
  const lease = next() < 0.2 ? BigInt(Math.floor(next() * 2 ** 40)) : 0n;
  // A tombstone as the store makes it (store-txn.ts): the key and the deleting revision only.
  return { key, value, createRevision: create, modRevision: rev, sub, version: tombstone ? 0 : 1 + Math.floor(next() * 4), lease: tombstone ? 0n : lease, tombstone };
}

const toKv = (r: KvRecord): KeyValue =>
  r.tombstone
    ? { key: Buffer.from(r.key, 'latin1'), createRevision: 0n, modRevision: BigInt(r.modRevision), version: 0n, value: Buffer.alloc(0), lease: 0n }
    : { key: Buffer.from(r.key, 'latin1'), createRevision: BigInt(r.createRevision), modRevision: BigInt(r.modRevision), version: BigInt(r.version), value: r.value, lease: r.lease };

/** The events etcd's sendLoop builds for a batch. */
function expectedEvents(batch: EventBatch): Event[] {
  return batch.changes.map((c) => {
    const isCreate = !c.record.tombstone && c.record.createRevision === c.record.modRevision;
    const prev = batch.prevKv && !isCreate && c.prev !== undefined ? toKv(c.prev) : undefined;
    return { type: c.record.tombstone ? Event_EventType.DELETE : Event_EventType.PUT, kv: toKv(c.record), prevKv: prev };
  });
}

function batchOf(next: () => number, n: number, prevKv: boolean): EventBatch {
  const changes: RecordChange[] = [];
  for (let i = 0; i < n; i++) {
    const tombstone = next() < 0.3;
    const rec = record(next, 10 + Math.floor(i / 3), i % 3, tombstone);
    changes.push({ record: rec, prev: next() < 0.7 ? record(next, 5, 0, false) : undefined });
  }
  return { changes, prevKv };
}

const test = suite('watch response encoder');

test('every kind of answer decodes to the message etcd sends', () => {
  const enc = new WatchResponseEncoder(header, 2 * 1024 * 1024);
  const decode = (bufs: Buffer[]) => bufs.map((b) => WatchResponsePb.decode(b));
  const base = { watchId: 0n, created: false, canceled: false, compactRevision: 0n, cancelReason: '', fragment: false, events: [] };
  assert.equal(decode(encodeBytes(enc, { type: 'created', watchId: 4n, revision: 9 })), [{ ...base, header: header(9), watchId: 4n, created: true }]);
  assert.equal(decode(encodeBytes(enc, { type: 'createFailed', error: 'duplicateId', revision: 9 })), [
    { ...base, header: header(9), watchId: -1n, created: true, canceled: true, cancelReason: cancelReasons.duplicateId },
  ]);
  assert.equal(decode(encodeBytes(enc, { type: 'canceled', watchId: 2n, revision: 11 })), [{ ...base, header: header(11), watchId: 2n, canceled: true }]);
  assert.equal(decode(encodeBytes(enc, { type: 'compacted', watchId: 3n, compactRevision: 7 })), [{ ...base, header: header(0), watchId: 3n, canceled: true, compactRevision: 7n }]);
  // A negative start revision on a store never compacted: etcd answers compact_revision -1.
  assert.equal(decode(encodeBytes(enc, { type: 'compacted', watchId: 0n, compactRevision: -1 })), [{ ...base, header: header(0), watchId: 0n, canceled: true, compactRevision: -1n }]);
  assert.equal(decode(encodeBytes(enc, { type: 'progress', watchId: -1n, revision: 12 })), [{ ...base, header: header(12), watchId: -1n }]);
});

test('500 seeded event batches decode to the same events, prev_kv only where etcd adds it', () => {
  const next = random(42);
  const enc = new WatchResponseEncoder(header, 2 * 1024 * 1024);
  for (let i = 0; i < 500; i++) {
    const batch = batchOf(next, 1 + Math.floor(next() * 12), next() < 0.5);
    const watchId = BigInt(Math.floor(next() * 1000));
    const [bytes, ...rest] = encodeBytes(enc, { type: 'events', watchId, revision: 99, batch, fragment: false });
    assert.is(rest.length, 0);
    const got = WatchResponsePb.decode(bytes!);
    assert.equal(got.events, expectedEvents(batch), `batch ${i}`);
    assert.is(got.watchId, watchId);
    assert.equal(got.header, header(99));
  }
});

test('one batch sent to many watchers: same events, each with its own id', () => {
  const next = random(7);
  const enc = new WatchResponseEncoder(header, 2 * 1024 * 1024);
  const batch = batchOf(next, 5, true);
  const a = WatchResponsePb.decode(encodeBytes(enc, { type: 'events', watchId: 1n, revision: 5, batch, fragment: false })[0]!);
  const c = WatchResponsePb.decode(encodeBytes(enc, { type: 'events', watchId: 2n, revision: 5, batch, fragment: false })[0]!);
  assert.equal(a.events, c.events);
  assert.equal([a.watchId, c.watchId], [1n, 2n]);
});

/** etcd's sendFragments, on generated-encoder sizes. */
function referenceFragments(wr: WatchResponsePb, limit: number): WatchResponsePb[] {
  const size = (m: WatchResponsePb) => WatchResponsePb.encode(m).finish().length;
  if (size(wr) < limit || wr.events.length < 2) return [wr];
  const out: WatchResponsePb[] = [];
  let idx = 0;
  for (;;) {
    const cur: WatchResponsePb = { ...wr, events: [], fragment: true };
    for (const ev of wr.events.slice(idx)) {
      cur.events.push(ev);
      if (cur.events.length > 1 && size(cur) >= limit) {
        cur.events.pop();
        break;
      }
      idx++;
    }
    if (idx === wr.events.length) cur.fragment = false;
    out.push(cur);
    if (!cur.fragment) return out;
  }
}

test('fragments split exactly where etcd splits them, and only when the watcher asked', () => {
  const next = random(3);
  for (const limit of [200, 700, 1500, 5000]) {
    const enc = new WatchResponseEncoder(header, limit);
    for (let i = 0; i < 40; i++) {
      const batch = batchOf(next, 1 + Math.floor(next() * 25), next() < 0.5);
      const got = encodeBytes(enc, { type: 'events', watchId: 6n, revision: 50, batch, fragment: true }).map((b) => WatchResponsePb.decode(b));
      const whole = WatchResponsePb.decode(encodeBytes(enc, { type: 'events', watchId: 6n, revision: 50, batch, fragment: false })[0]!);
      assert.equal(got, referenceFragments(whole, limit), `limit ${limit}, batch ${i}`);
    }
  }
});


test('one call for many watchers of a stream: each answer is the one it would get alone, in order', () => {
  const next = random(11);
  const ids = [0n, 1n, 127n, 128n, 300n, 2n ** 40n, 2n ** 62n, -1n, 7n];
  for (let i = 0; i < 60; i++) {
    const enc = new WatchResponseEncoder(header, 2 * 1024 * 1024);
    const batch = batchOf(next, 1 + Math.floor(next() * 6), next() < 0.5);
    const out: Buffer[] = [];
    const written = enc.writeEvents(collectingWriter(out), ids.map((id) => ({ id, fragment: next() < 0.5 })), 40 + i, batch, Infinity);
    assert.is(written, ids.length);
    const alone = ids.flatMap((watchId) => encodeBytes(enc, { type: 'events', watchId, revision: 40 + i, batch, fragment: false }));
    assert.equal(out.map((b) => b.toString('hex')), alone.map((b) => b.toString('hex')), `batch ${i}`);
    // and against the generated decoder: the id of each, the same header and events
    const decoded = out.map((b) => WatchResponsePb.decode(b));
    assert.equal(decoded.map((d) => d.watchId), ids);
    for (const d of decoded) {
      assert.equal(d.header, header(40 + i));
      assert.equal(d.events, expectedEvents(batch));
      assert.is(d.fragment, false);
    }
  }
});

test('a long run goes to the call in pieces of about 32 KiB, every answer whole and in order', () => {
  const enc = new WatchResponseEncoder(header, 2 * 1024 * 1024);
  const batch = batchOf(random(13), 4, false);
  const targets = Array.from({ length: 500 }, (_, k) => ({ id: BigInt(k), fragment: false }));
  const out: Buffer[] = [];
  const writer = collectingWriter(out);
  const runs: number[] = [];
  const counting: MessageWriter = { write: (m) => writer.write(m), writeAll: (run) => (runs.push(run.framedSize), writer.writeAll(run)) };
  assert.is(enc.writeEvents(counting, targets, 70, batch, Infinity), 500);
  assert.ok(runs.length > 1, `${runs.length} runs`);
  // each piece fits a pooled slab; every piece but the last reached half a slab before it was handed over
  for (const size of runs) assert.ok(size <= largeSlabs.slabBytes, `a run of ${size} bytes`);
  for (const size of runs.slice(0, -1)) assert.ok(size >= largeSlabs.slabBytes / 2, `a run of ${size} bytes handed over early`);
  assert.equal(out.map((b) => WatchResponsePb.decode(b).watchId), targets.map((t) => t.id));
});

test('a call stops at the room it is given, checked before each watcher as the hub checks the backlog', () => {
  const enc = new WatchResponseEncoder(header, 2 * 1024 * 1024);
  const batch = batchOf(random(5), 3, false);
  const one = encodeBytes(enc, { type: 'events', watchId: 1n, revision: 8, batch, fragment: false })[0]!.length + 5;
  const targets = [1n, 2n, 3n, 4n, 5n].map((id) => ({ id, fragment: false }));
  const answered = (room: number): bigint[] => {
    const out: Buffer[] = [];
    const written = enc.writeEvents(collectingWriter(out), targets, 8, batch, room);
    const ids = out.map((b) => WatchResponsePb.decode(b).watchId);
    assert.is(ids.length, written);
    return ids;
  };
  assert.equal(answered(-1), [], 'a backlog already past the limit: nothing');
  assert.equal(answered(0), [1n], 'a backlog at the limit, not past it: one answer');
  assert.equal(answered(one - 1), [1n]);
  assert.equal(answered(one), [1n, 2n]);
  assert.equal(answered(2 * one), [1n, 2n, 3n]);
  assert.equal(answered(Infinity), [1n, 2n, 3n, 4n, 5n]);
  // a watcher with fragment after the room is used up gets nothing either
  const small = new WatchResponseEncoder(header, 64);
  const out: Buffer[] = [];
  const fragmenting = [{ id: 1n, fragment: false }, { id: 2n, fragment: true }];
  assert.is(small.writeEvents(collectingWriter(out), fragmenting, 8, batch, 0), 1);
  assert.equal(out.map((b) => WatchResponsePb.decode(b).watchId), [1n]);
});

test('a watcher with fragment among others in one call: its answer split as etcd splits it, the others whole', () => {
  const next = random(9);
  const limit = 700;
  for (let i = 0; i < 30; i++) {
    const enc = new WatchResponseEncoder(header, limit);
    const batch = batchOf(next, 8 + Math.floor(next() * 10), false);
    const targets = [
      { id: 1n, fragment: false },
      { id: 2n, fragment: true },
      { id: 3n, fragment: false },
      { id: 4n, fragment: true },
    ];
    const out: Buffer[] = [];
    assert.is(enc.writeEvents(collectingWriter(out), targets, 60, batch, Infinity), targets.length);
    const expected = targets.flatMap((t) => {
      const whole = WatchResponsePb.decode(encodeBytes(enc, { type: 'events', watchId: t.id, revision: 60, batch, fragment: false })[0]!);
      return t.fragment ? referenceFragments(whole, limit) : [whole];
    });
    assert.equal(out.map((b) => WatchResponsePb.decode(b)), expected, `batch ${i}`);
  }
});

test.run();
