// The Raft WAL: entries, hard states, snapshot markers and metadata survive a reopen; a new
// leader's overwrite of an uncommitted tail replaces it; segments go once a snapshot covers them;
// a torn tail is cut, damage in the synced part is an error naming file and offset; a failed write
// or sync stops the WAL.
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EntryType, type Entry, type HardState } from '../../src/raft/types.js';
import { RaftWal, RaftWalMetadataMismatchError, type RaftWalOptions, type RaftWalState } from '../../src/log/raft-wal.js';
import { nodeFileSystem, type FileSystem } from '../../src/storage/file-system.js';
import { CorruptFileError } from '../../src/storage/record-file.js';
import { withTimeout } from '../engines/engine-suite.js';
import { faultyFileSystem, type FaultPlan } from '../helpers/faulty-fs.js';
import { bindFile } from '../helpers/bound-file.js';
import { timedFileSystem } from '../../src/metrics/timed-storage.js';

const testTimeoutMs = 15_000;
const metadata = { memberId: 0x8e9e05c52164694dn, clusterId: 0xcdf818194e3a8c32n };

interface Context {
  dir: string;
  wals: RaftWal[];
}

const test = suite<Context>('log: raft WAL', { dir: '', wals: [] });
test.before.each(async (ctx) => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'lattice-raft-wal-'));
  ctx.wals = [];
});
test.after.each(async (ctx) => {
  for (const wal of ctx.wals) await wal.close().catch(() => undefined);
  await rm(ctx.dir, { recursive: true, force: true });
});
const it = (name: string, fn: (ctx: Context) => Promise<void>): void => test(name, withTimeout(testTimeoutMs, fn));

async function openIn(ctx: Context, options: Partial<RaftWalOptions> = {}): Promise<{ wal: RaftWal; state: RaftWalState }> {
  const opened = await RaftWal.open(ctx.dir, { metadata, ...options });
  ctx.wals.push(opened.wal);
  return opened;
}

async function reopen(ctx: Context, wal: RaftWal, options: Partial<RaftWalOptions> = {}): Promise<{ wal: RaftWal; state: RaftWalState }> {
  await wal.close();
  return openIn(ctx, options);
}

const entry = (index: number, term: number, text = `e${index}t${term}`): Entry => ({ index, term, type: EntryType.Normal, data: Buffer.from(text) });
const entries = (from: number, to: number, term: number): Entry[] => Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term));
const hs = (term: number, commit: number, vote = 0n): HardState => ({ term, vote, commit });

/** Entries as index/term/text triples, which compare and print well. */
const shape = (list: readonly Entry[]): Array<[number, number, string]> => list.map((e) => [e.index, e.term, Buffer.from(e.data).toString()]);

const segmentFiles = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => n.endsWith('.wal')).sort();

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
  assert.unreachable('expected a rejection');
  throw new Error('unreachable');
}

it('a new WAL opens empty with its metadata, which a reopen returns without being told', async (ctx) => {
  const { wal, state } = await openIn(ctx);
  assert.equal(state, { hardState: hs(0, 0), entries: [], metadata });
  const again = await reopen(ctx, wal, { metadata: undefined });
  assert.equal(again.state.metadata, metadata);
});

it('opening a missing WAL without metadata, or an existing one with other metadata, is refused', async (ctx) => {
  const missing = await rejection(RaftWal.open(join(ctx.dir, 'none'), {}));
  assert.match(missing.message, /no metadata was given/);
  const { wal } = await openIn(ctx);
  await wal.close();
  const other = await rejection(RaftWal.open(ctx.dir, { metadata: { ...metadata, memberId: 7n } }));
  assert.instance(other, RaftWalMetadataMismatchError);
  assert.match(other.message, /belongs to member 8e9e05c52164694d/);
});

