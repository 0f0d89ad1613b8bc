// Whole-file convenience over the writer: a bbolt file on disk, with or without etcd's trailer.

import { createHash } from 'node:crypto';
import { writeBbolt, type BboltWriteOptions, type BboltWriteSummary, type EntrySource } from './bbolt-writer.js';
import { FilePageSink } from './page-sink.js';
import { readFileChunks } from './snapshot-stream.js';

export interface BboltFileOptions extends BboltWriteOptions {
  /** Append etcd's SHA-256 trailer (a snapshot file as etcdctl snapshot save leaves it). */
  readonly snapshotHash?: boolean;
  /** fsync before returning. */
  readonly sync?: boolean;
}

export async function writeBboltFile(path: string, topLevel: EntrySource, options: BboltFileOptions = {}): Promise<BboltWriteSummary> {
  const sink = await FilePageSink.create(path);
  let closed = false;
  try {
    const summary = await writeBbolt(topLevel, sink, options);
    if (options.snapshotHash) {
      const hash = createHash('sha256');
      for await (const chunk of readFileChunks(path)) hash.update(chunk);
      await sink.write(new Uint8Array(hash.digest()), summary.fileBytes);
    }
    closed = true;
    await sink.close({ sync: options.sync ?? false });
    return summary;
  } finally {
    if (!closed) await sink.close({ sync: false });
  }
}
