// The small pieces of the etcd image: the shared engine cursor (prefix runs, bounded read-ahead,
// errors, early close), the lease and member values as etcd encodes them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EngineCursor, maxReadAheadBytes, maxReadAheadPairs, type EnginePair } from '../../src/snapshot/engine-cursor.js';
import { decodeLeaseValue, encodeLeaseKey, encodeLeaseValue } from '../../src/snapshot/lease-value.js';
import { encodeMemberKey, encodeMemberValue } from '../../src/snapshot/member-value.js';
import { etcdClusterVersion } from '../../src/snapshot/snapshot-export.js';
import { SnapshotChunkMessage } from '../../src/adapters/grpc/snapshot-message.js';
import { SnapshotResponse } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { seededRandom } from '../helpers/seeded-random.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BboltReader, decodeRevisionKey, etcdBuckets, writeBboltFile } from '../../src/bbolt/index.js';
import { toKey } from '../../src/core/keys.js';
import { KeyValue } from '../../src/gen/etcd/mvcc/mvccpb/kv.js';
import { encodeRecord } from '../../src/mvcc/kv-record.js';
import { etcdImageBuckets, type ImageSummary } from '../../src/snapshot/etcd-image-buckets.js';
import { APPLIED_KEY, encodeApplied, recordKey } from '../../src/store/storage-keys.js';

const test = suite('etcd image pieces');
const pair = (key: string, value = ''): EnginePair => [Buffer.from(key), Buffer.from(value)];

/** The pairs in batches of `batchPairs`, as an engine's iterateBatches hands them out; fails at pair `failAt`. */
async function* source(pairs: EnginePair[], pulled: { count: number }, batchPairs = 100, failAt = -1): AsyncGenerator<EnginePair[]> {
  for (let i = 0; i < pairs.length; i += batchPairs) {
    const batch = pairs.slice(i, i + batchPairs);
    if (failAt >= i && failAt < i + batchPairs) throw new Error('engine failed');
    pulled.count += batch.length;
    yield batch;
  }
}

async function collect(it: AsyncIterable<EnginePair>): Promise<string[]> {
  const out: string[] = [];
  for await (const [k] of it) out.push(k.toString());
  return out;
}

test('the cursor hands each prefix its run of keys, in order, skipping keys of no prefix, across batches', async () => {
  const pairs = [pair('a'), pair('k1'), pair('k2'), pair('kz'), pair('l1'), pair('m/applied'), pair('m/compact'), pair('z')];
  for (const batchPairs of [1, 3, 100]) {
    const cursor = new EngineCursor(source(pairs, { count: 0 }, batchPairs));
    assert.equal(await collect(cursor.take(Buffer.from('k'))), ['k1', 'k2', 'kz']);
    assert.equal(await collect(cursor.take(Buffer.from('l'))), ['l1']);
    assert.equal((await cursor.peek())?.[0].toString(), 'm/applied');
    assert.equal(await collect(cursor.take(Buffer.from('m/'))), ['m/applied', 'm/compact']);
    assert.equal(await collect(cursor.take(Buffer.from('m/'))), []);
    await cursor.close();
  }
});

test('a run is the engine batch itself when the whole batch is under the prefix, a part of it otherwise', async () => {
  const batches = [[pair('a'), pair('k1')], [pair('k2'), pair('k3')], [pair('k4'), pair('l1')]];
  async function* engine(): AsyncGenerator<EnginePair[]> {
    yield* batches;
  }
  const cursor = new EngineCursor(engine());
  const runs: (readonly EnginePair[])[] = [];
  for await (const run of cursor.takeRuns(Buffer.from('k'))) runs.push(run);
  assert.equal(
    runs.map((run) => run.map(([k]) => k.toString())),
    [['k1'], ['k2', 'k3'], ['k4']],
  );
  assert.ok(runs[1] === batches[1], 'a whole batch is handed on without a copy');
  await cursor.close();
});

