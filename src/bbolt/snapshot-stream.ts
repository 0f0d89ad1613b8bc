// An etcd-format snapshot as a stream of chunks (what Maintenance.Snapshot sends).
//
// A bbolt file's meta pages come first but are known last (they name the root page and the
// high-water mark), so the file is written to a temporary file first and then streamed, the
// SHA-256 trailer last. etcd does the same in spirit: it streams a read transaction's view of
// its own bbolt file. The temporary file is removed when the stream ends or is abandoned.

import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeBbolt, type BboltWriteOptions, type EntrySource } from './bbolt-writer.js';
import { FilePageSink } from './page-sink.js';
import { withSnapshotHash } from './snapshot-trailer.js';

/** Bytes per chunk sent (etcd sends 32 KiB chunks of its file). */
export const snapshotChunkBytes = 32 * 1024;

export interface SnapshotStreamOptions extends BboltWriteOptions {
  /** A directory for the temporary file, on a disk with room for the whole snapshot. */
  readonly tempDir: string;
  readonly chunkBytes?: number;
}

let nextTempId = 0;

/** Writes the buckets to a temporary bbolt file, then yields it in chunks followed by its SHA-256. */
export async function* etcdSnapshotChunks(topLevel: EntrySource, options: SnapshotStreamOptions): AsyncGenerator<Uint8Array> {
  const path = join(options.tempDir, `snapshot-${process.pid}-${nextTempId++}.db.part`);
  try {
    const sink = await FilePageSink.create(path);
    try {
      await writeBbolt(topLevel, sink, options);
    } finally {
      await sink.close({ sync: false });
    }
    yield* withSnapshotHash(readFileChunks(path, options.chunkBytes ?? snapshotChunkBytes));
  } finally {
    await rm(path, { force: true });
  }
}

/** The file's bytes in chunks of `chunkBytes` (each chunk a fresh buffer the consumer may keep). */
export async function* readFileChunks(path: string, chunkBytes: number = snapshotChunkBytes): AsyncGenerator<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    for (let offset = 0; ; ) {
      // Not zero-filled: only the bytes read are handed out (zeroing each MiB cost as much as reading it).
      const chunk = Buffer.allocUnsafe(chunkBytes);
      const { bytesRead } = await handle.read(chunk, 0, chunkBytes, offset);
      if (bytesRead === 0) return;
      offset += bytesRead;
      yield chunk.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}
