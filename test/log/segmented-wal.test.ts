// The revision log's segmented WAL: numbering, segments, trimming and recovery from a crash mid-write.
import { appendFile, mkdtemp, readFile, readdir, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openSegmentedWal, type SegmentedWal, type WalEntry } from '../../src/log/segmented-wal.js';
import { nodeFileSystem } from '../../src/storage/file-system.js';
import { withTimeout } from '../engines/engine-suite.js';
import { execFileSync } from 'node:child_process';
import { repoPath } from '../helpers/paths.js';

const testTimeoutMs = 15_000;

interface Context {
  dir: string;
  wals: SegmentedWal[];
}

const test = suite<Context>('log: segmented WAL', { dir: '', wals: [] });
test.before.each(async (ctx) => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'lattice-wal-'));
  ctx.wals = [];
});
test.after.each(async (ctx) => {
  for (const wal of ctx.wals) await wal.close().catch(() => undefined);
  await rm(ctx.dir, { recursive: true, force: true });
});
const it = (name: string, fn: (ctx: Context) => Promise<void>): void => test(name, withTimeout(testTimeoutMs, fn));

async function openIn(ctx: Context, maxSegmentBytes?: number): Promise<SegmentedWal> {
  const wal = await openSegmentedWal(ctx.dir, maxSegmentBytes === undefined ? {} : { maxSegmentBytes });
  ctx.wals.push(wal);
  return wal;
}

const entry = (index: number): WalEntry => ({ index, bytes: Buffer.from(`entry-${index}-${'x'.repeat(index % 13)}`) });
const entries = (from: number, to: number): WalEntry[] => Array.from({ length: to - from + 1 }, (_, i) => entry(from + i));

async function readAll(wal: SegmentedWal, from: number): Promise<Array<[number, string]>> {
  const out: Array<[number, string]> = [];
  for await (const e of wal.readFrom(from)) out.push([e.index, e.bytes.toString()]);
  return out;
}
const expected = (from: number, to: number): Array<[number, string]> => entries(from, to).map((e) => [e.index, e.bytes.toString()]);

const segmentFiles = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => n.endsWith('.wal')).sort();

/** Appends entries 1..count in batches of batch, synced. */
async function fill(wal: SegmentedWal, count: number, batch: number): Promise<void> {
  for (let i = 1; i <= count; i += batch) await wal.append(entries(i, Math.min(i + batch - 1, count)), true);
}

async function rejects(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.match(String(e), pattern);
    return;
  }
  assert.unreachable(`expected a rejection matching ${pattern}`);
}

it('an empty WAL has first and last index 0 and reads nothing', async (ctx) => {
  const wal = await openIn(ctx);
  assert.equal([wal.firstIndex, wal.lastIndex], [0, 0]);
  assert.equal(await readAll(wal, 1), []);
});

it('appended entries read back in order and survive a reopen, which continues their numbering', async (ctx) => {
  let wal = await openIn(ctx);
  await wal.append(entries(1, 3), true);
  await wal.append(entries(4, 10), false);
  assert.equal([wal.firstIndex, wal.lastIndex], [1, 10]);
  assert.equal(await readAll(wal, 1), expected(1, 10));
  await wal.close();
  wal = await openIn(ctx);
  assert.equal([wal.firstIndex, wal.lastIndex], [1, 10]);
  await wal.append(entries(11, 12), true);
  assert.equal(await readAll(wal, 1), expected(1, 12));
});

it('an append that skips or repeats an index is refused and changes nothing', async (ctx) => {
  const wal = await openIn(ctx);
  await wal.append(entries(1, 2), true);
  await rejects(wal.append([entry(4)], true), /index 4 where 3 was expected/);
  await rejects(wal.append([entry(2)], true), /index 2 where 3 was expected/);
  await rejects(wal.append([entry(3), entry(5)], true), /index 5 where 4 was expected/);
  await wal.append([entry(3)], true);
  assert.equal(await readAll(wal, 1), expected(1, 3));
});

it('appends made without waiting are written in call order', async (ctx) => {
  const wal = await openIn(ctx, 512);
  await Promise.all(Array.from({ length: 50 }, (_, i) => wal.append(entries(i * 4 + 1, i * 4 + 4), i % 3 === 0)));
  assert.is(wal.lastIndex, 200);
  assert.equal(await readAll(wal, 1), expected(1, 200));
});

