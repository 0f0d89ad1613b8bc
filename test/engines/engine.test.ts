// Runs the shared engine suite against both engines, plus the memory engine's own WAL and snapshot rules.

import { appendFile, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { nodeFileSystem, type FileSystem } from '../../src/storage/file-system.js';
import { bindFile } from '../helpers/bound-file.js';
import { CorruptFileError } from '../../src/storage/record-file.js';
import * as assert from 'uvu/assert';
import { openMemoryEngine } from '../../src/engines/memory-engine.js';
import { openRocksdbEngine } from '../../src/engines/rocksdb-engine.js';
import { openEngine } from '../../src/engines/open-engine.js';
import {
  b,
  collect,
  crashAfterSyncedWrites,
  crashKey,
  engineSuite,
  engineTestSuite,
  getText,
  put,
} from './engine-suite.js';

engineSuite('memory', (dir) => openMemoryEngine(dir));
engineSuite('rocksdb', openRocksdbEngine);

const { test, it } = engineTestSuite('engine: memory WAL and snapshots', 'memory-wal');

const sizeOf = async (path: string): Promise<number | undefined> => (await stat(path).catch(() => undefined))?.size;

/** Polls until check passes or the deadline passes; no fixed sleeps. */
async function eventually(check: () => Promise<boolean>, what: string, deadlineMs = 5000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.unreachable(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

it('a garbage or torn WAL tail is cut off at open and every synced batch before it survives', async (ctx) => {
  const tornHeader = Buffer.alloc(8);
  tornHeader.writeUInt32LE(1000, 0); // claims more payload than the file holds
  const badChecksum = Buffer.alloc(16);
  badChecksum.writeUInt32LE(8, 0);
  badChecksum.writeUInt32LE(0xdeadbeef, 4);
  const tails = [Buffer.from([1, 2, 3]), Buffer.concat([tornHeader, b('short')]), badChecksum];
  for (const [i, tail] of tails.entries()) {
    const dir = join(ctx.dir, String(i));
    const wal = join(dir, 'wal');
    await crashAfterSyncedWrites('memory', dir, { keys: 100, batch: 10 });
    const intact = await sizeOf(wal);
    assert.ok(intact !== undefined && intact > 8, 'the crashed child left records in the WAL');
    await appendFile(wal, tail);

    const engine = await openMemoryEngine(dir);
    ctx.engines.push(engine);
    assert.is(await sizeOf(wal), intact, 'the tail was truncated');
    assert.is((await collect(engine)).length, 100);
    assert.is(await getText(engine, crashKey(99)), 'v99');
    await engine.write([put('after', 'recovery')], { sync: true });
    await engine.close();

    const reopened = await openMemoryEngine(dir);
    ctx.engines.push(reopened);
    assert.is((await collect(reopened)).length, 101);
  }
});

it('a WAL left behind by an interrupted snapshot (wal.prev) is replayed and then folded away', async (ctx) => {
  await crashAfterSyncedWrites('memory', ctx.dir, { keys: 200, batch: 20 });
  await rename(join(ctx.dir, 'wal'), join(ctx.dir, 'wal.prev'));
  const engine = await openMemoryEngine(ctx.dir);
  ctx.engines.push(engine);
  assert.is((await collect(engine)).length, 200);
  assert.is(await sizeOf(join(ctx.dir, 'wal.prev')), undefined);
  assert.ok(((await sizeOf(join(ctx.dir, 'snapshot'))) ?? 0) > 0);
});

it('writes past maxWalBytes snapshot in the background and restart a small WAL', async (ctx) => {
  const maxWalBytes = 4096;
  const engine = await openMemoryEngine(ctx.dir, { maxWalBytes, snapshotChunkBytes: 512 });
  ctx.engines.push(engine);
  for (let i = 0; i < 200; i++) {
    await engine.write([put(`key-${String(i).padStart(4, '0')}`, 'v'.repeat(64))], { sync: i % 20 === 0 });
  }
  const snapshotDone = async (): Promise<boolean> =>
    (await sizeOf(join(ctx.dir, 'snapshot'))) !== undefined && (await sizeOf(join(ctx.dir, 'wal.prev'))) === undefined;
  await eventually(snapshotDone, 'a snapshot with no wal.prev');
  // Rotation waits while a snapshot is being written, so writes made meanwhile may leave the WAL past
  // the bound; the next write after the snapshot rotates it.
  // The files can look done (wal.prev removed) while the snapshot still finishes (the directory
  // fsync), and a write then does not rotate; and the rotation runs after a write has resolved. So
  // the same key is written again until a write has rotated the WAL and its snapshot is done.
  const walSize = async (): Promise<number> => (await sizeOf(join(ctx.dir, 'wal'))) ?? 0;
  await eventually(async () => {
    await engine.write([put('key-last', 'v')], { sync: true });
    return (await snapshotDone()) && (await walSize()) < maxWalBytes + 200;
  }, 'a small WAL and a snapshot with no wal.prev after the last write');
  assert.is((await collect(engine)).length, 201);
});

it('a crash while WAL rotation and snapshots keep happening loses no synced write', async (ctx) => {
  await crashAfterSyncedWrites('memory', ctx.dir, { keys: 3000, batch: 7, maxWalBytes: 2048 });
  const engine = await openMemoryEngine(ctx.dir);
  ctx.engines.push(engine);
  const entries = await collect(engine);
  assert.is(entries.length, 3000);
  entries.forEach(([k, v], i) => {
    assert.is(k, crashKey(i));
    assert.is(v, `v${i}`);
  });
});

it('a failed background snapshot stops the engine, and no later rotation drops the synced batches only wal.prev holds', async (ctx) => {
  let failSnapshot = true;
  const failures: string[] = [];
  const noSpace = (): Error => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  // The snapshot fails while batch B's flush waits in its fdatasync: that flush finishes after the
  // engine was stopped, and must not rotate the WAL over wal.prev (which holds batch A).
  let bSyncStarted!: () => void;
  const bSyncing = new Promise<void>((resolve) => (bSyncStarted = resolve));
  let releaseB!: () => void;
  const bReleased = new Promise<void>((resolve) => (releaseB = resolve));
  const fs: FileSystem = {
    ...nodeFileSystem,
    open: async (p, flags) => {
      const file = await nodeFileSystem.open(p, flags);
      if (p.endsWith('snapshot.tmp')) {
        return {
          ...bindFile(file),
          write: async (...a) => {
            if (!failSnapshot) return file.write(...a);
            await bSyncing;
            throw noSpace();
          },
        };
      }
      if (p.endsWith(`${sep}wal`)) {
        let holdsB = false;
        return {
          ...bindFile(file),
          writev: (buffers, position) => {
            holdsB = buffers.some((buffer) => buffer.includes('bbbbbbbb'));
            return file.writev(buffers, position);
          },
          datasync: async () => {
            if (holdsB) {
              bSyncStarted();
              await bReleased;
            }
            return file.datasync();
          },
        };
      }
      return file;
    },
  };
  const engine = await openMemoryEngine(ctx.dir, { fs, maxWalBytes: 4096 });
  ctx.engines.push(engine);
  engine.onFailure((e) => failures.push(e.message));
  await engine.write([put('A', 'a'.repeat(5000))], { sync: true }); // past maxWalBytes: rotates and snapshots
  const second = engine.write([put('B', 'b'.repeat(5000))], { sync: true });
  await eventually(async () => failures.length > 0, 'the snapshot failure');
  releaseB();
  await second.catch(() => undefined);
  await engine.close().catch(() => undefined);
  assert.equal(failures, ['ENOSPC: no space left on device, write'], 'reported once, through onFailure');
  assert.ok((await sizeOf(join(ctx.dir, 'wal.prev'))) !== undefined, 'wal.prev, with batch A, is still there');
  failSnapshot = false;
  const reopened = await openMemoryEngine(ctx.dir);
  ctx.engines.push(reopened);
  assert.is((await getText(reopened, 'A'))?.length, 5000, 'the synced, acknowledged batch A survived');
  assert.is((await getText(reopened, 'B'))?.length, 5000);
});

it('a corrupt snapshot fails the open instead of silently losing data, and the error offers no cut (it cannot repair a snapshot)', async (ctx) => {
  const engine = await openMemoryEngine(ctx.dir);
  await engine.write([put('a', '1')], { sync: true });
  await engine.close();
  const snapshot = join(ctx.dir, 'snapshot');
  const intact = await readFile(snapshot);
  const damages: Array<[string, Buffer]> = [
    ['bytes after the end record', Buffer.concat([intact, Buffer.from([9, 9, 9, 9, 9, 9, 9, 9, 9])])],
    ['a bad magic', Buffer.concat([Buffer.from('XXXXXXXX'), intact.subarray(8)])],
    ['no end record', intact.subarray(0, intact.length - 23)],
  ];
  for (const [what, bytes] of damages) {
    await writeFile(snapshot, bytes);
    const refused = await openMemoryEngine(ctx.dir).then(
      (e) => {
        ctx.engines.push(e);
        return undefined;
      },
      (e: unknown) => e,
    );
    assert.instance(refused, CorruptFileError, what);
    assert.not.match(String(refused), /lattice-repair cut/, what);
    assert.match(String(refused), /restore the data dir from a backup/, what);
  }
});

it('an iteration asked for while an import swaps the state in waits for the swap and reads the new state', async (ctx) => {
  // The swap's commit point is the rename of import.tmp; holding it holds the swap.
  let releaseRename!: () => void;
  const renameHeld = new Promise<void>((resolve) => (releaseRename = resolve));
  let renameReached!: () => void;
  const reached = new Promise<void>((resolve) => (renameReached = resolve));
  const fs: FileSystem = {
    ...nodeFileSystem,
    rename: async (from, to) => {
      if (from.endsWith(`${sep}import.tmp`)) {
        renameReached();
        await renameHeld;
      }
      await nodeFileSystem.rename(from, to);
    },
  };
  const source = await openMemoryEngine(join(ctx.dir, 'source'));
  ctx.engines.push(source);
  await source.write(Array.from({ length: 1500 }, (_, i) => put(`new-${String(i).padStart(4, '0')}`, 'n')), { sync: true });
  const engine = await openMemoryEngine(join(ctx.dir, 'target'), { fs });
  ctx.engines.push(engine);
  await engine.write([put('old', 'o')], { sync: true });
  const importing = engine.importState(source.exportState());
  await reached;
  let firstRead = false;
  const reading = (async () => {
    const keys: string[] = [];
    for await (const batch of engine.iterateBatches({})) {
      firstRead = true;
      for (const [key] of batch) keys.push(key.toString());
    }
    return keys;
  })();
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  assert.not.ok(firstRead, 'the iteration read the old state while the swap was held');
  releaseRename();
  await importing;
  const keys = await reading;
  assert.is(keys.length, 1500);
  assert.ok(keys.every((k) => k.startsWith('new-')));
});

it('a bulk load whose snapshot cannot be written stops the memory engine (fail-stop), a failing source does not', async (ctx) => {
  let failOpen = false;
  const fs: FileSystem = {
    ...nodeFileSystem,
    open: async (path, flags) => {
      if (failOpen && path.endsWith(`${sep}snapshot.tmp`)) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      return nodeFileSystem.open(path, flags);
    },
  };
  const engine = await openMemoryEngine(ctx.dir, { fs });
  ctx.engines.push(engine);
  const failures: Error[] = [];
  engine.onFailure((failure) => failures.push(failure));
  const refused = await engine
    .bulkLoad(
      (async function* () {
        yield [[b('a'), b('1')] as const];
        throw new Error('source failed');
      })(),
    )
    .catch((err: unknown) => err);
  assert.match(String(refused), /source failed/);
  assert.equal(failures, []);
  failOpen = true;
  const failed = await engine.bulkLoad((async function* () {
    yield [[b('a'), b('1')] as const];
  })()).catch((err: unknown) => err);
  assert.match(String(failed), /no space left/);
  assert.is(failures.length, 1);
  assert.match(String(await engine.write([put('b', '2')], { sync: true }).catch((err: unknown) => err)), /no space left/);
});

it('openEngine creates missing parent directories', async (ctx) => {
  for (const name of ['memory', 'rocksdb'] as const) {
    const engine = await openEngine(name, join(ctx.dir, name, 'nested', 'data'));
    ctx.engines.push(engine);
    await engine.write([put('k', name)], { sync: true });
    assert.is(await getText(engine, 'k'), name);
  }
});

test.run();
