// The Raft WAL under power loss: a seeded script of saves (with tail overwrites by new leaders),
// snapshot markers and releases runs on a disk that loses power before its n-th I/O operation, for
// every n, under each tearing rule (and a process kill that keeps the page cache). After the crash
// the WAL must open, and hold the replay of a prefix of the records written, a prefix that includes
// every call acknowledged with sync; it must then take and keep new saves.
//
// Replay one point: LATTICE_CRASH_SEED=<seed> LATTICE_RAFT_WAL_CRASH_POINT=<rule>:<operation>
//   node test/run.js raft-wal-power-loss
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RaftLogImage } from '../../src/log/raft-log-image.js';
import { RaftWal, type RaftWalState } from '../../src/log/raft-wal.js';
import { EntryType, type Entry, type HardState } from '../../src/raft/types.js';
import type { FileSystem } from '../../src/storage/file-system.js';
import { bindFile } from '../helpers/bound-file.js';
import { PowerLossDisk, seededRandom, tearRules, type TearRule } from '../helpers/power-loss-fs.js';

const dir = '/data/raft';
const metadata = { memberId: 1n, clusterId: 0xfeedn };
/** Small, so that the script rotates segments and releases them often. */
const maxSegmentBytes = 320;
/** Calls in the script. */
const scriptCalls = 45;
/** Calls issued together (they share group commits). */
const concurrency = 3;
// (A seed whose script makes a commit-only save meet a crash point that shows it: with writing it alone, this seed fails.)
const defaultSeed = 1;
/** Test time for all crash points; fewer points are run on a slow machine, never a failure. */
const budgetMs = 20_000;

const seed = Number(process.env.LATTICE_CRASH_SEED ?? defaultSeed);
const onlyPoint = process.env.LATTICE_RAFT_WAL_CRASH_POINT;

type Call =
  | { readonly type: 'save'; readonly hardState: HardState; readonly entries: readonly Entry[]; readonly sync: boolean }
  | { readonly type: 'snapshot'; readonly index: number; readonly term: number }
  | { readonly type: 'release'; readonly index: number };

/** The records a call writes, as the reader replays them. */
type Logical = { readonly type: 'entry'; readonly entry: Entry } | { readonly type: 'hardState'; readonly hardState: HardState } | { readonly type: 'snapshot'; readonly index: number; readonly term: number };

const confState = { voters: [1n, 2n, 3n], learners: [] };

/** A Raft-like history: appends, commits that only go forward, new leaders overwriting uncommitted tails, snapshots and releases. */
function makeScript(random: () => number): Call[] {
  const calls: Call[] = [];
  const terms = new Map<number, number>();
  let last = 0;
  let term = 1;
  let commit = 0;
  let snapshot = 0;
  while (calls.length < scriptCalls) {
    const r = random();
    if (r < 0.1 && snapshot > 0) {
      calls.push({ type: 'release', index: snapshot });
      continue;
    }
    if (r < 0.2 && commit > snapshot) {
      snapshot = commit;
      calls.push({ type: 'snapshot', index: snapshot, term: terms.get(snapshot)! });
      continue;
    }
    if (r < 0.28 && commit < last) {
      // Only the commit index moves: the WAL holds it for the next write (or close).
      commit = Math.min(last, commit + 1 + Math.floor(random() * 3));
      calls.push({ type: 'save', hardState: { term, vote: 1n, commit }, entries: [], sync: false });
      continue;
    }
    let from = last + 1;
    if (r < 0.35 && last > commit) {
      term++;
      from = Math.max(commit + 1, last - Math.floor(random() * 3));
    }
    const count = 1 + Math.floor(random() * 4);
    const entries = Array.from({ length: count }, (_, i): Entry => {
      const index = from + i;
      terms.set(index, term);
      return { index, term, type: EntryType.Normal, data: Buffer.from(`${index}/${term}/${'x'.repeat(Math.floor(random() * 40))}`) };
    });
    last = from + count - 1;
    commit = Math.min(last, commit + Math.floor(random() * 4));
    calls.push({ type: 'save', hardState: { term, vote: 1n, commit }, entries, sync: random() < 0.5 });
  }
  return calls;
}

/**
 * The records each call writes, in call order, as the WAL decides: a save without entries, unsynced,
 * whose term and vote are those of the last hard state is held, and reaches the file only with a
 * later save that has no hard state of its own (none in this script) or at close: the tail record.
 */
