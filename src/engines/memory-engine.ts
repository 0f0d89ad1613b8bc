// In-memory engine made durable by its own write-ahead log and snapshots.
//
// Files in dir:
//   snapshot      the whole map at some point (written to snapshot.tmp, fsynced, renamed, dir fsynced)
//   wal           batches written since that point, one framed record per write()
//   wal.prev      only while a snapshot is being written: the WAL that snapshot will cover
//   import        a whole new state imported by importState (a snapshot-format file); while it
//                 exists it supersedes the other three, and open finishes replacing them with it
//   import.tmp    an import still being written (removed at open: the old state stays)
// Recovery = snapshot, then wal.prev, then wal. Every op is a blind write (put/del/delRange never read
// the old value), so replaying a batch the snapshot already contains is harmless; that is what makes
// a crash at any step of rotation or snapshotting safe.
//
// Wrong order is how a stale file rolls state back: a snapshot is written only once the WAL it
// covers is synced (or the surviving part of a torn tail would replay over it), and the WAL is
// emptied only once wal.prev's removal is durable (or an old wal.prev could replay over it).
//
// Framing (WAL and snapshot alike): src/storage/record-file.ts. A WAL whose unsynced tail is torn
// (a crash mid-append) is truncated there; damage where it had been synced fails the open.

import { join } from 'node:path';
import { SortedMap } from '../core/sorted-map.js';
import { EtcdError } from '../core/errors.js';
import { makeDirDurable } from '../storage/durable-dir.js';
import { errorCode, nodeFileSystem, writeFully, type DurableFile, type FileSystem } from '../storage/file-system.js';
import { GroupCommit } from '../storage/group-commit.js';
import { CorruptFileError, fileHeaderBytes, newFileHeader, readFileHeader, recordHeaderBytes, scanRecords, seal } from '../storage/record-file.js';
import { maxIterateBatchBytes, maxIterateBatchPairs, type Engine, type EnginePair, type IterateOptions, type WriteOp } from './engine.js';
import { decodeStateStream, encodeStateStream } from './state-stream.js';

/** How long a count of live bytes is reused: counting walks every entry. */
const inUseMaxAgeMs = 2000;
/** Entries counted between yields to the event loop. */
const inUseSliceEntries = 20_000;
/** WAL size past which the next write rotates the WAL and writes a snapshot in the background. */
export const defaultMaxWalBytes = 64 * 1024 * 1024;
/** Snapshot bytes encoded per write call; between calls the event loop runs. */
export const defaultSnapshotChunkBytes = 1024 * 1024;
/** Bytes of queued batches appended (and fsynced) together in one group commit. */
const maxWalGroupBytes = 16 * 1024 * 1024;
/** Largest encoded batch; the length field is a u32 and a batch is held in memory whole. */
export const maxBatchBytes = 1024 * 1024 * 1024;

export interface MemoryEngineOptions {
  readonly maxWalBytes?: number;
  readonly snapshotChunkBytes?: number;
  readonly fs?: FileSystem;
}

type Tree = SortedMap<string, Buffer>;

const walMagic = Buffer.from('LATWAL03', 'latin1');
const snapshotMagic = Buffer.from('LATSNP03', 'latin1');

const opPut = 1;
const opDel = 2;
const opDelRange = 3;
const snapshotEntries = 1;
const snapshotEnd = 2;

