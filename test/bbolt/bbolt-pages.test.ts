// The bbolt writer's pages and the reader's answers: splits, branch levels, overflow pages,
// empty, inline and nested buckets, the freelist, and round trips through real files.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { BboltReader } from '../../src/bbolt/bbolt-reader.js';
import { writeBbolt, type WriteEntry } from '../../src/bbolt/bbolt-writer.js';
import { writeBboltFile } from '../../src/bbolt/bbolt-file.js';
import { BboltWriteError } from '../../src/bbolt/bbolt-errors.js';
import { checkMetaPage, encodeMetaPage, fnv64a } from '../../src/bbolt/meta-page.js';
import { MemoryPageSink } from '../../src/bbolt/page-sink.js';
import { decodeRevisionKey, decodeRevisionKeyNumbers, encodeRevisionKey } from '../../src/bbolt/etcd-layout.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import {
  bucket,
  bytes,
  dumpHash,
  fileWith,
  numberedValues,
  pageCensus,
  randomBytes,
  readerDump,
  seededRandom,
  value,
} from './bbolt-fixtures.js';

const test = suite('bbolt: pages, writer and reader');
let dir = '';
test.before(() => {
  dir = makeTempDir('bbolt-pages');
});
test.after(() => removeTempDir(dir));

async function writeToMemory(topLevel: Iterable<WriteEntry> | AsyncIterable<WriteEntry>, inlineBuckets = true): Promise<Uint8Array> {
  const sink = new MemoryPageSink();
  await writeBbolt(topLevel, sink, { inlineBuckets });
  return sink.bytes();
}

