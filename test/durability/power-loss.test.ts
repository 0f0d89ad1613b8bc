// Seeded crash points: a Txn load runs through the real store (engine → log → shard → store) on a
// disk that loses power before its Nth write, sync or directory change, under each tearing rule
// (test/helpers/power-loss-fs.ts); at every other point the first crash kills only the process, and
// power is lost in the run after it, so what a restart read from the page cache is also put to the test.
// After each crash the store is opened again and must hold every
// acknowledged Txn, no Txn in part, contiguous revisions, and take new writes after a clean restart.
// Damage injected into synced files (a sealed segment, or a record of the active segment or the memory
// engine's WAL that a later record's mark proves synced) must instead be refused with a CorruptFileError.
//
// Replay one point: LATTICE_CRASH_SEED=<seed> LATTICE_CRASH_POINT=<engine>:<rule>:<operation>:<round>
//   node test/run.js power-loss
// LATTICE_CRASH_SEED alone changes the seed of the whole run (the default is fixed, so CI repeats);
// LATTICE_CRASH_BUDGET_S sets the test time per engine in seconds.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ShardReply, ShardRequest } from '../../src/actors/shard-actor.js';
import { spawnActor } from '../../src/actors/spawn.js';
import type { Engine, EngineName } from '../../src/engines/engine.js';
import { openEngine } from '../../src/engines/open-engine.js';
import { CompactionRequest, RangeRequest, RequestOp, TxnRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { openMemoryEngine } from '../../src/engines/memory-engine.js';
import { LocalLog, defaultLocalLogOptions } from '../../src/log/local-log.js';
import type { FileSystem } from '../../src/storage/file-system.js';
import { CorruptFileError, fileHeaderBytes, recordHeaderBytes } from '../../src/storage/record-file.js';
import { MvccStore } from '../../src/store/mvcc-store.js';
import { ShardSet } from '../../src/store/shard-set.js';
import { defaultSplitPoints } from '../../src/store/split-points.js';
import { PowerLossEngineJournal } from '../helpers/power-loss-engine.js';
import { PowerLossDisk, seededRandom, shuffled, tearRules, type TearRule } from '../helpers/power-loss-fs.js';

/** Txns in one run; the crash comes somewhere inside it (or in the clean close after it). */
const loadTxns = 90;
/** Every how many Txns the load compacts (keeping the last compactKeepRevisions). */
const compactEveryTxns = 20;
const compactKeepRevisions = 10;
/** The second power loss comes within this many I/O operations of the restart after the first. */
const secondCrashWithinOperations = 120;
/** Txns issued together (they share group commits). */
const loadConcurrency = 3;
/** Txns written after a recovery before the clean restart that checks the member takes writes. */
const txnsAfterRecovery = 5;
/** Small bounds, so that runs roll log segments and rotate and snapshot the memory engine's WAL. */
const maxSegmentBytes = 4 * 1024;
const maxMemoryWalBytes = 6 * 1024;
const snapshotChunkBytes = 1024;
/** Small, so that the log is trimmed during a run (it may drop entries only once their state is synced). */
const syncedPersistEveryEntries = 8;
const retainEntries = 4;
/** Test time for all crash points of one engine; points past it are reported as not run. */
const budgetMsByEngine: Readonly<Record<EngineName, number>> = { memory: 40_000, rocksdb: 15_000 };
/** Crash points an idle machine runs in the budget; fewer are reported, never a failure (CI may be busy). */
const expectedCrashPointsByEngine: Readonly<Record<EngineName, number>> = { memory: 600, rocksdb: 100 };
/** Every how many crash points damage is also injected into a synced file. */
const injectEvery = 25;
const defaultSeed = 0x1a77_1ce5;

const seed = Number(process.env.LATTICE_CRASH_SEED ?? defaultSeed);
const onlyPoint = process.env.LATTICE_CRASH_POINT;

const dataRoot = '/data';
const logDir = `${dataRoot}/wal`;

interface Running {
  readonly store: MvccStore;
  readonly engine: Engine;
  readonly shards: ShardSet;
}

/**
 * Opens the store as the server does: the log and the memory engine's files on the simulated disk;
 * RocksDB's own files on the real one, behind a journal that loses its unsynced batches with the power.
 */
async function openOn(fs: FileSystem, engineName: EngineName, rocks: PowerLossEngineJournal | undefined): Promise<Running> {
  const engine =
    engineName === 'memory' || rocks === undefined
      ? await openEngine('memory', `${dataRoot}/memory`, { fs, memory: { maxWalBytes: maxMemoryWalBytes, snapshotChunkBytes } })
      : await rocks.open();
  let log: LocalLog;
  try {
    log = await LocalLog.open(logDir, { ...defaultLocalLogOptions, fsync: true, maxSegmentBytes, retainEntries, fs });
  } catch (err) {
    await engine.close().catch(() => undefined);
    throw err;
  }
  const shards = new ShardSet([spawnActor<ShardRequest, ShardReply>('shard', 'main')], defaultSplitPoints(1));
  try {
    const store = await MvccStore.open(engine, log, shards, {
      header: (revision) => ({ clusterId: 1n, memberId: 2n, revision: BigInt(revision), raftTerm: 1n }),
      onFatal: () => undefined,
    }, undefined, { syncedPersistEveryEntries });
    return { store, engine, shards };
  } catch (err) {
    await log.close().catch(() => undefined);
    await shards.stop().catch(() => undefined);
    await engine.close().catch(() => undefined);
    throw err;
  }
}

/** RocksDB behind a journal that loses its unsynced writes with the disk's power (none for the memory engine). */
function journalFor(engine: EngineName, disk: PowerLossDisk): PowerLossEngineJournal | undefined {
  return engine === 'rocksdb' ? new PowerLossEngineJournal(disk, (dir) => openEngine('rocksdb', dir)) : undefined;
}

async function closeCleanly(r: Running): Promise<void> {
  await r.store.close();
  await r.shards.stop();
  await r.engine.close();
}

/** After a power loss nothing of the old process may be flushed; only its resources are released. */
async function abandon(r: Running): Promise<void> {
  await r.store.close().catch(() => undefined);
  await r.shards.stop().catch(() => undefined);
  await r.engine.close().catch(() => undefined);
}

const b = (s: string): Buffer => Buffer.from(s);
const key = (i: number, part: 'a' | 'b'): string => `t/${String(i).padStart(5, '0')}/${part}`;

/** Txn i puts two keys and `last`: all three at revision i + 1, or none. */
function txn(i: number): TxnRequest {
  const put = (k: string, v: string): RequestOp => RequestOp.create({ requestPut: { key: b(k), value: b(v), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } });
  return TxnRequest.create({ compare: [], success: [put(key(i, 'a'), `v${i}`), put(key(i, 'b'), `v${i}`), put('last', String(i))], failure: [] });
}

interface Acknowledged {
  readonly txns: Map<number, bigint>;
  /** Highest compaction revision acknowledged (-1 for none). */
  compactedTo: number;
}

/**
 * Runs Txns from..to-1 until they are done or the disk lost power, compacting now and then (a
 * compaction takes no revision of its own); returns what was acknowledged.
 */
async function load(store: MvccStore, from: number, to: number, disk: PowerLossDisk): Promise<Acknowledged> {
  const acked: Acknowledged = { txns: new Map(), compactedTo: -1 };
  for (let i = from; i < to && !disk.crashed; i += loadConcurrency) {
    const wave = Array.from({ length: Math.min(loadConcurrency, to - i) }, (_, k) => i + k);
    await Promise.allSettled(
      wave.map(async (n) => {
        const response = await store.txn(txn(n));
        acked.txns.set(n, response.header?.revision ?? 0n);
        if (n % compactEveryTxns === 0) {
          const revision = n + 1 - compactKeepRevisions;
          await store.compact(CompactionRequest.create({ revision: BigInt(revision) }));
          acked.compactedTo = Math.max(acked.compactedTo, revision);
        }
      }),
    );
  }
  return acked;
}

/** Checks the recovered store against what was acknowledged; returns the number of Txns present. */
async function verify(store: MvccStore, acknowledged: Acknowledged, context: string): Promise<number> {
  const acked = acknowledged.txns;
  assert.ok(store.compactRevision >= acknowledged.compactedTo, `${context}: compaction to ${acknowledged.compactedTo} was acknowledged, the store is compacted to ${store.compactRevision}`);
  const range = await store.range(RangeRequest.create({ key: b('t/'), rangeEnd: b('t0') }));
  const present = new Map<number, Set<string>>();
  for (const kv of range.kvs) {
    const [, n, part] = Buffer.from(kv.key).toString().split('/');
    const i = Number(n);
    assert.is(Number(kv.modRevision), i + 1, `${context}: ${Buffer.from(kv.key).toString()} has revision ${kv.modRevision}, expected ${i + 1}`);
    assert.is(Buffer.from(kv.value).toString(), `v${i}`, `${context}: value of ${Buffer.from(kv.key).toString()}`);
    const parts = present.get(i) ?? new Set<string>();
    parts.add(part ?? '');
    present.set(i, parts);
  }
  const count = present.size;
  for (let i = 1; i <= count; i++) {
    assert.ok(present.has(i), `${context}: Txn ${i} is missing while ${count} Txns are present (revisions must be contiguous)`);
    assert.is(present.get(i)!.size, 2, `${context}: Txn ${i} is only partly visible`);
  }
  for (const [i, revision] of acked) {
    assert.ok(i <= count, `${context}: acknowledged Txn ${i} (revision ${revision}) was lost; ${count} Txns survived`);
    assert.is(revision, BigInt(i + 1), `${context}: Txn ${i} was acknowledged with revision ${revision}`);
  }
  assert.is(store.revision, count + 1, `${context}: store revision`);
  if (count > 0) {
    const last = await store.range(RangeRequest.create({ key: b('last') }));
    assert.is(Buffer.from(last.kvs[0]?.value ?? []).toString(), String(count), `${context}: last`);
  }
  return count;
}

/** Where damage is injected: a sealed log segment, or below the last synced mark of the active segment or the memory engine's WAL. */
type DamageTarget = 'sealed segment' | 'active segment' | 'memory WAL';
const damageTargets: readonly DamageTarget[] = ['sealed segment', 'active segment', 'memory WAL'];

/** Flips a byte inside a log segment that a later one follows (so it was wholly synced); false if there is none. */
function damageSyncedSegment(disk: PowerLossDisk, names: readonly string[]): boolean {
  const segments = names.filter((n) => n.endsWith('.wal')).sort();
  if (segments.length < 2) return false;
  const inode = disk.fileAt(`${logDir}/${segments[0]!}`);
  if (inode === undefined || inode.length < 64) return false;
  const content = inode.content();
  content[40] = content[40]! ^ 0x5a;
  inode.reset(Buffer.from(content));
  return true;
}

/**
 * Flips a payload byte of a record in a file being appended to that a later record's synced-through
 * mark proves was synced (record-file.ts); false if the file has no such record.
 */
function damageProvenSyncedRecord(disk: PowerLossDisk, file: string): boolean {
  const inode = disk.fileAt(file);
  if (inode === undefined) return false;
  const content = Buffer.from(inode.content());
  const records: Array<{ at: number; length: number; syncedThrough: number }> = [];
  for (let at = fileHeaderBytes; at + recordHeaderBytes <= content.length; ) {
    const length = content.readUInt32LE(at);
    if (length === 0 || at + recordHeaderBytes + length > content.length) break;
    records.push({ at, length, syncedThrough: content.readUInt32LE(at + 8) + content.readUInt32LE(at + 12) * 0x1_0000_0000 });
    at += recordHeaderBytes + length;
  }
  const lastMark = Math.max(0, ...records.map((r) => r.syncedThrough));
  const victim = records.find((r) => r.at < lastMark);
  if (victim === undefined) return false;
  content[victim.at + recordHeaderBytes + Math.floor(victim.length / 2)]! ^= 0x5a;
  inode.reset(content);
  return true;
}

/** Injects damage into the first target, in the point's seeded order, that has a synced record to damage. */
function injectDamage(disk: PowerLossDisk, engine: EngineName, names: readonly string[], pointSeed: number): DamageTarget | undefined {
  const segments = names.filter((n) => n.endsWith('.wal')).sort();
  const targets = shuffled(damageTargets.filter((t) => t !== 'memory WAL' || engine === 'memory'), seededRandom(pointSeed));
  for (const target of targets) {
    const done =
      target === 'sealed segment'
        ? damageSyncedSegment(disk, names)
        : target === 'active segment'
          ? segments.length > 0 && damageProvenSyncedRecord(disk, `${logDir}/${segments.at(-1)!}`)
          : damageProvenSyncedRecord(disk, `${dataRoot}/memory/wal`);
    if (done) return target;
  }
  return undefined;
}

interface PointResult {
  readonly survived: number;
  readonly acked: number;
  /** Where damage was injected (and refused), if anywhere. */
  readonly injected: DamageTarget | undefined;
}

/**
 * One crash point: a first run loses power before I/O operation `operation`; the run after
 * recovery loses power again at a seeded operation (which may fall inside the recovery itself);
 * then the member must start, hold everything acknowledged, take writes and survive a clean restart.
 */
async function crashPoint(engine: EngineName, rule: TearRule, operation: number, pointSeed: number, inject: boolean, point: string, firstCrash: 'power' | 'process'): Promise<PointResult> {
  const disk = new PowerLossDisk();
  const rocks = journalFor(engine, disk);
  const context = `${engine} ${rule} crash before I/O operation ${operation} (replay: LATTICE_CRASH_SEED=${seed} LATTICE_CRASH_POINT=${point} node test/run.js power-loss)`;
  const acked: Acknowledged = { txns: new Map(), compactedTo: -1 };
  const secondCrash = 1 + (pointSeed % secondCrashWithinOperations);
  try {
    for (const [run, atOperation] of [operation, secondCrash].entries()) {
      const where = `${context}, run ${run + 1}`;
      // Power may go while a start is still creating or repairing files.
      const running = await openOn(disk.boot({ atOperation, rule, seed: pointSeed + run, kind: run === 0 ? firstCrash : 'power' }), engine, rocks).catch((err: unknown) => {
        if (disk.crashed) return undefined;
        throw new Error(`${where}: the member did not start: ${String(err)}`);
      });
      if (running !== undefined) {
        const survived = await verify(running.store, acked, where);
        const more = await load(running.store, survived + 1, survived + 1 + loadTxns, disk);
        for (const [i, revision] of more.txns) acked.txns.set(i, revision);
        acked.compactedTo = Math.max(acked.compactedTo, more.compactedTo);
        // The clean close is inside the crash range too: it folds the memory engine's WAL into a snapshot.
        if (!disk.crashed) await closeCleanly(running).catch(() => undefined);
        if (disk.crashed) await abandon(running);
      }
      if (!disk.crashed) disk.crash(rule, () => 0.5); // the run ended first: power is lost after it
    }

    const fs = disk.boot();
    const damaged = inject ? injectDamage(disk, engine, await fs.readdir(logDir).catch(() => []), pointSeed) : undefined;
    if (damaged !== undefined) {
      let refused: unknown;
      await openOn(fs, engine, rocks).then(abandon, (err: unknown) => (refused = err));
      assert.instance(refused, CorruptFileError, `${context}: damage in the ${damaged} must be refused as corruption, got ${String(refused)}`);
      return { survived: 0, acked: acked.txns.size, injected: damaged };
    }
    let running = await openOn(fs, engine, rocks).catch((err: unknown) => {
      throw new Error(`${context}: the member did not start after the power loss: ${String(err)}`);
    });
    const survived = await verify(running.store, acked, context);
    const more = await load(running.store, survived + 1, survived + 1 + txnsAfterRecovery, disk);
    assert.is(more.txns.size, txnsAfterRecovery, `${context}: writes after recovery`);
    await closeCleanly(running);

    running = await openOn(disk.boot(), engine, rocks);
    const all: Acknowledged = { txns: new Map([...acked.txns, ...more.txns]), compactedTo: Math.max(acked.compactedTo, more.compactedTo) };
    assert.is(await verify(running.store, all, `${context}, after a clean restart`), survived + txnsAfterRecovery);
    await closeCleanly(running);
    return { survived, acked: acked.txns.size, injected: undefined };
  } finally {
    await rocks?.cleanup();
  }
}

/** Mutating I/O operations a whole run makes without a crash. */
async function operationsInRun(engine: EngineName): Promise<number> {
  const disk = new PowerLossDisk();
  const rocks = journalFor(engine, disk);
  try {
    const running = await openOn(disk.boot(), engine, rocks);
    await load(running.store, 1, loadTxns + 1, disk);
    await closeCleanly(running);
    return disk.operations;
  } finally {
    await rocks?.cleanup();
  }
}

function pointSeedOf(engine: EngineName, rule: TearRule, operation: number, round: number): number {
  return (seed ^ Math.imul(operation + 1, 0x9e37_79b1) ^ Math.imul(round + 1, 0x85eb_ca6b) ^ (tearRules.indexOf(rule) << 24) ^ (engine === 'rocksdb' ? 0x4000_0000 : 0)) >>> 0;
}

/** Every other point kills only the process first (its unsynced writes stay in the page cache), then loses power; the next round swaps. */
const firstCrashOf = (round: number, operation: number): 'power' | 'process' => ((round + operation) % 2 === 1 ? 'process' : 'power');

const test = suite('durability: power loss at seeded crash points');

for (const engine of ['memory', 'rocksdb'] as const) {
  test(`${engine}: after a power loss at every crash point under each tearing rule, every acknowledged Txn is there whole, revisions are contiguous and the member starts`, async () => {
    if (onlyPoint !== undefined) {
      const [pointEngine, rule, operation, round] = onlyPoint.split(':');
      if (pointEngine !== engine) return;
      const at = Number(operation);
      const r = Number(round ?? 0);
      const result = await crashPoint(engine, rule as TearRule, at, pointSeedOf(engine, rule as TearRule, at, r), true, `${engine}:${rule}:${at}:${r}`, firstCrashOf(r, at));
      console.log(`  replayed ${onlyPoint} with seed ${seed}: ${JSON.stringify(result)}`);
      return;
    }
    const total = await operationsInRun(engine);
    const started = Date.now();
    const budgetMs = process.env.LATTICE_CRASH_BUDGET_S === undefined ? budgetMsByEngine[engine] : Number(process.env.LATTICE_CRASH_BUDGET_S) * 1000;
    // Every operation under every rule, round after round (each with its own seeds and its own
    // seeded order, so that a short budget still samples late operations: segment rolls, trims, the
    // clean close), until the budget is spent. A busy machine runs fewer points; it never fails for that.
    const order = seededRandom(seed ^ (engine === 'rocksdb' ? 0x4000_0000 : 0));
    let run = 0;
    let rounds = 0;
    const injectedInto = new Map<DamageTarget, number>();
    let acknowledged = 0;
    let survived = 0;
    // A point asked to inject damage where no synced file exists yet hands the request on.
    let injectionOwed = false;
    rounds: for (let round = 0; ; round++) {
      const points = shuffled(
        Array.from({ length: total + 1 }, (_, i) => i + 1).flatMap((operation) => tearRules.map((rule) => ({ operation, rule }))),
        order,
      );
      for (const { operation, rule } of points) {
        if (Date.now() - started > budgetMs) break rounds;
        const point = `${engine}:${rule}:${operation}:${round}`;
        const inject: boolean = injectionOwed || run % injectEvery === injectEvery - 1;
        const result = await crashPoint(engine, rule, operation, pointSeedOf(engine, rule, operation, round), inject, point, firstCrashOf(round, operation));
        run++;
        injectionOwed = inject && result.injected === undefined;
        if (result.injected !== undefined) injectedInto.set(result.injected, (injectedInto.get(result.injected) ?? 0) + 1);
        acknowledged += result.acked;
        survived += result.survived;
      }
      rounds++;
    }
    const expected = expectedCrashPointsByEngine[engine];
    const injected = [...injectedInto.values()].reduce((a, n) => a + n, 0);
    console.log(
      `  ${engine}: seed ${seed}, ${total} I/O operations per run, ${run} crash points (${rounds} full rounds) in ${Date.now() - started} ms, ` +
        `${injected} with injected damage refused (${[...injectedInto].map(([t, n]) => `${n} in the ${t}`).join(', ')}); ${acknowledged} acknowledged Txns checked, ${survived} recovered` +
        (run < expected ? `; fewer points than the ${expected} an idle machine runs (a busy machine?)` : ''),
    );
    assert.ok(run > 0, 'no crash point ran within the budget');
    assert.ok(run < injectEvery || injected > 0, 'damage was injected into no synced file');
  });
}

test.run();