it('a full segment rolls to a new file named by its first index', async (ctx) => {
  let wal = await openIn(ctx, 256);
  await fill(wal, 100, 5);
  const files = await segmentFiles(ctx.dir);
  assert.ok(files.length > 3, `expected several segments, got ${files.join(', ')}`);
  assert.is(files[0], '0000000000000001.wal');
  for (const name of files) assert.ok((await stat(join(ctx.dir, name))).size <= 256, `${name} is larger than the bound`);
  assert.equal(await readAll(wal, 1), expected(1, 100));
  await wal.close();
  wal = await openIn(ctx, 256);
  assert.equal([wal.firstIndex, wal.lastIndex], [1, 100]);
  assert.equal(await readAll(wal, 1), expected(1, 100));
});

it('a batch larger than a segment is written whole into one segment', async (ctx) => {
  const wal = await openIn(ctx, 64);
  await wal.append(entries(1, 20), true);
  await wal.append(entries(21, 40), true);
  assert.equal(await segmentFiles(ctx.dir), ['0000000000000001.wal', '0000000000000015.wal']);
  assert.equal(await readAll(wal, 1), expected(1, 40));
});

it('readFrom an index in the middle of a segment starts at that entry', async (ctx) => {
  const wal = await openIn(ctx, 300);
  await fill(wal, 60, 7);
  for (const from of [1, 2, 17, 33, 59, 60]) assert.equal(await readAll(wal, from), expected(from, 60), `readFrom(${from})`);
  assert.equal(await readAll(wal, 61), []);
});

it('truncateBefore deletes only whole segments below the index and moves firstIndex', async (ctx) => {
  let wal = await openIn(ctx, 256);
  await fill(wal, 100, 5);
  const before = await segmentFiles(ctx.dir);
  await wal.truncateBefore(1);
  assert.equal(await segmentFiles(ctx.dir), before);
  await wal.truncateBefore(50);
  const after = await segmentFiles(ctx.dir);
  assert.ok(after.length < before.length, 'some segments went');
  const first = wal.firstIndex;
  assert.ok(first > 1 && first <= 50, `firstIndex ${first}`);
  assert.is(after[0], `${first.toString(16).padStart(16, '0')}.wal`);
  assert.equal(await readAll(wal, 1), expected(first, 100));
  await wal.close();
  wal = await openIn(ctx, 256);
  assert.equal([wal.firstIndex, wal.lastIndex], [first, 100]);
});

it('truncateBefore never deletes the segment being appended to', async (ctx) => {
  const wal = await openIn(ctx, 256);
  await fill(wal, 100, 5);
  await wal.truncateBefore(1_000);
  const files = await segmentFiles(ctx.dir);
  assert.is(files.length, 1);
  assert.is(wal.lastIndex, 100);
  await wal.append([entry(101)], true);
  assert.equal(await readAll(wal, 1), expected(wal.firstIndex, 101));
});

it('garbage after the last record of the last segment is cut off at open', async (ctx) => {
  let wal = await openIn(ctx, 256);
  await fill(wal, 30, 3);
  await wal.close();
  const last = join(ctx.dir, (await segmentFiles(ctx.dir)).at(-1)!);
  const intact = (await stat(last)).size;
  const tornHeader = Buffer.alloc(8);
  tornHeader.writeUInt32LE(1000, 0); // claims more payload than the file holds
  await appendFile(last, Buffer.concat([tornHeader, Buffer.from('short')]));
  wal = await openIn(ctx, 256);
  assert.is(wal.lastIndex, 30);
  assert.is((await stat(last)).size, intact);
  await wal.append([entry(31)], true);
  await wal.close();
  wal = await openIn(ctx, 256);
  assert.equal(await readAll(wal, 1), expected(1, 31));
});

it('a last segment cut mid-record loses only that record', async (ctx) => {
  let wal = await openIn(ctx);
  await fill(wal, 10, 1);
  await wal.close();
  const last = join(ctx.dir, (await segmentFiles(ctx.dir)).at(-1)!);
  await truncate(last, (await stat(last)).size - 3);
  wal = await openIn(ctx);
  assert.equal([wal.firstIndex, wal.lastIndex], [1, 9]);
  await wal.append(entries(10, 11), true);
  assert.equal(await readAll(wal, 1), expected(1, 11));
});

it('a zero-filled tail left by a crash is cut off at open', async (ctx) => {
  let wal = await openIn(ctx);
  await fill(wal, 10, 2);
  await wal.close();
  const last = join(ctx.dir, (await segmentFiles(ctx.dir)).at(-1)!);
  const intact = (await stat(last)).size;
  await appendFile(last, Buffer.alloc(4096));
  wal = await openIn(ctx);
  assert.equal([wal.lastIndex, (await stat(last)).size], [10, intact]);
  await wal.append([entry(11)], true);
  assert.equal(await readAll(wal, 1), expected(1, 11));
});

