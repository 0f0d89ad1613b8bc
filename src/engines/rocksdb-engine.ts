// Engine over @nxtedition/rocksdb (an abstract-level database around RocksDB). The package ships no
// types, so the slice of its API we rely on is declared below and checked by the shared engine suite.
//
// importState builds the new database in a sibling directory, <dir>.import.tmp, and commits it by
// renaming that to <dir>.import (durably): from then on it is the state, and the swap into <dir>
// (remove the old database, rename, fsync the parent) is redone at open after a crash at any step.
// A leftover <dir>.import.tmp is an import that never committed; open removes it. The replaced
// database is first renamed to <dir>.replaced and removed after clients are let go; open removes a
// leftover one.

import { readdir, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { EtcdError } from '../core/errors.js';
import { nodeFileSystem } from '../storage/file-system.js';
import { GroupCommit } from '../storage/group-commit.js';
import { maxIterateBatchBytes, maxIterateBatchPairs, type Engine, type EnginePair, type IterateOptions, type WriteOp } from './engine.js';
import { decodeStateStream, encodeStateStream } from './state-stream.js';

/**
 * Bytes of pairs per RocksDB write while loading (bulkLoad, importState). The binding holds a batch
 * in native memory until it is written; 8 MiB restored a 100k store no faster than 4.
 */
const loadBatchBytes = 4 * 1024 * 1024;
/** Keys read per round trip while expanding a delRange into point deletes. */
const delRangeScanBatchEntries = 10_000;

// --- The part of @nxtedition/rocksdb 12.2.12 we use (read from its index.js, iterator.js,
// chained-batch.js and binding.cc). Keys and values are always Buffers (buffer encodings).

interface RocksChainedBatch {
  put(key: Buffer, value: Buffer): RocksChainedBatch;
  del(key: Buffer): RocksChainedBatch;
  /** Runs rocksdb::DB::Write synchronously on the JS thread (including the fsync when sync is set). */
  write(options: { readonly sync: boolean }): Promise<void>;
  close(): Promise<void>;
  readonly length: number;
}

interface RocksIteratorOptions {
  readonly gte?: Buffer;
  readonly lt?: Buffer;
  readonly reverse?: boolean;
  readonly limit?: number;
  readonly keys?: boolean;
  readonly values?: boolean;
  readonly highWaterMarkBytes?: number;
}

interface RocksIterator {
  /** Resolves with up to `size` entries; an empty array means the iterator is exhausted. */
  nextv(size: number): Promise<Array<[Buffer, Buffer | undefined]>>;
  close(): Promise<void>;
}

interface RocksOpenOptions {
  readonly createIfMissing: boolean;
  /** With compaction 'level': memtables of a quarter of this, flushed to L0 as they fill. */
  readonly compaction?: 'level';
  readonly memtableMemoryBudget?: number;
}

interface RocksLevel {
  open(options: RocksOpenOptions): Promise<void>;
  close(): Promise<void>;
  /** A missing key comes back as undefined. */
  getMany(keys: readonly Buffer[]): Promise<Array<Buffer | undefined>>;
  batch(): RocksChainedBatch;
  /** The native iterator (and so its implicit RocksDB snapshot) is created by this call. */
  iterator(options: RocksIteratorOptions): RocksIterator;
  /** rocksdb::DB::GetProperty, synchronous; an unknown property answers ''. */
  getProperty(property: string): string;
}

interface RocksModule {
  readonly RocksLevel: new (
    location: string,
    options: { readonly keyEncoding: 'buffer'; readonly valueEncoding: 'buffer' },
  ) => RocksLevel;
}

const { RocksLevel } = createRequire(import.meta.url)('@nxtedition/rocksdb') as RocksModule;

export interface RocksdbEngineOptions {
  /** Bytes written meanwhile that a defragment keeps to replay; past it the defragment gives up. */
  readonly maxDefragTailBytes?: number;
  /** How long a defragment's swap waits for reads (snapshots, Hash, exportState) on the old database. */
  readonly defragReadersWaitMs?: number;
}

/** Opens (creating if missing) a RocksDB database in dir. */
export async function openRocksdbEngine(dir: string, options: RocksdbEngineOptions = {}): Promise<Engine> {
  await rm(importDirs(dir).building, { recursive: true, force: true });
  if ((await stat(importDirs(dir).committed).catch(() => undefined)) !== undefined) await adoptImport(dir);
  await rm(importDirs(dir).replaced, { recursive: true, force: true });
  return new RocksdbEngine(await openDb(dir), dir, options);
}

async function openDb(dir: string, tuning: Omit<RocksOpenOptions, 'createIfMissing'> = {}): Promise<RocksLevel> {
  const db = new RocksLevel(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open({ createIfMissing: true, ...tuning });
  return db;
}

function importDirs(dir: string): { readonly building: string; readonly committed: string; readonly replaced: string } {
  return { building: `${dir}.import.tmp`, committed: `${dir}.import`, replaced: `${dir}.replaced` };
}

/**
 * Bytes of writes made while defragment copies the database, kept in memory to be replayed onto the
 * copy. Past this the defragment gives up (the store keeps working on the old database).
 */
export const defaultMaxDefragTailBytes = 128 * 1024 * 1024;
/**
 * A defragment swap closes the old database, which would end reads still iterating it midway: new
 * reads wait and the swap waits this long for running ones, then the defragment gives up.
 */
export const defaultDefragReadersWaitMs = 30_000;
/** An import (a Raft snapshot) must replace the state: it waits this long for reads, then goes on. */
const importReadersWaitMs = 10_000;
/**
 * Bytes copied per write batch while defragment rewrites the database: the binding writes on the JS
 * thread, so each batch is a pause for every client.
 */
const defragBatchBytes = 256 * 1024;
/**
 * The copy's memtables are kept smallish (8 MiB), so that most of it is flushed to SST files in the
 * background while it is written, and what is left in its WAL (replayed when the copy is reopened,
 * before clients are held) stays short. Much smaller ones (1 MiB) made RocksDB slow its writes down,
 * which happens on the JS thread: pauses of 60-220 ms on this machine.
 */
const defragCopyTuning = { compaction: 'level', memtableMemoryBudget: 32 * 1024 * 1024 } as const;

/** Puts the committed import in place of dir. Idempotent, so open can redo it after a crash at any step. */
async function adoptImport(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await rename(importDirs(dir).committed, dir);
  await nodeFileSystem.fsyncDir(dirname(dir));
}

/** Ops of queued writes merged into one RocksDB write (one fsync) by group commit. */
const maxGroupOps = 100_000;

interface QueuedWrite {
  readonly ops: readonly WriteOp[];
  readonly sync: boolean;
}

class RocksdbEngine implements Engine {
  readonly name = 'rocksdb' as const;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** While an import swaps the database: reads and writes wait for it. */
  private replacing: Promise<void> | undefined;
  /** The moved-aside database of the last swap being removed in the background; close waits for it. */
  private removingReplaced: Promise<void> = Promise.resolve();
  private importing: Promise<void> = Promise.resolve();
  /** While defragment copies the database: the ops written since its snapshot, in write order. */
  private defragTail: WriteOp[][] | undefined;
  private defragTailBytes = 0;
  /** Set by close(): a running defragment or import stops at its next step. */
  private stopping = false;
  /** Native iterators handed out and not yet finished (they read the database a swap would close). */
  private openReaders = 0;
  private readonly readersIdle = new Set<{ resolve(): void; reject(err: Error): void }>();
  /** While a swap waits for running reads: new iterations wait for it. */
  private readGate: Promise<void> | undefined;
  /** sizeBytes() answers this when the directory is mid-swap. */
  private lastSizeBytes = 0;
  private readonly maxDefragTailBytes: number;
  private readonly defragReadersWaitMs: number;
  /**
   * Group commit: everything queued goes into one WriteBatch, written with sync if any write asked
   * for it. Merging whole batches in call order keeps each one atomic and ordered. The binding runs
   * DB::Write (and its fsync) on the JS thread, so fewer, larger writes also mean fewer stalls. The
   * first failed write stops it (fail-stop, as the memory engine does): the Engine contract promises
   * that a synced write covers every earlier one, which cannot hold once a batch was lost.
   */
  private readonly committer = new GroupCommit<QueuedWrite>({
    flush: async (group) => {
      const ops = group.flatMap((w) => w.ops);
      const batch = await this.buildBatch(ops);
      await batch.write({ sync: group.some((w) => w.sync) }).catch((err: unknown) => {
        throw withErrnoCode(err);
      });
      if (this.defragTail !== undefined) {
        this.defragTail.push(ops);
        this.defragTailBytes += opsBytes(ops);
      }
    },
    weight: (w) => w.ops.length,
    maxGroupWeight: maxGroupOps,
  });

  constructor(
    private db: RocksLevel,
    private readonly dir: string,
    options: RocksdbEngineOptions = {},
  ) {
    this.maxDefragTailBytes = options.maxDefragTailBytes ?? defaultMaxDefragTailBytes;
    this.defragReadersWaitMs = options.defragReadersWaitMs ?? defaultDefragReadersWaitMs;
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    if (this.replacing !== undefined) await this.replacing.catch(() => undefined);
    this.assertOpen();
    const [value] = await this.db.getMany([key]);
    return value;
  }

  write(ops: readonly WriteOp[], options: { readonly sync: boolean }): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    if (this.committer.failure !== undefined) return Promise.reject(this.committer.failure);
    let copied: WriteOp[];
    try {
      // Capture the caller's bytes now (they may reuse their buffers), and reject a malformed op
      // here rather than failing the other writes of its group.
      copied = ops.map(copyOp);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.replacing !== undefined) {
      const retry = (): Promise<void> => this.write(copied, options);
      return this.replacing.then(retry, retry);
    }
    // The first flush starts from a microtask, so writes issued in the same tick share one RocksDB write.
    return this.committer.submit({ ops: copied, sync: options.sync });
  }

  iterateBatches(options: IterateOptions): AsyncIterable<readonly EnginePair[]> {
    checkLimit(options.limit);
    if (this.closed) return failingIterable(closedError());
    if (isEmptyRange(options)) return emptyIterable();
    const waiting = this.replacing ?? this.readGate;
    if (waiting !== undefined) {
      const later = (): AsyncIterable<readonly EnginePair[]> => this.iterateBatches(options);
      return {
        [Symbol.asyncIterator]: async function* () {
          await waiting.catch(() => undefined);
          yield* later();
        },
      };
    }
    // One native iterator (one RocksDB snapshot), and each nextv handed out as a batch as it is: the
    // binding's highWaterMarkBytes ends a batch once it reaches that many bytes.
    const iterator = this.db.iterator({
      ...(options.gte !== undefined && { gte: options.gte }),
      ...(options.lt !== undefined && { lt: options.lt }),
      reverse: options.reverse === true,
      ...(options.limit !== undefined && { limit: options.limit }),
      highWaterMarkBytes: maxIterateBatchBytes,
    });
    this.openReaders++;
    let consumed = false;
    return {
      [Symbol.asyncIterator]: () => {
        if (consumed) throw new TypeError('a rocksdb engine iteration can be consumed only once');
        consumed = true;
        return new NativeBatches(iterator, () => this.readerEnded());
      },
    };
  }

  private readerEnded(): void {
    this.openReaders--;
    if (this.openReaders > 0) return;
    for (const w of this.readersIdle) w.resolve();
    this.readersIdle.clear();
  }

  /**
   * Holds new iterations and waits (at most waitMs) until none is open, so a swap does not close
   * the database under a running read. Resolves with the release of the hold; `strict`: rejects on
   * timeout (defragment gives up) instead of going on (an import must replace the state).
   */
  private async holdReads(waitMs: number, strict: boolean): Promise<() => void> {
    let release!: () => void;
    this.readGate = new Promise<void>((resolve) => (release = resolve));
    const done = (): void => {
      this.readGate = undefined;
      release();
    };
    if (this.openReaders === 0) return done;
    try {
      await new Promise<void>((resolve, reject) => {
        const waiter = {
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
          reject: (err: Error) => {
            clearTimeout(timer);
            reject(err);
          },
        };
        const timer = setTimeout(() => {
          this.readersIdle.delete(waiter);
          if (strict) reject(new Error(`defragment: reads of the database still open after ${waitMs} ms; try again later`));
          else resolve();
        }, waitMs);
        this.readersIdle.add(waiter);
      });
    } catch (err) {
      done();
      throw err;
    }
    return done;
  }

  async bulkLoad(batches: AsyncIterable<readonly EnginePair[]>): Promise<void> {
    if (this.replacing !== undefined) await this.replacing.catch(() => undefined);
    this.assertOpen();
    if (this.committer.failure !== undefined) throw this.committer.failure;
    await this.committer.drain();
    const any = this.db.iterator({ limit: 1, values: false });
    const held = await any.nextv(1).finally(() => any.close());
    if (held.length > 0) throw new Error('rocksdb engine: bulkLoad needs an empty engine');
    // A failed write stops the engine (fail-stop, as group commit does); a failing source does not.
    // Chained as imports and defragments are, so close() waits for it rather than closing under it.
    const run = this.importing.then(() => loadInto(this.db, batches, () => this.stopping, (err) => this.committer.fail(err)));
    this.importing = run.catch(() => undefined);
    return run;
  }

  exportState(): AsyncIterable<Uint8Array> {
    // iterateBatches() creates the native iterator, and so its RocksDB snapshot, now.
    return encodeStateStream(this.iterateBatches({}));
  }

  importState(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    // One at a time: each builds in the same sibling directory.
    const run = this.importing.then(() => this.importOnce(chunks));
    this.importing = run.catch(() => undefined);
    return run;
  }

  private async importOnce(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    this.assertOpen();
    if (this.committer.failure !== undefined) throw this.committer.failure;
    const dirs = importDirs(this.dir);
    await rm(dirs.building, { recursive: true, force: true });
    let releaseReads: (() => void) | undefined;
    try {
      await buildDb(dirs.building, chunks, () => this.stopping);
      if (this.stopping) throw closedError();
      releaseReads = await this.holdReads(importReadersWaitMs, false);
      if (this.stopping) throw closedError();
    } catch (err) {
      releaseReads?.();
      await rm(dirs.building, { recursive: true, force: true }).catch(() => undefined);
      throw err;
    }
    // Set with no await since the check above, so close() waits for it.
    this.replacing = this.commitAndSwap();
    try {
      await this.replacing;
    } finally {
      this.replacing = undefined;
      releaseReads();
    }
  }

  /**
   * Commits the built database (from the durable rename on it is the state, also for a restart),
   * then closes the old one once queued writes are done, moves the import in and opens it.
   */
  private async commitAndSwap(): Promise<void> {
    const dirs = importDirs(this.dir);
    await this.committer.drain();
    try {
      await rename(dirs.building, dirs.committed);
      await nodeFileSystem.fsyncDir(dirname(this.dir));
      await this.db.close();
      // Moved aside rather than removed: removing a large database takes long, and clients wait here.
      await rm(dirs.replaced, { recursive: true, force: true });
      await rename(this.dir, dirs.replaced);
      await adoptImport(this.dir);
      this.db = await openDb(this.dir);
    } catch (err) {
      throw this.committer.fail(err);
    }
    this.removingReplaced = rm(dirs.replaced, { recursive: true, force: true }).catch(() => undefined);
  }

  onFailure(listener: (failure: Error) => void): void {
    this.committer.onStop(listener);
  }

  async sizeBytes(): Promise<number> {
    if (this.replacing !== undefined) await this.replacing.catch(() => undefined);
    this.assertOpen();
    try {
      this.lastSizeBytes = await dirSizeBytes(this.dir);
    } catch (err) {
      // the directory is being swapped (moved aside, the copy renamed in): the last size stands
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return this.lastSizeBytes;
  }

  async sizeInUseBytes(): Promise<number> {
    if (this.replacing !== undefined) await this.replacing.catch(() => undefined);
    this.assertOpen();
    const property = (name: string): number => Number(this.db.getProperty(name)) || 0;
    return property('rocksdb.estimate-live-data-size') + property('rocksdb.cur-size-all-mem-tables');
  }

  /**
   * The binding has no CompactRange, so the database is rewritten: its live keys are copied from a
   * snapshot into a sibling directory while writes go on (each flushed batch is also kept, bounded),
   * then, with writes held for a moment, the kept batches are replayed onto the copy and the copy
   * swapped in as an import is (commitAndSwap), so a crash leaves the old or the new database whole.
   */
  defragment(): Promise<void> {
    const run = this.importing.then(() => this.defragmentOnce());
    this.importing = run.catch(() => undefined);
    return run;
  }

  private async defragmentOnce(): Promise<void> {
    this.assertOpen();
    if (this.committer.failure !== undefined) throw this.committer.failure;
    const dirs = importDirs(this.dir);
    await rm(dirs.building, { recursive: true, force: true });
    // Kept from before the snapshot: a batch both in the snapshot and in the tail replays harmlessly.
    this.defragTail = [];
    this.defragTailBytes = 0;
    let releaseReads: (() => void) | undefined;
    try {
      const source = this.iterateBatches({});
      let copy = await openDb(dirs.building, defragCopyTuning).catch(async (err: unknown) => {
        // An iteration made and never read stays counted as an open reader until it is closed.
        await source[Symbol.asyncIterator]().return?.();
        throw err;
      });
      try {
        let batch = copy.batch();
        let bytes = 0;
        for await (const pairs of source) {
          for (const [key, value] of pairs) {
            batch.put(key, value);
            bytes += key.length + value.length;
            if (bytes >= defragBatchBytes) {
              await batch.write({ sync: false });
              batch = copy.batch();
              bytes = 0;
              // Let waiting client calls run between batches.
              await new Promise<void>((resolve) => setImmediate(resolve));
              this.checkDefragGoesOn();
            }
          }
          this.checkDefragGoesOn();
        }
        await batch.write({ sync: false });
        // Writes that landed meanwhile are replayed before clients are held, most of them anyway.
        await this.committer.drain();
        const early = this.defragTail ?? [];
        this.defragTail = [];
        await replayOnto(copy, early);
        this.checkDefragGoesOn();
        // Reopened before clients are held: opening replays the copy's WAL and flushes it to a table
        // (the binding has no flush call), work the final open in place would otherwise do while
        // they wait (the longest stall of a 1 GiB defragment).
        await copy.close();
        copy = await openDb(dirs.building, defragCopyTuning);
        this.checkDefragGoesOn();
        releaseReads = await this.holdReads(this.defragReadersWaitMs, true);
        this.checkDefragGoesOn();
        this.replacing = (async () => {
          await this.committer.drain();
          await replayOnto(copy, this.defragTail ?? []);
          this.defragTail = undefined;
          await copy.close();
          await this.commitAndSwap();
        })();
        try {
          await this.replacing;
        } finally {
          this.replacing = undefined;
        }
      } finally {
        await copy.close().catch(() => undefined);
      }
    } catch (err) {
      await rm(dirs.building, { recursive: true, force: true }).catch(() => undefined);
      throw err;
    } finally {
      releaseReads?.();
      this.defragTail = undefined;
      this.defragTailBytes = 0;
    }
  }

  /** Throws when close() was called or the writes kept meanwhile passed their bound. */
  private checkDefragGoesOn(): void {
    if (this.stopping) throw closedError();
    if (this.defragTailBytes > this.maxDefragTailBytes) {
      throw new Error(`defragment: more than ${this.maxDefragTailBytes} bytes written meanwhile; try again when writes are fewer`);
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopping = true;
      for (const w of this.readersIdle) w.reject(closedError());
      this.readersIdle.clear();
      // A running defragment or import stops at its next step and removes its directory before close
      // resolves, so it cannot remove the directory of a later instance opened on the same path.
      await this.importing;
      while (this.replacing !== undefined) await this.replacing.catch(() => undefined);
      this.closed = true;
      await this.committer.drain();
      // abstract-level closes any iterator still open before the database itself.
      await this.db.close();
      // Nothing of this instance stays beside its directory (a restore leaves exactly the data dir).
      await this.removingReplaced;
    })();
    return this.closing;
  }

  private assertOpen(): void {
    if (this.closed) throw closedError();
  }

  /**
   * The binding's WriteBatch has no DeleteRange, so a delRange becomes point deletes of the keys the
   * database holds in the range plus the keys put earlier in this same batch. Only the flush loop
   * writes, so no write of this engine lands between the scan and the batch write.
   */
  private async buildBatch(ops: readonly WriteOp[]): Promise<RocksChainedBatch> {
    const batch = this.db.batch();
    const putsSoFar: Buffer[] = [];
    try {
      for (const op of ops) {
        switch (op.type) {
          case 'put':
            batch.put(op.key, op.value);
            putsSoFar.push(op.key);
            break;
          case 'del':
            batch.del(op.key);
            break;
          case 'delRange': {
            if (Buffer.compare(op.gte, op.lt) >= 0) break;
            for (const key of putsSoFar) {
              if (Buffer.compare(key, op.gte) >= 0 && Buffer.compare(key, op.lt) < 0) batch.del(key);
            }
            await deleteStoredKeysIn(this.db, batch, op.gte, op.lt);
            break;
          }
        }
      }
    } catch (err) {
      await batch.close();
      throw err;
    }
    return batch;
  }
}

/** Adds to `batch` a delete of every key `db` holds in [gte, lt) (RocksDB's DeleteRange, by scan). */
async function deleteStoredKeysIn(db: RocksLevel, batch: RocksChainedBatch, gte: Buffer, lt: Buffer): Promise<void> {
  const keys = db.iterator({ gte, lt, values: false });
  try {
    for (;;) {
      const entries = await keys.nextv(delRangeScanBatchEntries);
      if (entries.length === 0) return;
      for (const [key] of entries) batch.del(key);
    }
  } finally {
    await keys.close();
  }
}

/**
 * Writes batches kept during a defragment onto its copy, in order, without sync: a synced write
 * fsyncs on the JS thread, while closing the copy (the binding's Close: FlushWAL(sync)) makes it
 * durable off it, before the copy is committed.
 */
async function replayOnto(db: RocksLevel, tail: readonly (readonly WriteOp[])[]): Promise<void> {
  let batch = db.batch();
  for (const ops of tail) {
    for (const op of ops) {
      if (op.type === 'put') batch.put(op.key, op.value);
      else if (op.type === 'del') batch.del(op.key);
      else if (Buffer.compare(op.gte, op.lt) < 0) {
        // The keys a delRange removes are those the copy holds once everything before it is written.
        await batch.write({ sync: false });
        batch = db.batch();
        await deleteStoredKeysIn(db, batch, op.gte, op.lt);
      }
    }
  }
  await batch.write({ sync: false });
}

/** Writes a state stream into a new database in dir (see loadInto); removing dir is the caller's part. */
async function buildDb(dir: string, chunks: AsyncIterable<Uint8Array>, stopped: () => boolean): Promise<void> {
  const db = await openDb(dir);
  try {
    await loadInto(db, decodeStateStream(chunks), stopped);
  } finally {
    await db.close();
  }
}

/**
 * Puts the pairs into db in write batches of about loadBatchBytes, straight through the binding's
 * batch (it copies each pair into its WriteBatch), unsynced but for the last: a synced write makes
 * every earlier one durable, and it is written only once the source has ended without an error (a
 * state stream throws at its end when it was not whole). `stopped`: checked per source batch (close()
 * waits for a running import, which then stops instead of building on). `writeFailed` turns a failed
 * write into the error thrown.
 */
async function loadInto(
  db: RocksLevel,
  batches: AsyncIterable<readonly EnginePair[]>,
  stopped: () => boolean,
  writeFailed: (err: unknown) => unknown = (err) => err,
): Promise<void> {
  let batch = db.batch();
  let bytes = 0;
  const write = async (sync: boolean): Promise<void> => {
    await batch.write({ sync }).catch((err: unknown) => {
      throw writeFailed(withErrnoCode(err));
    });
  };
  try {
    for await (const pairs of batches) {
      if (stopped()) throw closedError();
      for (const [key, value] of pairs) {
        // Written before the next pair is added, so the last batch (synced below) is never empty.
        if (bytes >= loadBatchBytes) {
          await write(false);
          batch = db.batch();
          bytes = 0;
        }
        batch.put(key, value);
        bytes += key.length + value.length;
      }
    }
    if (batch.length > 0) await write(true);
  } finally {
    await batch.close();
  }
}

/**
 * The native iterator's nextv results as batches. A class rather than a generator so that return()
 * also closes an iteration that was never read (a generator not yet started skips its finally, and
 * the native iterator, its RocksDB snapshot and the open-reader count would stay held), and so
 * that it closes the iterator exactly once, whichever of the end, a failure or return() comes first.
 */
class NativeBatches implements AsyncIterator<readonly EnginePair[]> {
  private closing: Promise<void> | undefined;

  constructor(
    private readonly iterator: RocksIterator,
    private readonly ended: () => void,
  ) {}

  async next(): Promise<IteratorResult<readonly EnginePair[], undefined>> {
    if (this.closing !== undefined) {
      await this.closing;
      return { done: true, value: undefined };
    }
    let entries: Array<[Buffer, Buffer | undefined]>;
    try {
      entries = await this.iterator.nextv(maxIterateBatchPairs);
      for (const entry of entries) if (entry[1] === undefined) throw new Error('rocksdb iterator returned an entry without a value');
    } catch (err) {
      // the iteration's own error is the one to report, not a failing close after it
      await this.close().catch(() => undefined);
      throw err;
    }
    if (entries.length === 0) {
      await this.close();
      return { done: true, value: undefined };
    }
    return { done: false, value: entries as Array<[Buffer, Buffer]> };
  }

  async return(): Promise<IteratorResult<readonly EnginePair[], undefined>> {
    await this.close();
    return { done: true, value: undefined };
  }

  private close(): Promise<void> {
    this.closing ??= this.iterator.close().finally(this.ended);
    return this.closing;
  }
}

function opsBytes(ops: readonly WriteOp[]): number {
  let n = 0;
  for (const op of ops) n += op.type === 'put' ? op.key.length + op.value.length : op.type === 'del' ? op.key.length : op.gte.length + op.lt.length;
  return n;
}

function copyOp(op: WriteOp): WriteOp {
  const buffers = op.type === 'delRange' ? [op.gte, op.lt] : op.type === 'put' ? [op.key, op.value] : [op.key];
  if (!buffers.every((buffer) => Buffer.isBuffer(buffer))) throw new TypeError(`${op.type} op needs Buffer keys and values`);
  switch (op.type) {
    case 'put':
      return { type: 'put', key: Buffer.from(op.key), value: Buffer.from(op.value) };
    case 'del':
      return { type: 'del', key: Buffer.from(op.key) };
    case 'delRange':
      return { type: 'delRange', gte: Buffer.from(op.gte), lt: Buffer.from(op.lt) };
  }
}

function checkLimit(limit: number | undefined): void {
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw new RangeError(`iterate limit must be a non-negative integer, got ${limit}`);
  }
}