function callRecords(script: readonly Call[]): { perCall: Logical[][]; atClose: Logical[] } {
  let last: HardState = { term: 0, vote: 0n, commit: 0 };
  let held: HardState | undefined;
  const perCall = script.map((call): Logical[] => {
    if (call.type !== 'save') return logicalRecords(call);
    const h = call.hardState;
    const holds = call.entries.length === 0 && !call.sync && h.term === last.term && h.vote === last.vote;
    last = h;
    if (holds) {
      held = h;
      return [];
    }
    held = undefined;
    return logicalRecords(call);
  });
  return { perCall, atClose: held === undefined ? [] : [{ type: 'hardState', hardState: held }] };
}

function logicalRecords(call: Call): Logical[] {
  switch (call.type) {
    case 'save':
      return [...call.entries.map((entry): Logical => ({ type: 'entry', entry })), { type: 'hardState', hardState: call.hardState }];
    case 'snapshot':
      return [{ type: 'snapshot', index: call.index, term: call.term }];
    case 'release':
      return [];
  }
}

interface Summary {
  readonly hardState: string;
  readonly snapshot: number;
  readonly entries: string;
}

/** The state after replaying each prefix of the records (index = records replayed). */
function prefixStates(records: readonly Logical[]): Summary[] {
  const image = new RaftLogImage<Entry>({ termOf: (e) => e.term, anchored: true });
  let hardState: HardState = { term: 0, vote: 0n, commit: 0 };
  const states: Summary[] = [];
  const summary = (): Summary => ({ hardState: hardStateText(hardState), snapshot: image.snapshotIndex, entries: entriesText(image.entries) });
  states.push(summary());
  for (const record of records) {
    if (record.type === 'entry') image.put(record.entry.index, record.entry);
    else if (record.type === 'hardState') hardState = record.hardState;
    else image.snapshot(record.index, record.term);
    states.push(summary());
  }
  return states;
}

const hardStateText = (h: HardState): string => `${h.term}/${h.vote}/${h.commit}`;
const entriesText = (entries: readonly Entry[]): string => entries.map((e) => `${e.index}:${e.term}:${Buffer.from(e.data).toString()}`).join(' ');
const summarize = (state: RaftWalState): Summary => ({ hardState: hardStateText(state.hardState), snapshot: state.snapshot?.index ?? 0, entries: entriesText(state.entries) });

async function runCall(wal: RaftWal, call: Call): Promise<void> {
  switch (call.type) {
    case 'save':
      return wal.save(call.hardState, call.entries, call.sync);
    case 'snapshot':
      return wal.saveSnapshot({ index: call.index, term: call.term, confState });
    case 'release':
      return wal.releaseTo(call.index);
  }
}

/** Runs the script in waves; returns how many records the calls acknowledged as durable cover. */
async function runScript(fs: FileSystem, script: readonly Call[], disk: PowerLossDisk, maxWriteNowBytes?: number): Promise<number> {
  let acked = 0;
  let wal: RaftWal;
  try {
    // Held hard states wait for the next save or close, never for a timer: the oracle knows no clock.
    ({ wal } = await RaftWal.open(dir, { metadata, maxSegmentBytes, fs, heldHardStateMs: Infinity, ...(maxWriteNowBytes === undefined ? {} : { maxWriteNowBytes }) }));
  } catch (err) {
    if (disk.crashed) return 0;
    throw err;
  }
  const recordsThrough: number[] = [];
  let total = 0;
  for (const records of callRecords(script).perCall) recordsThrough.push((total += records.length));
  for (let i = 0; i < script.length && !disk.crashed; i += concurrency) {
    const wave = script.slice(i, i + concurrency);
    const results = await Promise.allSettled(
      wave.map(async (call, k) => {
        await runCall(wal, call);
        // A resolved synced save or snapshot makes it and every call before it durable.
        if ((call.type === 'save' && call.sync) || call.type === 'snapshot') acked = Math.max(acked, recordsThrough[i + k]!);
      }),
    );
    for (const result of results) if (result.status === 'rejected' && !disk.crashed) throw result.reason;
  }
  if (!disk.crashed) await wal.close().catch((err: unknown) => (disk.crashed ? undefined : Promise.reject(err)));
  return acked;
}

/** fs with its fdatasync calls counted (writes through synced handles are not: tests tell the two apart). */
function countingDatasyncs(fs: FileSystem, count: () => void): FileSystem {
  return {
    rename: (from, to) => fs.rename(from, to),
    remove: (p) => fs.remove(p),
    readdir: (d) => fs.readdir(d),
    mkdirs: (d, mode) => fs.mkdirs(d, mode),
    size: (p) => fs.size(p),
    fsyncDir: (d) => fs.fsyncDir(d),
    open: async (p, flags) => {
      const file = await fs.open(p, flags);
      return { ...bindFile(file), datasync: () => (count(), file.datasync()) };
    },
  };
}

const test = suite('log: raft WAL under power loss');

