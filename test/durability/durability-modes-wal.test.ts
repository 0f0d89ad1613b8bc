// What each durability mode's disk (src/log/durability-mode.ts over the Raft WAL) keeps of the saves
// it acknowledged, on a disk that loses power or whose process is killed (test/helpers/power-loss-fs.ts):
//   sync                 power loss and kill: every acknowledged save
//   quorum / async       kill: every acknowledged save (written before the ack, the page cache keeps it);
//                        power loss: at least every save acknowledged before the last background sync
//   fsync_policy never   kill: every acknowledged save; power loss: may lose all since the last open
// Survivors are always a prefix of the acknowledged saves.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Timers } from '../../src/core/timers.js';
import { diskForDurability, type DurabilitySettings } from '../../src/log/durability-mode.js';
import { RaftWal, type RaftWalState } from '../../src/log/raft-wal.js';
import { EntryType, type Entry } from '../../src/raft/types.js';
import { PowerLossDisk, seededRandom } from '../helpers/power-loss-fs.js';

const test = suite('durability modes on the Raft WAL');
const dir = '/data/raft';
const metadata = { memberId: 1n, clusterId: 7n };
const saves = 60;
/** The background sync's timer fires after every this many acknowledged saves. */
const syncEvery = 25;

/** Timers run by hand: fire() runs what is due. */
function manualTimers(): Timers & { fire(): void; pending(): number } {
  let due: Array<() => void> = [];
  return {
    now: () => 0,
    after: (_ms, fn) => {
      due.push(fn);
      return () => (due = due.filter((f) => f !== fn));
    },
    fire() {
      const run = due;
      due = [];
      for (const fn of run) fn();
    },
    pending: () => due.length,
  };
}

const entry = (index: number): Entry => ({ term: 1, index, type: EntryType.Normal, data: Buffer.from(`put k${index}`) });

interface Outcome {
  readonly acked: number;
  /** Saves acknowledged before the last background sync that completed. */
  readonly syncedThrough: number;
  readonly survived: number;
}

async function run(settings: DurabilitySettings, crash: 'power' | 'kill'): Promise<Outcome> {
  const disk = new PowerLossDisk();
  const { wal } = await RaftWal.open(dir, { metadata, fs: disk.boot() });
  const timers = manualTimers();
  const durable = diskForDurability(wal, settings, timers);
  let syncedThrough = 0;
  let firedAfter: number | undefined;
  for (let i = 1; i <= saves; i++) {
    await durable.save({ term: 1, vote: 0n, commit: i }, [entry(i)], true, true);
    // This save was queued after the sync the timer started, so that sync is done now.
    if (firedAfter !== undefined) {
      syncedThrough = firedAfter;
      firedAfter = undefined;
    }
    if (i % syncEvery === 0 && timers.pending() > 0) {
      timers.fire();
      firedAfter = i;
    }
  }
  if (settings.durabilityMode === 'sync' && settings.fsyncPolicy === 'always') syncedThrough = saves;
  if (crash === 'power') disk.crash('drop', seededRandom(1));
  else disk.kill();
  const reopened = await RaftWal.open(dir, { metadata, fs: disk.boot() });
  const indices = reopened.state.entries.map((e) => e.index);
  assert.equal(indices, Array.from({ length: indices.length }, (_, k) => k + 1), 'survivors are a prefix');
  await reopened.wal.close();
  return { acked: saves, syncedThrough, survived: indices.length };
}

const settings = (durabilityMode: DurabilitySettings['durabilityMode'], fsyncPolicy: DurabilitySettings['fsyncPolicy'] = 'always'): DurabilitySettings => ({
  durabilityMode,
  fsyncPolicy,
  fsyncIntervalMs: 10,
});

