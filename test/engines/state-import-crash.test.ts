// importState across crashes, engine by engine: a power loss at every I/O operation of a memory
// engine's import, and the leftovers a crash can leave beside a RocksDB database. After each, the
// engine opens with the old state or the whole new one, never a mix, and the new one once
// importState had resolved.
import { copyFile, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import type { Engine } from '../../src/engines/engine.js';
import { openMemoryEngine } from '../../src/engines/memory-engine.js';
import { openRocksdbEngine } from '../../src/engines/rocksdb-engine.js';
import { encodeStateStream, type StatePair } from '../../src/engines/state-stream.js';
import type { FileSystem } from '../../src/storage/file-system.js';
import { PowerLossDisk, tearRules } from '../helpers/power-loss-fs.js';
import { collect, crashAfterSyncedWrites, engineTestSuite, put } from './engine-suite.js';

const { test, it } = engineTestSuite('engine: state import across crashes', 'state-import-crash');

const oldKeys = 40;
const newKeys = 300;
const oldState = (): Array<[string, string]> => Array.from({ length: oldKeys }, (_, i) => [`k${String(i).padStart(4, '0')}`, `old-${i}`]);
const newState = (): Array<[string, string]> => Array.from({ length: newKeys }, (_, i) => [`k${String(i).padStart(4, '0')}`, `new-${i}-${'n'.repeat(i % 30)}`]);

/** The state in batches of 64 pairs, as an engine's iteration hands them out. */
async function* batchesOf(state: Array<[string, string]>): AsyncGenerator<StatePair[]> {
  for (let i = 0; i < state.length; i += 64) yield state.slice(i, i + 64).map(([k, v]) => [Buffer.from(k, 'latin1'), Buffer.from(v, 'latin1')]);
}

const which = (state: Array<[string, string]>): string =>
  JSON.stringify(state) === JSON.stringify(oldState()) ? 'old' : JSON.stringify(state) === JSON.stringify(newState()) ? 'new' : `a mix of ${state.length} keys`;

it('memory engine: a power loss at any I/O operation of an import leaves the old state or the whole new one, and the new one once the import resolved', async () => {
  const dir = '/data/memory';
  const open = (fs: FileSystem): Promise<Engine> => openMemoryEngine(dir, { fs, maxWalBytes: 2048, snapshotChunkBytes: 512 });
  const prepare = async (disk: PowerLossDisk): Promise<void> => {
    const engine = await open(disk.boot());
    await engine.write(oldState().map(([k, v]) => put(k, v)), { sync: true });
    await engine.write([put('k0001', 'old-1')], { sync: false }); // an unsynced write in the WAL too
    await engine.close();
  };
  const dry = new PowerLossDisk();
  await prepare(dry);
  const dryEngine = await open(dry.boot());
  const openOperations = dry.operations;
  await dryEngine.importState(encodeStateStream(batchesOf(newState()), 1000));
  const operations = dry.operations - openOperations;
  await dryEngine.close();
  assert.ok(operations > 5, `an import does ${operations} I/O operations`);

  let crashes = 0;
  for (let at = 1; at <= operations; at++) {
    for (const rule of tearRules) {
      const where = `crash before operation ${at} of the import (${rule})`;
      const disk = new PowerLossDisk();
      await prepare(disk);
      // The crash plan counts from boot: past what open does (the same on every run), into the import.
      const engine = await open(disk.boot({ atOperation: openOperations + at, rule, seed: at }));
      let resolved = false;
      try {
        await engine.importState(encodeStateStream(batchesOf(newState()), 1000));
        resolved = true;
      } catch (err) {
        if (!disk.crashed) throw err;
      }
      if (!disk.crashed) continue;
      crashes++;
      const reopened = await open(disk.boot());
      const state = which(await collect(reopened));
      assert.ok(state === 'old' || state === 'new', `${where}: found ${state}`);
      if (resolved) assert.is(state, 'new', `${where}: the import had resolved`);
      await reopened.close();
    }
  }
  assert.is(crashes, operations * tearRules.length, 'every point crashed the import');
});

it('memory engine: an import file left by a crash after its commit replaces snapshot and WAL at open; an import.tmp is removed', async (ctx) => {
  const source = await openMemoryEngine(join(ctx.dir, 'source'));
  await source.write(newState().map(([k, v]) => put(k, v)), { sync: true });
  await source.close(); // folds everything into its snapshot file, the format an import file has
  const target = join(ctx.dir, 'target');
  await crashAfterSyncedWrites('memory', target, { keys: 50, batch: 5 }); // a WAL full of old batches
  await copyFile(join(ctx.dir, 'source', 'snapshot'), join(target, 'import'));
  await writeFile(join(target, 'import.tmp'), 'an import that never committed');
  const engine = await openMemoryEngine(target);
  ctx.engines.push(engine);
  assert.is(which(await collect(engine)), 'new');
  assert.equal((await readdir(target)).sort(), ['snapshot', 'wal']);
  await engine.close();
  const reopened = await openMemoryEngine(target);
  ctx.engines.push(reopened);
  assert.is(which(await collect(reopened)), 'new');
});

it('rocksdb engine: a committed <dir>.import replaces the database at open, even one a crash left half removed; a <dir>.import.tmp is removed', async (ctx) => {
  const dir = join(ctx.dir, 'rocksdb');
  const old = await openRocksdbEngine(dir);
  await old.write(oldState().map(([k, v]) => put(k, v)), { sync: true });
  await old.close();

  // An import that never committed: the old state stays.
  const building = await openRocksdbEngine(`${dir}.import.tmp`);
  await building.write([put('never', 'committed')], { sync: true });
  await building.close();
  let engine = await openRocksdbEngine(dir);
  ctx.engines.push(engine);
  assert.is(which(await collect(engine)), 'old');
  assert.is(await stat(`${dir}.import.tmp`).catch(() => undefined), undefined);
  await engine.close();

  // A committed import, with the old database partly removed by the swap a crash interrupted.
  const committed = await openRocksdbEngine(`${dir}.import`);
  await committed.write(newState().map(([k, v]) => put(k, v)), { sync: true });
  await committed.close();
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.sst') || n === 'CURRENT')) await rm(join(dir, name));
  engine = await openRocksdbEngine(dir);
  ctx.engines.push(engine);
  assert.is(which(await collect(engine)), 'new');
  assert.is(await stat(`${dir}.import`).catch(() => undefined), undefined);

  // And a swap that got as far as removing the old database altogether.
  await engine.close();
  const again = await openRocksdbEngine(`${dir}.import`);
  await again.write([put('k0000', 'newer')], { sync: true });
  await again.close();
  await rm(dir, { recursive: true });
  await mkdir(ctx.dir, { recursive: true });
  engine = await openRocksdbEngine(dir);
  ctx.engines.push(engine);
  assert.is((await collect(engine))[0]?.[1], 'newer');
});

test.run();
