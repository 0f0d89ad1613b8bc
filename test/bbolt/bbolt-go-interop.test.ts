// Real bbolt (go.etcd.io/bbolt, through test/interop/go/bboltcheck) judges the files our writer
// makes (its consistency check, then a canonical dump compared with our reader's), and writes
// files with every page shape it produces for our reader to read.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { BboltReader } from '../../src/bbolt/bbolt-reader.js';
import { writeBboltFile } from '../../src/bbolt/bbolt-file.js';
import type { WriteEntry } from '../../src/bbolt/bbolt-writer.js';
import { copyEntries } from '../../src/bbolt/copy-entries.js';
import { buildGoProgram } from '../helpers/go-build.js';
import { runCommand } from '../helpers/processes.js';
import { withTimeout } from '../helpers/spec.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import { needingTools } from '../helpers/spec.js';
import { bucket, bytes, dumpHash, numberedValues, randomBytes, readerDump, seededRandom, value } from './bbolt-fixtures.js';

const test = suite('bbolt: against real bbolt');
const it = needingTools(test, ['go'], (name: string, body: () => Promise<void>) => test(name, () => withTimeout(body(), testTimeoutMs, name)));
const testTimeoutMs = 240_000;
const goRunTimeoutMs = 120_000;

let dir = '';
test.before(() => {
  dir = makeTempDir('bbolt-go');
});
test.after(() => removeTempDir(dir));

async function bboltcheck(...args: string[]): Promise<string> {
  const binary = await buildGoProgram('bboltcheck');
  const result = await runCommand(binary, args, { timeoutMs: goRunTimeoutMs });
  if (result.code !== 0) throw new Error(`bboltcheck ${args.join(' ')} failed (${result.code}):\n${result.stderr.slice(0, 4000)}`);
  return result.stdout;
}

const goDumpLines = async (path: string): Promise<string[]> => (await bboltcheck('dump', path)).split('\n').filter((line) => line !== '');

interface GoStats {
  buckets: Record<string, { depth: number; leafPages: number; branchPages: number; leafOverflow: number; branchOverflow: number; keys: number; inlineBuckets: number }>;
  pageSize: number;
}

/** A random tree: sorted distinct random keys, values up to 200 KB now and then, buckets nested up to depth 3. */
function randomBuckets(random: () => number, depth: number, count: number): WriteEntry[] {
  const keys = new Map<string, Uint8Array>();
  while (keys.size < count) {
    const key = randomBytes(random, 1 + Math.floor(random() * 40));
    keys.set(Buffer.from(key).toString('hex'), key);
  }
  const sorted = [...keys.values()].sort((a, b) => Buffer.compare(a, b));
  return sorted.map((key): WriteEntry => {
    const roll = random();
    if (depth === 0 || (depth < 3 && roll < 0.02)) {
      const size = random() < 0.3 ? 0 : Math.floor(random() ** 3 * 400);
      return { kind: 'bucket', key, entries: randomBuckets(random, depth + 1, size), sequence: BigInt(Math.floor(random() * 100)) };
    }
    const length = roll > 0.995 ? Math.floor(random() * 200_000) : Math.floor(random() * 120);
    return { kind: 'value', key, value: randomBytes(random, length) };
  });
}

it('a file with deep trees, overflow pages, inline, empty and nested buckets passes bbolt\'s check and dumps the same', async () => {
  const path = join(dir, 'mixed.db');
  const random = seededRandom(11);
  await writeBboltFile(path, [
    bucket('deep', Array.from({ length: 1500 }, (_, i) => value(`${String(i).padStart(5, '0')}${'k'.repeat(900)}`, `v${i}`))),
    bucket('empty', []),
    bucket('large', [4000, 4096, 9000, 100_000, 1_500_000].map((size, i) => value(`big${i}`, randomBytes(random, size)))),
    // Keys of bbolt's maximum size: branch pages need overflow pages too.
    bucket('long-keys', Array.from({ length: 40 }, (_, i) => value(`${String(i).padStart(2, '0')}${'q'.repeat(32766)}`, `v${i}`))),
    bucket('nested', [
      bucket('child', [bucket('grandchild', [value('x', 'y')], 42n), value('z', 'after')], 7n),
      bucket('paged-child', numberedValues(2000, (i) => bytes(`value ${i}`))),
      value('plain', 'value'),
    ]),
    bucket('small', [value('a', '1')], 3n),
  ]);
  assert.equal(await readerDump(path), await goDumpLines(path));
  const stats = JSON.parse(await bboltcheck('stats', path)) as GoStats;
  assert.ok(stats.buckets.deep!.depth >= 4, `deep: depth ${stats.buckets.deep!.depth}`);
  assert.ok(stats.buckets.large!.leafOverflow > 300, `large: ${stats.buckets.large!.leafOverflow} overflow pages`);
  assert.ok(stats.buckets['long-keys']!.branchOverflow > 0, 'branch pages with overflow');
  assert.is(stats.buckets.empty!.inlineBuckets, 1);
  assert.is(stats.buckets.small!.inlineBuckets, 1);
  // bbolt counts bucket keys too: child, paged-child, plain; grandchild, z; x; and 2000 values.
  assert.is(stats.buckets.nested!.keys, 3 + 2 + 1 + 2000);
});