/** Opens (creating if missing) a memory engine in dir, recovering from snapshot and WAL. */
export async function openMemoryEngine(dir: string, options: MemoryEngineOptions = {}): Promise<Engine> {
  const maxWalBytes = options.maxWalBytes ?? defaultMaxWalBytes;
  const snapshotChunkBytes = options.snapshotChunkBytes ?? defaultSnapshotChunkBytes;
  const fs = options.fs ?? nodeFileSystem;
  if (!(maxWalBytes > 0) || !(snapshotChunkBytes > 0)) throw new RangeError('memory engine bounds must be positive');

  await makeDirDurable(dir, undefined, fs);
  const files = filesIn(dir);
  await fs.remove(files.snapshotTmp);
  await fs.remove(files.importTmp);
  if ((await fs.size(files.import)) !== undefined) await adoptImport(fs, dir);

  // Latin1 maps each byte to one UTF-16 unit of the same value, so string order is bytewise order.
  const tree: Tree = new SortedMap<string, Buffer>(undefined, compareStrings);
  await loadSnapshot(fs, files.snapshot, tree);
  const walPrevExists = await replayWalPrev(fs, files.walPrev, tree);
  const { handle, bytes, salt } = await openWal(fs, files.wal, dir, tree);

  const engine = new MemoryEngine(fs, dir, tree, handle, salt, bytes, walPrevExists, maxWalBytes, snapshotChunkBytes);
  if (walPrevExists || bytes >= maxWalBytes) {
    try {
      await engine.compactNow();
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
  }
  return engine;
}

interface QueuedWrite {
  /** An encoded batch whose record header is filled in when it is written. */
  readonly record: Buffer;
  readonly sync: boolean;
}

class MemoryEngine implements Engine {
  readonly name = 'memory' as const;
  private readonly files: ReturnType<typeof filesIn>;
  private readonly committer: GroupCommit<QueuedWrite>;
  private snapshotting: Promise<void> | undefined;
  /** While an import swaps the state in: reads and writes wait for it. */
  private replacing: Promise<void> | undefined;
  private importing: Promise<void> = Promise.resolve();
  /** WAL bytes known to be on stable storage; records carry it (see record-file.ts). */
  private walSynced: number;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** The last count of live bytes (sizeInUseBytes), reused while fresh. */
  private inUse: { readonly at: number; readonly bytes: number } | undefined;
  private countingInUse: Promise<number> | undefined;
  /** defragment() asked for the next flush to rotate the WAL whatever its size. */
  private rotateRequested = false;

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private tree: Tree,
    private wal: DurableFile,
    /** The WAL's salt (record-file.ts), sealed into each of its records. */
    private walSalt: Buffer,
    private walBytes: number,
    private walPrevExists: boolean,
    private readonly maxWalBytes: number,
    private readonly snapshotChunkBytes: number,
  ) {
    this.files = filesIn(dir);
    this.walSynced = walBytes;
    this.committer = new GroupCommit<QueuedWrite>({
      flush: (group) => this.appendGroup(group),
      afterFlush: () => this.maybeRotate(),
      weight: (w) => w.record.length,
      maxGroupWeight: maxWalGroupBytes,
    });
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    if (this.replacing !== undefined) await this.replacing.catch(() => undefined);
    this.assertOpen();
    const value = this.tree.get(key.toString('latin1'));
    return value === undefined ? undefined : Buffer.from(value);
  }

  write(ops: readonly WriteOp[], options: { readonly sync: boolean }): Promise<void> {
    const unusable = this.closed ? closedError() : this.committer.failure;
    if (unusable !== undefined) return Promise.reject(unusable);
    if (this.replacing !== undefined) {
      // Copied now: the caller may reuse its buffers while the write waits.
      const copied = ops.map(copyOp);
      const retry = (): Promise<void> => this.write(copied, options);
      return this.replacing.then(retry, retry);
    }
    let record: Buffer;
    try {
      record = encodeBatch(ops); // copies the caller's bytes
    } catch (err) {
      return Promise.reject(err);
    }
    return this.committer.submit({ record, sync: options.sync });
  }

  iterateBatches(options: IterateOptions): AsyncIterable<readonly EnginePair[]> {
    checkLimit(options.limit);
    if (this.closed) {
      const error = closedError();
      return {
        [Symbol.asyncIterator]: async function* () {
          throw error;
        },
      };
    }
    if (this.replacing !== undefined) {
      const replacing = this.replacing;
      const later = (): AsyncIterable<readonly EnginePair[]> => this.iterateBatches(options);
      return {
        [Symbol.asyncIterator]: async function* () {
          await replacing.catch(() => undefined);
          yield* later();
        },
      };
    }
    // O(1) copy-on-write clone: later writes copy the nodes they touch, this view keeps the old ones.
    const view = this.tree.clone();
    return { [Symbol.asyncIterator]: () => treeBatches(view, options) };
  }

  async bulkLoad(batches: AsyncIterable<readonly EnginePair[]>): Promise<void> {
    if (this.replacing !== undefined) await this.replacing.catch(() => undefined);
    this.assertOpen();
    if (this.committer.failure !== undefined) throw this.committer.failure;
    await this.committer.drain();
    await this.snapshotting;
    if (this.tree.size > 0 || this.walBytes > fileHeaderBytes || this.walPrevExists) throw new Error('memory engine: bulkLoad needs an empty engine');
    // Straight into a tree and out as one snapshot: no WAL record per batch, and no second copy of
    // everything when the engine closes (a WAL as large as the state, folded into a snapshot).
    const tree: Tree = new SortedMap<string, Buffer>(undefined, compareStrings);
    for await (const pairs of batches) {
      this.assertOpen();
      for (const [key, value] of pairs) tree.set(key.toString('latin1'), Buffer.from(value));
    }
    // closed during the last batch's await: no snapshot into a directory the engine has left
    this.assertOpen();
    // As an import's swap: close() and other calls wait for it. A snapshot that cannot be written
    // stops the engine (fail-stop), as a failed WAL write does.
    this.replacing = (async () => {
      try {
        await writeSnapshot(this.fs, this.dir, tree, this.snapshotChunkBytes);
      } catch (err) {
        throw this.committer.fail(err);
      }
      this.tree = tree;
    })();
    try {
      await this.replacing;
    } finally {
      this.replacing = undefined;
    }
  }

  exportState(): AsyncIterable<Uint8Array> {
    // iterateBatches() takes its point-in-time view now, not when the stream is first read.
    return encodeStateStream(this.iterateBatches({}));
  }

  importState(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    // One at a time: each writes import.tmp.
    const run = this.importing.then(() => this.importOnce(chunks));
    this.importing = run.catch(() => undefined);
    return run;
  }

  private async importOnce(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.closed) throw closedError();
    if (this.committer.failure !== undefined) throw this.committer.failure;
    // The new state is built and written beside the old one while writes go on; only the swap
    // below holds them up. A stream that fails its check leaves nothing but import.tmp, removed.
    const tree: Tree = new SortedMap<string, Buffer>(undefined, compareStrings);
    for await (const batch of decodeStateStream(chunks)) {
      for (const [key, value] of batch) tree.set(key.toString('latin1'), value);
    }
    try {
      await writeSnapshot(this.fs, this.dir, tree, this.snapshotChunkBytes, { tmp: this.files.importTmp, final: this.files.importTmp });
      if (this.closed) throw closedError();
    } catch (err) {
      await this.fs.remove(this.files.importTmp).catch(() => undefined);
      throw err;
    }
    // Set with no await since the check above, so close() waits for it.
    this.replacing = this.swapIn(tree);
    try {
      await this.replacing;
    } finally {
      this.replacing = undefined;
    }
  }

  onFailure(listener: (failure: Error) => void): void {
    this.committer.onStop(listener);
  }

  async sizeBytes(): Promise<number> {
    this.assertOpen();
    let total = 0;
    for (const path of [this.files.snapshot, this.files.wal, this.files.walPrev, this.files.snapshotTmp, this.files.import, this.files.importTmp]) total += (await this.fs.size(path)) ?? 0;
    return total;
  }

  async sizeInUseBytes(): Promise<number> {
    this.assertOpen();
    const now = performance.now();
    if (this.inUse !== undefined && now - this.inUse.at < inUseMaxAgeMs) return this.inUse.bytes;
    // Counted on a copy-on-write clone, a slice at a time, so a large store does not stall clients.
    this.countingInUse ??= (async () => {
      const view = this.tree.clone();
      let total = 0;
      let inSlice = 0;
      for (const [key, value] of view.entries()) {
        // Keys are held as latin1 strings: one byte a character.
        total += key.length + value.length;
        if (++inSlice >= inUseSliceEntries) {
          inSlice = 0;
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
      this.inUse = { at: performance.now(), bytes: total };
      return total;
    })().finally(() => (this.countingInUse = undefined));
    return this.countingInUse;
  }

  /**
   * Rewrites the snapshot from the live state and starts an empty WAL: the same background rotation
   * a full WAL triggers, so writes and reads go on meanwhile. Resolves once the new snapshot is durable.
   */
  async defragment(): Promise<void> {
    this.assertOpen();
    // A rotation already under way snapshots an older state and leaves its WAL behind: wait it out.
    while (this.snapshotting !== undefined) await this.snapshotting;
    this.rotateRequested = true;
    // An empty batch runs the flush loop, whose afterFlush step rotates (maybeRotate).
    await this.write([], { sync: false });
    await this.committer.drain();
    await this.snapshotting;
    if (this.committer.failure !== undefined) throw this.committer.failure;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /**
   * Folds everything into a new snapshot and empties the WAL. Only while no write or snapshot runs.
   * Each step is durable before the next: the WAL (so that a torn unsynced tail cannot replay over
   * the newer snapshot and roll it back), the snapshot (renamed, dir fsynced), wal.prev's removal
   * (dir fsynced), the WAL's truncation (fdatasynced). A crash between any two leaves files whose
   * replay ends at the newest state.
   */
  async compactNow(): Promise<void> {
    if (this.walSynced < this.walBytes) {
      await this.wal.datasync();
      this.walSynced = this.walBytes;
    }
    await writeSnapshot(this.fs, this.dir, this.tree, this.snapshotChunkBytes);
    if (this.walPrevExists) {
      await this.fs.remove(this.files.walPrev);
      await this.fs.fsyncDir(this.dir);
      this.walPrevExists = false;
    }
    await this.wal.truncate(fileHeaderBytes);
    await this.wal.datasync();
    this.walBytes = fileHeaderBytes;
    this.walSynced = fileHeaderBytes;
  }

  private async shutdown(): Promise<void> {
    while (this.replacing !== undefined) await this.replacing.catch(() => undefined);
    this.closed = true;
    await this.committer.drain();
    await this.snapshotting;
    try {
      if (this.committer.failure === undefined && (this.walBytes > fileHeaderBytes || this.walPrevExists)) await this.compactNow();
    } finally {
      await this.wal.close();
    }
    if (this.committer.failure !== undefined) throw this.committer.failure;
  }

  private assertOpen(): void {
    if (this.closed) throw closedError();
  }

  /**
   * Makes the imported file the state: once writes queued before it are done and no background
   * snapshot runs, the durable rename of import.tmp to import is the commit point; adoptImport then
   * retires the old files (open redoes that after a crash). A failure here stops the engine: the
   * files are between two states.
   */
  private async swapIn(tree: Tree): Promise<void> {
    await this.committer.drain();
    await this.snapshotting;
    if (this.committer.failure !== undefined) throw this.committer.failure;
    try {
      await this.fs.rename(this.files.importTmp, this.files.import);
      await this.fs.fsyncDir(this.dir);
      await this.wal.close();
      await adoptImport(this.fs, this.dir);
      const created = await createWal(this.fs, this.files.wal, this.dir);
      this.wal = created.handle;
      this.walSalt = created.salt;
    } catch (err) {
      throw this.committer.fail(err);
    }
    this.walBytes = fileHeaderBytes;
    this.walSynced = fileHeaderBytes;
    this.walPrevExists = false;
    this.tree = tree;
  }

  /** Appends a group in call order with one write, fsyncs once if any write asked for it, then applies it. */
  private async appendGroup(group: readonly QueuedWrite[]): Promise<void> {
    const buffers = group.map((w) => seal(w.record, this.walSalt, this.walSynced));
    const size = buffers.reduce((sum, b) => sum + b.length, 0);
    const { bytesWritten } = await this.wal.writev(buffers, this.walBytes);
    // A nearly full disk takes part of a write; writing the rest either succeeds or fails with the
    // disk's own error (ENOSPC), which stops the member with the NOSPACE alarm instead of a bare failure.
    if (bytesWritten < size) await writeFully(this.wal, Buffer.concat(buffers).subarray(bytesWritten), this.walBytes + bytesWritten);
    this.walBytes += size;
    if (group.some((w) => w.sync)) {
      await this.wal.datasync();
      this.walSynced = this.walBytes;
    }
    // Applied only once on disk (and after every earlier batch), so readers never see a batch
    // that a crash could still lose, nor a batch before the ones it followed.
    for (const w of group) applyBatch(this.tree, w.record.subarray(recordHeaderBytes));
  }

  private async maybeRotate(): Promise<void> {
    if ((this.walBytes >= this.maxWalBytes || this.rotateRequested) && this.snapshotting === undefined) {
      this.rotateRequested = false;
      await this.rotateWal();
    }
  }

  /** Starts a fresh WAL and snapshots the state the old one ends at, without holding up writes. */
  private async rotateWal(): Promise<void> {
    // Renaming the WAL over a wal.prev that is still there would drop batches no snapshot holds
    // (the previous snapshot failed, or has not removed it yet).
    if (this.committer.failure !== undefined) throw this.committer.failure;
    if (this.walPrevExists) throw new Error(`memory engine: ${this.files.walPrev} still exists, the WAL cannot be rotated over it`);
    const view = this.tree.clone();
    // A synced write must make every earlier write durable too (the store relies on it before the
    // log is trimmed), so the old WAL's unsynced writes reach the disk before the new WAL gets any.
    // wal.prev is also read at open as a wholly synced file.
    await this.wal.datasync();
    await this.wal.close();
    await this.fs.rename(this.files.wal, this.files.walPrev);
    this.walPrevExists = true;
    const created = await createWal(this.fs, this.files.wal, this.dir); // its dir fsync makes the rename durable
    this.wal = created.handle;
    this.walSalt = created.salt;
    this.walBytes = fileHeaderBytes;
    this.walSynced = fileHeaderBytes;
    this.snapshotting = (async () => {
      try {
        await writeSnapshot(this.fs, this.dir, view, this.snapshotChunkBytes);
        await this.fs.remove(this.files.walPrev);
        await this.fs.fsyncDir(this.dir);
        this.walPrevExists = false;
      } catch (err) {
        this.committer.fail(err);
      } finally {
        this.snapshotting = undefined;
      }
    })();
  }
}

/** The view's pairs in iterateBatches' batches; each pair a copy (a caller may keep or alter it). */
async function* treeBatches(view: Tree, options: IterateOptions): AsyncGenerator<EnginePair[]> {
  const low = options.gte?.toString('latin1');
  const high = options.lt?.toString('latin1');
  let left = options.limit ?? Number.POSITIVE_INFINITY;
  if (left === 0 || (low !== undefined && high !== undefined && low >= high)) return;
  const reverse = options.reverse === true;
  const entries = reverse ? view.entriesReversed(high, undefined, true) : view.entries(low);
  let batch: EnginePair[] = [];
  let batchBytes = 0;
  for (const [key, value] of entries) {
    if (reverse ? low !== undefined && key < low : high !== undefined && key >= high) break;
    batch.push([Buffer.from(key, 'latin1'), Buffer.from(value)]);
    batchBytes += key.length + value.length;
    if (--left === 0) break;
    if (batch.length >= maxIterateBatchPairs || batchBytes >= maxIterateBatchBytes) {
      yield batch;
      batch = [];
      batchBytes = 0;
    }
  }
  if (batch.length > 0) yield batch;
}

// --- Files

function filesIn(dir: string) {
  return {
    snapshot: join(dir, 'snapshot'),
    snapshotTmp: join(dir, 'snapshot.tmp'),
    wal: join(dir, 'wal'),
    walPrev: join(dir, 'wal.prev'),
    import: join(dir, 'import'),
    importTmp: join(dir, 'import.tmp'),
  };
}

/**
 * Replaces the state with the committed import: the WALs go first (durably), so that no crash can
 * leave them beside the new snapshot to replay over it; then import becomes the snapshot.
 * Idempotent, so open can redo it after a crash at any step.
 */
async function adoptImport(fs: FileSystem, dir: string): Promise<void> {
  const files = filesIn(dir);
  await fs.remove(files.walPrev);
  await fs.remove(files.wal);
  await fs.fsyncDir(dir);
  await fs.rename(files.import, files.snapshot);
  await fs.fsyncDir(dir);
}

async function createWal(fs: FileSystem, path: string, dir: string): Promise<{ handle: DurableFile; salt: Buffer }> {
  const handle = await fs.open(path, 'w+');
  const header = newFileHeader(walMagic);
  try {
    await writeFully(handle, header.bytes, 0);
    await handle.datasync();
    await fs.fsyncDir(dir);
  } catch (err) {
    await handle.close();
    throw err;
  }
  return { handle, salt: header.salt };
}

/** Opens the WAL, replays it into tree and cuts off a torn tail; creates it if missing. */
async function openWal(fs: FileSystem, path: string, dir: string, tree: Tree): Promise<{ handle: DurableFile; bytes: number; salt: Buffer }> {
  let handle: DurableFile;
  try {
    handle = await fs.open(path, 'r+');
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') throw err;
    return { ...(await createWal(fs, path, dir)), bytes: fileHeaderBytes };
  }
  try {
    const size = (await handle.stat()).size;
    const salt = await readFileHeader(handle, walMagic);
    if (salt === undefined) {
      // Crashed while creating it (the header is synced before any record is written): nothing was
      // ever acknowledged from this file, unless it holds more than a torn header could leave.
      if (size > fileHeaderBytes && !(await allZeroFrom(handle, fileHeaderBytes, size))) throw new CorruptFileError(path, 0, `it does not start with ${walMagic.toString('latin1')}`);
      const header = newFileHeader(walMagic);
      await handle.truncate(0);
      await writeFully(handle, header.bytes, 0);
      await handle.datasync();
      return { handle, bytes: fileHeaderBytes, salt: header.salt };
    }
    const end = await scanRecords(handle, size, { path, salt, mayBeTorn: true }, (payload) => applyBatch(tree, payload));
    if (end < size) await handle.truncate(end);
    // What was read may be only in the page cache (a process crash keeps it): new records may claim
    // it synced only once it is.
    await handle.datasync();
    return { handle, bytes: end, salt };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** Replays a WAL left by an interrupted snapshot, if any. It was fdatasynced whole before its rename. */
async function replayWalPrev(fs: FileSystem, path: string, tree: Tree): Promise<boolean> {
  let handle: DurableFile;
  try {
    handle = await fs.open(path, 'r');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return false;
    throw err;
  }
  try {
    const size = (await handle.stat()).size;
    // Empty only after `lattice-repair cut wal.prev 0`: the operator gave up what it held.
    if (size === 0) return true;
    const salt = await expectHeader(handle, walMagic, path, 'cut');
    await scanRecords(handle, size, { path, salt, mayBeTorn: false }, (payload) => applyBatch(tree, payload));
    return true;
  } finally {
    await handle.close();
  }
}

async function loadSnapshot(fs: FileSystem, path: string, tree: Tree): Promise<void> {
  let handle: DurableFile;
  try {
    handle = await fs.open(path, 'r');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return;
    throw err;
  }
  try {
    const size = (await handle.stat()).size;
    // A damaged snapshot cannot be cut: what follows the damage is in no other file.
    const salt = await expectHeader(handle, snapshotMagic, path, 'restore');
    let loaded = 0;
    let expected: number | undefined;
    const end = await scanRecords(handle, size, { path, salt, mayBeTorn: false, remedy: 'restore' }, (payload) => {
      if (expected !== undefined) throw corrupt(path, 'records after the end record');
      const reader = new Reader(payload);
      const kind = reader.u8();
      if (kind === snapshotEntries) {
        while (!reader.done()) {
          const key = reader.latin1();
          tree.set(key, reader.bytes());
          loaded++;
        }
      } else if (kind === snapshotEnd) {
        expected = reader.u48();
      } else {
        throw corrupt(path, `unknown record kind ${kind}`);
      }
    });
    if (end !== size || expected === undefined) throw new CorruptFileError(path, end, 'the snapshot has no end record', 'restore');
    if (expected !== loaded) throw corrupt(path, `holds ${loaded} entries, its end record says ${expected}`);
  } finally {
    await handle.close();
  }
}

/**
 * Writes view to a temporary file in chunks, then atomically replaces the target (the snapshot,
 * unless told otherwise; when both names are one, the file is only written and synced).
 */
async function writeSnapshot(fs: FileSystem, dir: string, view: Tree, chunkBytes: number, names?: { readonly tmp: string; readonly final: string }): Promise<void> {
  const files = filesIn(dir);
  const target = names ?? { tmp: files.snapshotTmp, final: files.snapshot };
  const handle = await fs.open(target.tmp, 'w');
  try {
    let position = 0;
    const append = async (buffer: Buffer): Promise<void> => {
      await writeFully(handle, buffer, position);
      position += buffer.length;
    };
    const header = newFileHeader(snapshotMagic);
    await append(header.bytes);
    let count = 0;
    let chunk: Array<[string, Buffer]> = [];
    let chunkSize = 1;
    for (const [key, value] of view.entries()) {
      chunk.push([key, value]);
      chunkSize += 8 + key.length + value.length;
      count++;
      if (chunkSize >= chunkBytes) {
        await append(encodeSnapshotChunk(chunk, chunkSize, header.salt));
        chunk = [];
        chunkSize = 1;
      }
    }
    if (chunk.length > 0) await append(encodeSnapshotChunk(chunk, chunkSize, header.salt));
    const end = Buffer.alloc(recordHeaderBytes + 7);
    end.writeUInt8(snapshotEnd, recordHeaderBytes);
    end.writeUIntLE(count, recordHeaderBytes + 1, 6);
    await append(seal(end, header.salt));
    await handle.datasync();
  } finally {
    await handle.close();
  }
  if (target.tmp === target.final) return;
  await fs.rename(target.tmp, target.final);
  await fs.fsyncDir(dir);
}

async function allZeroFrom(handle: DurableFile, from: number, size: number): Promise<boolean> {
  const bytes = Buffer.alloc(size - from);
  await handle.read(bytes, 0, bytes.length, from);
  return bytes.every((b) => b === 0);
}

/** The file's salt; a file without a whole header is corrupt. */
async function expectHeader(handle: DurableFile, magic: Buffer, path: string, remedy: 'cut' | 'restore'): Promise<Buffer> {
  const salt = await readFileHeader(handle, magic);
  if (salt === undefined) throw new CorruptFileError(path, 0, `it does not start with ${magic.toString('latin1')}`, remedy);
  return salt;
}

// --- Encoding

function encodeBatch(ops: readonly WriteOp[]): Buffer {
  let size = 4;
  for (const op of ops) {
    switch (op.type) {
      case 'put':
        size += 9 + op.key.length + op.value.length;
        break;
      case 'del':
        size += 5 + op.key.length;
        break;
      case 'delRange':
        size += 9 + op.gte.length + op.lt.length;
        break;
    }
  }
  if (size > maxBatchBytes) throw new RangeError(`batch of ${size} bytes exceeds maxBatchBytes (${maxBatchBytes})`);
  const record = Buffer.allocUnsafe(recordHeaderBytes + size);
  let at = record.writeUInt32LE(ops.length, recordHeaderBytes);
  const bytes = (b: Buffer): void => {
    at = record.writeUInt32LE(b.length, at);
    at += b.copy(record, at);
  };
  for (const op of ops) {
    switch (op.type) {
      case 'put':
        at = record.writeUInt8(opPut, at);
        bytes(op.key);
        bytes(op.value);
        break;
      case 'del':
        at = record.writeUInt8(opDel, at);
        bytes(op.key);
        break;
      case 'delRange':
        at = record.writeUInt8(opDelRange, at);
        bytes(op.gte);
        bytes(op.lt);
        break;
    }
  }
  return record;
}

function encodeSnapshotChunk(entries: ReadonlyArray<readonly [string, Buffer]>, payloadBytes: number, salt: Buffer): Buffer {
  const record = Buffer.allocUnsafe(recordHeaderBytes + payloadBytes);
  let at = record.writeUInt8(snapshotEntries, recordHeaderBytes);
  for (const [key, value] of entries) {
    at = record.writeUInt32LE(key.length, at);
    at += record.write(key, at, 'latin1');
    at = record.writeUInt32LE(value.length, at);
    at += value.copy(record, at);
  }
  return seal(record, salt);
}

/** Applies one encoded batch; stored values are copies, never views into the record. */
function applyBatch(tree: Tree, payload: Buffer): void {
  const reader = new Reader(payload);
  const count = reader.u32();
  for (let i = 0; i < count; i++) {
    const type = reader.u8();
    const key = reader.latin1();
    if (type === opPut) {
      tree.set(key, reader.bytes());
    } else if (type === opDel) {
      tree.delete(key);
    } else if (type === opDelRange) {
      const lt = reader.latin1();
      if (key < lt) tree.deleteRange(key, lt, false);
    } else {
      throw new Error(`memory engine: unknown op type ${type} in a WAL record`);
    }
  }
  if (!reader.done()) throw new Error('memory engine: trailing bytes in a WAL record');
}

class Reader {
  private at = 0;
  constructor(private readonly buffer: Buffer) {}

  done(): boolean {
    return this.at === this.buffer.length;
  }

  u8(): number {
    this.need(1);
    return this.buffer.readUInt8(this.at++);
  }

  u32(): number {
    this.need(4);
    const value = this.buffer.readUInt32LE(this.at);
    this.at += 4;
    return value;
  }

  u48(): number {
    this.need(6);
    const value = this.buffer.readUIntLE(this.at, 6);
    this.at += 6;
    return value;
  }

  latin1(): string {
    const length = this.u32();
    this.need(length);
    const value = this.buffer.toString('latin1', this.at, this.at + length);
    this.at += length;
    return value;
  }

  /** A copy, so the record's buffer is not kept alive by what is stored. */
  bytes(): Buffer {
    const length = this.u32();
    this.need(length);
    const value = Buffer.from(this.buffer.subarray(this.at, this.at + length));
    this.at += length;
    return value;
  }

  private need(bytes: number): void {
    if (this.at + bytes > this.buffer.length) throw new Error('memory engine: record ends early');
  }
}

// --- Small helpers

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function copyOp(op: WriteOp): WriteOp {
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

function closedError(): EtcdError {
  return new EtcdError('stopped', 'memory engine is closed');
}

function corrupt(path: string, detail: string): Error {
  return new Error(`memory engine: ${path} is corrupt: ${detail}`);
}
