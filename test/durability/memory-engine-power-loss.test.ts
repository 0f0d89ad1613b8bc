// The memory engine alone under power loss, without the store's log to mask an engine bug: after a
// crash at any I/O operation (writes, rotation, snapshots, the clean close) the engine holds the
// state after some prefix of its write batches, and that prefix includes every batch acknowledged
// with sync and every one before it (the Engine contract the store relies on before trimming).
//
// Replay one point: LATTICE_CRASH_SEED=<seed> LATTICE_ENGINE_CRASH_POINT=<rule>:<operation>:<round>
//   node test/run.js memory-engine-power-loss
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Engine, WriteOp } from '../../src/engines/engine.js';
import { openMemoryEngine } from '../../src/engines/memory-engine.js';
import type { FileSystem } from '../../src/storage/file-system.js';
import { PowerLossDisk, seededRandom, shuffled, tearRules, type TearRule } from '../helpers/power-loss-fs.js';

/** Write batches in one run. */
const batches = 120;
/** Batches issued together (they share group commits). */
const concurrency = 4;
/** Small, so that runs rotate the WAL and write snapshots often. */
const maxWalBytes = 3 * 1024;
const snapshotChunkBytes = 512;
/** Test time for all crash points. */
const budgetMs = 8_000;
/** Crash points an idle machine runs in the budget; fewer are reported, never a failure (CI may be busy). */
const expectedCrashPoints = 300;
/** The second power loss comes within this many I/O operations of the restart after the first. */
const secondCrashWithinOperations = 80;
const defaultSeed = 0x5eed_0e11;

const seed = Number(process.env.LATTICE_CRASH_SEED ?? defaultSeed);
const onlyPoint = process.env.LATTICE_ENGINE_CRASH_POINT;
const dir = '/data/memory';

const b = (s: string): Buffer => Buffer.from(s);

/** Batch j overwrites `counter`, adds `k/j` and deletes `k/(j-3)`: a state that only goes forward. */
function batch(j: number): WriteOp[] {
  const ops: WriteOp[] = [
    { type: 'put', key: b('counter'), value: b(String(j)) },
    { type: 'put', key: b(`k/${String(j).padStart(4, '0')}`), value: b(`v${j}`.repeat(1 + (j % 5))) },
  ];
  if (j > 3) ops.push({ type: 'del', key: b(`k/${String(j - 3).padStart(4, '0')}`) });
  return ops;
}

/** The state after batches 1..n. */
function stateAfter(n: number): Map<string, string> {
  const state = new Map<string, string>();
  for (let j = 1; j <= n; j++) {
    for (const op of batch(j)) {
      if (op.type === 'put') state.set(op.key.toString(), op.value.toString());
      else if (op.type === 'del') state.delete(op.key.toString());
    }
  }
  return state;
}

async function contents(engine: Engine): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const batch of engine.iterateBatches({})) for (const [k, v] of batch) out.set(k.toString(), v.toString());
  return out;
}

const open = (fs: FileSystem): Promise<Engine> => openMemoryEngine(dir, { fs, maxWalBytes, snapshotChunkBytes });

/** Writes batches from..to in waves, every third one synced; returns the highest batch acknowledged with sync. */
async function writeLoad(engine: Engine, from: number, to: number, disk: PowerLossDisk, random: () => number): Promise<number> {
  let syncedThrough = 0;
  for (let j = from; j <= to && !disk.crashed; j += concurrency) {
    const wave = Array.from({ length: Math.min(concurrency, to - j + 1) }, (_, k) => j + k);
    await Promise.allSettled(
      wave.map(async (n) => {
        const sync = random() < 0.3;
        await engine.write(batch(n), { sync });
        if (sync) syncedThrough = Math.max(syncedThrough, n);
      }),
    );
  }
  return syncedThrough;
}

/** Checks the engine holds the state after a prefix of the batches that includes batch mustHave; returns that prefix's length. */
async function verifyPrefix(engine: Engine, mustHave: number, context: string): Promise<number> {
  const state = await contents(engine);
  const counter = Number(state.get('counter') ?? '0');
  assert.ok(counter >= mustHave, `${context}: batch ${mustHave} was synced (or the engine closed cleanly) but the state is that after batch ${counter}`);
  const expected = stateAfter(counter);
  const differing = [...new Set([...state.keys(), ...expected.keys()])].filter((k) => state.get(k) !== expected.get(k)).sort();
  assert.equal(
    differing.map((k) => `${k}=${state.get(k) ?? '(none)'}`),
    [],
    `${context}: the state is not that after batch ${counter} (expected ${differing.map((k) => `${k}=${expected.get(k) ?? '(none)'}`).join(', ')})`,
  );
  return counter;
}