test('after a power loss at any I/O operation the WAL opens to a prefix of what was written, holding everything acknowledged with sync', async () => {
  const script = makeScript(seededRandom(seed));
  const { perCall, atClose } = callRecords(script);
  const records = [...perCall.flat(), ...atClose];
  const states = prefixStates(records);

  const dry = new PowerLossDisk();
  await runScript(dry.boot(), script, dry);
  const operations = dry.operations;
  assert.ok(operations > 100, `the script does ${operations} I/O operations`);
  // The script is worth its name only if it cuts tails, rotates and releases segments.
  let last = 0;
  let overwrites = 0;
  let held = 0;
  for (const call of script) {
    if (call.type !== 'save') continue;
    if (call.entries.length === 0) {
      held++;
      continue;
    }
    if (call.entries[0]!.index <= last) overwrites++;
    last = call.entries.at(-1)!.index;
  }
  assert.ok(overwrites > 0, 'the script overwrites a tail');
  assert.ok(held > 0, 'the script moves the commit index alone');
  const left = (await dry.boot().readdir(dir)).filter((n) => n.endsWith('.wal')).sort();
  assert.ok(left.length > 1 && !left[0]!.startsWith('0000000000000000-'), `segments were rotated and released: ${left.join(' ')}`);

  const points: Array<{ rule: TearRule; kind: 'power' | 'process'; at: number }> = [];
  for (let at = 1; at <= operations; at++) {
    for (const rule of tearRules) points.push({ rule, kind: 'power', at });
    if (at % 5 === 0) points.push({ rule: 'drop', kind: 'process', at });
  }
  const selected = onlyPoint === undefined ? points : points.filter((p) => `${p.rule}:${p.at}` === onlyPoint);
  const deadline = Date.now() + budgetMs;
  let ran = 0;
  for (const point of selected) {
    if (Date.now() > deadline) break;
    ran++;
    const where = `seed ${seed}, point ${point.rule}:${point.at} (${point.kind}); replay with LATTICE_CRASH_SEED=${seed} LATTICE_RAFT_WAL_CRASH_POINT=${point.rule}:${point.at}`;
    const disk = new PowerLossDisk();
    // Every other point writes everything through the thread pool: the script's saves are small
    // enough to be written on the JS thread otherwise, and both paths must hold.
    const maxWriteNowBytes = point.at % 2 === 0 ? 0 : undefined;
    const acked = await runScript(disk.boot({ atOperation: point.at, rule: point.rule, seed: seed + point.at, kind: point.kind }), script, disk, maxWriteNowBytes);
    const fs = disk.boot();
    let opened: { wal: RaftWal; state: RaftWalState };
    try {
      opened = await RaftWal.open(dir, { metadata, maxSegmentBytes, fs });
    } catch (err) {
      // Nothing was ever acknowledged when the crash came while the first segment was made.
      if (acked === 0 && /holds no WAL/.test(String(err))) continue;
      assert.unreachable(`${where}: open failed: ${String(err)}`);
      return;
    }
    const found = summarize(opened.state);
    const prefix = states.findIndex((s, p) => p >= acked && s.hardState === found.hardState && s.snapshot === found.snapshot && s.entries === found.entries);
    if (prefix < 0) {
      assert.unreachable(`${where}: the state after the crash is no prefix holding the ${acked} acknowledged records:\n${JSON.stringify(found)}\nacknowledged state: ${JSON.stringify(states[acked])}`);
    }
    // The repaired WAL takes new saves and keeps them.
    const lastIndex = opened.state.entries.at(-1)?.index ?? opened.state.snapshot?.index ?? 0;
    const next: Entry = { index: lastIndex + 1, term: 99, type: EntryType.Normal, data: Buffer.from('after') };
    await opened.wal.save({ term: 99, vote: 1n, commit: opened.state.hardState.commit }, [next], true);
    await opened.wal.close();
    const again = await RaftWal.open(dir, { maxSegmentBytes, fs: disk.boot() });
    assert.equal(again.state.entries.at(-1)?.index, next.index, `${where}: the save after recovery is kept`);
    await again.wal.close();
  }
  assert.ok(ran > 0, 'no crash point ran');
  if (ran < selected.length) console.log(`  ran ${ran} of ${selected.length} crash points in ${budgetMs} ms (seed ${seed})`);
});