it('entries and the hard state saved read back after a reopen, conf change entries and empty data included', async (ctx) => {
  const { wal } = await openIn(ctx);
  const confChange: Entry = { index: 3, term: 2, type: EntryType.ConfChange, data: Buffer.from([1, 2, 3]) };
  const empty: Entry = { index: 4, term: 2, type: EntryType.Normal, data: new Uint8Array(0) };
  await wal.save(hs(1, 0, 2n), entries(1, 2, 1), true);
  await wal.save(hs(2, 2, 3n), [confChange, empty], false);
  await wal.save(hs(2, 4, 3n), [], true);
  const { state } = await reopen(ctx, wal);
  assert.equal(state.hardState, hs(2, 4, 3n));
  assert.equal(shape(state.entries), shape([...entries(1, 2, 1), confChange, empty]));
  assert.is(state.entries[2]!.type, EntryType.ConfChange);
  assert.is(state.snapshot, undefined);
});

it('an entry at an index already held replaces the tail from there on (an uncommitted tail cut by a new leader), also after a reopen', async (ctx) => {
  let { wal } = await openIn(ctx);
  await wal.save(hs(1, 3), entries(1, 10, 1), true);
  await wal.save(hs(2, 3), entries(6, 7, 2), true);
  ({ wal } = await reopen(ctx, wal));
  const expected = [...entries(1, 5, 1), ...entries(6, 7, 2)];
  let { state } = await reopen(ctx, wal);
  assert.equal(shape(state.entries), shape(expected));
  // Appends go on from the new tail.
  ({ wal } = { wal: ctx.wals.at(-1)! });
  await wal.save(hs(2, 8), entries(8, 9, 2), true);
  ({ state } = await reopen(ctx, wal));
  assert.equal(shape(state.entries), shape([...expected, ...entries(8, 9, 2)]));
});

it('an overwrite reaching back across segments replaces entries held in an older segment', async (ctx) => {
  let { wal } = await openIn(ctx, { maxSegmentBytes: 300 });
  for (let i = 1; i <= 30; i += 3) await wal.save(hs(1, 0), entries(i, i + 2, 1), true);
  assert.ok((await segmentFiles(ctx.dir)).length > 3, 'several segments');
  await wal.save(hs(3, 4), entries(5, 6, 3), true);
  const { state } = await reopen(ctx, wal, { maxSegmentBytes: 300 });
  assert.equal(shape(state.entries), shape([...entries(1, 4, 1), ...entries(5, 6, 3)]));
  assert.equal(state.hardState, hs(3, 4));
});

it('saves that break the log are refused and write nothing: a gap, non-consecutive entries, a commit past the last entry, an entry inside the snapshot', async (ctx) => {
  const { wal } = await openIn(ctx);
  await wal.save(hs(1, 2), entries(1, 5, 1), true);
  assert.match((await rejection(wal.save(undefined, [entry(7, 1)], true))).message, /gap after entry 5/);
  assert.match((await rejection(wal.save(undefined, [entry(6, 1), entry(8, 1)], true))).message, /entry 8 where 7 was expected/);
  assert.match((await rejection(wal.save(hs(1, 6), [], true))).message, /commits 6, past the last entry 5/);
  await wal.saveSnapshot({ index: 3, term: 1, confState: { voters: [1n], learners: [] } });
  assert.match((await rejection(wal.save(undefined, [entry(3, 2)], true))).message, /covered by the snapshot at 3/);
  assert.is(wal.failure, undefined, 'a refused save does not stop the WAL');
  await wal.save(hs(1, 6), [entry(6, 1)], true);
  const { state } = await reopen(ctx, wal);
  assert.equal(shape(state.entries), shape(entries(4, 6, 1)));
  assert.equal(state.hardState, hs(1, 6));
});