/**
 * One crash point: power is lost (or, at every other point, only the process is killed) before I/O
 * operation `operation`; the next start loses power at a seeded operation, perhaps while recovering;
 * then the engine must open with a prefix that holds every synced batch, and take writes.
 */
async function crashPoint(rule: TearRule, operation: number, round: number): Promise<number> {
  const pointSeed = pointSeedOf(rule, operation, round);
  const firstCrash = (operation + round) % 2 === 1 ? 'process' : 'power';
  const context = `memory engine, ${rule} ${firstCrash} crash before I/O operation ${operation} (replay: LATTICE_CRASH_SEED=${seed} LATTICE_ENGINE_CRASH_POINT=${rule}:${operation}:${round} node test/run.js memory-engine-power-loss)`;
  const disk = new PowerLossDisk();
  const random = seededRandom(pointSeed);
  let mustHave = 0;
  const secondCrash = 1 + (pointSeed % secondCrashWithinOperations);
  for (const [run, atOperation] of [operation, secondCrash].entries()) {
    const plan = { atOperation, rule, seed: pointSeed + run, kind: run === 0 ? firstCrash : 'power' } as const;
    const engine = await open(disk.boot(plan)).catch((err: unknown) => {
      if (disk.crashed) return undefined;
      throw new Error(`${context}, run ${run + 1}: the engine did not open: ${String(err)}`);
    });
    if (engine === undefined) continue;
    const first = (await verifyPrefix(engine, mustHave, `${context}, run ${run + 1}`)) + 1;
    const last = first + batches - 1;
    mustHave = Math.max(mustHave, await writeLoad(engine, first, last, disk, random));
    const closed = disk.crashed ? false : await engine.close().then(() => true, () => false);
    if (disk.crashed) await engine.close().catch(() => undefined);
    else if (closed) mustHave = last; // a clean close makes every batch durable
    if (!disk.crashed) disk.crash(rule, random);
  }

  const reopened = await open(disk.boot()).catch((err: unknown) => {
    throw new Error(`${context}: the engine did not open after the power loss: ${String(err)}`);
  });
  try {
    const counter = await verifyPrefix(reopened, mustHave, context);
    await reopened.write(batch(counter + 1), { sync: true });
    return counter;
  } finally {
    await reopened.close();
  }
}

const test = suite('durability: memory engine power loss');

test('after a power loss at every crash point under each tearing rule the memory engine holds the state after a prefix of its batches, including every synced one', async () => {
  if (onlyPoint !== undefined) {
    const [rule, operation, round] = onlyPoint.split(':');
    console.log(`  replayed ${onlyPoint}: state after batch ${await crashPoint(rule as TearRule, Number(operation), Number(round ?? 0))}`);
    return;
  }
  const probe = new PowerLossDisk();
  const engine = await open(probe.boot());
  await writeLoad(engine, 1, batches, probe, seededRandom(seed));
  await engine.close();
  const total = probe.operations;
  const started = Date.now();
  // Each round in its own seeded order, so that a short budget still samples late operations.
  const order = seededRandom(seed ^ 0x0dd5_eed5);
  let run = 0;
  let rounds = 0;
  points: for (let round = 0; ; round++) {
    const all = Array.from({ length: total + 1 }, (_, i) => i + 1).flatMap((operation) => tearRules.map((rule) => ({ operation, rule })));
    for (const { operation, rule } of shuffled(all, order)) {
      if (Date.now() - started > budgetMs) break points;
      await crashPoint(rule, operation, round);
      run++;
    }
    rounds++;
  }
  console.log(
    `  memory engine: seed ${seed}, ${total} I/O operations per run, ${run} crash points (${rounds} full rounds) in ${Date.now() - started} ms` +
      (run < expectedCrashPoints ? `; fewer points than the ${expectedCrashPoints} an idle machine runs (a busy machine?)` : ''),
  );
  // A busy machine runs fewer points; that is reported, never a failure.
  assert.ok(run > 0, 'no crash point ran within the budget');
});

function pointSeedOf(rule: TearRule, operation: number, round: number): number {
  return (seed ^ Math.imul(operation + 1, 0x9e37_79b1) ^ Math.imul(round + 1, 0x85eb_ca6b) ^ (tearRules.indexOf(rule) << 24)) >>> 0;
}

test.run();
