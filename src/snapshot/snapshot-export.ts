// Maintenance.Snapshot's image: the engine's point-in-time view written as etcd's bbolt file into a
// temporary file (a bbolt file's meta pages come first but are known last), then read back in
// chunks and followed by its SHA-256, as etcd streams its backend. Memory stays bounded by the
// engine cursor's read-ahead (engine-cursor.ts, by pairs and bytes), the bbolt writer's pending pages
// and one chunk; writes go on meanwhile (the engine's view is a snapshot).
import { rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Member } from '../cluster/member.js';
import type { Engine } from '../engines/engine.js';
import { readFileChunks, withSnapshotHash, writeBboltFile } from '../bbolt/index.js';
import { APPLIED_KEY, decodeApplied } from '../store/storage-keys.js';
import { EngineCursor } from './engine-cursor.js';
import { etcdImageBuckets, type ImageSummary } from './etcd-image-buckets.js';
import { SnapshotExportError } from './snapshot-errors.js';

// The image is written under <data-dir>/snap with the .tmp suffix that ReceivedSnapshots.open
// clears at a member's start, so a crash while a snapshot is being sent leaves nothing for good.
/** How long a snapshot waits for the engine to hold the revision the store has applied. */
export const persistWaitMs = 5_000;
const persistPollMs = 5;
/** Bytes read from the image file at once (a sender cuts them into etcd's 32 KiB messages). */
export const imageReadBytes = 1024 * 1024;
/** Images made or sent at once: each holds a temp file as large as the database and an engine snapshot. */
export const maxConcurrentImages = 2;
/** Room left on the temp dir's disk after the image, so that the log and the engine can still write. */
export const minFreeBytesAfterImage = 64 * 1024 * 1024;

/** Counts images in flight; past maxConcurrentImages a new one is refused (a client retries later). */
export class ImageSlots {
  private inUse = 0;
  constructor(private readonly max = maxConcurrentImages) {}
  get used(): number {
    return this.inUse;
  }
  /** Takes a slot (its release is idempotent) or throws busy. */
  take(): () => void {
    if (this.inUse >= this.max) throw new SnapshotExportError('busy', `snapshot: ${this.max} snapshots are already in progress; try again later`);
    this.inUse++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse--;
    };
  }
}

const sharedSlots = new ImageSlots();

export interface SnapshotSource {
  readonly engine: Engine;
  readonly members: () => readonly Member[];
  readonly clusterVersion: string;
  /** A directory on a disk with room for the image (the data dir). */
  readonly tempDir: string;
  /** The revision applied when the snapshot is asked for: the image is of it or a later one. */
  readonly appliedRevision: () => number;
  /** Bounds images in flight; default: one set shared by the process. */
  readonly slots?: ImageSlots;
  /** Free bytes of the disk holding dir (default: statfs); injectable for tests. */
  readonly freeBytes?: (dir: string) => Promise<number>;
}

export interface EtcdSnapshotImage {
  readonly summary: Readonly<ImageSummary>;
  /** Bytes of the bbolt file (what etcd reports as the snapshot's size, without the trailer). */
  readonly dbBytes: number;
  /** The file in chunks of at most imageReadBytes, then one chunk with its SHA-256; removes the file at the end. */
  chunks(): AsyncGenerator<Uint8Array>;
  /** Removes the temporary file when the chunks are not (or not all) read. */
  discard(): Promise<void>;
}

let nextImageId = 0;

/**
 * Makes the image. `signal`: the asking call's; once it aborts the build stops and its file is
 * removed. Refuses (SnapshotExportError) when maxConcurrentImages are in flight, when the disk has no
 * room for the image, or when the engine does not reach the applied revision in time.
 */
export async function takeEtcdSnapshot(source: SnapshotSource, signal?: AbortSignal): Promise<EtcdSnapshotImage> {
  const release = (source.slots ?? sharedSlots).take();
  try {
    await engineReaches(source.engine, source.appliedRevision(), signal);
    await requireRoom(source);
  } catch (e) {
    release();
    throw e;
  }
  const path = join(source.tempDir, `etcd-snapshot-${process.pid}-${nextImageId++}.db.tmp`);
  const summary: ImageSummary = { revision: 1, compactRevision: -1, appliedIndex: 0, records: 0, leases: 0 };
  const cursor = new EngineCursor(source.engine.iterateBatches({}), () => throwIfAborted(signal));
  const discard = async (): Promise<void> => {
    try {
      await rm(path, { force: true });
    } finally {
      release();
    }
  };
  try {
    const written = await writeBboltFile(path, etcdImageBuckets({ cursor, members: source.members(), clusterVersion: source.clusterVersion }, summary));
    throwIfAborted(signal);
    return {
      summary,
      dbBytes: written.fileBytes,
      async *chunks() {
        try {
          yield* withSnapshotHash(readFileChunks(path, imageReadBytes));
        } finally {
          await discard();
        }
      },
      discard,
    };
  } catch (e) {
    await cursor.close();
    await discard();
    throw e;
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new SnapshotExportError('aborted', 'snapshot: the client went away');
}

/** The image is about as large as the engine's files (the live data, rewritten without history of pages). */
async function requireRoom(source: SnapshotSource): Promise<void> {
  const expected = await source.engine.sizeBytes();
  const free = await (source.freeBytes ?? diskFreeBytes)(source.tempDir);
  if (free < expected + minFreeBytesAfterImage) {
    throw new SnapshotExportError(
      'no-disk-space',
      `snapshot: not enough disk space in ${source.tempDir} for an image of about ${expected} bytes (${free} bytes free, ${minFreeBytesAfterImage} kept in reserve)`,
    );
  }
}

async function diskFreeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
}

/**
 * Waits (bounded) until the engine's applied mark reaches `revision`: the store persists behind its
 * apply. Past the deadline it fails rather than send an image older than what the client has seen.
 */
async function engineReaches(engine: Engine, revision: number, signal: AbortSignal | undefined): Promise<void> {
  const deadline = Date.now() + persistWaitMs;
  for (;;) {
    throwIfAborted(signal);
    const mark = await engine.get(APPLIED_KEY);
    const reached = mark === undefined ? 0 : decodeApplied(mark).revision;
    if (reached >= revision || (mark === undefined && revision <= 1)) return;
    if (Date.now() >= deadline) {
      throw new SnapshotExportError('not-persisted', `snapshot: the storage engine holds revision ${reached}, not yet the applied ${revision}, after ${persistWaitMs} ms; try again`);
    }
    await new Promise((resolve) => setTimeout(resolve, persistPollMs));
  }
}

/** The `cluster` bucket's clusterVersion for a server version: etcd stores major.minor.0. */
export function etcdClusterVersion(serverVersion: string): string {
  const [major = '3', minor = '4'] = serverVersion.split('.');
  return `${major}.${minor}.0`;
}