it('a bad record with synced records after it in the last segment fails the open instead of dropping them', async (ctx) => {
  const wal = await openIn(ctx);
  await fill(wal, 10, 1);
  await wal.close();
  const last = join(ctx.dir, (await segmentFiles(ctx.dir)).at(-1)!);
  const bytes = await readFile(last);
  bytes[bytes.length - 60]! ^= 0xff; // inside an early record's payload; nine more follow
  await writeFile(last, bytes);
  await rejects(openSegmentedWal(ctx.dir), /is corrupt at offset \d+: a record fails its checksum, but the record at offset \d+ was written after the file was synced through offset \d+/);
  assert.equal(await readFile(last), bytes, 'nothing was changed');
});

it('lattice-repair cut, run on the file and offset a corruption error names, lets the WAL open with the entries before it', async (ctx) => {
  const wal = await openIn(ctx, 256);
  await fill(wal, 100, 5);
  await wal.close();
  const files = await segmentFiles(ctx.dir);
  const damaged = join(ctx.dir, files[2]!);
  const bytes = await readFile(damaged);
  bytes[bytes.length - 3]! ^= 0xff;
  await writeFile(damaged, bytes);
  let message = '';
  await openSegmentedWal(ctx.dir, { maxSegmentBytes: 256 }).catch((e: Error) => (message = e.message));
  const named = /lattice-repair cut (\S+) (\d+)/.exec(message);
  assert.ok(named !== null, `the error names the repair: ${message}`);
  execFileSync(process.execPath, [repoPath('bin', 'lattice-repair.js'), 'cut', named[1]!, named[2]!], { stdio: 'pipe' });
  const repaired = await openIn(ctx, 256);
  const kept = await readAll(repaired, 1);
  assert.ok(kept.length > 0 && kept.length < 100, `${kept.length} entries kept`);
  assert.equal(kept, expected(1, kept.length));
  const aside = (await readdir(ctx.dir)).filter((n) => n.includes('.cut'));
  assert.ok(aside.some((n) => n.startsWith(`${files[2]!}.cut-`)), 'the cut bytes are kept');
  assert.ok(aside.includes(`${files.at(-1)!}.cut`), 'later segments are moved aside');
});

it('a bad length field inside the synced part of the last segment fails the open instead of cutting it there', async (ctx) => {
  const wal = await openIn(ctx);
  await fill(wal, 10, 1);
  await wal.close();
  const last = join(ctx.dir, (await segmentFiles(ctx.dir)).at(-1)!);
  const bytes = await readFile(last);
  const fourth = 16 + entries(1, 3).reduce((sum, e) => sum + 16 + 8 + e.bytes.length, 0);
  bytes.writeUInt32LE(0x7fff_ffff, fourth); // the 4th record claims 2 GiB
  await writeFile(last, bytes);
  await rejects(openSegmentedWal(ctx.dir), new RegExp(`${last.replace(/[.]/g, '\\.')} is corrupt at offset ${fourth}: a record of 2147483647 bytes runs past the end`));
});

it('a torn unsynced write whose later pages landed and an earlier one did not is cut off, keeping every synced entry', async (ctx) => {
  let wal = await openIn(ctx);
  await fill(wal, 10, 2);
  const synced = (await stat(join(ctx.dir, (await segmentFiles(ctx.dir)).at(-1)!))).size;
  const big = Array.from({ length: 20 }, (_, i) => ({ index: 11 + i, bytes: Buffer.alloc(700, 0x41 + i) }));
  await wal.append(big, false);
  await wal.close();
  const last = join(ctx.dir, (await segmentFiles(ctx.dir)).at(-1)!);
  const bytes = await readFile(last);
  const lostSector = Math.ceil((synced + 1024) / 512) * 512;
  bytes.fill(0, lostSector, lostSector + 512); // one page of the unsynced write never reached the disk
  await writeFile(last, bytes);
  wal = await openIn(ctx);
  assert.ok(wal.lastIndex >= 10 && wal.lastIndex < 30, `lastIndex ${wal.lastIndex}`);
  assert.equal(await readAll(wal, 1), expected(1, 10).concat(big.slice(0, wal.lastIndex - 10).map((e) => [e.index, e.bytes.toString()])));
  assert.ok((await stat(last)).size < bytes.length, 'the torn tail was cut off');
  await wal.append([entry(wal.lastIndex + 1)], true);
});