test('sync: saves go to the WAL as asked; every acknowledged save survives a power loss and a kill', async () => {
  const syncs: boolean[] = [];
  const wal = { save: (_h: unknown, _e: unknown, sync: boolean) => (syncs.push(sync), Promise.resolve()) } as unknown as Parameters<typeof diskForDurability>[0];
  const disk = diskForDurability(wal, settings('sync'), manualTimers());
  await disk.save(undefined, [], true, true);
  await disk.save(undefined, [], false, true);
  assert.equal(syncs, [true, false]);
  // nothing to wait for: a save is durable when it resolves
  await disk.synced();
  for (const crash of ['power', 'kill'] as const) {
    const o = await run(settings('sync'), crash);
    assert.is(o.survived, o.acked, crash);
  }
});

for (const mode of ['quorum', 'async'] as const) {
  test(`${mode}: a kill loses no acknowledged save; a power loss keeps every save acknowledged before the last background sync`, async () => {
    const killed = await run(settings(mode), 'kill');
    assert.is(killed.survived, killed.acked);
    const power = await run(settings(mode), 'power');
    assert.is(power.syncedThrough, Math.floor(saves / syncEvery) * syncEvery);
    assert.ok(power.survived >= power.syncedThrough, `${power.survived} survived, ${power.syncedThrough} were synced`);
    // ...and the unsynced tail is really at risk: this is what the mode trades for its speed.
    assert.ok(power.survived < power.acked);
  });
}

/** A quorum-mode disk over a fresh WAL that has acknowledged entries 1 and 2 (not yet synced). */
async function quorumDiskWithTwoEntries(): Promise<{ disk: PowerLossDisk; timers: ReturnType<typeof manualTimers>; durable: ReturnType<typeof diskForDurability> }> {
  const disk = new PowerLossDisk();
  const { wal } = await RaftWal.open(dir, { metadata, fs: disk.boot() });
  const timers = manualTimers();
  const durable = diskForDurability(wal, settings('quorum'), timers);
  await durable.save({ term: 1, vote: 0n, commit: 0 }, [entry(1)], true, true);
  await durable.save({ term: 1, vote: 0n, commit: 1 }, [entry(2)], true, true);
  return { disk, timers, durable };
}

/** Power goes out now: what the reopened WAL holds. */
async function afterPowerLoss(disk: PowerLossDisk, seed: number): Promise<RaftWalState> {
  disk.crash('drop', seededRandom(seed));
  const reopened = await RaftWal.open(dir, { metadata, fs: disk.boot() });
  await reopened.wal.close();
  return reopened.state;
}

test('quorum: a new term or vote is synced before the save resolves, so a power loss cannot make a member forget its vote', async () => {
  const { disk, timers, durable } = await quorumDiskWithTwoEntries();
  await durable.save({ term: 2, vote: 3n, commit: 1 }, [], true, true);
  assert.is(timers.pending(), 1, 'the entry saves wait for a background sync');
  const state = await afterPowerLoss(disk, 2);
  assert.equal(state.hardState, { term: 2, vote: 3n, commit: 1 });
  assert.is(state.entries.length, 2, 'synced with the vote, the entries written before it are durable too');
});

test('quorum: the barrier the applied state waits behind settles only after a background sync covering every save made before it', async () => {
  const { disk, timers, durable } = await quorumDiskWithTwoEntries();
  let settled = false;
  const barrier = durable.synced().then(() => (settled = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.is(settled, false, 'nothing synced yet');
  timers.fire();
  await barrier;
  // what the barrier promised is on stable storage: a power loss now keeps both entries
  assert.is((await afterPowerLoss(disk, 3)).entries.length, 2);
});

test('quorum: a barrier asked while the member closes settles once the close has synced', async () => {
  const { disk, durable } = await quorumDiskWithTwoEntries();
  const before = durable.synced();
  const closing = durable.close();
  await Promise.all([before, durable.synced(), closing]);
  assert.is((await afterPowerLoss(disk, 4)).entries.length, 2, 'the close synced what the barrier waited for');
});

test('fsync_policy never: a kill loses nothing, a power loss may lose every save since the WAL was opened', async () => {
  const killed = await run(settings('sync', 'never'), 'kill');
  assert.is(killed.survived, killed.acked);
  const power = await run(settings('quorum', 'never'), 'power');
  assert.is(power.syncedThrough, 0);
  assert.is(power.survived, 0);
});

test.run();