it('100k keys written by our writer: bbolt\'s check passes and its dump hash equals our reader\'s', async () => {
  const path = join(dir, 'hundred-k.db');
  const valueOf = (i: number) => randomBytes(seededRandom(i), i % 97);
  await writeBboltFile(path, [bucket('key', numberedValues(100_000, valueOf)), bucket('meta', [value('consistent_index', new Uint8Array(8))])]);
  const ours = dumpHash(await readerDump(path));
  assert.is((await bboltcheck('dump', '--hash', path)).trim(), ours);
  assert.ok(ours.startsWith('lines=100003 '), ours);
});

for (const seed of [1, 2, 3]) {
  it(`random buckets and keys (seed ${seed}): bbolt's check passes and the dumps agree, inline buckets on and off`, async () => {
    for (const inlineBuckets of [true, false]) {
      const path = join(dir, `random-${seed}-${inlineBuckets}.db`);
      await writeBboltFile(path, randomBuckets(seededRandom(seed), 0, 6), { inlineBuckets });
      assert.equal(await readerDump(path), await goDumpLines(path), `inline ${inlineBuckets}`);
    }
  });
}

it('page sizes other than 4096 are read by bbolt from the first meta page', async () => {
  for (const pageBytes of [8192, 16384]) {
    const path = join(dir, `page-${pageBytes}.db`);
    await writeBboltFile(path, randomBuckets(seededRandom(pageBytes), 0, 3), { pageBytes });
    assert.equal(await readerDump(path), await goDumpLines(path));
    const stats = JSON.parse(await bboltcheck('stats', path)) as GoStats;
    assert.is(stats.pageSize, pageBytes);
  }
});

for (const seed of [1, 2]) {
  it(`a file written by real bbolt (seed ${seed}: inline, empty, nested, large values, freed pages) reads the same with our reader`, async () => {
    const path = join(dir, `go-${seed}.db`);
    await bboltcheck('write', path, String(seed));
    assert.equal(await readerDump(path), await goDumpLines(path));
    const reader = await BboltReader.open(path);
    try {
      const small = await reader.bucket(bytes('small'));
      assert.ok(small !== undefined && small.inlinePage !== null, 'bbolt stored bucket "small" inline');
      assert.is(small!.sequence, 1n);
      const empty = await reader.bucket(bytes('empty'));
      assert.ok(empty !== undefined && empty.inlinePage !== null, 'bbolt stored bucket "empty" inline');
      const inner = await reader.bucket(bytes('nested'), bytes('child3'), bytes('inner'));
      assert.is(inner?.sequence, 1003n);
      const x = inner === undefined ? undefined : await reader.get(inner, bytes('x'));
      assert.is(x?.kind === 'value' ? Buffer.from(x.value).toString() : null, 'depth3-3');
      const free = await reader.freePageIds();
      assert.ok(free.length > 0, 'the deletes left free pages');
      assert.ok(free.every((id) => id > 1 && id < reader.meta.highWaterPgid));
      // Rewritten by our writer (freed pages dropped), real bbolt sees the same content.
      const copy = join(dir, `go-${seed}-copy.db`);
      await writeBboltFile(copy, copyEntries(reader, reader.root));
      assert.equal(await goDumpLines(copy), await goDumpLines(path));
    } finally {
      await reader.close();
    }
  });
}

test.run();