test(`the cursor reads at most ${maxReadAheadPairs} pairs (and one engine batch) ahead of the run its consumer holds`, async () => {
  const pulled = { count: 0 };
  const batchPairs = 1000;
  const pairs = Array.from({ length: 3 * maxReadAheadPairs }, (_, i) => pair(`k${String(i).padStart(8, '0')}`));
  const cursor = new EngineCursor(source(pairs, pulled, batchPairs));
  const run = cursor.take(Buffer.from('k'));
  await run.next();
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
  assert.ok(pulled.count <= maxReadAheadPairs + 2 * batchPairs, `pulled ${pulled.count}`);
  let n = 1;
  for await (const _ of run) n++;
  assert.is(n, pairs.length);
  await cursor.close();
});

test(`with large values the cursor reads at most about ${maxReadAheadBytes} bytes ahead, and hands them in runs of one engine batch at most`, async () => {
  const pulled = { count: 0 };
  const value = Buffer.alloc(1024 * 1024);
  const batchPairs = 4; // an engine's batch ends once it holds maxIterateBatchBytes (4 MiB)
  const pairs: EnginePair[] = Array.from({ length: 64 }, (_, i) => [Buffer.from(`k${String(i).padStart(4, '0')}`), value]);
  const cursor = new EngineCursor(source(pairs, pulled, batchPairs));
  const runs = cursor.takeRuns(Buffer.from('k'));
  const first = await runs.next();
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
  const perBound = maxReadAheadBytes / value.length;
  assert.ok(!first.done && first.value.length <= batchPairs, `a run of ${first.done ? 0 : first.value.length} MiB values`);
  // the run held plus the queue, whose last batch may pass the bound
  assert.ok(pulled.count <= perBound + 2 * batchPairs, `pulled ${pulled.count} MiB values`);
  let n = first.done ? 0 : first.value.length;
  for await (const run of runs) n += run.length;
  assert.is(n, pairs.length);
  await cursor.close();
});

test('an engine error reaches the consumer', async () => {
  const cursor = new EngineCursor(source([pair('k1'), pair('k2'), pair('k3')], { count: 0 }, 1, 2));
  try {
    await collect(cursor.take(Buffer.from('k')));
    assert.unreachable('no error');
  } catch (e) {
    assert.is((e as Error).message, 'engine failed');
  }
  await cursor.close();
});

test('closing early ends the engine iteration', async () => {
  let finished = false;
  async function* endless(): AsyncGenerator<EnginePair[]> {
    try {
      for (let i = 0; ; i++) yield [pair(`k${i}`)];
    } finally {
      finished = true;
    }
  }
  const cursor = new EngineCursor(endless());
  await cursor.peek();
  await cursor.close();
  assert.ok(finished);
});