it('saves made without waiting are written in call order and share fdatasyncs', async (ctx) => {
  let syncs = 0;
  // Counted as the fsync metric counts them: every fdatasync and every write through a synced (O_DSYNC) handle.
  const fs = timedFileSystem(nodeFileSystem, () => syncs++);
  const { wal } = await openIn(ctx, { fs });
  syncs = 0;
  await Promise.all(Array.from({ length: 50 }, (_, i) => wal.save(hs(1, i * 2), entries(i * 2 + 1, i * 2 + 2, 1), true)));
  assert.ok(syncs < 10, `50 synced saves took ${syncs} fdatasyncs`);
  const { state } = await reopen(ctx, wal);
  assert.equal(shape(state.entries), shape(entries(1, 100, 1)));
  assert.equal(state.hardState, hs(1, 98));
});

it('a small synced save is written on the calling thread; a large group, or a save whose caller goes on working, through the thread pool; all replay', async (ctx) => {
  const calls = { writeNow: 0, write: 0 };
  const fs: FileSystem = {
    ...nodeFileSystem,
    open: async (path, flags) => {
      const file = await nodeFileSystem.open(path, flags);
      if (flags !== 'r+sync') return file;
      return { ...bindFile(file), write: (...a) => (calls.write++, file.write(...a)), writeNow: (...a) => (calls.writeNow++, file.writeNow(...a)) };
    },
  };
  const { wal } = await openIn(ctx, { fs });
  await wal.save(hs(1, 0), [entry(1, 1)], true);
  assert.equal(calls, { writeNow: 1, write: 0 });
  const big = Array.from({ length: 8 }, (_, i) => entry(2 + i, 1, 'x'.repeat(1024)));
  await wal.save(hs(1, 1), big, true);
  assert.equal(calls, { writeNow: 1, write: 1 });
  // A leader's save, its appends on their way: never on the thread.
  await wal.save(hs(1, 9), [entry(10, 1)], true, false);
  assert.equal(calls, { writeNow: 1, write: 2 });
  const { state } = await reopen(ctx, wal);
  assert.equal(shape(state.entries), shape([entry(1, 1), ...big, entry(10, 1)]));
});

it('a snapshot marker survives a reopen and hides the entries it covers; releaseTo deletes whole segments up to it and the rest replays the same', async (ctx) => {
  const maxSegmentBytes = 400;
  let { wal } = await openIn(ctx, { maxSegmentBytes });
  for (let i = 1; i <= 100; i += 4) await wal.save(hs(2, i - 1), entries(i, i + 3, 2), true);
  const before = await segmentFiles(ctx.dir);
  const confState = { voters: [1n, 2n, 0xffff_ffff_ffff_ffffn], learners: [4n] };
  await wal.saveSnapshot({ index: 60, term: 2, confState });
  // Past the marker nothing may go: what is left must replay as the snapshot plus entries.
  await wal.releaseTo(90);
  const after = await segmentFiles(ctx.dir);
  assert.ok(after.length < before.length, `released: ${before.length} -> ${after.length} segments`);
  assert.ok(after[0]! > before[0]!);
  let { state } = await reopen(ctx, wal, { maxSegmentBytes });
  assert.equal(state.snapshot, { index: 60, term: 2, confState });
  assert.equal(shape(state.entries), shape(entries(61, 100, 2)));
  assert.equal(state.hardState, hs(2, 96));
  assert.equal(state.metadata, metadata);
  // The log goes on after a release, and a later snapshot releases more.
  wal = ctx.wals.at(-1)!;
  await wal.save(hs(2, 101), entries(101, 104, 2), true);
  await wal.saveSnapshot({ index: 100, term: 2, confState });
  await wal.releaseTo(100);
  ({ state } = await reopen(ctx, wal, { maxSegmentBytes }));
  assert.equal(state.snapshot?.index, 100);
  assert.equal(shape(state.entries), shape(entries(101, 104, 2)));
});