function isEmptyRange(options: IterateOptions): boolean {
  if (options.limit === 0) return true;
  return options.gte !== undefined && options.lt !== undefined && Buffer.compare(options.gte, options.lt) >= 0;
}

function emptyIterable(): AsyncIterable<readonly EnginePair[]> {
  return { [Symbol.asyncIterator]: async function* () {} };
}

function failingIterable(error: Error): AsyncIterable<readonly EnginePair[]> {
  return {
    [Symbol.asyncIterator]: async function* () {
      throw error;
    },
  };
}

/**
 * RocksDB reports a full disk as an IO error whose text carries strerror's (the binding's code is
 * LEVEL_IO_ERROR for every IO error); the errno code is what the rest of Lattice reads.
 */
function withErrnoCode(err: unknown): unknown {
  if (!(err instanceof Error) || !/No space left on device/.test(err.message)) return err;
  return Object.assign(new Error(err.message, { cause: err }), { code: 'ENOSPC' });
}

function closedError(): EtcdError {
  return new EtcdError('stopped', 'rocksdb engine is closed');
}

async function dirSizeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    // A file can vanish between readdir and stat (compaction, WAL recycling).
    const info = await stat(join(dir, entry.name)).catch(() => undefined);
    total += info?.size ?? 0;
  }
  return total;
}
