// Damaged files are refused with a typed error naming what is wrong, never read past or looped on.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BboltReader, type ReadEntry } from '../../src/bbolt/bbolt-reader.js';
import { BboltFormatError } from '../../src/bbolt/bbolt-errors.js';
import { writeBbolt } from '../../src/bbolt/bbolt-writer.js';
import { checkMetaPage, encodeMetaPage } from '../../src/bbolt/meta-page.js';
import { MemoryPageSink } from '../../src/bbolt/page-sink.js';
import { PageVisits } from '../../src/bbolt/page-visits.js';
import { decodeTreePage } from '../../src/bbolt/page-elements.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import { bucket, bytes, fileWith, numberedValues, randomBytes, seededRandom } from './bbolt-fixtures.js';

const test = suite('bbolt: damaged files');
const pageBytes = 4096;
let dir = '';
let pristine: Uint8Array = new Uint8Array(0);
/** Root page of bucket "b": a branch over several leaves. */
let branchPgid = 0;

test.before(async () => {
  dir = makeTempDir('bbolt-damage');
  const sink = new MemoryPageSink();
  await writeBbolt([bucket('b', numberedValues(2000, (i) => bytes(`value ${i}`)))], sink);
  pristine = sink.bytes();
  const reader = await open(pristine);
  branchPgid = (await reader.bucket(bytes('b')))!.rootPgid;
  await reader.close();
  assert.is(decodeTreePage(pageOf(pristine, branchPgid), branchPgid).kind, 'branch');
});
test.after(() => removeTempDir(dir));

let fileCount = 0;
function open(file: Uint8Array): Promise<BboltReader> {
  return BboltReader.open(fileWith(dir, `damaged-${fileCount++}.db`, file));
}

function flipByte(file: Uint8Array, offset: number): void {
  file[offset] = (file[offset] ?? 0) ^ 0x01;
}

const pageOf = (file: Uint8Array, pgid: number) => file.subarray(pgid * pageBytes, (pgid + 1) * pageBytes);

/** Sets branch element `index` of the "b" root to point at `target`. */
function pointBranchAt(file: Uint8Array, index: number, target: number): Uint8Array {
  const copy = Uint8Array.from(file);
  Buffer.from(copy.buffer).writeBigUInt64LE(BigInt(target), branchPgid * pageBytes + 16 + index * 16 + 8);
  return copy;
}

/** The error kind from opening and walking bucket "b" (or 'read' when it reads whole). */
async function failureOf(file: Uint8Array, withVisits = false): Promise<string> {
  let reader: BboltReader | undefined;
  try {
    reader = await open(file);
    const visits = withVisits ? new PageVisits(reader.meta.highWaterPgid) : undefined;
    const b = await reader.bucket(bytes('b'));
    if (!b) return 'no bucket b';
    let count = 0;
    for await (const _ of reader.entries(b, visits) as AsyncIterable<ReadEntry>) count++;
    return count === 2000 ? 'read' : `read ${count} entries`;
  } catch (err) {
    return err instanceof BboltFormatError ? err.kind : `other: ${String(err)}`;
  } finally {
    await reader?.close();
  }
}

test('the undamaged file reads whole (the baseline for every case below)', async () => {
  assert.is(await failureOf(pristine, true), 'read');
});

test('an empty file, a short file and random bytes are not bbolt files', async () => {
  assert.is(await failureOf(new Uint8Array(0)), 'not-bbolt');
  assert.is(await failureOf(new Uint8Array(100)), 'not-bbolt');
  assert.is(await failureOf(randomBytes(seededRandom(3), 4 * pageBytes)), 'not-bbolt');
});

test('both meta checksums wrong: bad-checksum; only meta 0 wrong: meta 1 is used, as bbolt does', async () => {
  const both = Uint8Array.from(pristine);
  flipByte(both, 16 + 48); // meta 0's txid
  flipByte(both, pageBytes + 16 + 48);
  assert.is(await failureOf(both), 'bad-checksum');

  const first = Uint8Array.from(pristine);
  flipByte(first, 16 + 48);
  const reader = await open(first);
  assert.is(reader.meta.txid, 1n);
  await reader.close();
  assert.is(await failureOf(first, true), 'read');
});

test('another bbolt format version is refused as a version mismatch', async () => {
  const file = Uint8Array.from(pristine);
  file[16 + 4] = 1;
  file[pageBytes + 16 + 4] = 1;
  assert.is(await failureOf(file), 'version-mismatch');
});

test('a page id past the high-water mark is out of range, in a branch or in the meta', async () => {
  const hwm = pristine.length / pageBytes;
  assert.is(await failureOf(pointBranchAt(pristine, 1, hwm + 5)), 'page-out-of-range');
  const check = checkMetaPage(pageOf(pristine, 0));
  if (check.kind !== 'valid') throw new Error('meta 0 invalid');
  const badRoot = Uint8Array.from(pristine);
  badRoot.set(encodeMetaPage({ ...check.meta, rootPgid: hwm }, 0), 0);
  badRoot.set(encodeMetaPage({ ...check.meta, rootPgid: hwm, txid: 1n }, 1), pageBytes);
  assert.is(await failureOf(badRoot), 'page-out-of-range');
});

test('a file cut short is truncated', async () => {
  assert.is(await failureOf(pristine.subarray(0, pristine.length / 2)), 'truncated');
});

test('a branch pointing at itself is a cycle', async () => {
  assert.is(await failureOf(pointBranchAt(pristine, 1, branchPgid)), 'cycle');
});

test('a leaf reached twice: page-shared with a page walk, out-of-order keys without one', async () => {
  const leaf = decodeTreePage(pageOf(pristine, branchPgid), branchPgid);
  if (leaf.kind !== 'branch') throw new Error('expected a branch');
  const twice = pointBranchAt(pristine, 1, leaf.elements[0]!.pgid);
  assert.is(await failureOf(twice, true), 'page-shared');
  assert.is(await failureOf(twice, false), 'unsorted-keys');
});

test('a branch pointing at a meta or the freelist page, or an element running past its page, is a bad page', async () => {
  assert.is(await failureOf(pointBranchAt(pristine, 1, 2)), 'bad-page');
  assert.is(await failureOf(pointBranchAt(pristine, 1, 0)), 'bad-page');
  const leaf = decodeTreePage(pageOf(pristine, branchPgid), branchPgid);
  if (leaf.kind !== 'branch') throw new Error('expected a branch');
  const overrun = Uint8Array.from(pristine);
  // First element of a leaf: its pos field now points past the page end.
  Buffer.from(overrun.buffer).writeUInt32LE(pageBytes, leaf.elements[0]!.pgid * pageBytes + 16 + 4);
  assert.is(await failureOf(overrun), 'bad-page');
});

test('etcd\'s sha256 trailer after the pages does not disturb reading', async () => {
  const withTrailer = new Uint8Array(pristine.length + 32);
  withTrailer.set(pristine);
  withTrailer.fill(0xab, pristine.length);
  assert.is(await failureOf(withTrailer, true), 'read');
});

test.run();