test('the key bucket holds each record under etcd\'s revision key, a tombstone marked t and carrying the key alone, across runs', async () => {
  const records: EnginePair[] = [];
  for (let i = 0; i < 2500; i++) {
    const main = i + 2;
    const tombstone = i % 7 === 3;
    const key = toKey(Buffer.from(`key-${i % 50}`));
    records.push([recordKey(main, i % 3), encodeRecord({ key, value: tombstone ? Buffer.alloc(0) : Buffer.from(`v${i}`), createRevision: tombstone ? 0 : main, modRevision: main, sub: i % 3, version: tombstone ? 0 : 1, lease: 0n, tombstone })]);
  }
  records.push([APPLIED_KEY, encodeApplied({ index: 9, revision: 2501 })]);
  const dir = await mkdtemp(join(tmpdir(), 'lattice-image-keys-'));
  try {
    const path = join(dir, 'image.db');
    const summary: ImageSummary = { revision: 1, compactRevision: -1, appliedIndex: 0, records: 0, leases: 0 };
    const cursor = new EngineCursor(source(records, { count: 0 }, 333));
    await writeBboltFile(path, etcdImageBuckets({ cursor, members: [], clusterVersion: '3.4.0' }, summary));
    assert.is(summary.records, 2500);
    const reader = await BboltReader.open(path);
    try {
      const bucket = await reader.bucket(etcdBuckets.key);
      let i = 0;
      for await (const entry of reader.entries(bucket!)) {
        const revision = decodeRevisionKey(entry.key)!;
        const tombstone = i % 7 === 3;
        assert.equal([revision.main, revision.sub, revision.tombstone], [BigInt(i + 2), BigInt(i % 3), tombstone], `revision key ${i}`);
        const kv = KeyValue.decode(entry.kind === 'value' ? entry.value : new Uint8Array(0));
        assert.is(Buffer.from(kv.key).toString(), `key-${i % 50}`);
        if (tombstone) assert.equal([kv.value.length, kv.modRevision], [0, 0n], `tombstone ${i} carries the key alone`);
        else assert.equal([Buffer.from(kv.value).toString(), kv.modRevision], [`v${i}`, BigInt(i + 2)]);
        i++;
      }
      assert.is(i, 2500);
    } finally {
      await reader.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('lease values round-trip as leasepb.Lease, zero fields left out, IDs as big-endian keys', () => {
  const lease = { id: 0x4d5ea24a76fad001n, ttlSeconds: 600n, remainingTtlSeconds: 0n };
  const bytes = encodeLeaseValue(lease);
  assert.equal(decodeLeaseValue(bytes), lease);
  assert.is(Buffer.from(encodeLeaseValue({ id: 1n, ttlSeconds: 5n, remainingTtlSeconds: 0n })).toString('hex'), '08011005');
  assert.is(Buffer.from(encodeLeaseKey(0x4d5ea24a76fad001n)).toString('hex'), '4d5ea24a76fad001');
  assert.is(decodeLeaseValue(Uint8Array.from([0x0a, 0x01, 0x00])), undefined, 'a length-delimited field is not a lease');
  assert.is(decodeLeaseValue(Uint8Array.from([0x08, 0xff])), undefined, 'a cut varint is not a lease');
});

test('member values are the JSON etcd writes, with the ID as an exact number', () => {
  const m = { id: 0xfc4a1515ff635bfbn, name: 'e1', peerUrls: ['http://127.0.0.1:2380'], clientUrls: ['http://127.0.0.1:2379'], isLearner: false };
  assert.is(Buffer.from(encodeMemberKey(m.id)).toString(), 'fc4a1515ff635bfb');
  assert.is(
    Buffer.from(encodeMemberValue(m)).toString(),
    '{"id":18179366030057626619,"peerURLs":["http://127.0.0.1:2380"],"name":"e1","clientURLs":["http://127.0.0.1:2379"]}',
  );
  assert.is(Buffer.from(encodeMemberValue({ ...m, name: '', clientUrls: [], isLearner: true })).toString(), '{"id":18179366030057626619,"peerURLs":["http://127.0.0.1:2380"],"isLearner":true}');
  assert.is(etcdClusterVersion('3.4.23'), '3.4.0');
});

test('the hand-encoded snapshot message is byte for byte the generated SnapshotResponse encoding', () => {
  const seed = Number(process.env.SNAPSHOT_MESSAGE_SEED ?? 20261206);
  const random = seededRandom(seed);
  const remainders = [0, 1, 127, 128, 16_383, 16_384, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER];
  const lengths = [0, 1, 32, 127, 128, 32 * 1024, 70_000];
  for (let i = 0; i < 300; i++) {
    const remaining = i < remainders.length ? remainders[i]! : Math.floor(random() * 2 ** (1 + Math.floor(random() * 52)));
    const length = i < lengths.length ? lengths[i]! : Math.floor(random() * 40_000);
    const blob = Buffer.alloc(length);
    for (let j = 0; j < length; j += 97) blob[j] = Math.floor(random() * 256);
    const expected = Buffer.from(SnapshotResponse.encode(SnapshotResponse.fromPartial({ remainingBytes: BigInt(remaining), blob })).finish());
    const message = new SnapshotChunkMessage(remaining, blob);
    const actual = Buffer.alloc(message.size + 3, 0xee);
    message.writeTo(actual, 2);
    assert.is(message.size, expected.length, `seed ${seed} case ${i}: size for remaining ${remaining}, blob ${length}`);
    assert.ok(actual.subarray(2, 2 + message.size).equals(expected), `seed ${seed} case ${i}: bytes for remaining ${remaining}, blob ${length}`);
    assert.is(actual[2 + message.size], 0xee, `seed ${seed} case ${i}: wrote past its size`);
  }
});

test.run();
