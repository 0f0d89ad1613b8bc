// Maintenance.Snapshot's image: the engine's point-in-time view written as etcd's bbolt file into a
// temporary file (a bbolt file's meta pages come first but are known last), then read back in
// chunks and followed by its SHA-256, as etcd streams its backend. Memory stays bounded by the bbolt
// writer's pending pages and one chunk; writes go on meanwhile (the engine's view is a snapshot).
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Member } from '../cluster/member.js';
import type { Engine } from '../engines/engine.js';
import { readFileChunks, withSnapshotHash, writeBboltFile } from '../bbolt/index.js';
import { APPLIED_KEY, decodeApplied } from '../store/storage-keys.js';
import { EngineCursor } from './engine-cursor.js';
import { etcdImageBuckets, type ImageSummary } from './etcd-image-buckets.js';

// The image is written under <data-dir>/snap with the .tmp suffix that ReceivedSnapshots.open
// clears at a member's start, so a crash while a snapshot is being sent leaves nothing for good.
/** How long a snapshot waits for the engine to hold the revision the store has applied. */
export const persistWaitMs = 5_000;
const persistPollMs = 5;
/** Bytes read from the image file at once (a sender cuts them into etcd's 32 KiB messages). */
export const imageReadBytes = 1024 * 1024;

export interface SnapshotSource {
  readonly engine: Engine;
  readonly members: () => readonly Member[];
  readonly clusterVersion: string;
  /** A directory on a disk with room for the image (the data dir). */
  readonly tempDir: string;
  /** The revision applied when the snapshot is asked for: the image is of it or a later one. */
  readonly appliedRevision: () => number;
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

export async function takeEtcdSnapshot(source: SnapshotSource): Promise<EtcdSnapshotImage> {
  await engineReaches(source.engine, source.appliedRevision());
  const path = join(source.tempDir, `etcd-snapshot-${process.pid}-${nextImageId++}.db.tmp`);
  const summary: ImageSummary = { revision: 1, compactRevision: -1, appliedIndex: 0, records: 0, leases: 0 };
  const cursor = new EngineCursor(source.engine.iterate({}));
  try {
    const written = await writeBboltFile(path, etcdImageBuckets({ cursor, members: source.members(), clusterVersion: source.clusterVersion }, summary));
    return {
      summary,
      dbBytes: written.fileBytes,
      async *chunks() {
        try {
          yield* withSnapshotHash(readFileChunks(path, imageReadBytes));
        } finally {
          await rm(path, { force: true });
        }
      },
      discard: () => rm(path, { force: true }),
    };
  } catch (e) {
    await cursor.close();
    await rm(path, { force: true });
    throw e;
  }
}

/** Waits (bounded) until the engine's applied mark reaches `revision`: the store persists behind its apply. */
async function engineReaches(engine: Engine, revision: number): Promise<void> {
  const deadline = Date.now() + persistWaitMs;
  for (;;) {
    const mark = await engine.get(APPLIED_KEY);
    if (mark !== undefined && decodeApplied(mark).revision >= revision) return;
    if (mark === undefined && revision <= 1) return;
    // Past the deadline the image is still consistent, only older than asked.
    if (Date.now() >= deadline) return;
    await new Promise((resolve) => setTimeout(resolve, persistPollMs));
  }
}

/** The `cluster` bucket's clusterVersion for a server version: etcd stores major.minor.0. */
export function etcdClusterVersion(serverVersion: string): string {
  const [major = '3', minor = '4'] = serverVersion.split('.');
  return `${major}.${minor}.0`;
}