it('a snapshot marker the log does not match (a snapshot received from the leader) drops the log after it; one it matches keeps the entries after it', async (ctx) => {
  let { wal } = await openIn(ctx);
  await wal.save(hs(1, 3), entries(1, 8, 1), true);
  // The leader's log has term 3 at index 6: this member's entries 4..8 are a stale tail.
  await wal.saveSnapshot({ index: 6, term: 3, confState: { voters: [1n], learners: [] } });
  await wal.save(hs(3, 7), entries(7, 7, 3), true);
  let { state } = await reopen(ctx, wal);
  assert.equal(state.snapshot?.index, 6);
  assert.equal(shape(state.entries), shape(entries(7, 7, 3)));
  wal = ctx.wals.at(-1)!;
  await wal.save(hs(3, 7), entries(8, 10, 3), true);
  await wal.saveSnapshot({ index: 8, term: 3, confState: { voters: [1n], learners: [] } });
  ({ state } = await reopen(ctx, wal));
  assert.equal(shape(state.entries), shape(entries(9, 10, 3)));
});

it('after a release, a tail overwrite that reached below the first segment left still replays (the released segment held the entries it replaced)', async (ctx) => {
  const maxSegmentBytes = 120; // every save starts a segment
  let { wal } = await openIn(ctx, { maxSegmentBytes });
  await wal.save(hs(1, 1), entries(1, 3, 1), true);
  await wal.save(hs(1, 2), entries(4, 5, 1), true);
  await wal.save(hs(2, 2), entries(3, 4, 2), true); // a new leader replaces 3..5
  await wal.save(hs(2, 4), entries(5, 6, 2), true);
  await wal.saveSnapshot({ index: 4, term: 2, confState: { voters: [1n], learners: [] } });
  await wal.releaseTo(4);
  const files = await segmentFiles(ctx.dir);
  assert.ok(!files[0]!.startsWith('0000000000000000-'), `the first segment was released: ${files.join(' ')}`);
  const { state } = await reopen(ctx, wal, { maxSegmentBytes });
  assert.equal(state.snapshot?.index, 4);
  assert.equal(shape(state.entries), shape(entries(5, 6, 2)));
  wal = ctx.wals.at(-1)!;
  await wal.save(hs(2, 6), [entry(7, 2)], true);
});

it('a snapshot past the whole log leaves no entries, and the log continues after it', async (ctx) => {
  let { wal } = await openIn(ctx);
  await wal.save(hs(1, 2), entries(1, 2, 1), true);
  await wal.saveSnapshot({ index: 50, term: 4, confState: { voters: [1n, 2n], learners: [] } });
  await wal.save(hs(4, 50), [], true);
  let { state } = await reopen(ctx, wal);
  assert.equal(state.entries, []);
  assert.equal(state.hardState, hs(4, 50));
  wal = ctx.wals.at(-1)!;
  await wal.save(hs(4, 51), [entry(51, 4)], true);
  ({ state } = await reopen(ctx, wal));
  assert.equal(shape(state.entries), shape([entry(51, 4)]));
});

it('garbage or a torn record at the end of the last segment is cut off at open; every synced save before it survives', async (ctx) => {
  const tails = [Buffer.from([1, 2, 3]), Buffer.concat([u32(1000), Buffer.from('short')]), Buffer.alloc(40)];
  for (const tail of tails) {
    await rm(ctx.dir, { recursive: true, force: true });
    const { wal } = await openIn(ctx);
    await wal.save(hs(1, 5), entries(1, 5, 1), true);
    await wal.close();
    const [last] = (await segmentFiles(ctx.dir)).slice(-1);
    const path = join(ctx.dir, last!);
    const intact = (await readFile(path)).length;
    await appendFile(path, tail);
    const { wal: again, state } = await openIn(ctx);
    assert.is((await readFile(path)).length, intact, 'the tail was cut off');
    assert.equal(shape(state.entries), shape(entries(1, 5, 1)));
    await again.save(hs(1, 6), [entry(6, 1)], true);
    const { state: after } = await reopen(ctx, again);
    assert.equal(shape(after.entries), shape(entries(1, 6, 1)));
  }
});