let fileCount = 0;
async function open(file: Uint8Array): Promise<BboltReader> {
  return BboltReader.open(fileWith(dir, `f${fileCount++}.db`, file));
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const text = (data: Uint8Array): string => Buffer.from(data).toString('utf8');

test('FNV-64a matches the published test vectors bbolt relies on', () => {
  assert.is(fnv64a(new Uint8Array(0)), 0xcbf29ce484222325n);
  assert.is(fnv64a(bytes('a')), 0xaf63dc4c8601ec8cn);
  assert.is(fnv64a(bytes('foobar')), 0x85944171f73967e8n);
});

test('meta pages: both valid, page 0 has the higher txid, the file is exactly its high-water mark of pages', async () => {
  const file = await writeToMemory([bucket('b', [value('k', 'v')])]);
  const meta0 = checkMetaPage(file.subarray(0, 4096));
  const meta1 = checkMetaPage(file.subarray(4096, 8192));
  assert.is(meta0.kind, 'valid');
  assert.is(meta1.kind, 'valid');
  if (meta0.kind !== 'valid' || meta1.kind !== 'valid') return;
  assert.is(meta0.meta.txid, 2n);
  assert.is(meta1.meta.txid, 1n);
  assert.is(meta0.meta.pageSize, 4096);
  assert.is(meta0.meta.freelistPgid, 2);
  assert.is(file.length, meta0.meta.highWaterPgid * 4096);
  const reader = await open(file);
  assert.equal(await reader.freePageIds(), []);
  await reader.close();
});

test('a freelist of 0xFFFF or more ids keeps its length in the first slot, as bbolt writes it', async () => {
  const base = await writeToMemory([]);
  const check = checkMetaPage(base.subarray(0, 4096));
  if (check.kind !== 'valid') throw new Error('meta 0 invalid');
  const freeCount = 70_000;
  const freelistPages = Math.ceil((16 + 8 * (freeCount + 1)) / 4096);
  const freelistPgid = check.meta.highWaterPgid;
  const file = new Uint8Array(base.length + freelistPages * 4096);
  file.set(base);
  const page = Buffer.from(file.buffer, base.length, freelistPages * 4096);
  page.writeBigUInt64LE(BigInt(freelistPgid), 0);
  page.writeUInt16LE(0x10, 8);
  page.writeUInt16LE(0xffff, 10);
  page.writeUInt32LE(freelistPages - 1, 12);
  page.writeBigUInt64LE(BigInt(freeCount), 16);
  for (let i = 0; i < freeCount; i++) page.writeBigUInt64LE(BigInt(100_000 + i), 24 + 8 * i);
  const meta = { ...check.meta, freelistPgid, highWaterPgid: freelistPgid + freelistPages };
  file.set(encodeMetaPage(meta, 0), 0);
  file.set(encodeMetaPage({ ...meta, txid: 1n }, 1), 4096);
  const reader = await open(file);
  const free = await reader.freePageIds();
  assert.is(free.length, freeCount);
  assert.is(free[0], 100_000);
  assert.is(free.at(-1), 100_000 + freeCount - 1);
  await reader.close();
});

test('an empty database has a root leaf and no buckets', async () => {
  const file = await writeToMemory([]);
  const census = pageCensus(file);
  assert.is(census.highWaterPgid, 4);
  const reader = await open(file);
  assert.equal(await collect(reader.entries(reader.root)), []);
  await reader.close();
});

test('many keys split across many leaves and three or more branch levels, every page reached exactly once', async () => {
  // 1000-byte keys leave room for three per leaf and four per branch page: a deep tree from few keys.
  const longKey = (i: number) => `${String(i).padStart(6, '0')}${'x'.repeat(994)}`;
  const entries = Array.from({ length: 2000 }, (_, i) => value(longKey(i), `v${i}`));
  const file = await writeToMemory([bucket('deep', entries)]);
  const census = pageCensus(file);
  const depths = [...census.depths.values()];
  assert.ok(Math.max(...depths) >= 5, `depths ${depths}`);
  for (let pgid = 0; pgid < census.highWaterPgid; pgid++) assert.ok(census.reached.has(pgid), `page ${pgid} unreached`);

  const reader = await open(file);
  const deep = await reader.bucket(bytes('deep'));
  assert.ok(deep);
  const read = await collect(reader.entries(deep!));
  assert.is(read.length, 2000);
  assert.equal(read.map((e) => text(e.key)), entries.map((e) => text(e.key)));
  const hit = await reader.get(deep!, bytes(longKey(1234)));
  assert.is(hit?.kind === 'value' ? text(hit.value) : null, 'v1234');
  assert.is(await reader.get(deep!, bytes(longKey(1234) + 'y')), undefined);
  assert.is(await reader.get(deep!, bytes('0')), undefined);
  await reader.close();
});

test('keys of the maximum size still narrow to one root: every page holds at least two items', async () => {
  const key = (i: number) => `${String(i).padStart(3, '0')}${'k'.repeat(32765)}`;
  const file = await writeToMemory([bucket('long', Array.from({ length: 100 }, (_, i) => value(key(i), `v${i}`)))]);
  const census = pageCensus(file);
  assert.ok(Math.max(...census.depths.values()) <= 8, `depths ${[...census.depths.values()]}`);
  const reader = await open(file);
  const long = (await reader.bucket(bytes('long')))!;
  assert.is((await collect(reader.entries(long))).length, 100);
  const hit = await reader.get(long, bytes(key(77)));
  assert.is(hit?.kind === 'value' ? text(hit.value) : null, 'v77');
  await reader.close();
});

test('values larger than a page get overflow pages and read back whole', async () => {
  const random = seededRandom(7);
  const sizes = [4000, 4064, 4065, 10_000, 300_000, 2_000_000];
  const values = sizes.map((size) => randomBytes(random, size));
  const entries = values.flatMap((data, i) => [value(`big${i}`, data), value(`big${i}-small`, 'tiny')]);
  const file = await writeToMemory([bucket('large', entries)]);
  const census = pageCensus(file);
  assert.ok(census.overflowPages >= Math.floor(2_300_000 / 4096), `overflow pages ${census.overflowPages}`);
  const reader = await open(file);
  const large = (await reader.bucket(bytes('large')))!;
  for (const [i, data] of values.entries()) {
    const hit = await reader.get(large, bytes(`big${i}`));
    assert.ok(hit?.kind === 'value' && Buffer.from(hit.value).equals(data), `big${i} (${data.length} bytes)`);
  }
  assert.is((await collect(reader.entries(large))).length, 12);
  await reader.close();
});

test('small and empty buckets are inline as bbolt makes them; with inlining off each gets its own leaf', async () => {
  const content = () => [bucket('empty', []), bucket('small', [value('a', '1'), value('b', '2')], 5n)];
  const inline = pageCensus(await writeToMemory(content()));
  assert.is(inline.inlineBuckets, 2);
  assert.is(inline.highWaterPgid, 4); // meta, meta, freelist, root leaf

  const paged = await writeToMemory(content(), false);
  assert.is(pageCensus(paged).inlineBuckets, 0);
  assert.is(pageCensus(paged).highWaterPgid, 6);

  for (const file of [await writeToMemory(content()), paged]) {
    const reader = await open(file);
    const empty = (await reader.bucket(bytes('empty')))!;
    assert.equal(await collect(reader.entries(empty)), []);
    const small = (await reader.bucket(bytes('small')))!;
    assert.is(small.sequence, 5n);
    assert.equal((await collect(reader.entries(small))).map((e) => text(e.key)), ['a', 'b']);
    await reader.close();
  }
});

test('a bucket just over a quarter page is not inlined (bbolt\'s threshold)', async () => {
  // 16 (page header) + 16 (element) + 1 + 991 = 1024: inline; one byte more: its own page.
  const at = pageCensus(await writeToMemory([bucket('b', [value('k', new Uint8Array(991))])]));
  const over = pageCensus(await writeToMemory([bucket('b', [value('k', new Uint8Array(992))])]));
  assert.is(at.inlineBuckets, 1);
  assert.is(over.inlineBuckets, 0);
});

test('nested buckets three deep, values beside buckets, sequences kept', async () => {
  const file = await writeToMemory([
    bucket('outer', [
      value('a-value', 'first'),
      bucket('b-child', [bucket('grandchild', [value('x', 'deep')], 9n), value('y', 'beside')], 3n),
      bucket('c-big', numberedValues(3000, (i) => bytes(`value-${i}`))),
      value('d-value', 'last'),
    ]),
  ]);
  const census = pageCensus(file);
  assert.ok(census.depths.size >= 3, 'root, outer and c-big have pages');
  const lines = await readerDump(fileWith(dir, 'nested.db', file));
  const shape = lines.filter((line) => line.startsWith('bucket') || !line.includes(Buffer.from('c-big').toString('hex')));
  const h = (s: string) => Buffer.from(s).toString('hex');
  assert.equal(shape.slice(0, 6).map((line) => line.split(' ').slice(0, 3).join(' ')), [
    `bucket ${h('outer')} seq=0`,
    `value ${h('outer')} ${h('a-value')}`,
    `bucket ${h('outer')}/${h('b-child')} seq=3`,
    `bucket ${h('outer')}/${h('b-child')}/${h('grandchild')} seq=9`,
    `value ${h('outer')}/${h('b-child')}/${h('grandchild')} ${h('x')}`,
    `value ${h('outer')}/${h('b-child')} ${h('y')}`,
  ]);
  assert.is(lines.length, 3000 + 8);
});

test('round trip: 100k keys streamed in, the same 100k keys out in order, in several buckets', async () => {
  const random = seededRandom(100);
  const valueOf = (i: number) => randomBytes(seededRandom(i), 20 + (i % 50));
  const path = join(dir, 'round-trip.db');
  const summary = await writeBboltFile(path, [
    bucket('alpha', numberedValues(60_000, valueOf)),
    bucket('beta', numberedValues(40_000, (i) => valueOf(i + 1_000_000), 'b')),
  ]);
  assert.ok(summary.pageCount > 1000);
  const reader = await BboltReader.open(path);
  let count = 0;
  for (const [name, expected, prefix, offset] of [['alpha', 60_000, 'key', 0], ['beta', 40_000, 'b', 1_000_000]] as const) {
    let i = 0;
    for await (const entry of reader.entries((await reader.bucket(bytes(name)))!)) {
      if (entry.kind !== 'value') throw new Error('expected values');
      if (text(entry.key) !== `${prefix}${String(i).padStart(6, '0')}` || !Buffer.from(entry.value).equals(valueOf(i + offset))) {
        throw new Error(`${name}: entry ${i} differs`);
      }
      i++;
    }
    assert.is(i, expected);
    count += i;
  }
  assert.is(count, 100_000);
  // Lookups descend the branches to the right leaf.
  const alpha = (await reader.bucket(bytes('alpha')))!;
  for (const i of [0, 1, 29_999, 59_999, Math.floor(random() * 60_000)]) {
    const hit = await reader.get(alpha, bytes(`key${String(i).padStart(6, '0')}`));
    assert.ok(hit?.kind === 'value' && Buffer.from(hit.value).equals(valueOf(i)), `key ${i}`);
  }
  await reader.close();
});

test('the writer refuses unsorted or duplicate keys, empty and oversized keys, and values at the root', async () => {
  const kindOf = async (topLevel: WriteEntry[]): Promise<string> => {
    try {
      await writeToMemory(topLevel);
      return 'written';
    } catch (err) {
      return err instanceof BboltWriteError ? err.kind : `other: ${String(err)}`;
    }
  };
  assert.is(await kindOf([bucket('b', [value('b', '1'), value('a', '2')])]), 'keys-not-sorted');
  assert.is(await kindOf([bucket('b', [value('a', '1'), value('a', '2')])]), 'keys-not-sorted');
  assert.is(await kindOf([bucket('z', []), bucket('a', [])]), 'keys-not-sorted');
  assert.is(await kindOf([bucket('b', [value('', '1')])]), 'empty-key');
  assert.is(await kindOf([bucket('b', [value(new Uint8Array(32769), '1')])]), 'key-too-large');
  assert.is(await kindOf([value('k', 'v')]), 'value-at-root');
  assert.is(await kindOf([bucket('b', [value(new Uint8Array(32768).fill(1), '1')])]), 'written');
});

test('a bucket handed over in runs (arrays) is written byte for byte as the same entries one by one, also read back in runs', async () => {
  const random = seededRandom(1206);
  const entries = Array.from({ length: 3000 }, (_, i) => value(`k${String(i).padStart(6, '0')}`, randomBytes(random, Math.floor(random() * 600))));
  // Runs of uneven lengths, with a sub-bucket and a large value (overflow pages) among them.
  entries.splice(1500, 0, bucket('k001499-sub', [value('a', '1')]));
  entries.push(value('z-large', randomBytes(random, 20_000)));
  async function* asRuns(): AsyncGenerator<WriteEntry | WriteEntry[]> {
    for (let at = 0; at < entries.length; ) {
      const length = 1 + Math.floor(random() * 700);
      yield entries.slice(at, at + length);
      at += length;
    }
  }
  async function* oneByOne(): AsyncGenerator<WriteEntry> {
    yield* entries;
  }
  const fromRuns = await writeToMemory([bucket('b', asRuns())]);
  const fromEntries = await writeToMemory([bucket('b', oneByOne())]);
  assert.ok(Buffer.from(fromRuns).equals(Buffer.from(fromEntries)));
  const reader = await open(fromRuns);
  const b = (await reader.bucket(bytes('b')))!;
  const keys: string[] = [];
  for await (const run of reader.entryRuns(b)) for (const entry of run) keys.push(text(entry.key));
  assert.equal(keys, entries.map((e) => text(e.key)));
  await reader.close();
});

test('a revision key decodes in numbers as in bigints; a shape of another key, a number past 2^53 - 1 or a negative one is undefined', () => {
  for (const key of [
    { main: 0n, sub: 0n, tombstone: false },
    { main: 42n, sub: 3n, tombstone: true },
    { main: 2n ** 53n - 1n, sub: 7n, tombstone: false },
  ]) {
    const bytes = encodeRevisionKey(key);
    assert.equal(decodeRevisionKey(bytes), key);
    assert.equal(decodeRevisionKeyNumbers(bytes), { main: Number(key.main), sub: Number(key.sub), tombstone: key.tombstone });
  }
  assert.is(decodeRevisionKeyNumbers(encodeRevisionKey({ main: 2n ** 53n, sub: 0n, tombstone: false })), undefined);
  assert.is(decodeRevisionKeyNumbers(encodeRevisionKey({ main: 1n, sub: 2n ** 64n - 1n, tombstone: false })), undefined, 'sub -1 as etcd int64');
  const marked = encodeRevisionKey({ main: 1n, sub: 0n, tombstone: true });
  marked[17] = 0x78;
  assert.is(decodeRevisionKeyNumbers(marked), undefined, 'an 18th byte other than t');
  assert.is(decodeRevisionKeyNumbers(new Uint8Array(16)), undefined);
});

test.run();
