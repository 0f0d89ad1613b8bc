// The concurrency recipes' watcher (watchRange) against a scripted watch hub: what it asks the hub
// for, and that it never outlives its call.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { watchRange } from '../../src/concurrency/key-events.js';
import type { WatchApi, WatchHubMessage, WatchStreamSink } from '../../src/core/watch-api.js';
import type { KvRecord } from '../../src/mvcc/kv-record.js';

function scriptedHub(): { hub: WatchApi; messages: WatchHubMessage['type'][]; sink: () => WatchStreamSink } {
  const messages: WatchHubMessage['type'][] = [];
  let opened: WatchStreamSink | undefined;
  const hub: WatchApi = {
    openStream(sink) {
      opened = sink;
      return 1;
    },
    receive(msg) {
      messages.push(msg.type);
    },
  };
  return { hub, messages, sink: () => opened! };
}

const record = (key: string, value: string, rev: number): KvRecord => ({
  key,
  value: Buffer.from(value),
  createRevision: rev,
  modRevision: rev,
  sub: 0,
  version: 1,
  lease: 0n,
  tombstone: false,
});

test('a watch for a call already cancelled creates no watcher, closes its stream and ends at once', async () => {
  const { hub, messages } = scriptedHub();
  const controller = new AbortController();
  controller.abort();
  const events = watchRange(hub, { kind: 'single', key: 'k' }, 5, controller.signal);
  assert.equal(messages, ['close']);
  let error: unknown;
  try {
    for await (const _ of events) assert.unreachable('no event can arrive');
  } catch (e) {
    error = e;
  }
  assert.match(String(error), /cancelled/);
});

test('queued changes are the sink backlog, and the stream reports itself drained when they are read', async () => {
  const { hub, messages, sink } = scriptedHub();
  const controller = new AbortController();
  const events = watchRange(hub, { kind: 'single', key: 'k' }, 5, controller.signal);
  assert.equal(messages, ['create']);
  const changes = [record('k', 'x'.repeat(100), 6), record('k', 'y'.repeat(50), 7)];
  assert.is(sink().events([{ id: 0n, fragment: false }], 7, { changes: changes.map((r) => ({ record: r, prev: undefined })), prevKv: false }, Infinity), 1);
  assert.is(sink().backlogBytes, 2 + 150);
  const it = events[Symbol.asyncIterator]();
  await it.next();
  assert.is(sink().backlogBytes, 1 + 50);
  await it.next();
  assert.is(sink().backlogBytes, 0);
  assert.equal(messages, ['create', 'drained']);
  controller.abort();
  assert.equal(messages, ['create', 'drained', 'close']);
});

test.run();