it('a last segment left empty by a crash while creating it is reused', async (ctx) => {
  let wal = await openIn(ctx);
  await fill(wal, 5, 5);
  await wal.close();
  await writeFile(join(ctx.dir, '0000000000000006.wal'), Buffer.alloc(0));
  wal = await openIn(ctx);
  assert.equal([wal.firstIndex, wal.lastIndex], [1, 5]);
  await wal.append([entry(6)], true);
  await wal.close();
  wal = await openIn(ctx);
  assert.equal(await readAll(wal, 1), expected(1, 6));
});

it('a corrupt record in a segment that is not the last fails the open', async (ctx) => {
  const wal = await openIn(ctx, 256);
  await fill(wal, 100, 5);
  await wal.close();
  const files = await segmentFiles(ctx.dir);
  const middle = join(ctx.dir, files[1]!);
  const size = (await stat(middle)).size;
  await truncate(middle, size - 1);
  await rejects(openSegmentedWal(ctx.dir, { maxSegmentBytes: 256 }), new RegExp(`${files[1]!.replace('.', '\\.')} is corrupt at offset \\d+: a record of \\d+ bytes runs past the end of the file in a file that was wholly synced`));
});

it('segments before a gap in the indices are leftovers of a trim: open removes them and starts after the gap', async (ctx) => {
  let wal = await openIn(ctx, 256);
  await fill(wal, 100, 5);
  await wal.close();
  const files = await segmentFiles(ctx.dir);
  await unlink(join(ctx.dir, files[1]!));
  wal = await openIn(ctx, 256);
  assert.equal(await segmentFiles(ctx.dir), files.slice(2));
  const first = parseInt(files[2]!.slice(0, 16), 16);
  assert.equal([wal.firstIndex, wal.lastIndex], [first, 100]);
  assert.equal(await readAll(wal, 1), expected(first, 100));
});

it('segments whose indices overlap fail the open as corruption', async (ctx) => {
  const wal = await openIn(ctx, 256);
  await fill(wal, 100, 5);
  await wal.close();
  const files = await segmentFiles(ctx.dir);
  const second = parseInt(files[1]!.slice(0, 16), 16);
  await writeFile(join(ctx.dir, `${(second - 1).toString(16).padStart(16, '0')}.wal`), await readFile(join(ctx.dir, files[1]!)));
  await unlink(join(ctx.dir, files[1]!));
  await rejects(openSegmentedWal(ctx.dir, { maxSegmentBytes: 256 }), /is corrupt at offset 0: the segment starts at index \d+ but the segment before it ends at \d+/);
});

it('a failed segment removal stops the WAL, keeps the segment listed, and a reopen starts with every entry still held', async (ctx) => {
  let failures = 1;
  const fs = {
    ...nodeFileSystem,
    remove: async (p: string): Promise<void> => {
      if (failures-- > 0) throw Object.assign(new Error('EIO: i/o error, unlink'), { code: 'EIO' });
      return nodeFileSystem.remove(p);
    },
  };
  let wal = await openSegmentedWal(ctx.dir, { maxSegmentBytes: 256, fs });
  ctx.wals.push(wal);
  await fill(wal, 20, 1);
  await rejects(wal.truncateBefore(10), /EIO/);
  assert.is(wal.firstIndex, 1, 'the segment whose removal failed is still listed');
  assert.match(String(wal.failure), /EIO/);
  await rejects(wal.append([entry(21)], true), /EIO/);
  await rejects(wal.truncateBefore(15), /EIO/);
  await wal.close();
  wal = await openIn(ctx, 256);
  assert.equal([wal.firstIndex, wal.lastIndex], [1, 20]);
  assert.equal(await readAll(wal, 1), expected(1, 20));
});

it('a failed directory fsync during a trim stops the WAL instead of being retried', async (ctx) => {
  let trimming = false;
  const fs = {
    ...nodeFileSystem,
    fsyncDir: async (d: string): Promise<void> => {
      if (trimming) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
      return nodeFileSystem.fsyncDir(d);
    },
  };
  const wal = await openSegmentedWal(ctx.dir, { maxSegmentBytes: 256, fs });
  ctx.wals.push(wal);
  await fill(wal, 20, 1);
  trimming = true;
  await rejects(wal.truncateBefore(10), /EIO/);
  await rejects(wal.truncateBefore(10), /EIO/);
  await rejects(wal.append([entry(21)], true), /EIO/);
});

it('appends and truncation after close are refused', async (ctx) => {
  const wal = await openIn(ctx);
  await wal.append([entry(1)], true);
  await wal.close();
  await rejects(wal.append([entry(2)], true), /closed/);
  await rejects(wal.truncateBefore(1), /closed/);
});

test.run();