it('a flipped byte inside the synced part is a CorruptFileError naming the file and offset, offering no cut, and nothing is changed', async (ctx) => {
  const { wal } = await openIn(ctx, { maxSegmentBytes: 300 });
  for (let i = 1; i <= 20; i += 2) await wal.save(hs(1, i), entries(i, i + 1, 1), true);
  await wal.close();
  const files = await segmentFiles(ctx.dir);
  for (const name of [files[0]!, files.at(-1)!]) {
    const path = join(ctx.dir, name);
    const original = await readFile(path);
    const damaged = Buffer.from(original);
    const at = original.length - 10;
    damaged[at] = damaged[at]! ^ 0x01;
    await writeFile(path, damaged);
    const error = await rejection(RaftWal.open(ctx.dir, { metadata, maxSegmentBytes: 300 }));
    assert.instance(error, CorruptFileError);
    assert.is((error as CorruptFileError).path, path);
    // Cutting synced Raft state could make the member forget a vote: the way out is replacing it.
    assert.is((error as CorruptFileError).remedy, 'restore');
    assert.ok((error as CorruptFileError).offset > 0 && (error as CorruptFileError).offset <= at, `offset ${(error as CorruptFileError).offset}`);
    assert.ok((await readFile(path)).equals(damaged), 'the damaged file is left as it was');
    await writeFile(path, original);
  }
  const { state } = await openIn(ctx, { maxSegmentBytes: 300 });
  assert.equal(shape(state.entries), shape(entries(1, 20, 1)));
});

it('a segment left as .tmp by a crash during rotation is removed at open', async (ctx) => {
  const { wal } = await openIn(ctx);
  await wal.save(hs(1, 1), entries(1, 2, 1), true);
  await wal.close();
  await writeFile(join(ctx.dir, '0000000000000001-0000000000000003.wal.tmp'), Buffer.from('LATRAFT1 half a header'));
  const { state } = await openIn(ctx);
  assert.equal(shape(state.entries), shape(entries(1, 2, 1)));
  assert.equal((await readdir(ctx.dir)).filter((n) => n.endsWith('.tmp')), []);
});

for (const [op, where, maxWriteNowBytes] of [
  ['write', 'on the JS thread', undefined],
  ['write', 'in the thread pool', 0],
  ['datasync', 'on the JS thread', undefined],
  ['datasync', 'in the thread pool', 0],
] as const) {
  it(`a failed ${op} (${where}) stops the WAL: the save and every later call reject with it, onFailure is told once, and a reopen finds what was synced`, async (ctx) => {
    const plan: FaultPlan = { op, code: 'EIO', pathContains: ctx.dir, armed: false };
    const { wal } = await openIn(ctx, { fs: faultyFileSystem(plan), ...(maxWriteNowBytes === undefined ? {} : { maxWriteNowBytes }) });
    const failures: Error[] = [];
    wal.onFailure((failure) => failures.push(failure));
    await wal.save(hs(1, 2), entries(1, 2, 1), true);
    plan.armed = true;
    const error = await rejection(wal.save(hs(1, 3), entries(3, 3, 1), true));
    assert.match(error.message, /EIO/);
    plan.armed = false;
    assert.is(wal.failure, error);
    assert.is(await rejection(wal.save(undefined, entries(4, 4, 1), true)), error);
    assert.is(await rejection(wal.saveSnapshot({ index: 1, term: 1, confState: { voters: [], learners: [] } })), error);
    assert.is(await rejection(wal.releaseTo(1)), error);
    assert.equal(failures, [error]);
    await wal.close();
    const { state } = await openIn(ctx);
    // Entry 3 may or may not have reached the disk; what was synced is there, and nothing else broke.
    assert.equal(shape(state.entries.slice(0, 2)), shape(entries(1, 2, 1)));
    assert.ok(state.hardState.commit >= 2);
  });
}

it('after close every call rejects', async (ctx) => {
  const { wal } = await openIn(ctx);
  await wal.close();
  await rejection(wal.save(hs(1, 0), [], true));
  await rejection(wal.saveSnapshot({ index: 1, term: 1, confState: { voters: [], learners: [] } }));
  await rejection(wal.releaseTo(1));
  await wal.close();
});

test.run();

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value);
  return b;
}
