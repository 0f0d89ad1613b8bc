// The bbolt module's public surface: write and read bbolt files, etcd's snapshot trailer and layout.

export { BboltFormatError, BboltWriteError, type BboltFormatErrorKind, type BboltWriteErrorKind } from './bbolt-errors.js';
export { writeBbolt, type BboltWriteOptions, type BboltWriteSummary, type EntrySource, type WriteEntry } from './bbolt-writer.js';
export { writeBboltFile, type BboltFileOptions } from './bbolt-file.js';
export { BboltReader, type BucketRef, type ReadEntry } from './bbolt-reader.js';
export type { BboltMeta } from './meta-page.js';
export { PageVisits } from './page-visits.js';
export { copyEntries } from './copy-entries.js';
export { FilePageSink, MemoryPageSink, type PageSink } from './page-sink.js';
export { checkSnapshotHash, hasSnapshotHash, withSnapshotHash, snapshotHashBytes, type SnapshotHashCheck } from './snapshot-trailer.js';
export { etcdSnapshotChunks, readFileChunks, snapshotChunkBytes, type SnapshotStreamOptions } from './snapshot-stream.js';
export * from './etcd-layout.js';