test('a synced save after unsynced ones makes them durable too, under every tearing rule', async () => {
  // The synced save after a fully synced file is one O_DSYNC write; after unsynced bytes it must
  // not be, since that write would make only its own bytes durable.
  for (const rule of tearRules) {
    const disk = new PowerLossDisk();
    const { wal } = await RaftWal.open(dir, { metadata, maxSegmentBytes: 1 << 20, fs: disk.boot() });
    const entry = (index: number): Entry => ({ index, term: 1, type: EntryType.Normal, data: Buffer.from(`e${index}`) });
    await wal.save({ term: 1, vote: 1n, commit: 0 }, [entry(1)], true);
    await wal.save({ term: 1, vote: 1n, commit: 1 }, [entry(2)], false);
    await wal.save({ term: 1, vote: 1n, commit: 2 }, [entry(3)], false);
    await wal.save({ term: 1, vote: 1n, commit: 3 }, [entry(4)], true);
    disk.crash(rule, seededRandom(seed));
    const { wal: reopened, state } = await RaftWal.open(dir, { metadata, maxSegmentBytes: 1 << 20, fs: disk.boot() });
    assert.equal(
      state.entries.map((e) => e.index),
      [1, 2, 3, 4],
      `rule ${rule}`,
    );
    assert.equal(state.hardState.commit, 3, `rule ${rule}`);
    await reopened.close();
  }
});

test('a commit-only hard state waits for the next write: synced saves stay single synced writes, close writes it, a crash may lose only it', async () => {
  const disk = new PowerLossDisk();
  let datasyncs = 0;
  const entry = (index: number): Entry => ({ index, term: 1, type: EntryType.Normal, data: Buffer.from(`e${index}`) });
  const options = { metadata, maxSegmentBytes: 1 << 20 };
  const { wal } = await RaftWal.open(dir, { ...options, fs: countingDatasyncs(disk.boot(), () => datasyncs++), heldHardStateMs: Infinity });
  const before = datasyncs;
  await wal.save({ term: 1, vote: 1n, commit: 0 }, [entry(1)], true);
  await wal.save({ term: 1, vote: 1n, commit: 1 }, [], false);
  await wal.save(undefined, [entry(2)], true);
  await wal.save({ term: 1, vote: 1n, commit: 2 }, [], false);
  assert.is(datasyncs - before, 0, 'both synced saves were synced writes');
  disk.crash('drop', seededRandom(seed));
  const crashed = await RaftWal.open(dir, { ...options, fs: disk.boot() });
  assert.equal(crashed.state.entries.map((e) => e.index), [1, 2]);
  assert.is(crashed.state.hardState.commit, 1, 'the held commit went out with the next synced save; the last one was lost');
  await crashed.wal.save({ term: 1, vote: 1n, commit: 2 }, [], false);
  await crashed.wal.close();
  const reopened = await RaftWal.open(dir, { ...options, fs: disk.boot() });
  assert.is(reopened.state.hardState.commit, 2, 'close writes a held hard state');
  await reopened.wal.close();
});

test('a held hard state that no save takes is written on its own after a moment', async () => {
  const disk = new PowerLossDisk();
  const options = { metadata, maxSegmentBytes: 1 << 20 };
  const { wal } = await RaftWal.open(dir, { ...options, fs: disk.boot(), heldHardStateMs: 5 });
  await wal.save({ term: 1, vote: 1n, commit: 0 }, [{ index: 1, term: 1, type: EntryType.Normal, data: Buffer.from('e1') }], true);
  await wal.save({ term: 1, vote: 1n, commit: 1 }, [], false);
  await new Promise((resolve) => setTimeout(resolve, 50));
  disk.kill();
  const restarted = await RaftWal.open(dir, { ...options, fs: disk.boot() });
  assert.is(restarted.state.hardState.commit, 1, 'the page cache a killed process leaves holds it');
  await restarted.wal.close();
});

test('a held hard state waits its full time even when the one before it was carried by a save', async () => {
  const disk = new PowerLossDisk();
  let datasyncs = 0;
  const fs = countingDatasyncs(disk.boot(), () => datasyncs++);
  const entry = (index: number): Entry => ({ index, term: 1, type: EntryType.Normal, data: Buffer.from(`e${index}`) });
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
  const { wal } = await RaftWal.open(dir, { metadata, maxSegmentBytes: 1 << 20, fs, heldHardStateMs: 60 });
  const before = datasyncs;
  await wal.save({ term: 1, vote: 1n, commit: 0 }, [entry(1)], true);
  await wal.save({ term: 1, vote: 1n, commit: 1 }, [], false); // held at t=0
  await sleep(40);
  await wal.save(undefined, [entry(2)], true); // carries it at t=40
  await wal.save({ term: 1, vote: 1n, commit: 2 }, [], false); // held at t=40: due at t=100, not t=60
  await sleep(40);
  await wal.save(undefined, [entry(3)], true); // t=80: still one synced write
  assert.is(datasyncs - before, 0, 'no held state was written alone between the saves');
  await wal.close();
});

test.run();
